/**
 * `tsfuse`: the toolbox. `tsfuse mount memfs MNT`, `tsfuse mount loopback
 * DIR MNT`, `tsfuse unmount MNT`.
 */
import { Command } from 'commander';
import * as fs from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { MemFS } from '../examples/memfs.js';
import { LoopbackFS } from '../examples/loopback.js';
import type { FileSystem } from '../fuse/api.js';
import { isRoot, unmount } from '../fuse/mount.js';
import { serve } from '../fuse/serve.js';
import type { SessionOptions } from '../fuse/session.js';
import { DAEMON_FLAG, isDaemonChild, reportFailure, reportReady, runDetached, serveUntilUnmounted, tuneLiveDaemon } from './daemon.js';
import { nonNegativeNumber, OptionError, parseOptions, positiveInt, takeMountOptions } from './options.js';
import { VERSION } from '../version.js';
import { stargzCommands } from './stargz.js';

const PROG = 'tsfuse';

interface MountFlags { foreground?: boolean; debug?: boolean; options: string[]; log?: string; pidFile?: string; stargz?: string }

function collect(v: string, prev: string[]): string[] {
  return [...prev, v];
}

/** Session options common to every example filesystem, taken out of the -o map. */
function takeSessionOptions(m: Map<string, string | true>, debug: boolean, log: (l: string) => void): SessionOptions {
  const o: SessionOptions = { log, debug };
  const take = (k: string) => { const v = m.get(k); m.delete(k); return v; };
  const mw = take('max_write');
  if (mw !== undefined) o.maxWrite = positiveInt('max_write', mw === true ? '' : mw);
  const rdp = take('readdirplus');
  if (rdp !== undefined) {
    if (rdp !== 'auto' && rdp !== 'on' && rdp !== 'off') throw new OptionError(`option readdirplus=${rdp}: expected auto, on or off`);
    o.readdirplus = rdp;
  }
  if (take('writeback') === true) o.writebackCache = true;
  const spin = take('spin');
  if (spin !== undefined) {
    if (spin === true || !/^\d+$/.test(spin)) throw new OptionError(`option spin=${spin === true ? '' : spin}: expected a whole number of polls`);
    o.spin = Number(spin);
  }
  const pt = take('passthrough');
  if (pt === true) {
    if (!isRoot()) throw new OptionError('option passthrough needs root (FUSE_DEV_IOC_BACKING_OPEN requires CAP_SYS_ADMIN)');
    o.passthrough = true;
  }
  return o;
}

/** Where `tsfuse mount --stargz` keeps chunks unless told: /var/cache as root, else the XDG cache dir. */
function defaultCacheDir(): string {
  if (isRoot()) return '/var/cache/tsfuse/stargz';
  return join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'tsfuse/stargz');
}

async function mountCommand(kind: string, args: string[], flags: MountFlags): Promise<void> {
  const log = (l: string) => { if (flags.debug || flags.foreground || flags.log) process.stderr.write(`${PROG}: ${l}\n`); };
  let make: () => Promise<FileSystem>, mountpoint: string;
  let opts: Map<string, string | true>;
  try {
    opts = parseOptions(flags.options);
    const mountOpts = takeMountOptions(opts);
    const sessionOpts = takeSessionOptions(opts, !!flags.debug, log);
    const timeout = nonNegativeNumber('timeout', opts.get('timeout'));
    opts.delete('timeout');
    if (kind === 'memfs') {
      if (args.length !== 1) throw new OptionError('usage: tsfuse mount memfs MOUNTPOINT');
      make = async () => new MemFS();
      mountpoint = args[0];
    } else if (kind === 'loopback') {
      if (args.length !== 2) throw new OptionError('usage: tsfuse mount loopback DIR MOUNTPOINT');
      const dir = args[0];
      let st: fs.Stats;
      try { st = fs.statSync(dir); } catch { throw new OptionError(`source directory ${dir} does not exist`); }
      if (!st.isDirectory()) throw new OptionError(`source ${dir} is not a directory`);
      make = async () => new LoopbackFS(fs.realpathSync(dir), { timeout });
      mountpoint = args[1];
      mountOpts.fsname ??= fs.realpathSync(dir);
    } else if (kind === 'stargz') {
      if (args.length !== 2) throw new OptionError('usage: tsfuse mount stargz SOURCE MOUNTPOINT (or tsfuse mount --stargz SOURCE MOUNTPOINT)');
      const take = (k: string) => { const v = opts.get(k); opts.delete(k); return v === true ? undefined : v; };
      const [upperdir, workdir, toc] = [take('upperdir'), take('workdir'), take('toc')];
      // the chunk cache: -o cache=DIR (cache=0: none), by default the user's cache directory
      const params = new URLSearchParams();
      if (toc) params.set('toc', toc);
      for (const k of ['cache', 'cache_max', 'bgfetch', 'layer', 'insecure', 'prefetch']) { const v = take(k); if (v !== undefined) params.set(k, v); }
      if (!params.has('cache')) params.set('cache', defaultCacheDir());
      if ((upperdir === undefined) !== (workdir === undefined)) throw new OptionError('upperdir= and workdir= go together');
      // a path is made absolute here: the daemon does not keep our working directory
      const given = /^[a-z][a-z0-9+.-]*:\/\//i.test(args[0]) ? args[0] : resolve(args[0]);
      const { withParams } = await import('../plugins/builtin/stargz.js');
      const source = withParams(given, params);
      const { createOverlay } = await import('../overlay/index.js');
      // a lazy lower layer (the stargz plugin), read-only or under an upper
      make = () => createOverlay({ lowerdirs: [`//stargz/${Buffer.from(source).toString('base64url')}/`], plugins: ['stargz'], upperdir, workdir }, log);
      mountpoint = args[1];
      mountOpts.fsname ??= args[0];
    } else {
      throw new OptionError(`unknown filesystem "${kind}" (expected memfs, loopback or stargz)`);
    }
    if (opts.size) throw new OptionError(`unknown option ${[...opts.keys()].join(',')}`);
    mountOpts.subtype ??= kind;
    if (!flags.foreground && !isDaemonChild(process.argv)) {
      // validate the mountpoint here too, so the common mistakes fail fast
      runDetached(process.argv.slice(2), flags.log);
      return;
    }
    const fsys: FileSystem & { sessionOptions?: SessionOptions } = await make();
    const served = await serve(fsys, mountpoint, { mount: mountOpts, session: { ...sessionOpts, ...fsys.sessionOptions } });
    log(`mounted ${kind} on ${served.mountpoint} (${served.mounted.via})`);
    // async: a pid file inside the mountpoint must not block the serving thread
    if (flags.pidFile) await fs.promises.writeFile(flags.pidFile, `${process.pid}\n`);
    // signal handlers first: once the parent hears "ready", a SIGTERM may come at any moment
    serveUntilUnmounted(served, log);
    reportReady();
    tuneLiveDaemon(log);
  } catch (e) {
    reportFailure(PROG, e);
  }
}

export function program(): Command {
  const p = new Command(PROG)
    .version(VERSION, '-V, --version')
    .description('FUSE in pure TypeScript: mount the example filesystems and lazy container layers, manage mounts, build and inspect eStargz blobs');
  p.command('mount')
    .description('mount a filesystem: memfs MOUNTPOINT | loopback DIR MOUNTPOINT | stargz SOURCE MOUNTPOINT')
    .argument('<kind>', 'memfs, loopback or stargz (with --stargz SOURCE: the mountpoint)')
    .argument('[paths...]', 'loopback: source dir and mountpoint; memfs: mountpoint; stargz: blob path or URL and mountpoint')
    .option('--stargz <source>', 'mount this eStargz / stargz / zstd:chunked blob lazily (-o upperdir=,workdir= for a writable overlay, -o toc=sha256:… to verify)')
    .option('-f, --foreground', 'stay in the foreground')
    .option('-d, --debug', 'log every request and reply (implies -f logging)')
    .option('-o, --options <opts>', 'mount options, comma separated (repeatable): fsname=, subtype=, allow_other, default_permissions, ro, auto_unmount, max_read=, max_write=, timeout=, readdirplus=auto|on|off, writeback, passthrough', collect, [])
    .option('--log <file>', 'daemon log file')
    .option('--pid-file <file>', 'write the serving process id here once mounted')
    .option(DAEMON_FLAG, 'internal: run as the background daemon')
    .action((kind: string, paths: string[], flags: MountFlags) => (flags.stargz ? mountCommand('stargz', [flags.stargz, kind, ...paths], flags) : mountCommand(kind, paths, flags)));
  p.command('unmount')
    .alias('umount')
    .description('unmount a tsfuse mount (fusermount3 -u)')
    .argument('<mountpoint>')
    .option('-z, --lazy', 'lazy unmount')
    .action(async (mp: string, o: { lazy?: boolean }) => {
      try { await unmount(mp, o); } catch (e) { process.stderr.write(`${PROG}: ${(e as Error).message}\n`); process.exit(1); }
    });
  stargzCommands(p);
  return p;
}

program().parseAsync(process.argv).catch((e) => {
  process.stderr.write(`${PROG}: ${(e as Error).message}\n`);
  process.exit(1);
});

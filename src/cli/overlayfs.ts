/**
 * `tsfuse-overlayfs`: the overlay filesystem with fuse-overlayfs' command
 * line (src/cli/overlayfs-args.ts), so containers-storage's mount_program,
 * mount.fuse3 and people can use it in its place.
 *
 * Daemonizes like fuse-overlayfs and `tsfuse mount`: it returns 0 only once
 * the mount is live, or 1 with the daemon's one-line reason. The usual call
 * (`-o OPTS [SOURCE] MOUNTPOINT`) comes through the sh launcher
 * bin/tsfuse-overlayfs, which starts this program straight as the daemon
 * (one Node start per mount) and reads its verdict from a pipe. Otherwise
 * the Node parent checks what it can (options, mountpoint, upper and work
 * dirs) and re-runs itself in the background. Either way the daemon opens
 * every layer (createOverlay) and mounts before it reports:
 * containers-storage may detach id-mapped lower mounts as soon as the
 * parent returns.
 */
import * as fs from 'node:fs';
import { isAbsolute } from 'node:path';
import { KERNEL_MINOR_VERSION, KERNEL_VERSION } from '../fuse/abi.js';
import type { FileSystem } from '../fuse/api.js';
import { checkMountpoint } from '../fuse/mount.js';
import { serve } from '../fuse/serve.js';
import type { SessionOptions } from '../fuse/session.js';
import type { OverlayOptions } from '../overlay/options.js';
import { VERSION } from '../version.js';
import { handBackToForeground, isDaemonChild, notify, reportFailure, reportReady, runDetached, serveUntilUnmounted, takeReportPipe, tuneLiveDaemon } from './daemon.js';
import { OptionError } from './options.js';
import { OVERLAY_PROG as PROG, OVERLAY_USAGE, parseOverlayArgs, type OverlayMountArgs } from './overlayfs-args.js';

/** Absolute as the kernel would resolve it from the current directory (no normalization, no symlinks resolved). */
function absolute(p: string): string {
  return isAbsolute(p) ? p : `${process.cwd()}/${p}`;
}

/** A plugin layer spec (`//NAME/DATA/PATH`) is not a path. */
function isPluginSpec(p: string): boolean {
  return p.startsWith('//');
}

/** Relative layer paths made absolute, so the daemon can chdir("/") and SIGTERM still finds the mountpoint. */
function resolveOverlayPaths(o: OverlayOptions): OverlayOptions {
  return {
    ...o,
    lowerdirs: o.lowerdirs.map((l) => (isPluginSpec(l) ? l : absolute(l))),
    ...(o.upperdir !== undefined ? { upperdir: isPluginSpec(o.upperdir) ? o.upperdir : absolute(o.upperdir) } : {}),
    ...(o.workdir !== undefined ? { workdir: absolute(o.workdir) } : {}),
  };
}

function checkDir(what: string, p: string): void {
  let st: fs.Stats;
  try {
    st = fs.statSync(p);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new OptionError(code === 'ENOENT' ? `${what} ${p} does not exist` : `cannot use ${what} ${p}: ${code}`);
  }
  if (!st.isDirectory()) throw new OptionError(`${what} ${p} is not a directory`);
}

/** Everything that can be checked without opening the layers. */
function validate(a: OverlayMountArgs): void {
  if (a.overlay.upperdir !== undefined && isPluginSpec(a.overlay.upperdir)) throw new OptionError(`upperdir ${a.overlay.upperdir}: plugins are supported only in lower layers`);
  const mp = checkMountpoint(a.mountpoint);
  if (a.overlay.upperdir !== undefined) checkDir('upperdir', a.overlay.upperdir);
  if (a.overlay.workdir !== undefined) checkDir('workdir', a.overlay.workdir);
  // a layer that contains the mountpoint would see the mount inside itself (fuse-overlayfs #364 hangs)
  const real = fs.realpathSync(mp);
  const dirs: [string, string | undefined][] = [
    ...a.overlay.lowerdirs.filter((l) => !isPluginSpec(l)).map((l): [string, string] => ['lowerdir', l]),
    ['upperdir', a.overlay.upperdir], ['workdir', a.overlay.workdir],
  ];
  for (const [what, d] of dirs) {
    if (d === undefined) continue;
    let rd: string;
    try { rd = fs.realpathSync(d); } catch { continue; } // a missing lower is reported by createOverlay
    if (real === rd || real.startsWith(rd === '/' ? '/' : rd + '/')) throw new OptionError(`${what} ${d} contains the mountpoint ${mp}`);
  }
}

function printVersion(): void {
  process.stdout.write(`${PROG}: version ${VERSION}\nFUSE library: tsfuse ${VERSION} (pure TypeScript, no libfuse)\n` +
    `using FUSE kernel interface version ${KERNEL_VERSION}.${KERNEL_MINOR_VERSION}\n`);
}

async function main(argv: string[]): Promise<void> {
  const launched = takeReportPipe();
  const child = isDaemonChild(argv);
  let parsed;
  try {
    parsed = parseOverlayArgs(argv);
  } catch (e) {
    reportFailure(PROG, e);
    return;
  }
  if (launched && (parsed.action !== 'mount' || parsed.foreground)) handBackToForeground();
  if (parsed.action === 'help') { process.stdout.write(OVERLAY_USAGE); process.exit(0); }
  if (parsed.action === 'version') { printVersion(); process.exit(0); }
  const a = parsed;
  // the parent (or -f) speaks; the daemon child's stderr is /dev/null anyway
  notify(a.warnings.map((w) => `${PROG}: ${w}`), child);
  const log = (l: string) => { if (a.debug || a.foreground || process.env.TSFUSE_DAEMON_LOG) process.stderr.write(`${PROG}: ${new Date().toISOString()} ${l}\n`); };
  try {
    a.mountpoint = absolute(a.mountpoint);
    a.overlay = resolveOverlayPaths(a.overlay);
    validate(a);
    if (!a.foreground && !child) {
      runDetached(argv, undefined, PROG);
      return;
    }
    // like fuse_daemonize(): do not pin the directory we were started in
    if (child) process.chdir('/');
    const { createOverlay } = await import('../overlay/index.js');
    // opens every layer: must happen before reportReady()
    const fsys: FileSystem & { sessionOptions?: SessionOptions } = await createOverlay(a.overlay, log);
    const session: SessionOptions = { ...a.session, ...fsys.sessionOptions, debug: a.debug, log };
    const served = await serve(fsys, a.mountpoint, { mount: a.mount, session });
    log(`mounted overlay of ${a.overlay.lowerdirs.length} lower layer(s)${a.overlay.upperdir ? ' + upper' : ''} on ${served.mountpoint} (${served.mounted.via})`);
    // signal handlers first: once the parent hears "ready", a SIGTERM may come at any moment
    serveUntilUnmounted(served, log);
    reportReady();
    tuneLiveDaemon(log);
  } catch (e) {
    reportFailure(PROG, e);
  }
}

main(process.argv.slice(2)).catch((e) => reportFailure(PROG, e));

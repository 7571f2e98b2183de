/**
 * Overlay benchmark workloads. Each runs in a directory `dir`: the mountpoint
 * of a fresh overlay (fresh upper + work) for kernel / fuse-overlayfs /
 * tsfuse, or for native either the lower tree itself (read-only workloads)
 * or a fresh scratch directory holding an untimed copy of what the workload
 * changes. Everything that touches a mountpoint runs in a child process
 * with a timeout (see lib.ts).
 */
import { join } from 'node:path';
import { must, run } from './lib.js';
import { layerTar, type Tree } from './overlay-tree.js';

export type OvlTargetId = 'native' | 'kernel' | 'fuse_overlayfs' | 'tsfuse' | 'tsfuse_tar';
export const OVL_TARGETS: { id: OvlTargetId; label: string; fuse: boolean }[] = [
  { id: 'native', label: 'native', fuse: false },
  { id: 'kernel', label: 'kernel ovl', fuse: false },
  { id: 'fuse_overlayfs', label: 'fuse-overlayfs', fuse: true },
  { id: 'tsfuse', label: 'tsfuse-ovl', fuse: true },
  // the same lower tree packed into a tar (pax, xattrs) and served by the built-in tar plugin
  { id: 'tsfuse_tar', label: 'tsfuse-ovl tar plugin', fuse: true },
];

export interface OvlConfig {
  quick: boolean;
  /** repetitions of most workloads (median reported) */
  reps: number;
  /** repetitions of the expensive ones (tar of everything, 4k random read, untar, 1 GiB copy-up) */
  heavyReps: number;
  /** repetitions of the cold sequential read (a virtual disk: swings up to 2× between samples) */
  coldReadReps: number;
  mountReps: number;
  randSecs: number;
}

export function ovlConfig(quick: boolean): OvlConfig {
  return quick
    ? { quick, reps: 3, heavyReps: 3, coldReadReps: 3, mountReps: 5, randSecs: 1 }
    : { quick, reps: 5, heavyReps: 3, coldReadReps: 7, mountReps: 5, randSecs: 2 };
}

export interface OvlMetric { key: string; title: string; unit: string; better: 'higher' | 'lower' }

export interface Ctx { tree: Tree; cfg: OvlConfig; log: (l: string) => void }

export interface OvlWorkload {
  id: string;
  title: (x: Ctx) => string;
  how: (x: Ctx) => string;
  metric: OvlMetric;
  /** the targets it makes sense for */
  targets: OvlTargetId[];
  reps: (c: OvlConfig) => number;
  /** the sample is the mount time itself; nothing runs in the mount */
  mountOnly?: boolean;
  /** native runs in a fresh scratch dir; this fills it (untimed) */
  nativeScratch?: (scratch: string, x: Ctx) => Promise<void>;
  /** once before the workload (untimed, native): e.g. pull files into the host page cache */
  prepare?: (x: Ctx) => Promise<void>;
  /** after mounting: sync + drop_caches (dentries, inodes, pages) before the timed part */
  cold?: boolean;
  /** untimed, in the fresh mount before `run` */
  warmup?: (dir: string, x: Ctx) => Promise<void>;
  run: (dir: string, x: Ctx) => Promise<number>;
  /** untimed functional check after `run`; throws on a wrong result */
  verify?: (dir: string, x: Ctx) => Promise<void>;
  /** sync after the rep (dirty data of writes must not leak into the next sample) */
  syncAfter?: boolean;
}

// ------------------------------------------------------------------- helpers

const secs = (ms: number) => ms / 1000;
const tail = (s: string) => s.trim().split('\n').slice(-2).join(' | ');

/** wall seconds of a command (throws unless it exits 0) */
async function timed(cmd: string, args: string[], cwd?: string, timeoutMs = 300_000): Promise<number> {
  const r = await run(cmd, args, { cwd, timeoutMs });
  if (r.code !== 0) throw new Error(`${cmd} ${args.slice(0, 4).join(' ')}${args.length > 4 ? ` … (${args.length} args)` : ''}: ${r.timedOut ? 'timed out' : r.signal ?? `exit ${r.code}`}: ${tail(r.stderr || r.stdout)}`);
  return secs(r.ms);
}

async function findAll(dir: string, x: Ctx): Promise<number> {
  const r = await run('find', [dir, '-printf', '%s %m\n'], { timeoutMs: 300_000 });
  const errs = r.stderr.trim().split('\n').filter(Boolean);
  if (r.code !== 0 || errs.length) throw new Error(`find failed (${errs.length} errors, exit ${r.code}): ${errs[0] ?? ''}`);
  const n = r.stdout.split('\n').length - 1;
  if (n !== x.tree.entries) throw new Error(`find listed ${n} entries, expected ${x.tree.entries}`);
  return secs(r.ms);
}

/** Native read of a lower file (untimed): pull it into the host page cache. */
async function warmLower(x: Ctx, rel: string): Promise<void> {
  await must('dd', [`if=${join(x.tree.dir, rel)}`, 'of=/dev/null', 'bs=1M'], { timeoutMs: 300_000 });
}

function parseJson(s: string): any {
  const i = s.indexOf('{');
  return i < 0 ? undefined : JSON.parse(s.slice(i));
}

async function fio(args: string[], timeoutMs = 300_000): Promise<any> {
  const common = ['--ioengine=psync', '--direct=0', '--invalidate=0', '--numjobs=1', '--iodepth=1', '--output-format=json'];
  const r = await run('fio', [...common, ...args], { timeoutMs, cwd: '/' });
  let job: any;
  try { job = parseJson(r.stdout)?.jobs?.[0]; } catch { /* below */ }
  if (r.code !== 0 || !job || job.error) throw new Error(`fio ${args.join(' ')}: ${r.timedOut ? 'timed out' : `exit ${r.code}`}${job?.error ? ` (error ${job.error})` : ''}: ${tail(r.stderr)}`);
  return job;
}

async function seqRead(dir: string, x: Ctx): Promise<number> {
  const j = await fio(['--name=seq', `--filename=${join(dir, x.tree.bigPath)}`, '--rw=read', '--bs=1M', `--size=${x.tree.spec.bigBytes}`]);
  return j.read.bw_bytes / 2 ** 20;
}

/** stat -c FORMAT of some paths (relative to dir), through a child process */
async function statOf(dir: string, fmt: string, paths: string[]): Promise<string[]> {
  const r = await must('stat', ['-c', fmt, '--', ...paths], { cwd: dir, timeoutMs: 60_000 });
  return r.stdout.trim().split('\n');
}

/** a spread of samples from the ops set */
function samples<T>(xs: T[]): T[] {
  return [xs[0], xs[Math.floor(xs.length / 2)], xs[xs.length - 1]];
}

async function copyFromLower(x: Ctx, scratch: string, rels: string[]): Promise<void> {
  for (const rel of rels) {
    await must('mkdir', ['-p', join(scratch, rel, '..')], { timeoutMs: 30_000 });
    await must('cp', ['-a', join(x.tree.dir, rel), join(scratch, rel)], { timeoutMs: 300_000 });
  }
}

/** the ops set's directories (d1/s0..s3), for native scratch copies */
function opsDirs(x: Ctx): string[] {
  return [...new Set(x.tree.opsSet.map((f) => f.path.split('/').slice(0, 2).join('/')))];
}

const opsPaths = (x: Ctx) => x.tree.opsSet.map((f) => f.path);
const OVERLAYS: OvlTargetId[] = ['kernel', 'fuse_overlayfs', 'tsfuse'];
const ALL: OvlTargetId[] = ['native', ...OVERLAYS];
const k = (n: number) => (n >= 1000 ? `${+(n / 1000).toFixed(1)}k` : String(n));
/** find every file and read all of it: what a container start or a scan of an image does */
async function findRead(dir: string, x: Ctx): Promise<number> {
  const r = await run('bash', ['-o', 'pipefail', '-c', 'cd "$1" && find . -type f -print0 | xargs -0 cat | wc -c', '_', dir], { timeoutMs: 900_000 });
  if (r.code !== 0) throw new Error(`find+cat: exit ${r.code}: ${tail(r.stderr)}`);
  const n = Number(r.stdout.trim());
  // hard-linked files are read once per name
  if (!(n >= x.tree.bytes)) throw new Error(`read ${n} bytes, the tree has ${x.tree.bytes} bytes of file data`);
  return secs(r.ms);
}

const mib = (b: number) => (b >= 1 << 30 ? `${+(b / 2 ** 30).toFixed(2)} GiB` : `${Math.round(b / 2 ** 20)} MiB`);

// ----------------------------------------------------------------- workloads

export const OVL_WORKLOADS: OvlWorkload[] = [
  {
    id: 'mount',
    title: () => 'mount',
    how: () => 'exec of the mount command until stat(MNT) shows the mounted fs (perl timer around system(); fuse daemons daemonize and return once mounted)',
    metric: { key: 'mount.ms', title: 'ms', unit: 'ms', better: 'lower' },
    targets: OVERLAYS,
    reps: (c) => c.mountReps,
    mountOnly: true,
    run: async () => 0,
  },
  {
    id: 'find-cold',
    title: (x) => `find+stat all ${k(x.tree.entries)} entries, cold`,
    how: () => "find MNT -printf '%s %m\\n' (lstat of every entry), fresh mount, sync + drop_caches right before",
    metric: { key: 'find-cold.s', title: 's', unit: 's', better: 'lower' },
    targets: ALL,
    reps: (c) => c.reps,
    cold: true,
    run: findAll,
  },
  {
    id: 'find-warm',
    title: (x) => `find+stat all ${k(x.tree.entries)} entries, warm`,
    how: () => 'the same find again on the same mount after one untimed run (dcache and attribute caches warm)',
    metric: { key: 'find-warm.s', title: 's', unit: 's', better: 'lower' },
    targets: ALL,
    reps: (c) => c.reps,
    warmup: async (dir, x) => { await findAll(dir, x); },
    run: findAll,
  },
  {
    id: 'tar',
    title: (x) => `tar everything (${mib(x.tree.bytes)}) to /dev/null`,
    how: () => 'tar -C MNT -cf - . | wc -c (a pipe, so GNU tar really reads the data), fresh mount, lower in the host page cache',
    metric: { key: 'tar.s', title: 's', unit: 's', better: 'lower' },
    targets: ALL,
    reps: (c) => c.heavyReps,
    prepare: async (x) => { await must('bash', ['-o', 'pipefail', '-c', 'tar -C "$1" -cf - . | wc -c', '_', x.tree.dir], { timeoutMs: 600_000 }); },
    run: async (dir, x) => {
      const r = await run('bash', ['-o', 'pipefail', '-c', 'tar -C "$1" -cf - . | wc -c', '_', dir], { timeoutMs: 600_000 });
      if (r.code !== 0) throw new Error(`tar: exit ${r.code}: ${tail(r.stderr)}`);
      const n = Number(r.stdout.trim());
      if (!(n >= x.tree.bytes)) throw new Error(`tar wrote ${n} bytes, the tree has ${x.tree.bytes} bytes of file data`);
      return secs(r.ms);
    },
  },
  {
    id: 'findread',
    title: (x) => `find + read every file (${mib(x.tree.bytes)}), tar plugin vs plain dir layer`,
    how: () => 'cd MNT && find . -type f -print0 | xargs -0 cat | wc -c, fresh read-only-used mount, lower dir and its tar in the host page cache',
    metric: { key: 'findread.s', title: 's', unit: 's', better: 'lower' },
    targets: ['native', 'fuse_overlayfs', 'tsfuse', 'tsfuse_tar'],
    reps: (c) => c.heavyReps,
    prepare: async (x) => {
      await must('bash', ['-o', 'pipefail', '-c', 'tar -C "$1" -cf - . | wc -c', '_', x.tree.dir], { timeoutMs: 600_000 });
      await must('dd', [`if=${await layerTar(x.tree, x.log)}`, 'of=/dev/null', 'bs=1M'], { timeoutMs: 600_000 });
    },
    run: findRead,
  },
  {
    id: 'seqread-cold',
    title: (x) => `seq read ${mib(x.tree.spec.bigBytes)} file, cold`,
    how: () => 'fio read bs=1M psync QD1 of the big lower file, fresh mount, sync + drop_caches right before (virtual disk)',
    metric: { key: 'seqread-cold.mibs', title: 'MiB/s', unit: 'MiB/s', better: 'higher' },
    targets: ALL,
    reps: (c) => c.coldReadReps,
    cold: true,
    run: seqRead,
  },
  {
    id: 'seqread-warm',
    title: (x) => `seq read ${mib(x.tree.spec.bigBytes)} file, warm`,
    how: () => 'the same fio read with the big lower file in the host page cache (fresh mount: the overlay\'s own page cache is empty)',
    metric: { key: 'seqread-warm.mibs', title: 'MiB/s', unit: 'MiB/s', better: 'higher' },
    targets: ALL,
    reps: (c) => c.reps,
    prepare: (x) => warmLower(x, x.tree.bigPath),
    run: seqRead,
  },
  {
    id: 'randread',
    title: () => '4k random read QD1',
    how: (x) => `fio randread bs=4k psync QD1 over the big file for ${x.cfg.randSecs} s, fresh mount, file in the host page cache`,
    metric: { key: 'randread.iops', title: 'IOPS', unit: 'IOPS', better: 'higher' },
    targets: ALL,
    reps: (c) => c.heavyReps,
    prepare: (x) => warmLower(x, x.tree.bigPath),
    run: async (dir, x) => {
      const j = await fio(['--name=rand', `--filename=${join(dir, x.tree.bigPath)}`, '--rw=randread', '--bs=4k', `--size=${x.tree.spec.bigBytes}`, `--runtime=${x.cfg.randSecs}`, '--time_based']);
      return j.read.iops;
    },
  },
  {
    id: 'untar',
    title: (x) => `untar ${k(x.tree.tarFiles)} files`,
    how: (x) => `tar -xf of a ${k(x.tree.tarFiles)}-file tarball (files of the lower's d2+d3) into a new dir in the mount; tarball in the host page cache; sync after (untimed)`,
    metric: { key: 'untar.s', title: 's', unit: 's', better: 'lower' },
    targets: ALL,
    reps: (c) => c.heavyReps,
    nativeScratch: async () => {},
    prepare: async (x) => { await must('dd', [`if=${x.tree.tarball}`, 'of=/dev/null', 'bs=1M'], { timeoutMs: 120_000 }); },
    run: async (dir, x) => timed('bash', ['-c', 'mkdir untar && tar -C untar -xf "$1"', '_', x.tree.tarball], dir),
    verify: async (dir, x) => {
      const r = await must('find', ['untar'], { cwd: dir, timeoutMs: 120_000 });
      const n = r.stdout.split('\n').filter(Boolean).length;
      if (n !== x.tree.tarEntries + 1) throw new Error(`untar: ${n - 1} entries extracted, the tarball has ${x.tree.tarEntries}`);
    },
    syncAfter: true,
  },
  {
    id: 'copyup-small',
    title: (x) => `copy-up ${k(x.tree.opsSet.length)} small files`,
    how: () => 'append one byte to each lower file (bash loop, printf x >> f: open O_APPEND + write + close), fresh mount; sync after (untimed)',
    metric: { key: 'copyup-small.s', title: 's', unit: 's', better: 'lower' },
    targets: OVERLAYS,
    reps: (c) => c.reps,
    run: async (dir, x) => timed('bash', ['-c', 'for f; do printf x >> "$f" || exit 1; done', '_', ...opsPaths(x)], dir),
    verify: async (dir, x) => {
      const s = samples(x.tree.opsSet);
      const got = await statOf(dir, '%s', s.map((f) => f.path));
      s.forEach((f, i) => { if (Number(got[i]) !== f.size + 1) throw new Error(`copy-up: ${f.path} is ${got[i]} bytes after appending 1 to ${f.size}`); });
    },
    syncAfter: true,
  },
  {
    id: 'copyup-big',
    title: (x) => `copy-up ${mib(x.tree.spec.bigBytes)} file`,
    how: () => 'append one byte to the big lower file (copy-up of the whole file), fresh mount, lower in the host page cache; sync after (untimed)',
    metric: { key: 'copyup-big.s', title: 's', unit: 's', better: 'lower' },
    targets: OVERLAYS,
    reps: (c) => c.heavyReps,
    prepare: (x) => warmLower(x, x.tree.bigPath),
    run: async (dir, x) => timed('bash', ['-c', 'printf x >> "$1"', '_', x.tree.bigPath], dir, 600_000),
    verify: async (dir, x) => {
      const [size] = await statOf(dir, '%s', [x.tree.bigPath]);
      if (Number(size) !== x.tree.spec.bigBytes + 1) throw new Error(`copy-up: ${x.tree.bigPath} is ${size} bytes, want ${x.tree.spec.bigBytes + 1}`);
    },
    syncAfter: true,
  },
  {
    id: 'rm',
    title: (x) => `rm -rf ${k(x.tree.rmFiles)}-file lower subtree`,
    how: (x) => `rm -rf MNT/${x.tree.rmDir} (whiteouts in the upper), fresh mount; native: an untimed cp -a copy`,
    metric: { key: 'rm.s', title: 's', unit: 's', better: 'lower' },
    targets: ALL,
    reps: (c) => c.reps,
    nativeScratch: (scratch, x) => copyFromLower(x, scratch, [x.tree.rmDir]),
    run: async (dir, x) => timed('rm', ['-rf', x.tree.rmDir], dir),
    verify: async (dir, x) => {
      const r = await run('ls', ['-a'], { cwd: dir, timeoutMs: 30_000 });
      if (r.code !== 0) throw new Error(`ls after rm: exit ${r.code}: ${tail(r.stderr)}`);
      if (r.stdout.split('\n').includes(x.tree.rmDir)) throw new Error(`rm -rf: ${x.tree.rmDir} still listed`);
    },
    syncAfter: true,
  },
  {
    id: 'chmod',
    title: (x) => `chmod ${k(x.tree.opsSet.length)} lower files`,
    how: () => 'chmod 600 FILES… (one process), fresh mount; native: an untimed cp -a copy',
    metric: { key: 'chmod.s', title: 's', unit: 's', better: 'lower' },
    targets: ALL,
    reps: (c) => c.reps,
    nativeScratch: (scratch, x) => copyFromLower(x, scratch, opsDirs(x)),
    run: async (dir, x) => timed('chmod', ['600', '--', ...opsPaths(x)], dir),
    verify: async (dir, x) => {
      const got = await statOf(dir, '%a', samples(opsPaths(x)));
      if (got.some((m) => m !== '600')) throw new Error(`chmod: modes ${got.join(',')} after chmod 600`);
    },
    syncAfter: true,
  },
  {
    id: 'chown',
    title: (x) => `chown ${k(x.tree.opsSet.length)} lower files`,
    how: () => 'chown 1000:1000 FILES… (one process), fresh mount; native: an untimed cp -a copy',
    metric: { key: 'chown.s', title: 's', unit: 's', better: 'lower' },
    targets: ALL,
    reps: (c) => c.reps,
    nativeScratch: (scratch, x) => copyFromLower(x, scratch, opsDirs(x)),
    run: async (dir, x) => timed('chown', ['1000:1000', '--', ...opsPaths(x)], dir),
    verify: async (dir, x) => {
      const got = await statOf(dir, '%u:%g', samples(opsPaths(x)));
      if (got.some((m) => m !== '1000:1000')) throw new Error(`chown: owners ${got.join(',')} after chown 1000:1000`);
    },
    syncAfter: true,
  },
  {
    id: 'rename',
    title: (x) => `rename ${k(x.tree.opsSet.length)} lower files`,
    how: () => 'rename(f, f.mv) within its dir for each file (one perl process), fresh mount; native: an untimed cp -a copy',
    metric: { key: 'rename.s', title: 's', unit: 's', better: 'lower' },
    targets: ALL,
    reps: (c) => c.reps,
    nativeScratch: (scratch, x) => copyFromLower(x, scratch, opsDirs(x)),
    run: async (dir, x) => timed('perl', ['-e', 'for (@ARGV) { rename($_, "$_.mv") or die "rename $_: $!\\n" }', ...opsPaths(x)], dir),
    verify: async (dir, x) => {
      const s = samples(opsPaths(x));
      const r = await run('stat', ['-c', '%n', '--', ...s.map((p) => p + '.mv'), ...s], { cwd: dir, timeoutMs: 30_000 });
      const ok = r.stdout.trim().split('\n').filter(Boolean);
      if (ok.length !== s.length || ok.some((p) => !p.endsWith('.mv'))) throw new Error(`rename: after the renames stat finds [${ok.join(', ')}] (want only the .mv names)`);
    },
    syncAfter: true,
  },
];

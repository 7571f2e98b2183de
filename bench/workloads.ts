/**
 * The workloads. Each runs against one target directory (the native data
 * dir or a mountpoint of it) and returns one number per metric. Anything
 * that touches a mountpoint runs in a child process (see lib.ts).
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import { BIN_DIR, DATA, dropCaches, must, run, syncAll, type Target } from './lib.js';

export interface Config {
  quick: boolean;
  /** repetitions of each measurement (median reported) */
  reps: number;
  /** repetitions of the 1 GiB-class data workloads */
  ioReps: number;
  statSecs: number;
  statThreads: number;
  seqBytes: number;
  randBytes: number;
  treeBig: number;
  treeSmall: number;
  createN: number;
  createSize: number;
}

export function config(quick: boolean): Config {
  return quick
    ? { quick, reps: 3, ioReps: 3, statSecs: 0.5, statThreads: 8, seqBytes: 256 << 20, randBytes: 32 << 20, treeBig: 30_000, treeSmall: 15_000, createN: 2000, createSize: 4096 }
    : { quick, reps: 5, ioReps: 5, statSecs: 1, statThreads: 8, seqBytes: 1 << 30, randBytes: 128 << 20, treeBig: 30_000, treeSmall: 15_000, createN: 5000, createSize: 4096 };
}

export interface Metric { key: string; title: string; unit: string; better: 'higher' | 'lower' }

export interface Workload {
  id: string;
  title: (c: Config) => string;
  /** how it is measured, one line for the report */
  how: (c: Config) => string;
  metrics: Metric[];
  /** goal group this workload belongs to (for the goal summary) */
  kind: 'metadata' | 'seqread' | 'other';
  reps: (c: Config) => number;
  /** pin every thread of the FUSE server to this CPU (taskset) for this workload */
  pinServer?: number;
  /** included in --quick runs when no --only is given */
  inQuick: boolean;
  /** data set-up on the native directory, before mounting */
  prepare?: (c: Config, log: (l: string) => void) => Promise<void>;
  warmup?: (t: Target, c: Config) => Promise<void>;
  before?: (t: Target, rep: number, c: Config) => Promise<void>;
  run: (t: Target, rep: number, c: Config) => Promise<Record<string, number>>;
  after?: (t: Target, rep: number, c: Config) => Promise<void>;
}

// ----------------------------------------------------------------- data set-up

const mib = (b: number) => `${Math.round(b / (1 << 20))} MiB`;
export const seqFile = (c: Config) => `seq-${c.seqBytes >> 20}M.bin`;

function ensureStatFiles(n: number): void {
  fs.mkdirSync(DATA, { recursive: true });
  for (let i = 0; i < n; i++) {
    const p = join(DATA, `sf.${i}`);
    if (!fs.existsSync(p)) fs.writeFileSync(p, 'x');
  }
}

async function ensureSeqFile(c: Config, log: (l: string) => void): Promise<void> {
  fs.mkdirSync(DATA, { recursive: true });
  const p = join(DATA, seqFile(c));
  if (fs.existsSync(p) && fs.statSync(p).size === c.seqBytes) return;
  log(`creating ${p} (${mib(c.seqBytes)})`);
  const chunk = Buffer.alloc(1 << 20);
  for (let i = 0; i < chunk.length; i += 4) chunk.writeUInt32LE((i * 2654435761) >>> 0, i);
  const fd = fs.openSync(p + '.tmp', 'w');
  for (let off = 0; off < c.seqBytes; off += chunk.length) {
    chunk.writeUInt32LE(off >>> 20, 0); // no two MiB alike
    fs.writeSync(fd, chunk, 0, Math.min(chunk.length, c.seqBytes - off), off);
  }
  fs.fsyncSync(fd);
  fs.closeSync(fd);
  fs.renameSync(p + '.tmp', p);
}

/** tree-N: N empty files, 100 per directory. */
export function treeEntries(n: number): number {
  return n + Math.ceil(n / 100) + 1; // files + dirs + the top dir itself
}

function ensureTree(n: number, log: (l: string) => void): void {
  const top = join(DATA, `tree-${n}`), done = join(DATA, `tree-${n}.done`);
  if (fs.existsSync(done)) return;
  log(`creating ${top} (${n} files)`);
  fs.rmSync(top, { recursive: true, force: true });
  fs.mkdirSync(top, { recursive: true });
  for (let d = 0; d * 100 < n; d++) {
    const dir = join(top, `d${String(d).padStart(4, '0')}`);
    fs.mkdirSync(dir);
    for (let f = 0; f < 100 && d * 100 + f < n; f++) fs.closeSync(fs.openSync(join(dir, `f${String(f).padStart(3, '0')}`), 'w'));
  }
  fs.writeFileSync(done, `${n}\n`);
}

/** Pulls a file into the page cache (natively, not through any mount). */
async function warmNative(name: string): Promise<void> {
  await must('dd', [`if=${join(DATA, name)}`, 'of=/dev/null', 'bs=1M'], { timeoutMs: 120_000 });
}

// ------------------------------------------------------------------- clients

async function statStorm(t: Target, threads: number, secs: number, cpu?: number): Promise<Record<string, number>> {
  const args = [join(BIN_DIR, 'statstorm'), join(t.dir, 'sf'), String(threads), String(secs)];
  const r = cpu === undefined
    ? await run(args[0], args.slice(1), { timeoutMs: secs * 1000 + 60_000 })
    : await run('taskset', ['-c', String(cpu), ...args], { timeoutMs: secs * 1000 + 60_000 });
  const j = parseJsonLine(r.stdout);
  if (r.code !== 0 || !j) throw new Error(`statstorm: ${j?.error || r.stderr.trim() || `exit ${r.code}`}${j ? ` (${j.errors} errors in ${j.ops} stats)` : ''}`);
  return { ops: j.ops / j.secs, us: (j.secs * threads / j.ops) * 1e6 };
}

function parseJsonLine(s: string): any {
  const i = s.indexOf('{');
  if (i < 0) return undefined;
  try { return JSON.parse(s.slice(i)); } catch { return undefined; }
}

interface FioJob { read: FioDir; write: FioDir; error: number }
interface FioDir { bw_bytes: number; iops: number; clat_ns: { mean: number }; io_bytes: number }

async function fio(args: string[], timeoutMs = 300_000): Promise<FioJob> {
  const common = ['--ioengine=psync', '--direct=0', '--invalidate=0', '--fallocate=none', '--numjobs=1', '--output-format=json'];
  const r = await run('fio', [...common, ...args], { timeoutMs, cwd: DATA });
  const j = parseJsonLine(r.stdout);
  const job = j?.jobs?.[0] as FioJob | undefined;
  if (r.code !== 0 || !job || job.error) {
    throw new Error(`fio ${args.join(' ')}: ${r.timedOut ? 'timed out' : `exit ${r.code}`}${job?.error ? ` (error ${job.error})` : ''}: ${r.stderr.trim().split('\n').slice(-2).join(' | ')}`);
  }
  return job;
}

const MiBps = (bytesPerSec: number) => bytesPerSec / (1 << 20);

// ----------------------------------------------------------------- workloads

const statMetrics = (k: string): Metric[] => [
  { key: `${k}.ops`, title: 'ops/s', unit: 'ops/s', better: 'higher' },
  { key: `${k}.us`, title: 'µs/op', unit: 'µs', better: 'lower' },
];

/** QD1 stat storm with the server's threads on CPU 0 and the client on `clientCpu`: separates wake-up placement from per-request cost. */
function statPinned(id: string, title: string, how: string, clientCpu: number): Workload {
  return {
    id,
    title: () => title,
    how: (c) => `as stat1, ${how} (taskset; native: client only) — ${c.statSecs} s`,
    metrics: statMetrics(id),
    kind: 'metadata',
    reps: (c) => c.reps,
    pinServer: 0,
    inQuick: true,
    prepare: async (c) => ensureStatFiles(c.statThreads),
    warmup: async (t) => { await statStorm(t, 1, 0.2, clientCpu); },
    run: async (t, _r, c) => prefix(id, await statStorm(t, 1, c.statSecs, clientCpu)),
  };
}

function findWorkload(id: string, n: (c: Config) => number, inQuick: boolean): Workload {
  return {
    id,
    title: (c) => `find ${n(c) / 1000}k files`,
    how: (c) => `find DIR/tree-${n(c)} -printf '%s\\n' (lstat of every entry; ${treeEntries(n(c))} entries), wall time, warm dcache, one untimed warm-up`,
    metrics: [{ key: `${id}.s`, title: 'seconds', unit: 's', better: 'lower' }],
    kind: 'metadata',
    reps: (c) => c.reps,
    inQuick,
    prepare: async (c, log) => ensureTree(n(c), log),
    warmup: async (t, c) => { await findOnce(t, n(c)); },
    run: async (t, _rep, c) => ({ [`${id}.s`]: await findOnce(t, n(c)) }),
  };
}

async function findOnce(t: Target, n: number): Promise<number> {
  const r = await run('find', [join(t.dir, `tree-${n}`), '-printf', '%s\n'], { timeoutMs: 300_000 });
  const lines = r.stdout.split('\n').length - 1;
  const errs = r.stderr.trim().split('\n').filter(Boolean);
  if (r.code !== 0 || errs.length) {
    const emfile = errs.filter((l) => /Too many open files/.test(l)).length;
    const first = errs[0]?.replace(/^find: /, '') ?? `exit ${r.code}`;
    throw new Error(emfile
      ? `EMFILE: ${emfile} of ${treeEntries(n)} entries failed with "Too many open files" (server holds one fd per inode; RLIMIT_NOFILE 20000)`
      : `find failed (${errs.length} errors): ${first}`);
  }
  if (lines !== treeEntries(n)) throw new Error(`find listed ${lines} entries, expected ${treeEntries(n)}`);
  return r.ms / 1000;
}

export const WORKLOADS: Workload[] = [
  {
    id: 'stat1',
    title: () => 'stat storm QD1',
    how: (c) => `1 thread, stat() on one file for ${c.statSecs} s (2 FUSE round trips per stat with timeout=0: LOOKUP + GETATTR)`,
    metrics: statMetrics('stat1'),
    kind: 'metadata',
    reps: (c) => c.reps,
    inQuick: true,
    prepare: async (c) => ensureStatFiles(c.statThreads),
    warmup: async (t) => { await statStorm(t, 1, 0.2); },
    run: async (t, _r, c) => prefix('stat1', await statStorm(t, 1, c.statSecs)),
  },
  statPinned('stat1-same', 'stat storm QD1, same CPU', 'server and client pinned to CPU 0', 0),
  statPinned('stat1-cross', 'stat storm QD1, cross CPU', 'server pinned to CPU 0, client to CPU 1', 1),
  {
    id: 'stat8',
    title: (c) => `stat storm ×${c.statThreads}`,
    how: (c) => `${c.statThreads} threads, each stat() on its own file for ${c.statSecs} s; ops/s aggregate, µs/op per client`,
    metrics: statMetrics('stat8'),
    kind: 'metadata',
    reps: (c) => c.reps,
    inQuick: true,
    prepare: async (c) => ensureStatFiles(c.statThreads),
    warmup: async (t, c) => { await statStorm(t, c.statThreads, 0.2); },
    run: async (t, _r, c) => prefix('stat8', await statStorm(t, c.statThreads, c.statSecs)),
  },
  findWorkload('find30k', (c) => c.treeBig, false),
  findWorkload('find15k', (c) => c.treeSmall, true),
  {
    id: 'create',
    title: (c) => `create ${c.createN} files`,
    how: (c) => `open(O_CREAT|O_EXCL) + write ${c.createSize} B + close, ${c.createN} files in a fresh dir, sequential`,
    metrics: [{ key: 'create.files', title: 'files/s', unit: 'files/s', better: 'higher' }],
    kind: 'metadata',
    reps: (c) => c.reps,
    inQuick: true,
    // one untimed round first: the first creates in a fresh ext4 area are much slower (inode table set-up)
    warmup: async (t, c) => {
      const d = join(t.dir, `create-${t.id}-warm`);
      await must('rm', ['-rf', d], { timeoutMs: 300_000 });
      await must('mkdir', [d], { timeoutMs: 30_000 });
      await must(join(BIN_DIR, 'mkfiles'), [d, String(c.createN), String(c.createSize)], { timeoutMs: 300_000 });
      await must('rm', ['-rf', d], { timeoutMs: 300_000 });
      await syncAll();
    },
    before: async (t, rep) => {
      const d = join(t.dir, `create-${t.id}-${rep}`);
      await must('rm', ['-rf', d], { timeoutMs: 300_000 });
      await must('mkdir', [d], { timeoutMs: 30_000 });
    },
    run: async (t, rep, c) => {
      const r = await run(join(BIN_DIR, 'mkfiles'), [join(t.dir, `create-${t.id}-${rep}`), String(c.createN), String(c.createSize)], { timeoutMs: 300_000 });
      const j = parseJsonLine(r.stdout);
      if (r.code !== 0 || !j) throw new Error(`mkfiles: ${j?.error || r.stderr.trim() || `exit ${r.code}`} after ${j?.files ?? '?'} files`);
      return { 'create.files': j.files / j.secs };
    },
    after: async (t, rep) => {
      // removed through the mount, so FUSE servers see UNLINK + FORGET (passthrough_ll closes its fds)
      await must('rm', ['-rf', join(t.dir, `create-${t.id}-${rep}`)], { timeoutMs: 300_000 });
      await syncAll();
    },
  },
  {
    id: 'seqread-cold',
    title: (c) => `seq read ${mib(c.seqBytes)} cold`,
    how: () => 'fio read bs=1M psync, after sync + echo 3 > /proc/sys/vm/drop_caches (disk-bound)',
    metrics: [{ key: 'seqread-cold.mibs', title: 'MiB/s', unit: 'MiB/s', better: 'higher' }],
    kind: 'seqread',
    reps: (c) => c.ioReps,
    inQuick: true,
    prepare: ensureSeqFile,
    before: async () => dropCaches(),
    run: async (t, _r, c) => ({ 'seqread-cold.mibs': MiBps((await fio(['--name=seqread', `--filename=${join(t.dir, seqFile(c))}`, '--rw=read', '--bs=1M', `--size=${c.seqBytes}`])).read.bw_bytes) }),
  },
  {
    id: 'seqread-warm',
    title: (c) => `seq read ${mib(c.seqBytes)} warm`,
    how: () => 'fio read bs=1M psync; source file in the host page cache, FUSE page cache dropped by open (no keep_cache on either server)',
    metrics: [{ key: 'seqread-warm.mibs', title: 'MiB/s', unit: 'MiB/s', better: 'higher' }],
    kind: 'seqread',
    reps: (c) => c.ioReps,
    inQuick: true,
    prepare: ensureSeqFile,
    before: async (_t, _r, c) => warmNative(seqFile(c)),
    run: async (t, _r, c) => ({ 'seqread-warm.mibs': MiBps((await fio(['--name=seqread', `--filename=${join(t.dir, seqFile(c))}`, '--rw=read', '--bs=1M', `--size=${c.seqBytes}`])).read.bw_bytes) }),
  },
  {
    id: 'seqwrite',
    title: (c) => `seq write ${mib(c.seqBytes)}`,
    how: () => 'fio write bs=1M psync into a new file, buffered, no fsync in the timed part (sync after)',
    metrics: [{ key: 'seqwrite.mibs', title: 'MiB/s', unit: 'MiB/s', better: 'higher' }],
    kind: 'other',
    reps: (c) => c.ioReps,
    inQuick: true,
    before: async (t) => { await must('rm', ['-f', join(t.dir, `write-${t.id}.bin`)], { timeoutMs: 60_000 }); await syncAll(); },
    run: async (t, _r, c) => ({ 'seqwrite.mibs': MiBps((await fio(['--name=seqwrite', `--filename=${join(t.dir, `write-${t.id}.bin`)}`, '--rw=write', '--bs=1M', `--size=${c.seqBytes}`])).write.bw_bytes) }),
    after: async (t) => { await must('rm', ['-f', join(t.dir, `write-${t.id}.bin`)], { timeoutMs: 60_000 }); await syncAll(); },
  },
  {
    id: 'randread',
    title: () => '4k random read QD1',
    how: (c) => `fio randread bs=4k psync, ${mib(c.randBytes)} of random blocks (no repeats) from the ${mib(c.seqBytes)} file; source in host page cache`,
    metrics: [
      { key: 'randread.iops', title: 'IOPS', unit: 'IOPS', better: 'higher' },
      { key: 'randread.us', title: 'µs/op (clat)', unit: 'µs', better: 'lower' },
    ],
    kind: 'other',
    reps: (c) => c.reps,
    inQuick: true,
    prepare: ensureSeqFile,
    before: async (_t, _r, c) => warmNative(seqFile(c)),
    run: async (t, _r, c) => {
      const j = await fio(['--name=randread', `--filename=${join(t.dir, seqFile(c))}`, '--rw=randread', '--bs=4k', `--size=${c.seqBytes}`, `--io_size=${c.randBytes}`]);
      return { 'randread.iops': j.read.iops, 'randread.us': j.read.clat_ns.mean / 1000 };
    },
  },
];

function prefix(k: string, r: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(r).map(([m, v]) => [`${k}.${m}`, v]));
}

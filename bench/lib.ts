/**
 * Benchmark plumbing: child processes (async, tracked by PID so SIGINT can
 * stop exactly what we started), mounting and unmounting the four targets,
 * building the C peer and clients.
 *
 * Rule: the harness never touches a FUSE mountpoint with a synchronous fs
 * call of its own. Everything that goes through a mount runs in a child
 * process with a timeout, so a wedged daemon cannot freeze the harness (and
 * its SIGINT cleanup).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import { dirname, join, resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '..');
export const BENCH = join(ROOT, 'bench');
export const BUILD = join(BENCH, '.build');
export const BIN_DIR = join(BUILD, 'bin');
export const DATA = join(BUILD, 'data');
export const MNT_DIR = join(BUILD, 'mnt');
export const LOG_DIR = join(BUILD, 'logs');
export const TSFUSE = join(ROOT, 'bin/tsfuse');

export type TargetId = 'native' | 'tsfuse' | 'tsfuse_pt' | 'passthrough_ll';
export const TARGETS: { id: TargetId; label: string }[] = [
  { id: 'native', label: 'native' },
  { id: 'tsfuse', label: 'tsfuse' },
  { id: 'tsfuse_pt', label: 'tsfuse+pt' },
  { id: 'passthrough_ll', label: 'passthrough_ll' },
];

// ------------------------------------------------------------ child processes

/** Children running right now (PID → process), for SIGINT. */
const live = new Map<number, ChildProcess>();

export interface RunResult { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string; ms: number; timedOut: boolean }

/** Runs a program to completion (async), capturing output; kills it (by PID) on timeout. */
export function run(cmd: string, args: string[], o: { timeoutMs?: number; cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<RunResult> {
  return new Promise((resolveP, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(cmd, args, { cwd: o.cwd, env: o.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [], err: Buffer[] = [];
    let timedOut = false;
    let timer: NodeJS.Timeout | undefined;
    child.stdout!.on('data', (b: Buffer) => out.push(b));
    child.stderr!.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => { if (timer) clearTimeout(timer); if (child.pid) live.delete(child.pid); reject(e); });
    if (child.pid) live.set(child.pid, child);
    if (o.timeoutMs) {
      timer = setTimeout(() => {
        timedOut = true;
        if (child.pid) try { process.kill(child.pid, 'SIGKILL'); } catch { /* gone */ }
      }, o.timeoutMs);
    }
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      if (child.pid) live.delete(child.pid);
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      resolveP({ code, signal, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString(), ms, timedOut });
    });
  });
}

/** Like run, but throws unless the program exits 0. */
export async function must(cmd: string, args: string[], o: { timeoutMs?: number; cwd?: string } = {}): Promise<RunResult> {
  const r = await run(cmd, args, o);
  if (r.code !== 0) {
    const why = r.timedOut ? `timed out after ${o.timeoutMs} ms` : r.signal ? `killed by ${r.signal}` : `exit ${r.code}`;
    throw new Error(`${cmd} ${args.join(' ')}: ${why}: ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ')}`);
  }
  return r;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Is the process running? A zombie (exited, not yet reaped by its parent or init) counts as gone. */
export function pidAlive(pid: number): boolean {
  try { process.kill(pid, 0); } catch (e) { return (e as NodeJS.ErrnoException).code === 'EPERM'; }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch { return false; }
}

/** Kills the children still running (only those this process spawned). */
export function killLiveChildren(): void {
  for (const [pid] of live) {
    try { process.kill(pid, 'SIGTERM'); } catch { /* gone */ }
  }
}

// --------------------------------------------------------------------- mounts

/** Mountpoints in /proc/self/mountinfo (octal escapes decoded). */
export function mountpoints(): string[] {
  const info = fs.readFileSync('/proc/self/mountinfo', 'utf8');
  return info.split('\n').filter(Boolean).map((l) => l.split(' ')[4].replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8))));
}

export function isMounted(p: string): boolean {
  return mountpoints().includes(p);
}

export interface Target {
  id: TargetId;
  label: string;
  /** directory the workloads use (the mountpoint, or the data dir for native) */
  dir: string;
  mnt?: string;
  /** serving process we started (tsfuse daemon from its pid file, or passthrough_ll child) */
  pid?: number;
  child?: ChildProcess;
  exited?: Promise<void>;
}

const mounted = new Set<Target>();

export interface MountConfig { cpuProfDir?: string; tsfuseExtraOpts?: string }

export async function mountTarget(id: TargetId, cfg: MountConfig): Promise<Target> {
  const label = TARGETS.find((t) => t.id === id)!.label;
  if (id === 'native') return { id, label, dir: DATA };
  const mnt = join(MNT_DIR, id);
  fs.mkdirSync(mnt, { recursive: true });
  fs.mkdirSync(LOG_DIR, { recursive: true });
  if (isMounted(mnt)) {
    // a previous run of this harness died without cleaning up: this mountpoint is ours
    await run('fusermount3', ['-u', '-z', mnt], { timeoutMs: 10_000 });
  }
  const log = join(LOG_DIR, `${id}.log`);
  if (id === 'passthrough_ll') {
    const fd = fs.openSync(log, 'w');
    const child = spawn(join(BIN_DIR, 'passthrough_ll'), ['-f', '-o', `source=${DATA},timeout=0`, mnt], { stdio: ['ignore', fd, fd] });
    fs.closeSync(fd);
    const t: Target = { id, label, dir: mnt, mnt, pid: child.pid, child };
    let exitInfo: string | undefined;
    t.exited = new Promise((r) => child.on('exit', (c, s) => { exitInfo = s ?? `exit ${c}`; if (child.pid) live.delete(child.pid); r(); }));
    if (child.pid) live.set(child.pid, child);
    mounted.add(t);
    for (let i = 0; i < 200 && !isMounted(mnt); i++) {
      if (exitInfo) break;
      await sleep(25);
    }
    if (!isMounted(mnt)) {
      await unmountTarget(t);
      throw new Error(`passthrough_ll did not mount (${exitInfo ?? 'timeout'}): ${fs.readFileSync(log, 'utf8').trim().split('\n').slice(-2).join(' | ')}`);
    }
    return t;
  }
  const opts = id === 'tsfuse_pt' ? 'timeout=0,passthrough' : 'timeout=0';
  const pidFile = join(LOG_DIR, `${id}.pid`);
  fs.rmSync(pidFile, { force: true });
  const nodeArgs = cfg.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${join(cfg.cpuProfDir, id)}`] : [];
  const args = [...nodeArgs, TSFUSE, 'mount', 'loopback', DATA, mnt, '-o', opts + (cfg.tsfuseExtraOpts ? ',' + cfg.tsfuseExtraOpts : ''), '--pid-file', pidFile, '--log', log];
  const r = await run(process.execPath, args, { timeoutMs: 30_000 });
  const t: Target = { id, label, dir: mnt, mnt };
  if (fs.existsSync(pidFile)) t.pid = Number(fs.readFileSync(pidFile, 'utf8').trim());
  mounted.add(t);
  if (r.code !== 0 || !isMounted(mnt)) {
    await unmountTarget(t);
    throw new Error(`tsfuse mount (${opts}) failed: ${(r.stderr || r.stdout).trim()}`);
  }
  return t;
}

/** Unmounts (fusermount3 -u, then lazily) and waits for the server to exit; kills it by PID if it lingers. */
export async function unmountTarget(t: Target): Promise<void> {
  if (!t.mnt) return;
  for (let i = 0; i < 5 && isMounted(t.mnt); i++) {
    const r = await run('fusermount3', ['-u', t.mnt], { timeoutMs: 10_000 });
    if (r.code === 0) break;
    await sleep(200);
  }
  if (isMounted(t.mnt)) await run('fusermount3', ['-u', '-z', t.mnt], { timeoutMs: 10_000 });
  if (t.pid) {
    const deadline = Date.now() + 8000;
    while (pidAlive(t.pid) && Date.now() < deadline) await sleep(50);
    if (pidAlive(t.pid)) {
      try { process.kill(t.pid, 'SIGTERM'); } catch { /* gone */ }
      await sleep(2000);
      if (pidAlive(t.pid)) try { process.kill(t.pid, 'SIGKILL'); } catch { /* gone */ }
    }
  }
  if (t.exited) await Promise.race([t.exited, sleep(3000)]);
  mounted.delete(t);
}

export async function unmountAll(): Promise<void> {
  for (const t of [...mounted]) {
    try { await unmountTarget(t); } catch (e) { process.stderr.write(`bench: unmount ${t.mnt}: ${(e as Error).message}\n`); }
  }
}

// ---------------------------------------------------------------------- build

function newer(src: string[], out: string): boolean {
  if (!fs.existsSync(out)) return true;
  const t = fs.statSync(out).mtimeMs;
  return src.some((s) => fs.statSync(s).mtimeMs > t);
}

export const PASSTHROUGH_LL_SRC = '/usr/share/doc/libfuse3-dev/examples/passthrough_ll.c';

/** Compiles libfuse's passthrough_ll example and our C clients into bench/.build/bin. */
export async function buildNative(log: (l: string) => void): Promise<void> {
  fs.mkdirSync(BIN_DIR, { recursive: true });
  if (!fs.existsSync(PASSTHROUGH_LL_SRC)) throw new Error(`${PASSTHROUGH_LL_SRC} missing (apt-get install libfuse3-dev)`);
  const pc = await must('pkg-config', ['--cflags', '--libs', 'fuse3']);
  const pcFlags = pc.stdout.trim().split(/\s+/).filter(Boolean);
  const jobs: { out: string; src: string[]; args: string[] }[] = [
    { out: 'passthrough_ll', src: [PASSTHROUGH_LL_SRC], args: ['-O2', '-Wall', '-Wno-unused-result', '-I', dirname(PASSTHROUGH_LL_SRC), PASSTHROUGH_LL_SRC, ...pcFlags] },
    { out: 'statstorm', src: [join(BENCH, 'c/statstorm.c')], args: ['-O2', '-Wall', join(BENCH, 'c/statstorm.c'), '-lpthread'] },
    { out: 'mkfiles', src: [join(BENCH, 'c/mkfiles.c')], args: ['-O2', '-Wall', join(BENCH, 'c/mkfiles.c')] },
  ];
  for (const j of jobs) {
    const out = join(BIN_DIR, j.out);
    if (!newer(j.src, out)) continue;
    log(`compiling ${j.out}`);
    await must('gcc', ['-o', out, ...j.args], { timeoutMs: 120_000 });
  }
}

/** Newest mtime of .ts files under dir. */
function newestTs(dir: string): number {
  let m = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) m = Math.max(m, newestTs(p));
    else if (e.name.endsWith('.ts')) m = Math.max(m, fs.statSync(p).mtimeMs);
  }
  return m;
}

/** Is dist/ older than src/? (the CLI runs from dist) */
export function distStale(): string | undefined {
  const cli = join(ROOT, 'dist/cli/tsfuse.js');
  if (!fs.existsSync(cli)) return 'dist/cli/tsfuse.js is missing';
  const oldestOut = Math.min(...['dist/cli/tsfuse.js', 'dist/examples/loopback.js', 'dist/fuse/session.js'].map((p) => fs.existsSync(join(ROOT, p)) ? fs.statSync(join(ROOT, p)).mtimeMs : 0));
  if (newestTs(join(ROOT, 'src')) > oldestOut) return 'dist/ is older than src/';
  return undefined;
}

// ------------------------------------------------------------------- caches

export async function syncAll(): Promise<void> {
  await must('sync', [], { timeoutMs: 120_000 });
}

/** sync + drop page cache, dentries and inodes (echo 3 > /proc/sys/vm/drop_caches). */
export async function dropCaches(): Promise<void> {
  await syncAll();
  fs.writeFileSync('/proc/sys/vm/drop_caches', '3');
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

// ------------------------------------------------------------- machine load

function cpuTimes(): { idle: number; total: number } {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  return { idle: f[3] + (f[4] ?? 0), total: f.reduce((a, b) => a + b, 0) };
}

/** Fraction of all CPUs busy over the next `ms` (whatever runs: ours or not). */
export async function cpuBusy(ms = 1000): Promise<number> {
  const a = cpuTimes();
  await sleep(ms);
  const b = cpuTimes();
  const total = b.total - a.total;
  return total > 0 ? 1 - (b.idle - a.idle) / total : 0;
}

/**
 * SIGINT/SIGTERM/SIGHUP stop a run: `cleanup` once (unmount, kill what the
 * run started), then exit 130. The returned flag lets run loops stop early.
 */
export function stopOnSignals(log: (l: string) => void, cleanup: () => Promise<void>): { interrupted: boolean } {
  const state = { interrupted: false };
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      if (state.interrupted) return;
      state.interrupted = true;
      log(`${sig}: unmounting and stopping what this run started`);
      cleanup().finally(() => process.exit(130));
    });
  }
  return state;
}

/** A progress logger on stderr: each line tagged and stamped with seconds since it was made. */
export function stepLog(tag: string): (line: string) => void {
  const t0 = Date.now();
  return (l) => process.stderr.write(`[${tag} ${((Date.now() - t0) / 1000).toFixed(1).padStart(6)}s] ${l}\n`);
}

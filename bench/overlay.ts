/**
 * Overlay benchmark: tsfuse-overlayfs vs fuse-overlayfs vs kernel overlayfs
 * (and the plain lower directory where that makes sense), same lower tree,
 * fresh upper + work for every target, workload and repetition.
 *
 *   npm run bench:overlay                  full run (~30k-file lower + 1 GiB file)
 *   npm run bench:overlay -- --quick       6k files + 256 MiB file
 *   npm run bench:overlay -- --only tar,rm --targets fuse_overlayfs,tsfuse --reps 3
 *   npm run bench:overlay -- --cpu-prof --only copyup-small --targets tsfuse --reps 1
 *   npm run bench:overlay -- --list
 *
 * Needs root (mount, drop_caches, FUSE passthrough). The lower tree is
 * generated once into bench/.build/ovl-lower (see overlay-tree.ts).
 * Results: a table on stdout, bench/results/overlay-latest.json.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import { basename, join } from 'node:path';
import { parseArgs } from 'node:util';
import { BENCH, BUILD, cpuBusy, distStale, dropCaches, killLiveChildren, median, mountpoints, must, pidAlive, ROOT, run, sleep, syncAll, stepLog, stopOnSignals } from './lib.js';
import { profileFiles, summarize, summaryText, type ProfSummary } from './overlay-prof.js';
import { ensureTree, layerTar, type Tree } from './overlay-tree.js';
import { OVL_TARGETS, OVL_WORKLOADS, ovlConfig, type Ctx, type OvlMetric, type OvlTargetId, type OvlWorkload } from './overlay-workloads.js';
import { fmt, ratio } from './report.js';

const { values: argv } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    targets: { type: 'string' },
    reps: { type: 'string' },
    'cpu-prof': { type: 'boolean', default: false },
    'tsfuse-opts': { type: 'string' },
    'fo-opts': { type: 'string' },
    build: { type: 'boolean', default: false },
    out: { type: 'string' },
    list: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
  allowPositionals: false,
});

const t0 = Date.now();
const log = stepLog('ovl');

const OVL_MNT = join(BUILD, 'ovl-mnt');
/** a scratch ext4 (loop device over a sparse file, made fresh every run) holding every upper, work and native scratch dir */
const OVL_RUN = join(BUILD, 'ovl-run');
const UPPER_IMG = join(BUILD, 'ovl-upper.img');
const UPPER_IMG_SIZE = '48G';
const OVL_PROF = join(BUILD, 'ovl-prof');
const TSFUSE_OVL = join(ROOT, 'bin/tsfuse-overlayfs');
const DAEMON_FLAG = '--tsfuse-daemon-child';

if (argv.help) {
  process.stdout.write(`usage: npm run bench:overlay -- [--quick] [--only ${OVL_WORKLOADS.map((w) => w.id).join(',')}]
       [--targets ${OVL_TARGETS.map((t) => t.id).join(',')}] [--reps N] [--cpu-prof] [--build] [--out FILE] [--list]
  --reps N     repetitions of every workload (default 5; seqread-cold 7; tar, randread, untar, copyup-big 3)
  --tsfuse-opts O, --fo-opts O   extra -o options for tsfuse-overlayfs / fuse-overlayfs (e.g. timeout=86400)
  --cpu-prof   run the tsfuse daemons under node --cpu-prof (bench/.build/ovl-prof/WORKLOAD/) and print where their time goes
  --build      rebuild dist/ first if src/ is newer\n`);
  process.exit(0);
}

const cfg = ovlConfig(!!argv.quick);
if (argv.reps) {
  const n = Number(argv.reps);
  if (!Number.isInteger(n) || n < 1) { process.stderr.write('--reps wants a positive integer\n'); process.exit(2); }
  cfg.reps = cfg.heavyReps = cfg.coldReadReps = cfg.mountReps = n;
}

function pick<T extends { id: string }>(all: T[], list: string | undefined, what: string): T[] {
  if (!list) return all;
  const ids = list.split(',').map((s) => s.trim()).filter(Boolean);
  for (const id of ids) if (!all.some((x) => x.id === id)) { process.stderr.write(`unknown ${what} "${id}" (known: ${all.map((x) => x.id).join(', ')})\n`); process.exit(2); }
  return all.filter((x) => ids.includes(x.id));
}
const workloads = pick(OVL_WORKLOADS, argv.only, 'workload');
const targetIds = pick(OVL_TARGETS, argv.targets, 'target').map((t) => t.id);
if (argv.list) {
  for (const w of OVL_WORKLOADS) process.stdout.write(`${w.id.padEnd(14)} ${w.metric.better === 'higher' ? '↑' : '↓'} ${w.metric.unit.padEnd(6)} targets ${w.targets.join(',')}\n`);
  process.exit(0);
}

// -------------------------------------------------------------------- mounts

interface Mounted {
  id: OvlTargetId;
  /** where the workload runs */
  dir: string;
  mnt?: string;
  /** fresh upper/work (or native scratch) for this mount; removed afterwards */
  runDir?: string;
  /** FUSE daemon we started (found by its command line naming our mountpoint) */
  pid?: number;
  mountMs?: number;
  /** VmHWM of the daemon just before unmounting, MiB */
  hwmMiB?: number;
}

const mountedNow = new Set<Mounted>();
let seq = 0;

/** perl: time exec of the mount command until stat(MNT) is on another device */
const MOUNT_TIMER = `
use strict; use Time::HiRes qw(time sleep);
my $mnt = shift @ARGV;
my @p = stat($mnt) or die "stat $mnt: $!\\n";
my $t0 = time;
my $rc = system(@ARGV);
if ($rc != 0) { die sprintf("mount command failed (%s)\\n", $rc == -1 ? "exec: $!" : ($rc & 127) ? "signal " . ($rc & 127) : "exit " . ($rc >> 8)); }
my $t1 = time;
while (1) {
  my @s = stat($mnt);
  last if @s && $s[0] != $p[0];
  die "not mounted 30 s after the mount command returned\\n" if time - $t0 > 30;
  sleep(0.0002);
}
printf "%.3f %.3f\\n", ($t1 - $t0) * 1000, (time - $t0) * 1000;
`;

/** PIDs of FUSE overlay daemons serving `mnt` (tsfuse's daemon child, or fuse-overlayfs). */
function daemonPids(mnt: string): number[] {
  const out: number[] = [];
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    let args: string[];
    try { args = fs.readFileSync(`/proc/${e}/cmdline`, 'utf8').split('\0'); } catch { continue; }
    if (!args.includes(mnt)) continue;
    if (args.includes(DAEMON_FLAG) || basename(args[0] ?? '') === 'fuse-overlayfs') out.push(Number(e));
  }
  return out;
}

function isMounted(p: string): boolean {
  return mountpoints().includes(p);
}

function vmHwmMiB(pid: number): number | undefined {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch { return undefined; }
}

async function mountTarget(id: OvlTargetId, w: OvlWorkload, x: Ctx): Promise<Mounted> {
  if (id === 'native') {
    if (!w.nativeScratch) return { id, dir: x.tree.dir };
    const runDir = join(OVL_RUN, `native-${++seq}`);
    fs.rmSync(runDir, { recursive: true, force: true });
    fs.mkdirSync(join(runDir, 'scratch'), { recursive: true });
    const m: Mounted = { id, dir: join(runDir, 'scratch'), runDir };
    mountedNow.add(m);
    await w.nativeScratch(m.dir, x);
    await syncAll();
    return m;
  }
  const mnt = join(OVL_MNT, id);
  fs.mkdirSync(mnt, { recursive: true });
  if (isMounted(mnt)) await forceUnmount(mnt);
  const runDir = join(OVL_RUN, `${id}-${++seq}`);
  fs.rmSync(runDir, { recursive: true, force: true });
  const upper = join(runDir, 'upper'), work = join(runDir, 'work');
  fs.mkdirSync(upper, { recursive: true });
  fs.mkdirSync(work, { recursive: true });
  const lower = id === 'tsfuse_tar' ? `//tar/${Buffer.from(await layerTar(x.tree, log)).toString('base64url')}/,plugins=tar` : x.tree.dir;
  const opts = `lowerdir=${lower},upperdir=${upper},workdir=${work}`;
  const extra = (o: string | undefined) => (o ? ['-o', o] : []);
  let cmd: string[];
  if (id === 'kernel') cmd = ['mount', '-t', 'overlay', 'overlay', '-o', opts, mnt];
  else if (id === 'fuse_overlayfs') cmd = ['fuse-overlayfs', '-o', opts, ...extra(argv['fo-opts']), mnt];
  else if (argv['cpu-prof']) {
    const dir = join(OVL_PROF, w.id);
    fs.mkdirSync(dir, { recursive: true });
    cmd = [process.execPath, '--cpu-prof', `--cpu-prof-dir=${dir}`, join(ROOT, 'dist/cli/overlayfs.js'), '-o', opts, ...extra(argv['tsfuse-opts']), mnt];
  } else cmd = [TSFUSE_OVL, '-o', opts, ...extra(argv['tsfuse-opts']), mnt];
  const before = new Set(daemonPids(mnt));
  const m: Mounted = { id, dir: mnt, mnt, runDir };
  mountedNow.add(m);
  const r = await run('perl', ['-e', MOUNT_TIMER, mnt, ...cmd], { timeoutMs: 60_000 });
  const fresh = daemonPids(mnt).filter((p) => !before.has(p));
  if (fresh.length === 1) m.pid = fresh[0];
  if (r.code !== 0) {
    const why = (r.stderr.trim().split('\n').filter((l) => !/unknown argument ignored/.test(l)).slice(-2).join(' | ')) || `exit ${r.code}`;
    throw new Error(`mount failed: ${cmd.map((a) => (a === MOUNT_TIMER ? '…' : a)).join(' ')}: ${r.timedOut ? 'timed out' : why}`);
  }
  m.mountMs = Number(r.stdout.trim().split(/\s+/)[1]);
  const fuse = OVL_TARGETS.find((t) => t.id === id)!.fuse;
  if (fuse && fresh.length !== 1) log(`  WARNING: ${id}: found ${fresh.length} daemon processes for ${mnt} (${fresh.join(',')}); no RSS`);
  return m;
}

async function forceUnmount(mnt: string): Promise<void> {
  const fuse = !mnt.endsWith('/kernel');
  await run(fuse ? 'fusermount3' : 'umount', fuse ? ['-u', '-z', mnt] : ['-l', mnt], { timeoutMs: 10_000 });
}

async function unmountTarget(m: Mounted): Promise<void> {
  try {
    if (m.mnt) {
      if (m.pid) m.hwmMiB = vmHwmMiB(m.pid);
      const fuse = m.id !== 'kernel';
      for (let i = 0; i < 5 && isMounted(m.mnt); i++) {
        const r = await run(fuse ? 'fusermount3' : 'umount', fuse ? ['-u', m.mnt] : [m.mnt], { timeoutMs: 30_000 });
        if (r.code === 0) break;
        log(`  ${m.id}: unmount: ${r.stderr.trim()}; retrying`);
        await sleep(300);
      }
      if (isMounted(m.mnt)) { log(`  ${m.id}: detaching lazily`); await forceUnmount(m.mnt); }
      if (m.pid) {
        // the daemon exits by itself once unmounted (with --cpu-prof it writes its profile first)
        const deadline = Date.now() + (argv['cpu-prof'] ? 60_000 : 10_000);
        while (pidAlive(m.pid) && Date.now() < deadline) await sleep(20);
        if (pidAlive(m.pid)) {
          log(`  ${m.id}: daemon ${m.pid} still running after unmount; SIGTERM`);
          try { process.kill(m.pid, 'SIGTERM'); } catch { /* gone */ }
          await sleep(2000);
          if (pidAlive(m.pid)) try { process.kill(m.pid, 'SIGKILL'); } catch { /* gone */ }
        }
      }
    }
    // upper/work/scratch dirs stay until the end of the run (the scratch fs is
    // thrown away): ext4 makes inode allocation slow (recently_deleted() scans)
    // for up to 5 minutes after thousands of inodes were freed
  } finally {
    mountedNow.delete(m);
  }
}

/** Our mountpoints still mounted (e.g. from a run that was killed). */
function strayMounts(): string[] {
  return mountpoints().filter((p) => p.startsWith(OVL_MNT + '/'));
}

/** Loop devices backed by our image (ours by construction). */
async function ourLoops(): Promise<string[]> {
  const r = await run('losetup', ['-n', '-O', 'NAME', '-j', UPPER_IMG], { timeoutMs: 10_000 });
  return r.stdout.split('\n').map((l) => l.trim()).filter(Boolean);
}

/** Fresh scratch ext4 for uppers: no deleted-inode history, nothing left from earlier runs. */
async function setupUpperFs(): Promise<void> {
  await teardownUpperFs();
  await must('truncate', ['-s', UPPER_IMG_SIZE, UPPER_IMG], { timeoutMs: 30_000 });
  // lazy init + noinit_itable: fast mkfs and no ext4lazyinit thread writing in the background during the run
  await must('mkfs.ext4', ['-q', '-F', '-E', 'nodiscard,lazy_itable_init=1,lazy_journal_init=1', UPPER_IMG], { timeoutMs: 120_000 });
  const dev = (await must('losetup', ['--direct-io=on', '--show', '-f', UPPER_IMG], { timeoutMs: 30_000 })).stdout.trim();
  fs.mkdirSync(OVL_RUN, { recursive: true });
  await must('mount', ['-t', 'ext4', '-o', 'noinit_itable', dev, OVL_RUN], { timeoutMs: 30_000 });
}

async function teardownUpperFs(): Promise<void> {
  for (let i = 0; i < 3 && isMounted(OVL_RUN); i++) {
    const r = await run('umount', [OVL_RUN], { timeoutMs: 120_000 });
    if (r.code !== 0) await sleep(500);
  }
  if (isMounted(OVL_RUN)) await run('umount', ['-l', OVL_RUN], { timeoutMs: 30_000 });
  for (const dev of await ourLoops()) await run('losetup', ['-d', dev], { timeoutMs: 30_000 });
  if (!isMounted(OVL_RUN)) {
    fs.rmSync(UPPER_IMG, { force: true });
    if (fs.existsSync(OVL_RUN) && fs.readdirSync(OVL_RUN).length === 0) fs.rmdirSync(OVL_RUN);
  }
}

// ------------------------------------------------------------------ cleanup

let cleaning: Promise<void> | undefined;
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    killLiveChildren();
    await sleep(300);
    for (const m of [...mountedNow]) {
      try { await unmountTarget(m); } catch (e) { log(`unmount ${m.mnt ?? m.runDir}: ${(e as Error).message}`); }
    }
    for (const p of strayMounts()) await forceUnmount(p);
    await teardownUpperFs();
  })();
  return cleaning;
}
const stop = stopOnSignals(log, cleanup);

// ------------------------------------------------------------------- results

interface Cell { samples: number[]; median?: number; min?: number; max?: number; error?: string }
interface Row { id: string; title: string; how: string; metric: OvlMetric; reps: number; cells: Partial<Record<OvlTargetId, Cell>> }

const rows: Row[] = [];
/** daemon VmHWM (MiB) per workload and target, one per mount */
const hwm: Record<string, Partial<Record<OvlTargetId, number[]>>> = {};
/** daemon PIDs per workload (to pick their profiles) */
const profPids: Record<string, number[]> = {};
const failures: { workload: string; target: OvlTargetId; error: string }[] = [];

async function measure(w: OvlWorkload, x: Ctx): Promise<void> {
  const reps = w.reps(cfg);
  const ids = targetIds.filter((t) => w.targets.includes(t));
  const row: Row = { id: w.id, title: w.title(x), how: w.how(x), metric: w.metric, reps, cells: {} };
  rows.push(row);
  if (w.prepare) await w.prepare(x);
  for (let rep = 0; rep < reps && !stop.interrupted; rep++) {
    const order = ids.map((_, i) => ids[(i + rep) % ids.length]);
    for (const id of order) {
      const cell = (row.cells[id] ??= { samples: [] });
      if (cell.error || stop.interrupted) continue;
      let m: Mounted | undefined;
      try {
        m = await mountTarget(id, w, x);
        if (m.pid) (profPids[w.id] ??= []).push(m.pid);
        let v: number;
        if (w.mountOnly) v = m.mountMs!;
        else {
          if (w.warmup) await w.warmup(m.dir, x);
          if (w.cold) await dropCaches();
          v = await w.run(m.dir, x);
          if (w.verify) await w.verify(m.dir, x);
        }
        cell.samples.push(v);
        log(`  ${w.id} rep ${rep + 1}/${reps} ${id}: ${v.toFixed(3)} ${w.metric.unit}${m.mountMs !== undefined && !w.mountOnly ? ` (mount ${m.mountMs.toFixed(0)} ms)` : ''}`);
      } catch (e) {
        cell.error = (e as Error).message;
        failures.push({ workload: w.id, target: id, error: cell.error });
        log(`  ${w.id} rep ${rep + 1}/${reps} ${id}: ERROR ${cell.error}`);
      } finally {
        if (m) {
          try { await unmountTarget(m); } catch (e) { log(`  ${id}: cleanup: ${(e as Error).message}`); }
          if (m.hwmMiB !== undefined) ((hwm[w.id] ??= {})[id] ??= []).push(m.hwmMiB);
        }
        if (w.syncAfter) await syncAll();
      }
    }
  }
}

function finish(r: Row): void {
  for (const c of Object.values(r.cells)) {
    if (!c?.samples.length) continue;
    c.median = median(c.samples);
    c.min = Math.min(...c.samples);
    c.max = Math.max(...c.samples);
  }
}

/** RSS rows from the VmHWM samples taken at every FUSE unmount. */
function rssRows(): Row[] {
  const out: Row[] = [];
  const metric: OvlMetric = { key: 'rss.MiB', title: 'MiB', unit: 'MiB', better: 'lower' };
  if (hwm.tar) {
    out.push({
      id: 'rss-tar', title: 'daemon peak RSS after tar of everything', how: 'VmHWM of the daemon (/proc/PID/status) right before unmounting, on the tar workload\'s mounts (median)',
      metric: { ...metric, key: 'rss-tar.MiB' }, reps: rows.find((r) => r.id === 'tar')?.reps ?? 0,
      cells: Object.fromEntries(Object.entries(hwm.tar).map(([t, xs]) => [t, { samples: xs! }])),
    });
  }
  const all: Partial<Record<OvlTargetId, number[]>> = {};
  for (const per of Object.values(hwm)) for (const [t, xs] of Object.entries(per)) (all[t as OvlTargetId] ??= []).push(...xs!);
  if (Object.keys(all).length) {
    const n = Math.max(...Object.values(all).map((xs) => xs!.length));
    out.push({
      id: 'rss-max', title: `daemon peak RSS, max over all ${n} mounts`, how: 'the largest VmHWM seen before any unmount of the run (reps = mounts it is the max of)',
      metric: { ...metric, key: 'rss-max.MiB' }, reps: n,
      cells: Object.fromEntries(Object.entries(all).map(([t, xs]) => [t, { samples: [Math.max(...xs!)] }])),
    });
  }
  return out;
}

const val = (r: Row, t: OvlTargetId) => (r.cells[t]?.error ? undefined : r.cells[t]?.median);

function cellText(r: Row, t: OvlTargetId): string {
  const c = r.cells[t];
  if (!c) return '—';
  if (c.error) return 'ERR';
  if (c.median === undefined) return 'n/a';
  const spread = c.min !== undefined && c.max !== undefined && c.median ? (c.max - c.min) / c.median : 0;
  return fmt(c.median) + (spread > 0.25 ? ' ~' : '');
}

function table(all: Row[]): string {
  const labels = OVL_TARGETS.map((t) => t.label);
  const head = ['workload', 'unit', 'better', 'reps', ...labels, 'tsfuse/fuse-ovl', 'tsfuse/kernel', 'tar plugin/plain'];
  const lines: string[][] = [head];
  for (const r of all) {
    lines.push([
      r.title, r.metric.unit, r.metric.better === 'higher' ? '↑ higher' : '↓ lower', String(r.reps),
      ...OVL_TARGETS.map((t) => cellText(r, t.id)),
      ratio(val(r, 'tsfuse'), val(r, 'fuse_overlayfs')),
      ratio(val(r, 'tsfuse'), val(r, 'kernel')),
      ratio(val(r, 'tsfuse_tar'), val(r, 'tsfuse')),
    ]);
  }
  const w = head.map((_, i) => Math.max(...lines.map((l) => [...l[i]].length)));
  const left = 3;
  const pad = (s: string, i: number) => (i < left ? s + ' '.repeat(w[i] - [...s].length) : ' '.repeat(w[i] - [...s].length) + s);
  const out = lines.map((l) => '| ' + l.map(pad).join(' | ') + ' |');
  out.splice(1, 0, '|' + w.map((n, i) => (i < left ? ':' + '-'.repeat(n + 1) : '-'.repeat(n + 1) + ':')).join('|') + '|');
  return out.join('\n');
}

interface Goal { goal: string; row: string; value?: number; target: string; status: 'met' | 'missed' | 'n/a' }

/** (reported, not asserted) */
function goals(all: Row[]): Goal[] {
  const out: Goal[] = [];
  for (const r of all) {
    const ts = val(r, 'tsfuse'), fo = val(r, 'fuse_overlayfs');
    if (r.cells.tsfuse && r.cells.fuse_overlayfs) {
      // speed of tsfuse relative to fuse-overlayfs, >1 = tsfuse better
      const x = ts === undefined || fo === undefined || !ts || !fo ? undefined : r.metric.better === 'higher' ? ts / fo : fo / ts;
      out.push({ goal: 'tsfuse-ovl at least as good as fuse-overlayfs', row: r.title, value: x, target: '≥ 1.00× (direction-adjusted)', status: x === undefined ? 'n/a' : x >= 1 ? 'met' : 'missed' });
    }
    if (r.id.startsWith('seqread')) {
      const nat = val(r, 'native');
      const x = ts === undefined || nat === undefined ? undefined : ts / nat;
      out.push({ goal: 'tsfuse-ovl seq read ≥ 0.9× native (passthrough)', row: r.title, value: x, target: '≥ 0.90×', status: x === undefined ? 'n/a' : x >= 0.9 ? 'met' : 'missed' });
    }
  }
  return out;
}

// ---------------------------------------------------------------------- main

async function main(): Promise<number> {
  if (process.getuid?.() !== 0) { process.stderr.write('bench:overlay: needs root (mount, drop_caches, FUSE passthrough)\n'); return 2; }
  const stale = distStale();
  if (stale) {
    if (argv.build) { log(`${stale}: npx tsc -p .`); await must('npx', ['tsc', '-p', '.'], { cwd: ROOT, timeoutMs: 300_000 }); }
    else log(`WARNING: ${stale}; tsfuse-overlayfs runs from dist/ — rebuild (npx tsc -p .) or pass --build`);
  }
  if (!fs.existsSync(join(ROOT, 'dist/cli/overlayfs.js'))) throw new Error('dist/cli/overlayfs.js missing: npx tsc -p .');
  for (const p of strayMounts()) { log(`unmounting ${p} (left by an earlier run)`); await forceUnmount(p); }
  if (isMounted(OVL_RUN) || (await ourLoops()).length) log(`removing the scratch fs ${OVL_RUN.replace(ROOT + '/', '')} left by an earlier run`);
  else if (fs.existsSync(OVL_RUN) && fs.readdirSync(OVL_RUN).length) throw new Error(`${OVL_RUN} is not empty and not our scratch fs; remove it`);
  await setupUpperFs();
  if (argv['cpu-prof']) fs.rmSync(OVL_PROF, { recursive: true, force: true });
  const foVersion = (await run('fuse-overlayfs', ['--version'], { timeoutMs: 10_000 })).stdout.split('\n').find((l) => l.startsWith('fuse-overlayfs'))?.trim();

  const tree = await ensureTree(cfg.quick, log);
  const x: Ctx = { tree, cfg, log };
  const load0 = os.loadavg();
  const busy0 = await cpuBusy(1000);
  if (busy0 > 0.15) log(`WARNING: ${(busy0 * 100).toFixed(0)}% of the ${os.cpus().length} CPUs busy before starting — other work skews the results`);
  log(`workloads: ${workloads.map((w) => w.id).join(', ')}; targets: ${targetIds.join(', ')}; ${cfg.quick ? 'quick' : 'full'} run${argv['cpu-prof'] ? ' (tsfuse under --cpu-prof: its numbers are inflated)' : ''}`);

  try {
    for (const w of workloads) {
      if (stop.interrupted) break;
      const tw = Date.now();
      log(`${w.id}: ${w.title(x)}`);
      await measure(w, x);
      log(`${w.id}: ${((Date.now() - tw) / 1000).toFixed(0)} s`);
    }
  } finally {
    await cleanup();
  }
  if (stop.interrupted) return 130;
  const all = [...rows, ...rssRows()];
  all.forEach(finish);
  const busy1 = await cpuBusy(1000);
  const gs = goals(all);

  let profText = '';
  const prof: Record<string, ProfSummary> = {};
  if (argv['cpu-prof']) {
    const parts: string[] = ['tsfuse daemon CPU profiles (whole daemon life: mount, warm-up and the timed part):'];
    for (const w of workloads) {
      const files = profileFiles(join(OVL_PROF, w.id), profPids[w.id]);
      if (!files.length) continue;
      prof[w.id] = summarize(files, 12);
      parts.push(`- ${w.id} (${join(OVL_PROF, w.id).replace(ROOT + '/', '')}):`, summaryText(prof[w.id], '    '));
    }
    profText = parts.join('\n') + '\n';
  }

  const lines = [
    '',
    `tsfuse-overlayfs benchmark (${cfg.quick ? 'quick' : 'full'}) — ${new Date().toISOString()}`,
    `kernel ${os.release()}, node ${process.version}, ${os.cpus().length} CPUs; ${foVersion}; machine busy before start ${(busy0 * 100).toFixed(0)}%, after ${(busy1 * 100).toFixed(0)}%; load ${load0[0].toFixed(2)} → ${os.loadavg()[0].toFixed(2)}`,
    `lower: ${tree.files} files (${(tree.bytes / 2 ** 20).toFixed(0)} MiB incl. the ${tree.spec.bigBytes >> 20} MiB file), ${tree.entries} entries, ${tree.symlinks} symlinks, ${tree.hardlinks} hard links — ${tree.dir.replace(ROOT + '/', '')}`,
    'columns: native = the lower dir itself (writes: an untimed copy); kernel ovl = mount -t overlay; fuse-overlayfs and tsfuse-ovl = `PROG -o lowerdir=L,upperdir=U,workdir=W MNT` with their defaults (as root: tsfuse asks for FUSE passthrough).',
    ...(argv['tsfuse-opts'] || argv['fo-opts'] ? [`extra options: tsfuse-overlayfs -o ${argv['tsfuse-opts'] ?? '(none)'}; fuse-overlayfs -o ${argv['fo-opts'] ?? '(none)'}`] : []),
    `uppers, work dirs and native scratch copies: a scratch ext4 made fresh for this run (loop device, direct I/O, over ${UPPER_IMG.replace(ROOT + '/', '')}); the lower is on the root ext4.`,
    'every sample: fresh mount with a fresh upper/work; values are medians of "reps" samples; target order rotates per rep; "~" = samples spread > 25 % of the median; "—" = not applicable.',
    '',
    table(all),
    '',
    ...all.map((r) => `- ${r.id}: ${r.how}`),
    ...failures.map((f) => `- FAILED ${f.workload} on ${f.target}: ${f.error}`),
    '- ratios are plain value ratios; read them with the row\'s direction (↓ rows: < 1 means tsfuse is faster / smaller).',
    '',
    'goals (reported, not asserted):',
    ...gs.map((g) => `- [${g.status.toUpperCase()}] ${g.goal} — ${g.row}: ${g.value === undefined ? 'n/a' : g.value.toFixed(2) + '×'} (want ${g.target})`),
    '',
  ];
  const text = lines.join('\n') + (profText ? '\n' + profText : '');
  process.stdout.write(text);

  const outFile = argv.out ?? join(BENCH, 'results/overlay-latest.json');
  fs.mkdirSync(join(outFile, '..'), { recursive: true });
  fs.writeFileSync(outFile, JSON.stringify({
    date: new Date().toISOString(),
    durationSec: (Date.now() - t0) / 1000,
    mode: cfg.quick ? 'quick' : 'full',
    command: `npm run bench:overlay${process.argv.length > 2 ? ' -- ' + process.argv.slice(2).join(' ') : ''}`,
    config: cfg,
    extraOpts: { tsfuse: argv['tsfuse-opts'] ?? null, fuseOverlayfs: argv['fo-opts'] ?? null },
    env: { kernel: os.release(), node: process.version, cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, memGiB: Math.round(os.totalmem() / 2 ** 30), fuseOverlayfs: foVersion, cpuBusyBefore: busy0, cpuBusyAfter: busy1, loadavgStart: load0, loadavgEnd: os.loadavg(), distStale: stale ?? null, cpuProf: !!argv['cpu-prof'] },
    tree: { ...tree, opsSet: undefined, opsFiles: tree.opsSet.length },
    targets: OVL_TARGETS.filter((t) => targetIds.includes(t.id)),
    rows: all.map((r) => ({ id: r.id, title: r.title, how: r.how, unit: r.metric.unit, better: r.metric.better, reps: r.reps, cells: r.cells })),
    daemonVmHwmMiB: hwm,
    failures,
    goals: gs,
    profiles: argv['cpu-prof'] ? prof : undefined,
    table: text,
  }, null, 2) + '\n');
  log(`wrote ${outFile.replace(ROOT + '/', '')}; took ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  const left = [...strayMounts(), ...(isMounted(OVL_RUN) ? [OVL_RUN] : [])];
  if (left.length) log(`WARNING: still mounted: ${left.join(', ')}`);
  return 0;
}

main().then((code) => process.exit(code), async (e) => {
  process.stderr.write(`bench:overlay: ${(e as Error).stack ?? e}\n`);
  await cleanup();
  process.exit(1);
});

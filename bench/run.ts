/**
 * tsfuse benchmark: native directory vs tsfuse loopback vs tsfuse loopback
 * with FUSE passthrough vs libfuse's passthrough_ll, all mounted over the
 * same data directory in the same run.
 *
 *   npm run bench                      full run (~6–8 min)
 *   npm run bench -- --quick           smaller, faster run
 *   npm run bench -- --only stat1,find15k --targets tsfuse,passthrough_ll
 *   npm run bench -- --list            list workload ids
 *   npm run bench -- --cpu-prof        also profile the tsfuse daemons (bench/.build/prof/)
 *
 * Needs root (mount, drop_caches, passthrough). Builds passthrough_ll from
 * /usr/share/doc/libfuse3-dev/examples and the C clients in bench/c into
 * bench/.build/bin. Results: a table on stdout, bench/results/latest.json.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  BENCH, BUILD, buildNative, cpuBusy, distStale, killLiveChildren, mountpoints, mountTarget, MNT_DIR, must, PASSTHROUGH_LL_SRC, ROOT,
  TARGETS, unmountAll, unmountTarget, type Target, type TargetId, stepLog, stopOnSignals } from './lib.js';
import { goals, goalText, notes, Results, table } from './report.js';
import { config, WORKLOADS, type Workload } from './workloads.js';

const { values: argv } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    targets: { type: 'string' },
    reps: { type: 'string' },
    'cpu-prof': { type: 'boolean', default: false },
    build: { type: 'boolean', default: false },
    'wait-idle': { type: 'string' },
    out: { type: 'string' },
    list: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
  allowPositionals: false,
});

const t0 = Date.now();
const log = stepLog('bench');

if (argv.help) {
  process.stdout.write(`usage: npm run bench -- [--quick] [--only ${WORKLOADS.map((w) => w.id).join(',')}]
       [--targets ${TARGETS.map((t) => t.id).join(',')}] [--reps N] [--cpu-prof] [--build] [--wait-idle SECONDS] [--out FILE] [--list]
  --wait-idle S   before starting, wait up to S seconds for the machine to be ≥85% idle\n`);
  process.exit(0);
}
if (argv.list) {
  const c = config(!!argv.quick);
  for (const w of WORKLOADS) process.stdout.write(`${w.id.padEnd(14)} ${w.title(c)}${w.inQuick ? '' : '   (not in --quick unless named)'}\n`);
  process.exit(0);
}

const cfg = config(!!argv.quick);
if (argv.reps) {
  const n = Number(argv.reps);
  if (!Number.isInteger(n) || n < 1) { process.stderr.write('--reps wants a positive integer\n'); process.exit(2); }
  cfg.reps = cfg.ioReps = n;
}

function pick<T extends { id: string }>(all: T[], list: string | undefined, what: string, dflt: (x: T) => boolean): T[] {
  if (!list) return all.filter(dflt);
  const ids = list.split(',').map((s) => s.trim()).filter(Boolean);
  for (const id of ids) if (!all.some((x) => x.id === id)) { process.stderr.write(`unknown ${what} "${id}" (known: ${all.map((x) => x.id).join(', ')})\n`); process.exit(2); }
  return all.filter((x) => ids.includes(x.id));
}
const workloads = pick(WORKLOADS, argv.only, 'workload', (w) => !cfg.quick || w.inQuick);
const targetIds = pick(TARGETS, argv.targets, 'target', () => true).map((t) => t.id);

// ------------------------------------------------------------------ cleanup

let cleaning: Promise<void> | undefined;
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    killLiveChildren();
    await unmountAll();
  })();
  return cleaning;
}
const stop = stopOnSignals(log, cleanup);

// -------------------------------------------------------------------- main

async function measure(w: Workload, res: Results): Promise<void> {
  const reps = w.reps(cfg);
  if (w.prepare) await w.prepare(cfg, log);
  const rows = w.metrics.map((m) => res.row(w, m, cfg));
  const fail = (id: TargetId, e: unknown) => {
    const msg = (e as Error).message ?? String(e);
    log(`  ${id}: ERROR ${msg}`);
    for (const r of rows) res.cell(r, id).error ??= msg;
  };
  const targets: Target[] = [];
  try {
    // fresh mounts for every workload: no server state (e.g. passthrough_ll's open fds) carries over
    for (const id of targetIds) {
      try { targets.push(await mountTarget(id, { cpuProfDir: argv['cpu-prof'] ? join(BUILD, 'prof') : undefined })); } catch (e) { fail(id, e); }
    }
    if (w.pinServer !== undefined) {
      for (const t of targets) {
        if (t.pid) try { await must('taskset', ['-a', '-p', '-c', String(w.pinServer), String(t.pid)], { timeoutMs: 10_000 }); } catch (e) { fail(t.id, e); }
      }
    }
    const ok = (t: Target) => !rows.some((r) => r.cells[t.id]?.error);
    if (w.warmup) {
      for (const t of targets) {
        try { await w.warmup(t, cfg); } catch (e) { fail(t.id, e); }
      }
    }
    for (let rep = 0; rep < reps && !stop.interrupted; rep++) {
      // rotate the order each repetition so no target always runs first / right after another
      const order = targets.map((_, i) => targets[(i + rep) % targets.length]);
      for (const t of order) {
        if (!ok(t) || stop.interrupted) continue;
        try {
          await w.before?.(t, rep, cfg);
          const r = await w.run(t, rep, cfg);
          for (const row of rows) {
            if (row.metric.key in r) res.cell(row, t.id).samples.push(r[row.metric.key]);
          }
          log(`  ${w.id} rep ${rep + 1}/${reps} ${t.label}: ${Object.entries(r).map(([k, v]) => `${k.split('.').pop()}=${v.toFixed(1)}`).join(' ')}`);
          await w.after?.(t, rep, cfg);
        } catch (e) {
          fail(t.id, e);
          try { await w.after?.(t, rep, cfg); } catch { /* best effort */ }
        }
      }
    }
  } finally {
    for (const t of targets) await unmountTarget(t);
  }
}

function gitHead(): string | undefined {
  try {
    const head = fs.readFileSync(join(ROOT, '.git/HEAD'), 'utf8').trim();
    if (!head.startsWith('ref: ')) return head;
    const ref = head.slice(5);
    const p = join(ROOT, '.git', ref);
    if (fs.existsSync(p)) return `${ref.replace('refs/heads/', '')}@${fs.readFileSync(p, 'utf8').trim().slice(0, 12)}`;
    const packed = fs.readFileSync(join(ROOT, '.git/packed-refs'), 'utf8').split('\n').find((l) => l.endsWith(' ' + ref));
    return packed ? `${ref.replace('refs/heads/', '')}@${packed.slice(0, 12)}` : ref;
  } catch { return undefined; }
}

async function main(): Promise<number> {
  if (process.getuid?.() !== 0) { process.stderr.write('bench: needs root (mounting, drop_caches, FUSE passthrough)\n'); return 2; }
  const stale = distStale();
  if (stale) {
    if (argv.build) { log(`${stale}: npx tsc -p .`); await must('npx', ['tsc', '-p', '.'], { cwd: ROOT, timeoutMs: 300_000 }); }
    else log(`WARNING: ${stale}; the CLI runs from dist/ — rebuild (npx tsc -p .) or pass --build`);
  }
  await buildNative(log);
  fs.mkdirSync(MNT_DIR, { recursive: true });
  if (argv['wait-idle']) {
    // three quiet 2-second samples in a row (≤15% of all CPUs busy), or give up at the deadline
    const until = Date.now() + Number(argv['wait-idle']) * 1000;
    for (let quiet = 0; ;) {
      const b = await cpuBusy(2000);
      quiet = b <= 0.15 ? quiet + 1 : 0;
      if (quiet >= 3 || Date.now() >= until || stop.interrupted) { log(`machine ${(b * 100).toFixed(0)}% busy${quiet >= 3 ? '' : ' (gave up waiting)'}; starting`); break; }
      log(`machine ${(b * 100).toFixed(0)}% busy (other processes); waiting for it to calm down`);
    }
  }
  const load0 = os.loadavg();
  const busy0 = await cpuBusy(1000);
  if (busy0 > 0.15) log(`WARNING: ${(busy0 * 100).toFixed(0)}% of the ${os.cpus().length} CPUs busy before starting (load ${load0.map((x) => x.toFixed(2)).join(' ')}) — other work skews the results`);
  log(`workloads: ${workloads.map((w) => w.id).join(', ')}; targets: ${targetIds.join(', ')}; ${cfg.quick ? 'quick' : 'full'} run, reps ${cfg.reps} (data ${cfg.ioReps})`);

  const res = new Results();
  try {
    for (const w of workloads) {
      if (stop.interrupted) break;
      log(`${w.id}: ${w.title(cfg)}`);
      await measure(w, res);
    }
  } finally {
    await cleanup();
  }
  if (stop.interrupted) return 130;
  res.finish();
  const busy1 = await cpuBusy(1000);

  const gs = goals(res, workloads);
  const text = [
    '',
    `tsfuse benchmark (${cfg.quick ? 'quick' : 'full'}; median of ${cfg.reps} reps, data workloads ${cfg.ioReps}) — ${new Date().toISOString()}`,
    `kernel ${os.release()}, node ${process.version}, ${os.cpus().length} CPUs, entry/attr timeout 0 on every FUSE mount; machine busy before start ${(busy0 * 100).toFixed(0)}% (other processes), after ${(busy1 * 100).toFixed(0)}%; load ${load0[0].toFixed(2)} → ${os.loadavg()[0].toFixed(2)}`,
    `columns: native = plain dir; tsfuse = loopback -o timeout=0; tsfuse+pt = loopback -o timeout=0,passthrough; passthrough_ll = libfuse example -o timeout=0 (multi-threaded, cache=auto)`,
    '',
    table(res),
    '',
    notes(res),
    '',
    'goals (reported, not asserted):',
    goalText(gs),
    '',
  ].join('\n');
  process.stdout.write(text);

  const outFile = argv.out ?? join(BENCH, 'results/latest.json');
  fs.mkdirSync(join(outFile, '..'), { recursive: true });
  const json = {
    date: new Date().toISOString(),
    durationSec: (Date.now() - t0) / 1000,
    mode: cfg.quick ? 'quick' : 'full',
    config: cfg,
    command: `npm run bench${process.argv.length > 2 ? ' -- ' + process.argv.slice(2).join(' ') : ''}`,
    env: {
      kernel: os.release(), node: process.version, cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model,
      memGiB: Math.round(os.totalmem() / 2 ** 30), loadavgStart: load0, loadavgEnd: os.loadavg(), cpuBusyBefore: busy0, cpuBusyAfter: busy1, git: gitHead(),
      passthroughLl: PASSTHROUGH_LL_SRC, distStale: stale ?? null,
    },
    targets: TARGETS.filter((t) => targetIds.includes(t.id)),
    rows: res.rows.map((r) => ({ workload: r.workload, metric: r.metric.key, title: r.title, unit: r.metric.unit, better: r.metric.better, how: r.how, cells: r.cells })),
    goals: gs,
    table: text,
  };
  fs.writeFileSync(outFile, JSON.stringify(json, null, 2) + '\n');
  log(`wrote ${outFile.replace(ROOT + '/', '')}; took ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  const left = mountpoints().filter((m) => m.startsWith(BUILD));
  if (left.length) log(`WARNING: still mounted: ${left.join(', ')}`);
  return 0;
}

main().then((code) => process.exit(code), async (e) => {
  process.stderr.write(`bench: ${(e as Error).stack ?? e}\n`);
  await cleanup();
  process.exit(1);
});

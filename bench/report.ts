/**
 * Results: medians, the text table, the goal summary, the JSON file.
 */
import { median, TARGETS, type TargetId } from './lib.js';
import type { Config, Metric, Workload } from './workloads.js';

export interface Cell { samples: number[]; median?: number; min?: number; max?: number; error?: string }
export interface Row { workload: string; title: string; how: string; metric: Metric; cells: Partial<Record<TargetId, Cell>> }

export class Results {
  rows: Row[] = [];

  row(w: Workload, m: Metric, c: Config): Row {
    let r = this.rows.find((x) => x.metric.key === m.key);
    if (!r) {
      r = { workload: w.id, title: `${w.title(c)}: ${m.title}`, how: w.how(c), metric: m, cells: {} };
      this.rows.push(r);
    }
    return r;
  }

  cell(r: Row, t: TargetId): Cell {
    return (r.cells[t] ??= { samples: [] });
  }

  finish(): void {
    for (const r of this.rows) {
      for (const c of Object.values(r.cells)) {
        if (!c || !c.samples.length) continue;
        c.median = median(c.samples);
        c.min = Math.min(...c.samples);
        c.max = Math.max(...c.samples);
      }
    }
  }
}

const val = (r: Row, t: TargetId) => (r.cells[t]?.error ? undefined : r.cells[t]?.median);

export function fmt(v: number | undefined): string {
  if (v === undefined || !Number.isFinite(v)) return 'n/a';
  const a = Math.abs(v);
  if (a >= 10_000) return Math.round(v).toLocaleString('en-US');
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  if (a >= 1) return v.toFixed(2);
  return v.toPrecision(3);
}

export function ratio(a: number | undefined, b: number | undefined): string {
  if (a === undefined || b === undefined || !b) return 'n/a';
  return `${a / b >= 10 ? (a / b).toFixed(1) : (a / b).toFixed(2)}×`;
}

function cellText(r: Row, t: TargetId): string {
  const c = r.cells[t];
  if (!c) return '—';
  if (c.error) return c.error.startsWith('EMFILE') ? 'ERR EMFILE' : 'ERR';
  const spread = c.min !== undefined && c.max !== undefined && c.median ? (c.max - c.min) / c.median : 0;
  return fmt(c.median) + (spread > 0.25 ? ' ~' : '');
}

export function table(res: Results): string {
  const head = ['workload: metric', 'better', ...TARGETS.map((t) => t.label), 'tsfuse/native', 'tsfuse/pll', 'ts+pt/native'];
  const lines: string[][] = [head];
  for (const r of res.rows) {
    lines.push([
      r.title, r.metric.better === 'higher' ? '↑ higher' : '↓ lower',
      ...TARGETS.map((t) => cellText(r, t.id)),
      ratio(val(r, 'tsfuse'), val(r, 'native')),
      ratio(val(r, 'tsfuse'), val(r, 'passthrough_ll')),
      ratio(val(r, 'tsfuse_pt'), val(r, 'native')),
    ]);
  }
  const w = head.map((_, i) => Math.max(...lines.map((l) => [...l[i]].length)));
  const pad = (s: string, i: number) => (i < 2 ? s + ' '.repeat(w[i] - [...s].length) : ' '.repeat(w[i] - [...s].length) + s);
  const out = lines.map((l) => '| ' + l.map(pad).join(' | ') + ' |');
  out.splice(1, 0, '|' + w.map((n, i) => (i < 2 ? ':' + '-'.repeat(n + 1) : '-'.repeat(n + 1) + ':')).join('|') + '|');
  return out.join('\n');
}

export function notes(res: Results): string {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const r of res.rows) {
    if (!seen.has(r.workload)) { seen.add(r.workload); out.push(`- ${r.workload}: ${r.how}`); }
  }
  for (const r of res.rows) {
    for (const t of TARGETS) {
      const c = r.cells[t.id];
      if (c?.error && !seen.has(`${r.workload}/${t.id}`)) { seen.add(`${r.workload}/${t.id}`); out.push(`- ERR ${r.workload} on ${t.label}: ${c.error}`); }
    }
  }
  out.push('- peer: passthrough_ll is libfuse 3.14\'s example as shipped: multi-threaded loop (up to 10 threads), one O_PATH fd per known inode, xattr off by default (its ENOSYS answer');
  out.push('  to the first GETXATTR makes the kernel stop asking; tsfuse answers security.capability before every write()), READ through a malloc\'d bounce buffer (no splice).');
  out.push('- "~" after a value: the repetitions spread more than 25% of the median (see samples in the JSON).');
  out.push('- ratios are plain value ratios; read them with the row\'s direction (↓ rows: <1 is better for the numerator).');
  return out.join('\n');
}

export interface Goal { goal: string; row: string; value?: number; target: string; status: 'met' | 'missed' | 'n/a' }

/** The project's performance goals, checked (reported, not asserted). */
export function goals(res: Results, workloads: Workload[]): Goal[] {
  const kindOf = (id: string) => workloads.find((w) => w.id === id)?.kind;
  const out: Goal[] = [];
  for (const r of res.rows) {
    const ts = val(r, 'tsfuse'), pll = val(r, 'passthrough_ll'), nat = val(r, 'native'), pt = val(r, 'tsfuse_pt');
    if (kindOf(r.workload) === 'metadata') {
      // slowdown of tsfuse relative to passthrough_ll (>1 = tsfuse slower)
      const slow = ts === undefined || pll === undefined ? undefined : r.metric.better === 'lower' ? ts / pll : pll / ts;
      out.push({ goal: 'tsfuse within 2× of passthrough_ll (metadata)', row: r.title, value: slow, target: 'slowdown ≤ 2.00×', status: slow === undefined ? 'n/a' : slow <= 2 ? 'met' : 'missed' });
    }
    if (kindOf(r.workload) === 'seqread') {
      const x = ts === undefined || pll === undefined ? undefined : ts / pll;
      out.push({ goal: 'tsfuse ≥ 0.9× passthrough_ll (seq read)', row: r.title, value: x, target: '≥ 0.90×', status: x === undefined ? 'n/a' : x >= 0.9 ? 'met' : 'missed' });
      const y = pt === undefined || nat === undefined ? undefined : pt / nat;
      out.push({ goal: 'tsfuse+passthrough ≥ 0.9× native (seq read)', row: r.title, value: y, target: '≥ 0.90×', status: y === undefined ? 'n/a' : y >= 0.9 ? 'met' : 'missed' });
    }
  }
  return out;
}

export function goalText(gs: Goal[]): string {
  return gs.map((g) => `- [${g.status.toUpperCase()}] ${g.goal} — ${g.row}: ${g.value === undefined ? 'n/a' : g.value.toFixed(2) + '×'} (want ${g.target})`).join('\n');
}

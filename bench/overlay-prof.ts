/**
 * Summarizes V8 .cpuprofile files (node --cpu-prof) of tsfuse daemons: where
 * the busy (non-idle) time goes, by self time and by inclusive time of the
 * project's own functions.
 *
 *   npx tsx bench/overlay-prof.ts DIR|FILE... [--top N]
 *
 * bench/overlay.ts --cpu-prof writes one directory per workload under
 * bench/.build/ovl-prof/ and prints this summary for each.
 */
import * as fs from 'node:fs';
import { basename, join, relative } from 'node:path';
import { ROOT } from './lib.js';

interface CpuNode { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }
interface CpuProfile { nodes: CpuNode[]; startTime: number; endTime: number; samples: number[]; timeDeltas: number[] }

export interface ProfSummary {
  files: string[];
  /** wall µs covered by the profiles */
  wallUs: number;
  /** µs not idle (program + GC + JS/native frames) */
  busyUs: number;
  gcUs: number;
  self: { fn: string; us: number }[];
  inclusive: { fn: string; us: number }[];
}

function frameName(n: CpuNode): string {
  const f = n.callFrame;
  const name = f.functionName || '(anonymous)';
  if (!f.url) return name;
  let url = f.url.replace(/^file:\/\//, '');
  if (url.startsWith(ROOT)) url = relative(ROOT, url);
  else if (!url.startsWith('node:')) url = basename(url);
  return `${name} ${url}:${f.lineNumber + 1}`;
}

const OWN = /^(dist|src)\//;

/** Profiles whose file name carries one of `pids` (all when pids is undefined). */
export function profileFiles(dir: string, pids?: number[]): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'))
    .filter((f) => !pids || pids.some((p) => f.includes(`.${p}.`)))
    .map((f) => join(dir, f));
}

export function summarize(files: string[], top = 12): ProfSummary {
  const self = new Map<string, number>(), incl = new Map<string, number>();
  let wallUs = 0, busyUs = 0, gcUs = 0;
  for (const file of files) {
    const p = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile;
    wallUs += p.endTime - p.startTime;
    const parent = new Map<number, number>();
    for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
    const names = new Map(p.nodes.map((n) => [n.id, frameName(n)]));
    for (let i = 0; i < p.samples.length; i++) {
      const dt = p.timeDeltas[i + 1] ?? 0; // a sample's time runs until the next sample
      const id = p.samples[i];
      const name = names.get(id)!;
      if (name === '(idle)') continue;
      busyUs += dt;
      if (name === '(garbage collector)') gcUs += dt;
      self.set(name, (self.get(name) ?? 0) + dt);
      const seen = new Set<string>();
      for (let n: number | undefined = id; n !== undefined; n = parent.get(n)) {
        const nm = names.get(n)!;
        if (!OWN.test(nm.slice(nm.lastIndexOf(' ') + 1)) || seen.has(nm)) continue;
        seen.add(nm);
        incl.set(nm, (incl.get(nm) ?? 0) + dt);
      }
    }
  }
  const sorted = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]).slice(0, top).map(([fn, us]) => ({ fn, us }));
  return { files, wallUs, busyUs, gcUs, self: sorted(self), inclusive: sorted(incl) };
}

export function summaryText(s: ProfSummary, indent = '  '): string {
  if (!s.files.length) return `${indent}(no profile)`;
  const ms = (us: number) => `${(us / 1000).toFixed(0).padStart(6)} ms`;
  const pct = (us: number) => `${((us / (s.busyUs || 1)) * 100).toFixed(1).padStart(5)}%`;
  const out = [`${indent}${s.files.length} profile(s), ${(s.wallUs / 1e6).toFixed(1)} s wall, ${(s.busyUs / 1e6).toFixed(2)} s busy (GC ${pct(s.gcUs).trim()} of busy)`];
  out.push(`${indent}self time (top ${s.self.length}):`);
  for (const f of s.self) out.push(`${indent}  ${ms(f.us)} ${pct(f.us)}  ${f.fn}`);
  out.push(`${indent}inclusive, own code (top ${s.inclusive.length}):`);
  for (const f of s.inclusive) out.push(`${indent}  ${ms(f.us)} ${pct(f.us)}  ${f.fn}`);
  return out.join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2);
  const ti = args.indexOf('--top');
  const top = ti >= 0 ? Number(args.splice(ti, 2)[1]) : 15;
  if (!args.length) { process.stderr.write('usage: npx tsx bench/overlay-prof.ts DIR|FILE... [--top N]\n'); process.exit(2); }
  const files = args.flatMap((a) => (fs.statSync(a).isDirectory() ? profileFiles(a) : [a]));
  process.stdout.write(summaryText(summarize(files, top), '') + '\n');
}

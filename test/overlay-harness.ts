/**
 * Differential conformance harness for overlay filesystems.
 *
 * One scenario = a layer-tree spec (lower layers, optionally a pre-filled
 * upper) + an operation sequence. For every implementation under test the
 * harness materializes its own identical copy of the layers, mounts them,
 * runs the operations through test/fixtures/ovl_ops.py (one op per line;
 * each op's return value or errno name is recorded, reads as a content
 * hash), snapshots the merged tree, unmounts, snapshots the upper dir and
 * (optionally) remounts and snapshots the merged tree again, to check that
 * what was written to disk means the same thing. The results are then
 * normalized by the NAMED rules in NORMALIZATIONS and compared with the
 * reference implementation (the first one listed, the kernel by default);
 * differences matching an entry of KNOWN_DIVERGENCES are reported as
 * allowed (with the entry's name and reason), everything else fails.
 *
 * Implementations: env OVL_IMPLS=kernel,fuse-overlayfs,tsfuse (the default
 * is all three). Nothing is skipped silently: an implementation that is
 * selected but cannot be mounted (e.g. bin/tsfuse-overlayfs missing) makes
 * the run throw.
 *   kernel          mount -t overlay overlay -o lowerdir=..,upperdir=..,workdir=..,redirect_dir=off,index=off,metacopy=off MNT
 *   fuse-overlayfs  fuse-overlayfs -o lowerdir=..,upperdir=..,workdir=.. MNT   (OVL_FUSE_OVERLAYFS=path overrides the binary)
 *   tsfuse          bin/tsfuse-overlayfs -o lowerdir=..,upperdir=..,workdir=.. MNT
 *   tsfuse-tar      the same, every lower dir packed into a tar (GNU tar, pax format, all xattrs) and served by
 *                   the built-in tar plugin: lowerdir=//tar/<base64url of the tar>/..; judged against the
 *                   tsfuse run of the same scenario with no allowances (a plugin layer must not change a thing)
 * FUSE daemons are found by PID (the process whose argv holds our unique
 * mountpoint), unmounted with `fusermount3 -u` and waited for; the kernel
 * mount with `umount`. Every mount is registered for cleanup (lazy unmount +
 * SIGKILL of the recorded PID) before anything can fail.
 *
 * Whiteout and opaque forms (see fixtures/ovl_build.py): a layer spec may
 * use char-0/0 whiteouts, `.wh.NAME` files, `trusted.overlay.opaque=y` and
 * `.wh..wh..opq` opaque markers. The kernel reads only the char device and
 * the xattr, so the kernel gets the *kernel dialect* of the same logical
 * spec (`.wh.NAME` -> char 0/0, `.wh..wh..opq` -> opaque xattr); the FUSE
 * implementations get the spec literally. The kernel's own third form
 * (zero-size file with `trusted.overlay.whiteout` inside an `opaque=x` dir)
 * is not used: fuse-overlayfs does not read it, so there is no common form
 * to compare.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { forceUnmount, isMounted, mountType, pidAlive, ROOT, waitFor } from './helpers.js';
import { prng } from './prng.js';
export { prng };

// ---------------------------------------------------------------- specs

export type Impl = 'kernel' | 'fuse-overlayfs' | 'tsfuse' | 'tsfuse-tar';
export const ALL_IMPLS: Impl[] = ['kernel', 'fuse-overlayfs', 'tsfuse', 'tsfuse-tar'];

export type Entry =
  | { t: 'file'; path: string; content?: string; size?: number; seed?: number; mode?: number; uid?: number; gid?: number; xattrs?: Record<string, string>; mtime?: number }
  | { t: 'dir'; path: string; mode?: number; uid?: number; gid?: number; xattrs?: Record<string, string>; opaque?: 'xattr' | 'whfile' | 'both'; mtime?: number }
  | { t: 'symlink'; path: string; target: string; mtime?: number }
  | { t: 'link'; path: string; target: string }
  | { t: 'whiteout'; path: string; form?: 'chr' | 'wh' }
  | { t: 'fifo'; path: string; mode?: number };

export interface Layers {
  /** lower layers, top first (lowerdir=L0:L1:...) */
  lowers: Entry[][];
  /** initial content of the upper dir (default: empty) */
  upper?: Entry[];
}

export type Op = [string, ...(string | number)[]];

export interface Scenario {
  name: string;
  layers: Layers;
  ops: Op[];
  /** names of KNOWN_DIVERGENCES that only this scenario may hit (the `global` ones always apply) */
  allow?: string[];
  /** also remount after the run and compare the merged view again (default true) */
  remount?: boolean;
}

/** Implementations from env OVL_IMPLS (default: all three). Throws on unknown names or fewer than two. */
export function implsFromEnv(): Impl[] {
  const raw = process.env.OVL_IMPLS?.trim();
  const list = raw ? raw.split(',').map((s) => s.trim()).filter(Boolean) : ALL_IMPLS;
  for (const i of list) if (!ALL_IMPLS.includes(i as Impl)) throw new Error(`OVL_IMPLS: unknown implementation "${i}" (known: ${ALL_IMPLS.join(', ')})`);
  if (list.length < 2) throw new Error(`OVL_IMPLS needs at least two implementations to compare, got "${raw}"`);
  return list as Impl[];
}

// ---------------------------------------------------------------- process plumbing

const FIX = join(ROOT, 'test/fixtures');
const TSFUSE_OVERLAYFS = join(ROOT, 'bin/tsfuse-overlayfs');
const FUSE_OVERLAYFS = process.env.OVL_FUSE_OVERLAYFS || 'fuse-overlayfs';
/** times at or after this are "now" (see the mtime-now normalization) */
const HARNESS_START_NS = BigInt(Date.now() - 120_000) * 1_000_000n;

/**
 * Options the kernel is mounted with, each a deliberate choice so that the
 * kernel behaves like a fuse-overlayfs peer can (this kernel's defaults are
 * the same, but distributions configure them differently).
 */
export const KERNEL_MOUNT_OPTIONS: Record<string, string> = {
  'redirect_dir=off': 'fuse-overlayfs only supports redirect_dir=off: renaming a merged (lower-backed) dir gives EXDEV in both (mv then copies)',
  'index=off': 'no inode index: hard links are broken by copy-up (fuse-overlayfs has no index either; see the lower-hardlinks rule)',
  'metacopy=off': 'copy-up copies data as well (fuse-overlayfs has no metadata-only copy-up)',
};

interface Live { mnt: string; pid?: number; base: string }
const live = new Set<Live>();

afterAll(() => {
  for (const l of [...live]) {
    try { forceUnmount(l.mnt); } catch { /* keep going */ }
    if (l.pid && pidAlive(l.pid)) { try { process.kill(l.pid, 'SIGKILL'); } catch { /* gone */ } }
    try { if (!isMounted(l.base)) fs.rmSync(l.base, { recursive: true, force: true }); } catch { /* keep going */ }
    live.delete(l);
  }
});

function run(cmd: string, args: string[], opts: { input?: string; timeout?: number; env?: NodeJS.ProcessEnv } = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', input: opts.input, timeout: opts.timeout ?? 30_000, killSignal: 'SIGKILL', maxBuffer: 256 << 20, env: opts.env });
  if (r.error) throw new Error(`${cmd} ${args.join(' ')}: ${r.error.message}`);
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr, signal: r.signal };
}

function runOk(cmd: string, args: string[], opts: { input?: string; timeout?: number } = {}): string {
  const r = run(cmd, args, opts);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status ?? r.signal}): ${r.stderr.trim()}`);
  return r.stdout;
}

/** PIDs (other than ours) whose argv contains `arg` exactly. */
function pidsWithArg(arg: string): number[] {
  const out: number[] = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    try {
      const argv = fs.readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0');
      if (argv.includes(arg) && pidAlive(Number(d))) out.push(Number(d));
    } catch { /* exited */ }
  }
  return out;
}

interface Dirs { base: string; lowers: string[]; upper: string; work: string; mnt: string }

const tarOf = (lower: string) => `${lower}.tar`;

function mount(impl: Impl, d: Dirs, l: Live): void {
  const lowers = impl === 'tsfuse-tar' ? d.lowers.map((x) => `//tar/${Buffer.from(tarOf(x)).toString('base64url')}/`) : d.lowers;
  const data = `lowerdir=${lowers.join(':')},upperdir=${d.upper},workdir=${d.work}${impl === 'tsfuse-tar' ? ',plugins=tar' : ''}`;
  if (impl === 'kernel') {
    runOk('mount', ['-t', 'overlay', 'overlay', '-o', [data, ...Object.keys(KERNEL_MOUNT_OPTIONS)].join(','), d.mnt]);
  } else {
    let cmd: string, args: string[];
    if (impl === 'fuse-overlayfs') { cmd = FUSE_OVERLAYFS; args = []; }
    else {
      if (!fs.existsSync(TSFUSE_OVERLAYFS)) throw new Error(`tsfuse selected (OVL_IMPLS) but ${TSFUSE_OVERLAYFS} does not exist`);
      cmd = TSFUSE_OVERLAYFS; args = [];
    }
    const r = run(cmd, [...args, '-o', data, d.mnt], { timeout: 30_000 });
    // find the daemon whatever the outcome, so cleanup can kill it
    const pids = pidsWithArg(d.mnt);
    if (pids.length === 1) l.pid = pids[0];
    if (r.status !== 0) throw new Error(`${impl} mount failed (${r.status ?? r.signal}): ${r.stderr.trim()}`);
    if (pids.length !== 1) throw new Error(`${impl}: expected one daemon for ${d.mnt}, found ${JSON.stringify(pids)}`);
  }
  if (!mountType(d.mnt)) throw new Error(`${impl}: nothing mounted at ${d.mnt} after a successful mount command`);
}

function unmount(impl: Impl, d: Dirs, l: Live): void {
  // retried: a just-exited process may still hold the mount busy for a moment
  const [cmd, args]: [string, string[]] = impl === 'kernel' ? ['umount', [d.mnt]] : ['fusermount3', ['-u', d.mnt]];
  let r = run(cmd, args);
  for (let i = 0; r.status !== 0 && i < 20; i++) { Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50); r = run(cmd, args); }
  if (r.status !== 0) throw new Error(`${cmd} ${d.mnt}: ${r.stderr.trim()}`);
  if (impl !== 'kernel') {
    if (l.pid) {
      const pid = l.pid;
      waitFor(() => !pidAlive(pid), 10_000, `${impl} daemon ${pid} to exit after unmount`);
      l.pid = undefined;
    }
  }
}

// ---------------------------------------------------------------- raw results

export interface RawEntry { path: string; type: string; mode: string; uid: number; gid: number; nlink: number; size: number; mtime: string; ino: number; rdev?: number[]; target?: string; sha256?: string; text?: string; xattrs?: Record<string, string>; error?: string }
export type OpResult = { ok: unknown } | { err: string } | { crash: string };

export interface RunResult {
  impl: Impl;
  results: OpResult[];
  merged: RawEntry[];
  upper: RawEntry[];
  remounted?: RawEntry[];
  /** the normalized forms, filled by compare() */
  norm?: { results: unknown[]; merged: Map<string, Record<string, unknown>>; upper: Map<string, Record<string, unknown>>; remounted?: Map<string, Record<string, unknown>> };
}

function snapshot(dir: string): RawEntry[] {
  return JSON.parse(runOk('python3', [join(FIX, 'ovl_snap.py'), dir])) as RawEntry[];
}

/** Runs one scenario on one implementation. Mounts are always cleaned up, even when this throws. */
export function runOn(impl: Impl, s: Scenario): RunResult {
  const base = fs.mkdtempSync(join(os.tmpdir(), `ovl-${impl}-`));
  const d: Dirs = { base, lowers: s.layers.lowers.map((_, i) => join(base, `l${i}`)), upper: join(base, 'u'), work: join(base, 'w'), mnt: join(base, 'm') };
  const l: Live = { mnt: d.mnt, base };
  live.add(l);
  try {
    fs.mkdirSync(d.work);
    fs.mkdirSync(d.mnt);
    const layers = [...s.layers.lowers.map((entries, i) => ({ dir: d.lowers[i], entries })), { dir: d.upper, entries: s.layers.upper ?? [] }];
    runOk('python3', [join(FIX, 'ovl_build.py')], { input: JSON.stringify({ dialect: impl === 'kernel' ? 'kernel' : 'native', layers }) });
    if (impl === 'tsfuse-tar') {
      for (const dir of d.lowers) runOk('tar', ['--format=posix', '--xattrs', '--xattrs-include=*', '-C', dir, '-cf', tarOf(dir), '.']);
    }
    const opsFile = join(base, 'ops.jsonl');
    fs.writeFileSync(opsFile, s.ops.map((o) => JSON.stringify(o)).join('\n') + '\n');

    mount(impl, d, l);
    const r = run('python3', [join(FIX, 'ovl_ops.py'), d.mnt, opsFile], { timeout: 30_000 });
    const results: OpResult[] = r.stdout.split('\n').filter(Boolean).map((x) => JSON.parse(x) as OpResult);
    if (results.length < s.ops.length) {
      const why = `runner stopped (${r.status ?? r.signal}): ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`;
      while (results.length < s.ops.length) results.push({ crash: why });
    }
    const merged = snapshot(d.mnt);
    unmount(impl, d, l);
    const upper = snapshot(d.upper);
    let remounted: RawEntry[] | undefined;
    if (s.remount !== false) {
      mount(impl, d, l);
      remounted = snapshot(d.mnt);
      unmount(impl, d, l);
    }
    return { impl, results, merged, upper, remounted };
  } finally {
    try { if (isMounted(d.mnt)) unmount(impl, d, l); } catch { /* forced below */ }
    forceUnmount(d.mnt);
    if (l.pid && pidAlive(l.pid)) { try { process.kill(l.pid, 'SIGKILL'); } catch { /* gone */ } }
    if (!isMounted(d.mnt)) { fs.rmSync(base, { recursive: true, force: true }); live.delete(l); }
  }
}

// ---------------------------------------------------------------- normalizations

/**
 * Named rules applied to every implementation's results before comparing.
 * Each removes or canonicalizes something that is either an implementation
 * detail of the on-disk format or not comparable across implementations;
 * none of them hides a semantic difference of the merged view.
 */
export const NORMALIZATIONS: Record<string, string> = {
  'st_ino/st_dev': 'inode and device numbers are never compared (kernel: real st_ino (+xino bits), fuse-overlayfs: origin ino, per-mount FUSE st_dev); st_ino is used only to group hard links within one snapshot',
  'dir-nlink': 'directory st_nlink is dropped: the kernel reports 1 for merged dirs ("pacifies find"), fuse-overlayfs 2+subdirs',
  'dir-size': 'directory st_size is dropped: it is the size of whichever layer dir backs it, which depends on ext4 history',
  'times': 'atime and ctime are not compared (noatime vs relatime, and ctime is unsettable)',
  'mtime-now': 'mtimes set during the run (>= harness start - 2 min) become "now"; fixed times from layer specs and utime ops are compared exactly',
  'whiteout-form': 'in the upper dir a char 0/0 device NAME and an empty file .wh.NAME are the same token {type: whiteout}; their mode/owner/nlink/mtime are dropped (the kernel shares one whiteout inode, so nlink>1)',
  'opaque-form': 'in the upper dir trusted.overlay.opaque=y, user.fuseoverlayfs.opaque=y and a .wh..wh..opq file all mean {opaque: true} (fuse-overlayfs writes the xattr AND the file, the kernel only the xattr)',
  'private-xattrs': 'overlay-private xattrs in the upper dir are dropped: trusted.overlay.{origin,impure,uuid,nlink,...} (kernel) and user.fuseoverlayfs.* (fuse-overlayfs origin bookkeeping)',
  'stray-opq-whiteout': 'a char 0/0 named .wh..opq in the upper dir is dropped: fuse-overlayfs 1.10 leaves it next to .wh..wh..opq when it makes a dir opaque; it hides nothing reachable (names starting .wh. cannot be looked up through fuse-overlayfs)',
  'opaque-without-lower-dir': 'the opaque mark of an upper dir is dropped where the lower stack shows no directory at that path (it hides nothing; fuse-overlayfs marks some freshly made dirs opaque, the kernel only those made over a whiteout)',
  'redundant-whiteout': 'an upper whiteout is dropped where the lower stack shows nothing at that path (e.g. its only lower entry is itself a whiteout): it hides nothing; fuse-overlayfs writes one whenever any lower layer has an entry of that name, even a whiteout, the kernel only over a visible one',
  'upper-nlink-in-tree': 'the nlink of a non-directory in the upper dir is the number of its names inside the upper dir: fuse-overlayfs parks removed files in workdir/work (deleted when the kernel forgets the inode, or at the next mount), so on disk st_nlink can count a workdir link; workdir is not compared',
  'whiteout-in-opaque': 'in the upper dir, whiteouts inside an opaque dir are dropped: nothing below an opaque dir is visible, so they hide nothing (fuse-overlayfs keeps them, the kernel may not create them)',
};

function normTime(t: unknown): unknown {
  if (typeof t !== 'string') return t; // the fixtures print ns times as strings (they exceed 2^53)
  return BigInt(t) >= HARNESS_START_NS ? 'now' : t;
}

const PRIVATE_XATTR = /^(trusted\.overlay\.|user\.fuseoverlayfs\.|user\.overlay\.)/;

/** one stat-like record (op result or snapshot entry) */
function normStat(e: Record<string, unknown>): Record<string, unknown> {
  const o: Record<string, unknown> = { ...e };
  delete o.ino; // st_ino/st_dev
  if (o.type === 'd') { delete o.nlink; delete o.size; } // dir-nlink, dir-size
  if ('mtime' in o) o.mtime = normTime(o.mtime); // mtime-now
  return o;
}

function hardlinkGroups(entries: RawEntry[]): Map<string, string> {
  const byIno = new Map<number, string[]>();
  for (const e of entries) if (e.type !== 'd') byIno.set(e.ino, [...(byIno.get(e.ino) ?? []), e.path]);
  const g = new Map<string, string>();
  for (const paths of byIno.values()) if (paths.length > 1) for (const p of paths) g.set(p, paths.sort().join(' '));
  return g;
}

function normMerged(entries: RawEntry[]): Map<string, Record<string, unknown>> {
  const groups = hardlinkGroups(entries);
  const m = new Map<string, Record<string, unknown>>();
  for (const e of entries) {
    const o = normStat(e as unknown as Record<string, unknown>);
    if (groups.has(e.path)) o.hardlinks = groups.get(e.path);
    m.set(e.path, o);
  }
  return m;
}

const parentOf = (p: string) => (p.includes('/') ? p.slice(0, p.lastIndexOf('/')) : '.');
const baseOf = (p: string) => p.slice(p.lastIndexOf('/') + 1);

type LNode = { kind: 'dir' | 'file' | 'whiteout'; opaque?: boolean };

/** What a lower layer holds at each path (ancestors of entries are dirs). */
function layerIndex(entries: Entry[]): Map<string, LNode> {
  const m = new Map<string, LNode>();
  for (const e of entries) {
    for (let p = e.path; p.includes('/');) { p = p.slice(0, p.lastIndexOf('/')); if (!m.has(p)) m.set(p, { kind: 'dir' }); }
    m.set(e.path, e.t === 'dir' ? { kind: 'dir', opaque: !!e.opaque } : e.t === 'whiteout' ? { kind: 'whiteout' } : { kind: 'file' });
  }
  return m;
}

/**
 * What the lower stack alone (no upper) shows at `path` according to the
 * spec: overlay lookup rules (a whiteout or a non-dir stops the search, an
 * opaque dir hides the layers below it).
 */
export function lowerLookup(layers: Layers, path: string): 'dir' | 'file' | null {
  if (path === '.') return 'dir';
  let stack = layers.lowers.map(layerIndex);
  const comps = path.split('/');
  for (let k = 1; k <= comps.length; k++) {
    const q = comps.slice(0, k).join('/');
    const next: Map<string, LNode>[] = [];
    let found: 'dir' | 'file' | null = null;
    for (const L of stack) {
      const n = L.get(q);
      if (!n) continue;
      if (n.kind === 'whiteout') break;
      if (n.kind === 'file') { found ??= 'file'; break; }
      found = 'dir';
      next.push(L);
      if (n.opaque) break;
    }
    if (!found || k === comps.length) return found;
    if (found === 'file') return null;
    stack = next;
  }
  return null;
}

function normUpper(entries: RawEntry[], layers: Layers): Map<string, Record<string, unknown>> {
  const m = new Map<string, Record<string, unknown>>();
  const opaque = new Set<string>();
  const whiteouts: string[] = [];
  for (const e of entries) {
    const name = baseOf(e.path);
    if (e.type === 'c' && e.rdev?.[0] === 0 && e.rdev?.[1] === 0) {
      if (name === '.wh..opq') continue; // stray-opq-whiteout
      whiteouts.push(e.path); // whiteout-form
      continue;
    }
    if (e.type === '-' && name === '.wh..wh..opq') { opaque.add(parentOf(e.path)); continue; } // opaque-form
    if (e.type === '-' && name.startsWith('.wh.')) { // whiteout-form
      whiteouts.push(e.path === name ? name.slice(4) : `${parentOf(e.path)}/${name.slice(4)}`);
      continue;
    }
    const o = normStat(e as unknown as Record<string, unknown>);
    if (e.xattrs) {
      const xs: Record<string, string> = {};
      for (const [k, v] of Object.entries(e.xattrs)) {
        if ((k === 'trusted.overlay.opaque' || k === 'user.fuseoverlayfs.opaque' || k === 'user.overlay.opaque') && v === 'y') { opaque.add(e.path); continue; } // opaque-form
        if (PRIVATE_XATTR.test(k)) continue; // private-xattrs
        xs[k] = v;
      }
      if (Object.keys(xs).length) o.xattrs = xs; else delete o.xattrs;
    }
    m.set(e.path, o);
  }
  for (const p of opaque) { const o = m.get(p); if (o && lowerLookup(layers, p) === 'dir') o.opaque = true; } // opaque-without-lower-dir
  // upper-nlink-in-tree: count the names inside the upper dir only
  const names = new Map<number, number>();
  for (const e of entries) if (e.type && e.type !== 'd' && m.has(e.path)) names.set(e.ino, (names.get(e.ino) ?? 0) + 1);
  for (const e of entries) { const o = m.get(e.path); if (o && 'nlink' in o && e.type !== 'd') o.nlink = names.get(e.ino); }
  for (const w of whiteouts) {
    const par = parentOf(w);
    if (opaque.has(par)) continue; // whiteout-in-opaque
    if (!lowerLookup(layers, w)) continue; // redundant-whiteout
    if (m.has(w)) m.set(w, { ...m.get(w)!, alsoWhiteout: true }); // a whiteout next to a real entry of the same name: a real difference, keep it visible
    else m.set(w, { path: w, type: 'whiteout' });
  }
  return m;
}

function normResult(op: Op, r: OpResult): unknown {
  if (!('ok' in r)) return r;
  const v = r.ok;
  if ((op[0] === 'stat' || op[0] === 'lstat') && v && typeof v === 'object') return { ok: normStat(v as Record<string, unknown>) };
  return r;
}

// ---------------------------------------------------------------- known divergences

export interface Divergence {
  where: 'op' | 'merged' | 'upper' | 'remount';
  impl: Impl;
  ref: Impl;
  index?: number;
  op?: Op;
  path?: string;
  field?: string;
  refValue: unknown;
  value: unknown;
  /** the whole normalized snapshot entries (snapshot divergences) */
  refEntry?: Record<string, unknown>;
  entry?: Record<string, unknown>;
  allowed?: string;
}

/** What an allow-list rule may look at. */
export interface MatchCtx {
  s: Scenario;
  ref: RunResult;
  run: RunResult;
  /** every divergence of `run` from `ref` (before allowing) */
  divs: Divergence[];
  /** paths that are hard-linked (nlink > 1) within some lower layer of the spec */
  lowerLinks: Set<string>;
}

export interface KnownDivergence {
  name: string;
  reason: string;
  /** implementations allowed to differ from the kernel this way (the rules assume the reference is the kernel) */
  impls: Impl[];
  /**
   * implementations that may show the same divergence, but only with exactly
   * fuse-overlayfs' value at the same place (when fuse-overlayfs is part of
   * the run; otherwise they are treated like `impls`)
   */
  peers?: Impl[];
  /** applies to every scenario (otherwise only where a scenario lists it in `allow`) */
  global?: boolean;
  /** one divergence at a time */
  match?(d: Divergence, c: MatchCtx): boolean;
  /**
   * a known bug with after-effects: returns the index of the op where it
   * fired; then every later op divergence and every snapshot divergence of
   * that implementation counts as its consequence
   */
  trigger?(c: MatchCtx): number | undefined;
}

const isNow = (v: unknown) => v === 'now';
const isFixed = (v: unknown) => typeof v === 'string' && v !== 'now';
const okOf = (r: unknown): unknown => (r && typeof r === 'object' && 'ok' in r ? (r as { ok: unknown }).ok : undefined);
const errOf = (r: unknown): string | undefined => (r && typeof r === 'object' && 'err' in r ? (r as { err: string }).err : undefined);

/** results of op i that differ only in `fields` (both ok, objects) */
function onlyFieldsDiffer(a: unknown, b: unknown, fields: string[]): boolean {
  const x = okOf(a), y = okOf(b);
  if (!x || !y || typeof x !== 'object' || typeof y !== 'object') return false;
  const ox = { ...(x as Record<string, unknown>) }, oy = { ...(y as Record<string, unknown>) };
  for (const f of fields) { delete ox[f]; delete oy[f]; }
  return JSON.stringify(ox) === JSON.stringify(oy);
}

/** the paths an op names (not listdir's dir) */
export function opPaths(op: Op): string[] {
  switch (op[0]) {
    case 'symlink': return [String(op[2])];
    case 'rename': case 'rename_noreplace': case 'rename_exchange': case 'link': return [String(op[1]), String(op[2])];
    case 'listdir': return [];
    default: return [String(op[1])];
  }
}

/** does divergence `d` concern path `p` (or something below it)? */
function mentions(d: Divergence, p: string): boolean {
  const under = (x: string) => x === p || x.startsWith(p + '/');
  if (d.path !== undefined) return under(d.path);
  if (!d.op) return false;
  if (d.op[0] === 'listdir') return parentOf(p) === String(d.op[1]).replace(/\/$/, '') || (String(d.op[1]) === '.' && !p.includes('/'));
  return opPaths(d.op).some(under);
}

/** first op index i (scanning forward) with pred(i) true */
function firstOp(c: MatchCtx, pred: (op: Op, i: number, ref: unknown, mine: unknown) => boolean): number | undefined {
  for (let i = 0; i < c.s.ops.length; i++) if (pred(c.s.ops[i], i, c.ref.norm!.results[i], c.run.norm!.results[i])) return i;
  return undefined;
}

/** a change-making op on a path (what triggers a copy-up) */
const MODIFYING = new Set(['write', 'append', 'truncate', 'open_trunc', 'chmod', 'chown', 'lchown', 'utime', 'setxattr', 'removexattr', 'link', 'rename', 'rename_noreplace', 'rename_exchange', 'open_unlink_read', 'create']);

export const KNOWN_DIVERGENCES: KnownDivergence[] = [
  // ---- fuse-overlayfs behaviour that a peer may reproduce
  {
    name: 'copyup-dir-mtime',
    reason: 'the kernel restores a directory\'s times after copying it up and after renaming a copied-up child into it (ovl_set_timestamps), so a copy-up changes no dir mtime; fuse-overlayfs creates the upper dirs and moves the child in without restoring them, so those merged dirs show mtime "now"',
    impls: ['fuse-overlayfs', 'tsfuse'],
    global: true,
    match(d) {
      if (d.where === 'op') return (d.op![0] === 'stat' || d.op![0] === 'lstat') && (okOf(d.refValue) as { type?: string })?.type === 'd'
        && onlyFieldsDiffer(d.refValue, d.value, ['mtime']) && isFixed((okOf(d.refValue) as { mtime: unknown }).mtime) && isNow((okOf(d.value) as { mtime: unknown }).mtime);
      return d.field === 'mtime' && d.refEntry?.type === 'd' && isFixed(d.refValue) && isNow(d.value);
    },
  },
  {
    name: 'copyup-symlink-mtime',
    reason: 'the kernel copies a symlink up with its times; fuse-overlayfs recreates it with symlinkat and does not set them, so a copied-up symlink (e.g. after lchown) shows mtime "now"',
    impls: ['fuse-overlayfs', 'tsfuse'],
    global: true,
    match(d) {
      if (d.where === 'op') return (d.op![0] === 'lstat') && (okOf(d.refValue) as { type?: string })?.type === 'l'
        && onlyFieldsDiffer(d.refValue, d.value, ['mtime']) && isFixed((okOf(d.refValue) as { mtime: unknown }).mtime) && isNow((okOf(d.value) as { mtime: unknown }).mtime);
      return d.field === 'mtime' && d.refEntry?.type === 'l' && isFixed(d.refValue) && isNow(d.value);
    },
  },
  {
    name: 'open-unlinked-nlink',
    reason: 'fstat of an open file after unlink: the kernel reports nlink 0; fuse-overlayfs moves the file into workdir (hide_node) instead of unlinking it while it is open, so nlink stays 1',
    impls: ['fuse-overlayfs', 'tsfuse'],
    global: true,
    match: (d) => d.where === 'op' && d.op![0] === 'open_unlink_read' && onlyFieldsDiffer(d.refValue, d.value, ['nlink'])
      && (okOf(d.refValue) as { nlink: number }).nlink === 0 && (okOf(d.value) as { nlink: number }).nlink === 1,
  },
  {
    name: 'lower-hardlinks',
    reason: 'lower hard links: the kernel (index=off) reports the lower inode\'s nlink and breaks the link on copy-up (the other names keep the old data); fuse-overlayfs groups names by lower inode in memory: nlink counts the names it has looked up so far, and while mounted the other names see data written through one of them (on disk the link is broken as in the kernel, and since later writes through any name go to the one copied-up file, after a remount the other names show the old lower data)',
    impls: ['fuse-overlayfs'],
    peers: ['tsfuse'],
    global: true,
    match: (d, c) => d.where !== 'op' && c.lowerLinks.has(d.path!) && ['nlink', 'hardlinks'].includes(d.field ?? ''),
    trigger: (c) => firstOp(c, (op, i, r, m) => opPaths(op).some((p) => c.lowerLinks.has(p)) && 'ok' in (r as object) && 'ok' in (m as object)
      && c.divs.some((d) => d.where !== 'op' || d.index! >= i)),
  },
  {
    name: 'tsfuse-hardlinks-linked-up',
    reason: 'tsfuse-overlayfs keeps lower hard links one inode for the life of the mount and also on disk: at copy-up every other name of the lower inode it has met becomes an upper hard link of the copy (spec/overlay-semantics.md), so nlink, data and the upper tree of those names differ from the kernel (which breaks the link) and from fuse-overlayfs (which breaks it on disk and loses writes made through the other names at remount)',
    impls: ['tsfuse'],
    global: true,
    match(d, c) {
      // the lower-linked names, and names linked or renamed to them during the run
      const related = new Set(c.lowerLinks);
      for (const op of c.s.ops) if ((op[0] === 'link' || String(op[0]).startsWith('rename')) && related.has(String(op[1]))) related.add(String(op[2]));
      return related.has(d.path ?? '') || (d.where === 'op' && opPaths(d.op!).some((p) => related.has(p)));
    },
  },
  {
    name: 'kernel-lists-unmerged-whiteouts',
    reason: 'the kernel reads a dir that is not merged with any other layer (pure upper or pure lower) directly (ovl_dir_is_real), so readdir lists whiteouts that a layer has in it (lookup then gives ENOENT); fuse-overlayfs always hides whiteouts',
    impls: ['fuse-overlayfs', 'tsfuse'],
    global: true,
    match(d, c) {
      const isLowerWhiteout = (p: string) => [c.s.layers.upper ?? [], ...c.s.layers.lowers].some((l) => l.some((e) => e.t === 'whiteout' && e.path === p));
      if (d.where === 'op') {
        if (d.op![0] !== 'listdir') return false;
        const a = okOf(d.refValue), b = okOf(d.value);
        if (!Array.isArray(a) || !Array.isArray(b) || !b.every((n) => a.includes(n))) return false;
        const dir = String(d.op![1]);
        return a.filter((n) => !b.includes(n)).every((n) => isLowerWhiteout(dir === '.' ? n : `${dir.replace(/\/$/, '')}/${n}`));
      }
      return d.where !== 'upper' && !d.entry && !!d.refEntry && d.refEntry.error === 'ENOENT' && isLowerWhiteout(d.path!);
    },
  },
  {
    name: 'wh-prefix-names',
    reason: 'fuse-overlayfs reserves names starting with .wh. (its whiteout files): creating such a file fails with EINVAL (mkdir is let through), and such files are never listed; the kernel treats them as ordinary names',
    impls: ['fuse-overlayfs', 'tsfuse'],
    trigger: (c) => firstOp(c, (op, _i, r, m) => opPaths(op).some((p) => baseOf(p).startsWith('.wh.')) && 'ok' in (r as object) && errOf(m) === 'EINVAL'),
  },
  {
    name: 'fuse-nlink-counts-lookups',
    reason: 'st_nlink of a multiply-linked file: the kernel reports the real link count; fuse-overlayfs reports how many of its names it has looked up so far (its in-memory inode table), e.g. 1 for the first name stat-ed after a mount',
    impls: ['fuse-overlayfs'],
    peers: ['tsfuse'],
    global: true,
    match(d) {
      const lower = (a: unknown, b: unknown) => typeof a === 'number' && typeof b === 'number' && a > 1 && b >= 1 && b < a;
      if (d.where === 'op') {
        const a = okOf(d.refValue) as { nlink?: number; type?: string } | undefined, b = okOf(d.value) as { nlink?: number } | undefined;
        return (d.op![0] === 'stat' || d.op![0] === 'lstat') && onlyFieldsDiffer(d.refValue, d.value, ['nlink']) && lower(a?.nlink, b?.nlink);
      }
      return d.where !== 'upper' && d.field === 'nlink' && lower(d.refValue, d.value);
    },
  },
  // ---- fuse-overlayfs 1.10 bugs: only fuse-overlayfs may show them
  {
    name: 'fuse-removexattr-copyup',
    reason: 'fuse-overlayfs 1.10 copies a lower file up for removexattr before finding the attribute missing (ENODATA); the kernel checks first and copies nothing up (visible as an extra upper file, and a broken lower hard link)',
    impls: ['fuse-overlayfs'],
    global: true,
    trigger: (c) => firstOp(c, (op, _i, r, m) => op[0] === 'removexattr' && errOf(r) === 'ENODATA' && errOf(m) === 'ENODATA'
      && !c.ref.norm!.upper.has(String(op[1])) && c.run.norm!.upper.has(String(op[1]))),
  },
  {
    name: 'fuse-exchange-merged-dir',
    reason: 'fuse-overlayfs 1.10 lets RENAME_EXCHANGE swap a non-directory with a merged (lower-backed) directory (two dirs are refused with EXDEV); the kernel refuses any exchange that would move a merged dir with EXDEV (redirect_dir=off)',
    impls: ['fuse-overlayfs'],
    global: true,
    trigger: (c) => firstOp(c, (op, _i, r, m) => op[0] === 'rename_exchange' && errOf(r) === 'EXDEV' && 'ok' in (m as object)),
  },
  {
    name: 'fuse-exchange-dir-exdev',
    reason: 'fuse-overlayfs 1.10 refuses RENAME_EXCHANGE with EXDEV when the source is a (pure upper) directory and the destination name has any lower-layer entry, even just a whiteout (the same exchange with the arguments swapped succeeds); the kernel allows it',
    impls: ['fuse-overlayfs'],
    global: true,
    trigger: (c) => firstOp(c, (op, _i, r, m) => op[0] === 'rename_exchange' && 'ok' in (r as object) && errOf(m) === 'EXDEV'),
  },
  {
    name: 'fuse-lower-symlink-loop-enomem',
    reason: 'fuse-overlayfs 1.10 opens a lower-layer symlink that lies below a directory of the same name in a higher layer (or the upper); when that symlink loops, every lookup and readdir through the mount (even of the root) fails with ENOMEM; the kernel ignores entries below a non-mergeable one',
    impls: ['fuse-overlayfs'],
    global: true,
    trigger(c) {
      // the upper counts as the top layer
      const idx = [c.s.layers.upper ?? [], ...c.s.layers.lowers].map(layerIndex);
      const shadowed = c.s.layers.lowers.some((l, k) => l.some((e) => e.t === 'symlink' && idx.slice(0, k + 1).some((h) => h.get(e.path)?.kind === 'dir')));
      return shadowed ? firstOp(c, (_op, _i, _r, m) => errOf(m) === 'ENOMEM') ?? (c.divs.length ? c.s.ops.length : undefined) : undefined;
    },
  },
  {
    name: 'fuse-nondir-does-not-stop-merge',
    reason: 'an upper directory (pre-existing, or made after unlinking the file) over a non-directory of the same name in a lower layer: the kernel stops the merge at the non-directory (the dir is merged with nothing, so it can be renamed, and a dir of that name further down stays hidden); fuse-overlayfs 1.10 treats the dir as merged (EXDEV on rename) and merges a same-named dir from below the non-directory into it (between lower layers it stops correctly)',
    impls: ['fuse-overlayfs'],
    global: true,
    trigger(c) {
      const stack = [c.s.layers.upper ?? [], ...c.s.layers.lowers].map(layerIndex);
      const paths = new Set<string>();
      stack.forEach((L, k) => { for (const [p, n] of L) if (n.kind === 'dir' && stack.slice(k + 1).some((M) => M.get(p)?.kind === 'file')) paths.add(p); });
      // also dirs made during the run over a lower non-dir
      for (const L of c.s.layers.lowers.map(layerIndex)) for (const [p, n] of L) if (n.kind === 'file' && c.s.ops.some((op) => op[0] === 'mkdir' && op[1] === p)) paths.add(p);
      if (!paths.size) return undefined;
      const first = c.divs.find((d) => [...paths].some((p) => mentions(d, p)));
      return first ? first.index ?? c.s.ops.length : undefined;
    },
  },
  {
    name: 'fuse-truncate-same-size-mtime',
    reason: 'truncate(2) by path to the size the file already has: the kernel updates mtime (do_truncate always sets ATTR_MTIME), fuse-overlayfs 1.10 leaves it unchanged (ftruncate on an open fd does update it)',
    impls: ['fuse-overlayfs'],
    global: true,
    match(d, c) {
      const p = d.path ?? (d.op ? String(d.op[1]) : '');
      const truncated = c.s.ops.some((op, i) => op[0] === 'truncate' && op[1] === p && (d.where !== 'op' || i < d.index!) && 'ok' in (c.ref.norm!.results[i] as object));
      if (!truncated) return false;
      if (d.where === 'op') {
        return (d.op![0] === 'stat' || d.op![0] === 'lstat') && onlyFieldsDiffer(d.refValue, d.value, ['mtime'])
          && isNow((okOf(d.refValue) as { mtime: unknown }).mtime) && isFixed((okOf(d.value) as { mtime: unknown }).mtime);
      }
      return d.field === 'mtime' && isNow(d.refValue) && isFixed(d.value);
    },
  },
  {
    name: 'fuse-rename-upper-dir-no-whiteout',
    reason: 'fuse-overlayfs 1.10: renaming an upper-only (opaque) directory that covers a lower directory of the same name leaves no whiteout at the old name, so the lower directory reappears there; the kernel leaves a whiteout',
    impls: ['fuse-overlayfs'],
    global: true,
    trigger: (c) => firstOp(c, (op, i, r, m) => op[0] === 'rename' && 'ok' in (r as object) && 'ok' in (m as object) && lowerLookup(c.s.layers, String(op[1])) === 'dir'
      && c.divs.some((d) => (d.where !== 'op' || d.index! > i) && mentions(d, String(op[1])))),
  },
  {
    name: 'fuse-fifo-copyup',
    reason: 'fuse-overlayfs 1.10 copies a lower fifo up as an empty regular file and fails the operation (chmod etc.) with EIO; the kernel copies the fifo up as a fifo',
    impls: ['fuse-overlayfs'],
    global: true,
    trigger: (c) => firstOp(c, (op, _i, r, m) => 'ok' in (r as object) && errOf(m) === 'EIO'
      && c.s.layers.lowers.some((l) => l.some((e) => e.t === 'fifo' && e.path === String(op[1])))),
  },
  {
    name: 'fuse-renameat2-lost-whiteout',
    reason: 'fuse-overlayfs 1.10, after renameat2 with RENAME_NOREPLACE or RENAME_EXCHANGE (even a failed one), loses track of lower-layer entries of the names involved: moving a name away (the NOREPLACE source) or later unlinking it (after an EXCHANGE) leaves no whiteout, so a lower entry reappears there; the kernel leaves a whiteout',
    impls: ['fuse-overlayfs'],
    global: true,
    trigger: (c) => firstOp(c, (op, i, r, m) => (op[0] === 'rename_noreplace' || op[0] === 'rename_exchange') && eq(r, m)
      && c.divs.some((d) => (d.where !== 'op' || d.index! > i) && opPaths(op).some((p) => mentions(d, p)))),
  },
  {
    name: 'fuse-create-stale-mode',
    reason: 'fuse-overlayfs 1.10: after readdir of a re-created (opaque) dir, creating a file under a name that existed in the deleted lower dir gives it the old lower file\'s mode instead of the requested one',
    impls: ['fuse-overlayfs'],
    global: true,
    trigger: (c) => firstOp(c, (op, i, r, m) => (op[0] === 'create' || op[0] === 'create_excl') && 'ok' in (r as object) && 'ok' in (m as object)
      && c.divs.some((d) => (d.where !== 'op' || d.index! > i) && mentions(d, String(op[1])) && (d.field === 'mode' || (d.where === 'op' && onlyFieldsDiffer(d.refValue, d.value, ['mode']))))),
  },
];

// ---------------------------------------------------------------- comparison

function eq(a: unknown, b: unknown): boolean { return JSON.stringify(a) === JSON.stringify(b); }

function diffMaps(where: Divergence['where'], ref: Impl, impl: Impl, a: Map<string, Record<string, unknown>>, b: Map<string, Record<string, unknown>>): Divergence[] {
  const out: Divergence[] = [];
  const paths = [...new Set([...a.keys(), ...b.keys()])].sort();
  for (const p of paths) {
    const x = a.get(p), y = b.get(p);
    if (!x || !y) { out.push({ where, ref, impl, path: p, refValue: x ?? null, value: y ?? null, refEntry: x, entry: y }); continue; }
    for (const f of [...new Set([...Object.keys(x), ...Object.keys(y)])].sort()) {
      if (!eq(x[f], y[f])) out.push({ where, ref, impl, path: p, field: f, refValue: x[f] ?? null, value: y[f] ?? null, refEntry: x, entry: y });
    }
  }
  return out;
}

function divergences(s: Scenario, refRun: RunResult, r: RunResult): Divergence[] {
  const a = refRun.norm!, b = r.norm!;
  const out: Divergence[] = [];
  s.ops.forEach((op, i) => {
    if (!eq(a.results[i], b.results[i])) out.push({ where: 'op', ref: refRun.impl, impl: r.impl, index: i, op, refValue: a.results[i], value: b.results[i] });
  });
  out.push(...diffMaps('merged', refRun.impl, r.impl, a.merged, b.merged));
  out.push(...diffMaps('upper', refRun.impl, r.impl, a.upper, b.upper));
  if (a.remounted && b.remounted) out.push(...diffMaps('remount', refRun.impl, r.impl, a.remounted, b.remounted));
  return out;
}

/** paths that are hard links (more than one name for one file) within a lower layer of the spec */
function lowerLinkPaths(layers: Layers): Set<string> {
  const out = new Set<string>();
  for (const l of layers.lowers) for (const e of l) if (e.t === 'link') { out.add(e.path); out.add(e.target); }
  return out;
}

/** Marks the divergences of one implementation that the enabled rules explain. */
function applyRules(rules: KnownDivergence[], c: MatchCtx, fuseDivs: Divergence[] | undefined): void {
  const key = (d: Divergence) => `${d.where}|${d.index ?? ''}|${d.path ?? ''}|${d.field ?? ''}`;
  const fuseAllowed = new Map<string, Divergence>();
  for (const d of fuseDivs ?? []) if (d.allowed) fuseAllowed.set(key(d), d);
  for (const k of rules) {
    // without a plain tsfuse run to compare with, the tar-layer run is judged like tsfuse
    const who = c.run.impl === 'tsfuse-tar' ? 'tsfuse' : c.run.impl;
    const direct = k.impls.includes(who) || (!!k.peers?.includes(who) && !fuseDivs);
    const asPeer = !!k.peers?.includes(who) && !!fuseDivs;
    if (!direct && !asPeer) continue;
    if (asPeer) {
      // the same divergence, with the same value, as fuse-overlayfs shows under this rule
      for (const d of c.divs) {
        const f = fuseAllowed.get(key(d));
        if (!d.allowed && f && f.allowed!.startsWith(k.name) && eq(f.value, d.value)) d.allowed = `${k.name} (same as fuse-overlayfs)`;
      }
      continue;
    }
    if (k.match) for (const d of c.divs) if (!d.allowed && k.match(d, c)) d.allowed = k.name;
    if (k.trigger) {
      const i = k.trigger(c);
      if (i !== undefined) for (const d of c.divs) if (!d.allowed && (d.where !== 'op' || d.index! >= i)) d.allowed = `${k.name} (after-effect of op #${i})`;
    }
  }
}

/** scenario names per allow-list rule that excused something in this process (for the end-of-run summary) */
export const RULE_HITS = new Map<string, string[]>();

export interface Comparison { scenario: string; impls: Impl[]; runs: RunResult[]; failures: Divergence[]; allowed: Divergence[] }

export function compare(s: Scenario, runs: RunResult[]): Comparison {
  for (const r of runs) {
    r.norm = {
      results: r.results.map((x, i) => normResult(s.ops[i], x)),
      merged: normMerged(r.merged),
      upper: normUpper(r.upper, s.layers),
      remounted: r.remounted && normMerged(r.remounted),
    };
  }
  for (const n of s.allow ?? []) if (!KNOWN_DIVERGENCES.some((k) => k.name === n)) throw new Error(`scenario ${s.name}: unknown allow entry ${n}`);
  const [refRun, ...others] = runs;
  // the allow-list describes differences from the kernel; with another reference everything must match exactly
  const rules = refRun.impl === 'kernel' ? KNOWN_DIVERGENCES.filter((k) => k.global || s.allow?.includes(k.name)) : [];
  const lowerLinks = lowerLinkPaths(s.layers);
  // fuse-overlayfs first: peers are judged against its (allowed) divergences
  const order = [...others].sort((x, y) => Number(y.impl === 'fuse-overlayfs') - Number(x.impl === 'fuse-overlayfs'));
  const all: Divergence[] = [];
  let fuseDivs: Divergence[] | undefined;
  const plain = runs.find((r) => r.impl === 'tsfuse');
  for (const r of order) {
    if (r.impl === 'tsfuse-tar' && plain) {
      // the same overlay over the same trees, served by a plugin: everything must match exactly
      all.push(...divergences(s, plain, r));
      continue;
    }
    const divs = divergences(s, refRun, r);
    applyRules(rules, { s, ref: refRun, run: r, divs, lowerLinks }, r.impl === 'fuse-overlayfs' ? undefined : fuseDivs);
    if (r.impl === 'fuse-overlayfs') fuseDivs = divs;
    all.push(...divs);
  }
  const allowed = all.filter((d) => d.allowed);
  for (const rule of new Set(allowed.map((d) => `${d.impl}: ${d.allowed!.replace(/ \(.*/, '')}`))) RULE_HITS.set(rule, [...(RULE_HITS.get(rule) ?? []), s.name]);
  return { scenario: s.name, impls: runs.map((r) => r.impl), runs, failures: all.filter((d) => !d.allowed), allowed };
}

/** Runs a scenario on every implementation and compares. */
export function runScenario(s: Scenario, impls: Impl[]): Comparison {
  return compare(s, impls.map((i) => runOn(i, s)));
}

const j = (v: unknown) => JSON.stringify(v);

/** Human-readable report of a comparison's failures (or allowed divergences with `allowed`). */
export function report(c: Comparison, opts: { allowed?: boolean; max?: number; header?: string } = {}): string {
  const list = opts.allowed ? c.allowed : c.failures;
  const max = opts.max ?? 25;
  const lines = [`${opts.header ?? `scenario "${c.scenario}"`}: ${list.length} ${opts.allowed ? 'allowed divergence(s)' : 'unexplained divergence(s)'} (reference ${c.impls[0]})`];
  const w = Math.max(...c.impls.map((i) => i.length)) + 1;
  for (const d of list.slice(0, max)) {
    const tag = d.allowed ? ` [allowed: ${d.allowed}]` : '';
    if (d.where === 'op') {
      lines.push(`  op #${d.index} ${j(d.op)}${tag}`);
      for (const r of c.runs) lines.push(`    ${(r.impl + ':').padEnd(w)} ${j(r.norm!.results[d.index!])}`);
    } else {
      lines.push(`  ${d.where} ${d.path}${d.field ? ` .${d.field}` : ''}${tag}`);
      for (const r of c.runs) {
        const m = d.where === 'merged' ? r.norm!.merged : d.where === 'upper' ? r.norm!.upper : r.norm!.remounted;
        const e = m?.get(d.path!);
        lines.push(`    ${(r.impl + ':').padEnd(w)} ${j(d.field ? (e ? e[d.field] ?? null : '(absent)') : e ?? '(absent)')}`);
      }
    }
  }
  if (list.length > max) lines.push(`  ... ${list.length - max} more`);
  return lines.join('\n');
}

/** The op log of a run side by side (for reports of randomized sequences). */
export function opLog(s: Scenario, c: Comparison, upTo = s.ops.length - 1): string {
  const lines: string[] = [];
  for (let i = 0; i <= upTo && i < s.ops.length; i++) {
    const vals = c.runs.map((r) => j(r.norm!.results[i]));
    const same = vals.every((v) => v === vals[0]);
    lines.push(`  ${same ? ' ' : '!'} #${i} ${j(s.ops[i])} -> ${same ? vals[0] : c.runs.map((r, k) => `${r.impl}=${vals[k]}`).join('  ')}`);
  }
  return lines.join('\n');
}

// ---------------------------------------------------------------- seeded randomized sequences


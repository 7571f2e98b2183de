/**
 * Differential conformance: the same layers and the same operations on the
 * kernel's overlayfs, fuse-overlayfs and tsfuse-overlayfs, compared op by op
 * and by snapshots of the merged tree, the upper dir, and the merged tree
 * after a remount (see test/overlay-harness.ts for the machinery, the named
 * normalizations and the allow-list of known divergences).
 *
 *   npx vitest run test/overlay-diff.test.ts                    all four (kernel, fuse-overlayfs, tsfuse, tsfuse-tar)
 *   OVL_IMPLS=kernel,fuse-overlayfs npx vitest run test/overlay-diff.test.ts
 *   OVL_SEEDS=200 ...      more randomized sequences (default 20)
 *   OVL_SEED_FROM=301 ...  first seed (default 1), e.g. to explore new seeds
 *   OVL_SEED=17,40 ...     only these seeds (reproduce a report)
 *   OVL_OPS=80 ...         ops per randomized sequence (default 40)
 *   OVL_VERBOSE=1 ...      also print allowed divergences
 *   OVL_DUMP=1 ...         print every scenario's op log (results side by side)
 */
import { afterAll, describe, expect, it } from 'vitest';
import {
  type Comparison, compare, type Entry, implsFromEnv, type RawEntry, type RunResult, KNOWN_DIVERGENCES, RULE_HITS, NORMALIZATIONS, type Op, opLog, prng, report, runScenario, type Scenario,
} from './overlay-harness.js';

const IMPLS = implsFromEnv();
const VERBOSE = !!process.env.OVL_VERBOSE;

// ---------------------------------------------------------------- spec shorthands

/** a fixed mtime in ns (whole seconds, so the double is exact: N * 1e9 = N * 1953125 * 2^9) */
const mt = (k: number) => (1_100_000_000 + k * 3_600) * 1_000_000_000;
const file = (path: string, content = `${path}\n`, extra: Partial<Extract<Entry, { t: 'file' }>> = {}): Entry => ({ t: 'file', path, content, ...extra });
const dir = (path: string, extra: Partial<Extract<Entry, { t: 'dir' }>> = {}): Entry => ({ t: 'dir', path, ...extra });
const sym = (path: string, target: string): Entry => ({ t: 'symlink', path, target });
const hard = (path: string, target: string): Entry => ({ t: 'link', path, target });
const wh = (path: string, form: 'chr' | 'wh' = 'chr'): Entry => ({ t: 'whiteout', path, form });
const fifo = (path: string): Entry => ({ t: 'fifo', path });

const STATS = (...paths: string[]): Op[] => paths.map((p) => ['lstat', p] as Op);
const READS = (...paths: string[]): Op[] => paths.map((p) => ['read', p] as Op);

// ---------------------------------------------------------------- scripted scenarios

const SCENARIOS: Scenario[] = [
  {
    name: 'copy-up on data writes (write at offset, append, truncate, O_TRUNC) keeps metadata',
    layers: {
      lowers: [[
        file('a', '0123456789', { mode: 0o640, uid: 1000, gid: 1001, xattrs: { 'user.k': 'va' }, mtime: mt(1) }),
        file('b', 'bbbb', { mode: 0o600, xattrs: { 'user.k': 'vb' } }),
        file('c', 'cccccccccc', { mode: 0o755 }),
        file('d', 'dddd'),
        file('big', undefined, { size: 300_000, seed: 7 }),
        file('sub/dir/e', 'eeee'),
      ]],
    },
    ops: [
      ['write', 'a', 3, 'XY'], ['append', 'b', 'tail'], ['truncate', 'c', 3], ['truncate', 'c', 20], ['open_trunc', 'd'],
      ['write', 'big', 150_000, 'middle'], ['append', 'sub/dir/e', '+'], ['write', 'a', 20, 'past-the-end'],
      ...READS('a', 'b', 'c', 'd', 'big', 'sub/dir/e'), ...STATS('a', 'b', 'c', 'd', 'big', 'sub', 'sub/dir', 'sub/dir/e'),
      ['getxattr', 'a', 'user.k'], ['listxattr', 'b'],
    ],
  },
  {
    name: 'copy-up on metadata changes (chmod, chown, utime, set/remove xattr) of files, dirs and symlinks',
    layers: {
      lowers: [[
        file('f1', 'one', { xattrs: { 'user.a': '1', 'user.b': '2' } }), file('f2', 'two'), file('f3', 'three'), file('f4', 'four', { xattrs: { 'user.x': 'x' } }),
        dir('d', { mode: 0o750, xattrs: { 'user.d': 'dir' } }), file('d/inner', 'in'), sym('l', 'f2'), sym('dangling', 'nowhere'),
      ]],
    },
    ops: [
      ['chmod', 'f1', 0o604], ['chown', 'f2', 1234, 5678], ['utime', 'f3', 1_500_000_000_000_000_000, 1_400_000_000_000_000_000],
      ['setxattr', 'f4', 'user.new', 'nv'], ['removexattr', 'f1', 'user.b'], ['removexattr', 'f1', 'user.missing'],
      ['chmod', 'd', 0o711], ['setxattr', 'd', 'user.d2', 'dir2'], ['lchown', 'l', 42, 43], ['chmod', 'l', 0o600],
      ['utime', 'dangling', 1_300_000_000_000_000_000, 1_300_000_000_000_000_000], ['setxattr', 'l', 'user.onlink', 'v'],
      ['chown', 'dangling', 1, 1],
      ...STATS('f1', 'f2', 'f3', 'f4', 'd', 'd/inner', 'l', 'dangling'), ['listxattr', 'f1'], ['listxattr', 'f4'], ['listxattr', 'd'],
      ['getxattr', 'f1', 'user.b'], ...READS('f1', 'f2', 'f3', 'f4'),
    ],
  },
  {
    name: 'unlink of lower files leaves whiteouts; nested unlink copies up the parents',
    layers: {
      lowers: [
        [file('a'), dir('x', { mode: 0o700, mtime: mt(3) }), file('x/y/z'), file('x/y/keep'), file('only-top')],
        [file('a', 'from below'), file('b'), file('x/y/z', 'below'), file('x/deep-only')],
      ],
    },
    ops: [
      ['unlink', 'a'], ['unlink', 'b'], ['unlink', 'x/y/z'], ['unlink', 'x/deep-only'], ['unlink', 'nope'], ['unlink', 'x'],
      ['listdir', '.'], ['listdir', 'x'], ['listdir', 'x/y'], ['lstat', 'a'], ['read', 'x/y/z'], ...STATS('x', 'x/y'),
      ['create', 'a', 0o644], ['read', 'a'], ['unlink', 'a'], ['lstat', 'a'],
    ],
  },
  {
    name: 'rmdir of lower dirs: ENOTEMPTY while merged children exist, whiteout afterwards',
    layers: {
      lowers: [
        [dir('empty'), dir('full'), file('full/f'), dir('m'), file('m/top')],
        [dir('m'), file('m/below'), wh('gone-below'), dir('deep/er/est')],
      ],
    },
    ops: [
      ['rmdir', 'empty'], ['rmdir', 'full'], ['unlink', 'full/f'], ['rmdir', 'full'], ['rmdir', 'm'], ['unlink', 'm/top'], ['rmdir', 'm'],
      ['unlink', 'm/below'], ['rmdir', 'm'], ['rmdir', 'deep'], ['rmdir', 'deep/er/est'], ['rmdir', 'deep/er'], ['rmdir', 'deep'],
      ['rmdir', 'nope'], ['listdir', '.'], ...STATS('empty', 'full', 'm', 'deep'),
    ],
  },
  {
    name: 'recreate after delete: a new dir over a deleted lower dir is opaque; types can change',
    layers: {
      lowers: [[dir('d'), file('d/a'), file('d/b'), dir('d/sub'), file('d/sub/c'), file('f'), dir('g'), file('g/x'), sym('s', 'f')]],
    },
    ops: [
      ['unlink', 'd/a'], ['unlink', 'd/b'], ['unlink', 'd/sub/c'], ['rmdir', 'd/sub'], ['rmdir', 'd'], ['mkdir', 'd', 0o755],
      ['listdir', 'd'], ['create', 'd/a', 0o600], ['listdir', 'd'],
      ['unlink', 'f'], ['mkdir', 'f', 0o700], ['listdir', 'f'], ['create', 'f/new', 0o644],
      ['unlink', 'g/x'], ['rmdir', 'g'], ['create', 'g', 0o644], ['append', 'g', 'now a file'],
      ['unlink', 's'], ['mkdir', 's', 0o755], ['listdir', '.'], ...STATS('d', 'f', 'g', 's'),
    ],
  },
  {
    name: 'rename of files across layers, over existing names, NOREPLACE and EXCHANGE',
    layers: {
      lowers: [
        [file('a', 'A'), file('b', 'B'), dir('d'), file('d/c', 'C'), file('e', 'E', { mode: 0o600, xattrs: { 'user.e': 'e' } })],
        [file('low', 'L'), file('a', 'old a'), dir('d2'), file('d2/x', 'X')],
      ],
      upper: [file('up', 'U')],
    },
    ops: [
      ['rename', 'a', 'a2'], ['rename', 'low', 'd/low'], ['rename', 'up', 'b'], ['rename', 'e', 'd2/e'], ['rename', 'd/c', 'c'],
      ['rename', 'c', 'c'], ['rename_noreplace', 'b', 'd/low'], ['rename_noreplace', 'b', 'fresh'], ['rename_exchange', 'fresh', 'd/low'],
      ['rename_exchange', 'a2', 'd2/x'], ['rename_exchange', 'a2', 'missing'], ['rename', 'missing', 'z'],
      ['listdir', '.'], ['listdir', 'd'], ['listdir', 'd2'], ...READS('a2', 'b', 'fresh', 'd/low', 'd2/e', 'd2/x', 'c', 'a'),
      ...STATS('d2/e', 'a', 'low'), ['getxattr', 'd2/e', 'user.e'],
    ],
  },
  {
    name: 'directory renames: EXDEV for merged dirs (redirect_dir=off), fine for upper-only dirs',
    layers: {
      lowers: [[dir('lowdir'), file('lowdir/f'), dir('emptylow'), file('file')]],
    },
    ops: [
      ['rename', 'lowdir', 'moved'], ['rename', 'emptylow', 'moved2'], ['mkdir', 'updir', 0o755], ['create', 'updir/f', 0o644],
      ['rename', 'updir', 'updir2'], ['rename', 'updir2', 'lowdir/inside'], ['rename', 'file', 'emptylow'], ['rename', 'emptylow', 'file'],
      ['mkdir', 'e2', 0o755], ['rename', 'e2', 'emptylow'], ['rename_exchange', 'lowdir/inside', 'emptylow'], ['rename_noreplace', 'lowdir', 'new'],
      ['rename', 'lowdir/f', 'lowdir/g'], ['listdir', '.'], ['listdir', 'lowdir'], ['listdir', 'emptylow'],
      // last, since fuse-overlayfs 1.10 gets it wrong (fuse-exchange-merged-dir) and everything after would be its after-effect
      ['rename_exchange', 'lowdir', 'emptylow'], ['create', 'upfile', 0o644], ['rename_exchange', 'upfile', 'lowdir'],
      ['listdir', '.'], ['listdir', 'lowdir'], ['lstat', 'upfile'], ['listdir', 'upfile'],
    ],
  },
  {
    name: 'hard links in a lower layer, copy-up of one name, new links to lower files',
    layers: {
      lowers: [[file('h1', 'linked'), hard('h2', 'h1'), dir('d'), hard('d/h3', 'h1'), file('solo', 'solo')]],
    },
    allow: ['lower-hardlinks'],
    ops: [
      ...STATS('h1', 'h2', 'd/h3'), ['append', 'h1', '+more'], ...READS('h1', 'h2', 'd/h3'), ...STATS('h1', 'h2', 'd/h3'),
      ['link', 'solo', 'solo2'], ['link', 'd/h3', 'd/h4'], ['append', 'solo2', '!'], ...READS('solo', 'solo2', 'd/h4'),
      ...STATS('solo', 'solo2', 'd/h4'), ['link', 'd', 'dlink'], ['link', 'solo', 'h1'],
    ],
  },
  {
    name: 'symlinks: readlink, follow, dangling, through-symlink copy-up, symlink to dir',
    layers: {
      lowers: [[file('t', 'target'), sym('rel', 't'), sym('abs', '/nonexistent/abs'), sym('dang', 'missing'), dir('dir'), file('dir/in', 'in'), sym('todir', 'dir'), sym('loop', 'loop')]],
    },
    ops: [
      ['readlink', 'rel'], ['readlink', 'abs'], ['readlink', 't'], ['stat', 'rel'], ['stat', 'dang'], ['stat', 'loop'],
      ['append', 'rel', '+via link'], ['read', 't'], ['chmod', 'rel', 0o600], ['lstat', 't'], ['lstat', 'rel'], ['listdir', 'todir'],
      ['create', 'todir/new', 0o644], ['listdir', 'dir'], ['create', 'dang', 0o644], ['lstat', 'missing'], ['symlink', 'dir/in', 'newlink'],
      ['read', 'newlink'], ['symlink', 'x', 'rel'], ['unlink', 'rel'], ['symlink', 'other', 'rel'], ['readlink', 'rel'], ['unlink', 'todir'],
      ['listdir', '.'],
    ],
  },
  {
    name: 'readdir merge: duplicates across layers, whiteouts in both forms, shadowing',
    layers: {
      lowers: [
        [file('dup', 'top'), wh('w-chr', 'chr'), wh('w-wh', 'wh'), dir('m'), file('m/top'), wh('m/w2', 'wh'), file('shadow-dir', 'file over dir'), dir('shadow-file')],
        [file('dup', 'mid'), file('w-chr'), file('w-wh'), dir('m'), file('m/mid'), file('m/w2'), file('m/dup2', 'mid'), file('only-mid'), wh('only-low', 'wh')],
        [file('dup', 'low'), dir('m'), file('m/low'), file('m/dup2', 'low'), dir('shadow-dir'), file('shadow-dir/hidden'), file('shadow-file', 'x'), file('only-low'), dir('w-wh'), file('w-wh/z')],
      ],
    },
    ops: [
      ['listdir', '.'], ['listdir', 'm'], ['listdir', 'shadow-file'], ['lstat', 'shadow-dir'], ['listdir', 'shadow-dir'], ['lstat', 'w-chr'],
      ['lstat', 'w-wh'], ['lstat', 'only-low'], ...READS('dup', 'm/dup2', 'only-mid'), ['lstat', 'm/w2'],
      ['create', 'w-wh', 0o644], ['listdir', '.'], ['unlink', 'only-mid'], ['unlink', 'dup'], ['listdir', '.'], ['read', 'dup'],
    ],
  },
  {
    name: 'opaque dirs in both forms, in lower layers and in the upper',
    layers: {
      lowers: [
        [dir('ox', { opaque: 'xattr' }), file('ox/top'), dir('ow', { opaque: 'whfile' }), file('ow/top'), dir('ob', { opaque: 'both' }), dir('plain'), file('plain/top')],
        [dir('ox'), file('ox/hidden'), dir('ow'), file('ow/hidden'), dir('ob'), file('ob/hidden'), dir('plain'), file('plain/mid'), dir('uo'), file('uo/hidden'), dir('uw'), file('uw/hidden')],
      ],
      upper: [dir('uo', { opaque: 'xattr' }), file('uo/up'), dir('uw', { opaque: 'whfile' })],
    },
    ops: [
      ['listdir', 'ox'], ['listdir', 'ow'], ['listdir', 'ob'], ['listdir', 'plain'], ['listdir', 'uo'], ['listdir', 'uw'],
      ['lstat', 'ox/hidden'], ['lstat', 'ow/hidden'], ['create', 'ow/new', 0o644], ['unlink', 'ow/top'], ['listdir', 'ow'],
      ['rmdir', 'uw'], ['rmdir', 'ob'], ['listdir', '.'], ['getxattr', 'ox', 'trusted.overlay.opaque'], ['listxattr', 'ox'],
    ],
  },
  {
    name: 'deep paths: copy-up of a whole parent chain (modes, owners, times kept)',
    layers: {
      lowers: [
        [dir('a', { mode: 0o751, uid: 7, gid: 8, mtime: mt(10) }), dir('a/b', { mode: 0o700, mtime: mt(11) }), dir('a/b/c/d/e/f/g/h'), file('a/b/c/d/e/f/g/h/leaf', 'leaf')],
        [file('a/b/c/d/e/f/g/h/lower-leaf', 'll'), dir('a/b/c/d/x', { xattrs: { 'user.deep': 'yes' } })],
      ],
    },
    ops: [
      ['append', 'a/b/c/d/e/f/g/h/leaf', '+'], ['mkdir', 'a/b/c/d/e/f/g/h/i', 0o755], ['create', 'a/b/c/d/e/f/g/h/i/j', 0o600],
      ['unlink', 'a/b/c/d/e/f/g/h/lower-leaf'], ['create', 'a/b/c/d/x/new', 0o644],
      ...STATS('a', 'a/b', 'a/b/c', 'a/b/c/d', 'a/b/c/d/e/f/g/h', 'a/b/c/d/x'), ['listdir', 'a/b/c/d/e/f/g/h'], ['listxattr', 'a/b/c/d/x'],
    ],
  },
  {
    name: 'open-unlink-read, fifos, O_EXCL, xattrs on dirs',
    layers: {
      lowers: [[file('lowfile', 'lower content'), fifo('lowfifo'), dir('d', { xattrs: { 'user.a': 'A' } })]],
      upper: [file('upfile', 'upper content')],
    },
    ops: [
      ['open_unlink_read', 'lowfile'], ['open_unlink_read', 'upfile'], ['lstat', 'lowfile'], ['lstat', 'upfile'],
      ['mkfifo', 'newfifo', 0o640], ['mkfifo', 'lowfifo', 0o640], ['lstat', 'newfifo'], ['lstat', 'lowfifo'], ['read', 'lowfifo'],
      ['write', 'lowfifo', 0, 'x'], ['chmod', 'lowfifo', 0o600], ['create_excl', 'excl', 0o600], ['create_excl', 'excl', 0o600],
      ['create_excl', 'd', 0o600], ['setxattr', 'd', 'user.b', 'B'], ['removexattr', 'd', 'user.a'], ['listxattr', 'd'],
      ['getxattr', 'd', 'user.a'], ['listdir', '.'],
    ],
  },
  {
    name: 'pre-existing upper with whiteouts in both forms over lower entries; recreate',
    layers: {
      lowers: [[file('a'), file('b'), dir('c'), file('c/x'), dir('e'), file('e/y'), file('keep')]],
      upper: [wh('a', 'chr'), wh('b', 'wh'), wh('c', 'wh'), dir('e'), wh('e/y', 'wh'), file('fresh')],
    },
    ops: [
      ['listdir', '.'], ['listdir', 'e'], ['lstat', 'a'], ['lstat', 'b'], ['lstat', 'c'], ['create', 'b', 0o644], ['append', 'b', 'new b'],
      ['mkdir', 'c', 0o755], ['listdir', 'c'], ['create', 'e/y', 0o644], ['listdir', 'e'], ['rmdir', 'e'], ['unlink', 'e/y'], ['rmdir', 'e'],
      ['listdir', '.'],
    ],
  },
  {
    name: 'names starting with .wh. (reserved by fuse-overlayfs)',
    layers: { lowers: [[file('plain')]] },
    allow: ['wh-prefix-names'],
    ops: [['create', '.wh.foo', 0o644], ['mkdir', '.wh.dir', 0o755], ['listdir', '.'], ['lstat', '.wh.foo']],
  },
  {
    name: 'writes through many layers: the topmost copy wins, lower copies stay untouched',
    layers: {
      lowers: [
        [file('x', 'L0'), dir('d', { mode: 0o700 })],
        [file('x', 'L1'), file('y', 'L1y'), file('d/f', 'L1f'), sym('d/s', '../y')],
        [file('x', 'L2'), file('y', 'L2y'), file('z', 'L2z', { mode: 0o4755 }), file('d/g', 'L2g')],
      ],
    },
    ops: [
      ['append', 'x', '+'], ['append', 'y', '+'], ['chmod', 'z', 0o755], ['append', 'd/g', '+'], ['read', 'd/s'], ['append', 'd/s', '++'],
      ...READS('x', 'y', 'z', 'd/f', 'd/g', 'd/s'), ...STATS('x', 'y', 'z', 'd', 'd/f', 'd/g', 'd/s'), ['listdir', 'd'],
    ],
  },
  {
    name: 'a non-directory between two same-named directories stops the merge; truncate to the current size',
    layers: {
      lowers: [
        [dir('m'), file('m/top'), file('t', 'same size')],
        [file('m', 'a file in the middle'), dir('n')],
        [dir('m'), file('m/hidden'), dir('n'), file('n/low')],
      ],
    },
    ops: [
      ['listdir', 'm'], ['lstat', 'm/hidden'], ['listdir', 'n'], ['create', 'm/new', 0o644], ['listdir', 'm'], ['rename', 'm', 'm2'],
      ['truncate', 't', 9], ['lstat', 't'], ['truncate', 't', 4], ['lstat', 't'],
    ],
  },
  {
    name: 'an upper dir over a lower non-directory is not merged with a dir further down',
    layers: {
      lowers: [
        [file('f', 'file over dir'), file('g', 'file over dir'), file('h/x')],
        [dir('f'), file('f/hidden'), dir('g'), file('g/hidden'), file('h', 'file below dir')],
      ],
      upper: [dir('f'), file('f/up')],
    },
    ops: [
      ['listdir', 'f'], ['lstat', 'f/hidden'], ['rename', 'f', 'f2'], ['unlink', 'g'], ['mkdir', 'g', 0o755], ['listdir', 'g'], ['lstat', 'g/hidden'],
      ['listdir', 'h'], ['listdir', '.'],
    ],
  },
  {
    name: 'renaming an opaque upper dir that covers a lower dir leaves a whiteout behind',
    layers: { lowers: [[dir('o'), file('o/low')]], upper: [dir('o', { opaque: 'xattr' }), file('o/up')] },
    ops: [['listdir', 'o'], ['rename', 'o', 'o2'], ['listdir', '.'], ['lstat', 'o'], ['listdir', 'o2']],
  },
];

// ---------------------------------------------------------------- randomized sequences

/** names the random ops pick from: few enough that they collide constantly */
const R_PATHS = ['a', 'b', 'x', 'd', 'd/a', 'd/b', 'd/e', 'd/e/a', 'f', 'f/a', 'f/b'];
const R_DIRS = ['d', 'd/e', 'f'];

function randomLayers(rnd: () => number): { lowers: Entry[][]; upper: Entry[] } {
  const pick = <T>(xs: T[]) => xs[Math.floor(rnd() * xs.length)];
  const layer = (density: number): Entry[] => {
    const out: Entry[] = [];
    const kinds = new Map<string, string>();
    const parentOk = (p: string): boolean => { const par = p.includes('/') ? p.slice(0, p.lastIndexOf('/')) : ''; return !par || kinds.get(par) === 'dir' || (!kinds.has(par) && parentOk(par)); };
    for (const p of R_PATHS) {
      if (rnd() > density || !parentOk(p)) continue;
      const k = R_DIRS.includes(p) && rnd() < 0.7 ? 'dir' : pick(['file', 'file', 'file', 'symlink', 'whiteout', 'whiteout', 'link', 'dir']);
      if (k === 'dir') {
        const r = rnd();
        out.push(dir(p, r < 0.1 ? { opaque: 'xattr' } : r < 0.2 ? { opaque: 'whfile' } : r < 0.3 ? { mode: 0o700 } : {}));
      } else if (k === 'file') {
        out.push(file(p, `${p}@${Math.floor(rnd() * 1000)}\n`, rnd() < 0.3 ? { xattrs: { 'user.a': 'x' } } : {}));
      } else if (k === 'symlink') {
        out.push(sym(p, pick(['a', 'b', 'd', '../a', 'd/e', 'missing', 'x'])));
      } else if (k === 'whiteout') {
        out.push(wh(p, rnd() < 0.5 ? 'chr' : 'wh'));
      } else {
        const files = out.filter((e) => e.t === 'file').map((e) => e.path);
        if (!files.length) continue;
        out.push(hard(p, pick(files)));
      }
      kinds.set(p, k);
    }
    return out;
  };
  return { lowers: [layer(0.5), layer(0.6)], upper: rnd() < 0.3 ? layer(0.2) : [] };
}

function randomOps(rnd: () => number, n: number): Op[] {
  const pick = <T>(xs: T[]) => xs[Math.floor(rnd() * xs.length)];
  const p = () => pick(R_PATHS);
  const text = () => pick(['', 'z', 'hello', 'ABCDEFGHIJ', '0123456789abcdef']);
  const gens: [number, () => Op][] = [
    [3, () => ['create', p(), pick([0o644, 0o600])]], [1, () => ['create_excl', p(), 0o644]],
    [4, () => ['write', p(), pick([0, 2, 5, 30]), text()]], [3, () => ['append', p(), text()]],
    [2, () => ['truncate', p(), pick([0, 3, 100])]], [1, () => ['open_trunc', p()]], [5, () => ['read', p()]],
    [3, () => ['lstat', p()]], [2, () => ['stat', p()]], [2, () => ['chmod', p(), pick([0o600, 0o755, 0o640])]],
    [1, () => ['chown', p(), pick([0, 1000]), pick([0, 100])]], [1, () => ['utime', p(), 1_600_000_000_000_000_000, 1_500_000_000_000_000_000]],
    [3, () => ['mkdir', p(), 0o755]], [3, () => ['rmdir', p()]], [4, () => ['unlink', p()]],
    [3, () => ['rename', p(), p()]], [1, () => ['rename_noreplace', p(), p()]], [1, () => ['rename_exchange', p(), p()]],
    [2, () => ['link', p(), p()]], [2, () => ['symlink', pick(['a', 'd', '../b', 'missing']), p()]], [1, () => ['readlink', p()]],
    [4, () => ['listdir', pick(['.', ...R_DIRS])]], [1, () => ['setxattr', p(), pick(['user.a', 'user.b']), text()]],
    [1, () => ['getxattr', p(), pick(['user.a', 'user.b'])]], [1, () => ['listxattr', p()]], [1, () => ['removexattr', p(), 'user.a']],
    [1, () => ['open_unlink_read', p()]], [1, () => ['mkfifo', p(), 0o644]],
  ];
  const total = gens.reduce((s, [w]) => s + w, 0);
  const ops: Op[] = [];
  for (let i = 0; i < n; i++) {
    let r = rnd() * total;
    for (const [w, g] of gens) { if ((r -= w) < 0) { ops.push(g()); break; } }
  }
  return ops;
}

export function randomScenario(seed: number, nOps: number): Scenario {
  const rnd = prng(seed * 7919 + 1);
  const layers = randomLayers(rnd);
  return { name: `random seed ${seed}`, layers, ops: randomOps(rnd, nOps) };
}

// ---------------------------------------------------------------- tests

function check(c: Comparison, s: Scenario, extra = ''): void {
  if (process.env.OVL_DUMP) console.log(`== ${s.name}\n${opLog(s, c)}`);
  if (VERBOSE && c.allowed.length) console.log(report(c, { allowed: true }));
  if (c.failures.length) {
    const first = c.failures.find((d) => d.where === 'op');
    const msg = [extra, report(c)];
    if (extra && first) msg.push(`op log up to the first mismatch (#${first.index}):`, opLog(s, c, first.index));
    else if (extra) msg.push('op log:', opLog(s, c));
    if (extra) msg.push(`layers: ${JSON.stringify(s.layers)}`);
    expect.fail(msg.filter(Boolean).join('\n'));
  }
}

afterAll(() => {
  if (!RULE_HITS.size) return;
  const lines = [...RULE_HITS].sort().map(([rule, names]) => `  ${rule}: ${names.length} scenario(s)${VERBOSE ? ` (${names.join('; ')})` : ''}`);
  console.log(`known divergences that were allowed (see KNOWN_DIVERGENCES in test/overlay-harness.ts):\n${lines.join('\n')}`);
});

describe(`overlay differential conformance (${IMPLS.join(' vs ')})`, () => {
  it('the harness knows its rules (every normalization and allow-list entry has a reason)', () => {
    for (const [name, why] of Object.entries(NORMALIZATIONS)) expect(why.length, name).toBeGreaterThan(20);
    for (const k of KNOWN_DIVERGENCES) expect(k.reason.length, k.name).toBeGreaterThan(20);
  });

  it('the comparison itself: forms normalize, real differences fail, allowed ones are named (synthetic results, no mounts)', () => {
    const now = String(BigInt(Date.now()) * 1_000_000n);
    const st = (path: string, type: string, extra: Partial<RawEntry> = {}): RawEntry => ({ path, type, mode: '0o755', uid: 0, gid: 0, nlink: 1, size: 0, mtime: '1000000000000000000', ino: 1, ...extra });
    const s: Scenario = { name: 'synthetic (self-check)', layers: { lowers: [[dir('d'), file('d/x'), file('y')]] }, ops: [['read', 'y'], ['lstat', 'd']] };
    const kernel: RunResult = {
      impl: 'kernel',
      results: [{ ok: { len: 1, sha256: 'aa' } }, { ok: { type: 'd', mode: '0o755', uid: 0, gid: 0, nlink: 1, size: 4096, mtime: '1000000000000000000', ino: 5 } }],
      merged: [st('.', 'd'), st('d', 'd', { nlink: 1 })],
      upper: [st('.', 'd'), st('d', 'd', { xattrs: { 'trusted.overlay.opaque': 'y', 'trusted.overlay.impure': 'y' } }), st('d/x', 'c', { rdev: [0, 0], nlink: 3 }), st('y', 'c', { rdev: [0, 0] })],
    };
    const same: RunResult = {
      impl: 'fuse-overlayfs',
      results: [{ ok: { len: 1, sha256: 'aa' } }, { ok: { type: 'd', mode: '0o755', uid: 0, gid: 0, nlink: 3, size: 4096, mtime: '1000000000000000000', ino: 9 } }],
      merged: [st('.', 'd', { ino: 7 }), st('d', 'd', { nlink: 4 })],
      upper: [st('.', 'd'), st('d', 'd', { xattrs: { 'trusted.overlay.opaque': 'y', 'user.fuseoverlayfs.origin': 'd' } }), st('d/.wh..wh..opq', '-'),
        st('d/.wh..opq', 'c', { rdev: [0, 0] }), st('.wh.y', '-', { mode: '0o644' })],
    };
    // d/x: a whiteout inside an opaque dir hides nothing; y: .wh.y file == char 0/0
    expect(compare(s, [kernel, same]).failures).toEqual([]);
    const dirNow = structuredClone(same);
    (dirNow.results[1] as { ok: { mtime: string } }).ok.mtime = now;
    const c1 = compare(s, [kernel, dirNow]);
    expect(c1.failures).toEqual([]);
    expect(c1.allowed.map((d) => d.allowed)).toEqual(['copyup-dir-mtime']);
    const wrong = structuredClone(same);
    wrong.results[0] = { err: 'ENOENT' };
    wrong.upper = wrong.upper.filter((e) => e.path !== '.wh.y');
    const c2 = compare(s, [kernel, wrong]);
    expect(c2.failures.map((d) => `${d.where}:${d.index ?? d.path}`)).toEqual(['op:0', 'upper:y']);
    expect(report(c2)).toContain('op #0 ["read","y"]');
  });

  describe('scripted scenarios', () => {
    for (const s of SCENARIOS) {
      it(s.name, () => check(runScenario(s, IMPLS), s), 60_000);
    }
  });

  describe('randomized sequences', () => {
    const nOps = Number(process.env.OVL_OPS ?? 40);
    const seeds = process.env.OVL_SEED
      ? process.env.OVL_SEED.split(',').map(Number)
      : Array.from({ length: Number(process.env.OVL_SEEDS ?? 20) }, (_, i) => i + Number(process.env.OVL_SEED_FROM ?? 1));
    for (const seed of seeds) {
      it(`seed ${seed} (${nOps} ops)`, () => {
        const s = randomScenario(seed, nOps);
        check(runScenario(s, IMPLS), s, `seed ${seed}: reproduce with OVL_SEED=${seed} OVL_OPS=${nOps} OVL_IMPLS=${IMPLS.join(',')}`);
      }, 60_000);
    }
  });
});

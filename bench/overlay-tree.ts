/**
 * The overlay benchmark's lower layer: a deterministic, container-image-like
 * tree generated once into bench/.build/ovl-lower (ovl-lower-quick for
 * --quick), plus the tarball the untar workload extracts.
 *
 * Shape (full; --quick has 10 files per leaf instead of 50 and a 256 MiB big file):
 *
 *   d0..d5/sS/tT/fNNN       6 × 10 × 10 leaf dirs × 50 files = 30,000 files,
 *                           3 levels deep; in even tT the second half of the
 *                           files sit one level deeper (tT/u/) → 4 levels
 *   d0/sS/t1/link*         a few symlinks (relative), d0/sS/t1/hardlink (hard links)
 *   big/blob.bin            the 1 GiB file
 *
 * Sizes (seeded PRNG): ~90 % 0–16 KiB (some empty), ~9 % 16–100 KiB, ~1 % 100 KiB–2 MiB.
 * Workload sets: d5 = the rm -rf subtree (5k files); d1/s0..s3 = the 2000
 * files of copy-up / chmod / chown / rename, all ≤ 16 KiB; d2 + d3 = the
 * 10k files in the untar tarball.
 */
import * as fs from 'node:fs';
import { basename, join } from 'node:path';
import { BUILD, must } from './lib.js';
import { prng } from '../test/prng.js';

export interface TreeSpec {
  quick: boolean;
  filesPerLeaf: number;
  bigBytes: number;
}

export interface Tree {
  spec: TreeSpec;
  /** the lower directory */
  dir: string;
  /** entries find lists from the root (root included) */
  entries: number;
  files: number;
  symlinks: number;
  hardlinks: number;
  /** bytes of all regular files (hard links once) */
  bytes: number;
  /** lower-relative paths of the copy-up / chmod / chown / rename set, with their sizes */
  opsSet: { path: string; size: number }[];
  /** the subtree rm -rf removes, and its file count */
  rmDir: string;
  rmFiles: number;
  /** untar: tarball path, files and entries in it */
  tarball: string;
  tarFiles: number;
  tarEntries: number;
  bigPath: string;
}

export const TREE_VERSION = 1;

export function treeSpec(quick: boolean): TreeSpec {
  return quick ? { quick, filesPerLeaf: 10, bigBytes: 256 << 20 } : { quick, filesPerLeaf: 50, bigBytes: 1 << 30 };
}


const TOPS = 6, SUBS = 10, LEAVES = 10;

function fileSize(rand: () => number, forceSmall: boolean): number {
  const r = rand();
  if (forceSmall || r < 0.90) return rand() < 0.03 ? 0 : Math.floor(rand() * 16384) + 1;
  if (r < 0.99) return 16384 + Math.floor(rand() * (100 * 1024 - 16384));
  return 100 * 1024 + Math.floor(rand() * (2048 * 1024 - 100 * 1024));
}

/** Ensures the tree (and tarball) exist; returns its description. */
export async function ensureTree(quick: boolean, log: (l: string) => void): Promise<Tree> {
  const spec = treeSpec(quick);
  const name = quick ? 'ovl-lower-quick' : 'ovl-lower';
  const dir = join(BUILD, name);
  const manifest = join(BUILD, `${name}.json`);
  try {
    const m = JSON.parse(fs.readFileSync(manifest, 'utf8'));
    if (m.version === TREE_VERSION && m.tree.spec.filesPerLeaf === spec.filesPerLeaf && m.tree.spec.bigBytes === spec.bigBytes
      && fs.existsSync(m.tree.tarball) && fs.existsSync(join(dir, m.tree.bigPath))) return m.tree as Tree;
  } catch { /* (re)generate */ }

  log(`generating the lower tree ${dir} (${TOPS * SUBS * LEAVES * spec.filesPerLeaf} files + ${spec.bigBytes >> 20} MiB file; once)`);
  fs.rmSync(manifest, { force: true });
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const rand = prng(0x0f5e1);
  const pool = Buffer.alloc(4 << 20);
  for (let i = 0; i < pool.length; i += 4) pool.writeUInt32LE((rand() * 4294967296) >>> 0, i);

  let files = 0, symlinks = 0, hardlinks = 0, bytes = 0, dirs = 1;
  const opsSet: { path: string; size: number }[] = [];
  for (let d = 0; d < TOPS; d++) {
    fs.mkdirSync(join(dir, `d${d}`)); dirs++;
    for (let s = 0; s < SUBS; s++) {
      fs.mkdirSync(join(dir, `d${d}`, `s${s}`)); dirs++;
      for (let t = 0; t < LEAVES; t++) {
        const leaf = `d${d}/s${s}/t${t}`;
        fs.mkdirSync(join(dir, leaf)); dirs++;
        const deep = t % 2 === 0;
        if (deep) { fs.mkdirSync(join(dir, leaf, 'u')); dirs++; }
        const inOps = d === 1 && s < 4;
        for (let f = 0; f < spec.filesPerLeaf; f++) {
          const rel = deep && f >= spec.filesPerLeaf / 2 ? `${leaf}/u/f${String(f).padStart(3, '0')}` : `${leaf}/f${String(f).padStart(3, '0')}`;
          const size = fileSize(rand, inOps);
          const off = Math.floor(rand() * (pool.length - size));
          const mode = rand() < 0.05 ? 0o755 : 0o644;
          fs.writeFileSync(join(dir, rel), pool.subarray(off, off + size), { mode });
          files++; bytes += size;
          if (inOps) opsSet.push({ path: rel, size });
        }
        if (d === 0 && t === 1) {
          fs.symlinkSync('f000', join(dir, leaf, 'link'));
          fs.symlinkSync('../t0/f001', join(dir, leaf, 'link-up'));
          symlinks += 2;
          fs.linkSync(join(dir, `d${d}/s${s}/t0/f002`), join(dir, leaf, 'hardlink'));
          hardlinks++;
        }
      }
    }
  }
  // the big file: no two MiB alike
  fs.mkdirSync(join(dir, 'big')); dirs++;
  const bigPath = 'big/blob.bin';
  const fd = fs.openSync(join(dir, bigPath), 'w', 0o644);
  const chunk = Buffer.alloc(1 << 20);
  for (let off = 0; off < spec.bigBytes; off += chunk.length) {
    pool.copy(chunk, 0, (off >>> 20) * 4096 % (pool.length - chunk.length));
    chunk.writeUInt32LE(off >>> 20, 0);
    fs.writeSync(fd, chunk, 0, Math.min(chunk.length, spec.bigBytes - off));
  }
  fs.fsyncSync(fd);
  fs.closeSync(fd);
  files++; bytes += spec.bigBytes;

  // untar source: d2 + d3
  const tarball = join(BUILD, `${name}-untar.tar`);
  await must('tar', ['-C', dir, '-cf', tarball, 'd2', 'd3'], { timeoutMs: 300_000 });
  const listed = await must('tar', ['-tf', tarball], { timeoutMs: 60_000 });
  const tarEntries = listed.stdout.split('\n').filter(Boolean).length;
  const tarFiles = listed.stdout.split('\n').filter((l) => l && !l.endsWith('/')).length;
  await must('sync', [], { timeoutMs: 300_000 });

  const tree: Tree = {
    spec, dir, entries: dirs + files + symlinks + hardlinks, files, symlinks, hardlinks, bytes,
    opsSet, rmDir: 'd5', rmFiles: SUBS * LEAVES * spec.filesPerLeaf, tarball, tarFiles, tarEntries, bigPath,
  };
  // cross-check the entry count against find
  const found = (await must('find', [dir], { timeoutMs: 120_000 })).stdout.split('\n').filter(Boolean).length;
  if (found !== tree.entries) throw new Error(`generated tree has ${found} entries, expected ${tree.entries}`);
  fs.writeFileSync(manifest, JSON.stringify({ version: TREE_VERSION, tree }, null, 1) + '\n');
  log(`lower tree: ${files} files (${(bytes / 2 ** 20).toFixed(0)} MiB), ${dirs} dirs, ${symlinks} symlinks, ${hardlinks} hard links; untar tarball ${tarFiles} files`);
  return tree;
}

/** The lower tree as one tar (pax, all xattrs) beside it, made once: the tar plugin's layer. */
export async function layerTar(tree: Tree, log: (l: string) => void): Promise<string> {
  const file = `${tree.dir}.layer.tar`;
  const manifest = join(BUILD, `${basename(tree.dir)}.json`);
  if (fs.existsSync(file) && (!fs.existsSync(manifest) || fs.statSync(file).mtimeMs >= fs.statSync(manifest).mtimeMs)) return file;
  log(`packing the lower tree into ${file} (once)`);
  await must('tar', ['--format=posix', '--xattrs', '--xattrs-include=*', '-C', tree.dir, '-cf', `${file}.tmp`, '.'], { timeoutMs: 900_000 });
  fs.renameSync(`${file}.tmp`, file);
  return file;
}

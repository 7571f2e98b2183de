/**
 * The plain-directory layer: every lower dir and the upper. The layer root
 * is opened once (O_PATH|O_DIRECTORY) when the mount starts and everything
 * afterwards goes through /proc/self/fd/N/…, so a lower that was an
 * id-mapped mount detached right after we started (containers-storage does
 * that) keeps working, and nothing is ever resolved against the host's
 * paths again. Final components are never followed (lstat, readlink,
 * l*xattr, O_NOFOLLOW); the overlay only builds paths through components
 * it has seen as real directories.
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import { FuseError } from '../fuse/errors.js';
import { shim, type Shim } from '../fuse/native.js';
import type { Layer, LayerDirent, LayerStat, UpperLayer } from './types.js';

const O_PATH = 0o10000000;
const O_NOFOLLOW = fs.constants.O_NOFOLLOW;
const BIG = { bigint: true } as const;
const ENODATA = 61, ENOTSUP = 95, ERANGE = 34;

export function toLayerStat(st: fs.BigIntStats): LayerStat {
  return {
    mode: Number(st.mode), uid: Number(st.uid), gid: Number(st.gid), nlink: Number(st.nlink), ino: Number(st.ino),
    dev: Number(st.dev), rdev: Number(st.rdev), size: Number(st.size), blocks: Number(st.blocks), blksize: Number(st.blksize),
    atimeNs: st.atimeNs, mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs, birthtimeNs: st.birthtimeNs,
  };
}

function dirent(d: fs.Dirent): number {
  if (d.isFile()) return 8;
  if (d.isDirectory()) return 4;
  if (d.isSymbolicLink()) return 10;
  if (d.isCharacterDevice()) return 2;
  if (d.isBlockDevice()) return 6;
  if (d.isFIFO()) return 1;
  if (d.isSocket()) return 12;
  return 0;
}

export class DirectoryLayer implements Layer {
  readonly name: string;
  readonly dev: number;
  protected readonly rootFd: number;
  protected readonly base: string;
  protected readonly native: Shim;

  /** Opens the layer root; throws a one-line error naming the directory when it is unusable. */
  constructor(dir: string) {
    this.name = dir;
    let st: fs.Stats;
    try {
      st = fs.statSync(dir);
    } catch (e) {
      throw new Error(`layer ${dir}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : (e as Error).message}`);
    }
    if (!st.isDirectory()) throw new Error(`layer ${dir}: not a directory`);
    this.rootFd = fs.openSync(dir, O_PATH | fs.constants.O_DIRECTORY);
    this.base = `/proc/self/fd/${this.rootFd}`;
    this.dev = st.dev;
    this.native = shim();
  }

  /** The host path of a layer path (through the root fd). */
  hostPath(path: string): string {
    return path ? `${this.base}/${path}` : `${this.base}/.`;
  }

  stat(path: string): LayerStat | null {
    try {
      return toLayerStat(fs.lstatSync(this.hostPath(path), BIG));
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'ENAMETOOLONG') return null;
      throw e;
    }
  }

  readdir(path: string): LayerDirent[] {
    return fs.readdirSync(this.hostPath(path), { withFileTypes: true }).map((d) => ({ name: d.name, type: dirent(d) }));
  }

  readlink(path: string): Buffer {
    return fs.readlinkSync(this.hostPath(path), { encoding: 'buffer' });
  }

  getxattr(path: string, name: string): Buffer | null {
    const p = this.hostPath(path);
    for (;;) {
      const size = this.native.lgetxattr(p, name, Buffer.alloc(0));
      if (size === -ENODATA || size === -ENOTSUP) return null;
      if (size < 0) throw new FuseError(-size);
      const buf = Buffer.allocUnsafe(size);
      const n = this.native.lgetxattr(p, name, buf);
      if (n === -ERANGE) continue;
      if (n === -ENODATA) return null;
      if (n < 0) throw new FuseError(-n);
      return buf.subarray(0, n);
    }
  }

  listxattr(path: string): string[] {
    const p = this.hostPath(path);
    for (;;) {
      const size = this.native.llistxattr(p, Buffer.alloc(0));
      if (size === -ENOTSUP) return [];
      if (size < 0) throw new FuseError(-size);
      const buf = Buffer.allocUnsafe(size);
      const n = this.native.llistxattr(p, buf);
      if (n === -ERANGE) continue;
      if (n < 0) throw new FuseError(-n);
      return buf.toString('utf8', 0, n).split('\0').filter(Boolean);
    }
  }

  open(path: string, flags: number): number {
    return fs.openSync(this.hostPath(path), flags | O_NOFOLLOW);
  }

  close(): void {
    try { fs.closeSync(this.rootFd); } catch { /* closed */ }
  }
}

/** The upper layer: a directory layer plus the workdir used for atomic copy-up. */
export class DirectoryUpperLayer extends DirectoryLayer implements UpperLayer {
  readonly canMknod: boolean;
  private readonly work: string;
  private counter = 0;

  constructor(upper: string, workdir: string) {
    super(upper);
    let wst: fs.Stats;
    try { wst = fs.statSync(workdir); } catch { throw new Error(`workdir ${workdir}: does not exist`); }
    if (!wst.isDirectory()) throw new Error(`workdir ${workdir}: not a directory`);
    if (wst.dev !== this.dev) throw new Error(`workdir ${workdir} and upperdir ${upper} must be on the same filesystem`);
    // like fuse-overlayfs: WORKDIR/work, emptied at every mount
    const work = join(workdir, 'work');
    fs.mkdirSync(work, { recursive: true, mode: 0o700 });
    for (const n of fs.readdirSync(work)) fs.rmSync(join(work, n), { recursive: true, force: true });
    const fd = fs.openSync(work, O_PATH | fs.constants.O_DIRECTORY);
    this.work = `/proc/self/fd/${fd}`;
    this.canMknod = this.probeMknod();
  }

  private probeMknod(): boolean {
    const p = this.tempPath();
    const r = this.native.mknod(p, 0o020000, 0);
    if (r < 0) return false;
    fs.unlinkSync(p);
    return true;
  }

  tempPath(): string {
    return `${this.work}/#${(this.counter++).toString(16)}`;
  }
}

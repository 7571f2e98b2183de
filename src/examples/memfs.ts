/**
 * An in-memory filesystem on the FileSystem API: files, directories,
 * symlinks, hard links, device nodes, fifos, xattrs, rename flags. A test
 * subject and a reference for people implementing the interface.
 */
import { RENAME_EXCHANGE, RENAME_NOREPLACE, ROOT_ID, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG } from '../fuse/abi.js';
import type { FileSystem, SetattrArgs } from '../fuse/api.js';
import { dtype, nowTime } from '../fuse/attr.js';
import { direntsThatFit } from '../fuse/codec.js';
import { FuseError } from '../fuse/errors.js';
import type { Attr, Context, DirEntry, DirEntryPlus, Entry, Statfs } from '../fuse/types.js';

/**
 * A directory's entries (name → inode) that also gives each name a cookie
 * when it is added: a per-directory counter, so cookies only grow and an
 * entry keeps its cookie until it is removed. Readdir offsets are cookies,
 * so removing or adding other names while a directory is being read never
 * skips or repeats an entry (POSIX; `for e in scandir(): unlink(e)`).
 * Iteration order is insertion order, i.e. cookie order.
 */
class DirMap extends Map<string, number> {
  readonly cookies = new Map<string, number>();
  private next = 3; // 1 and 2 are "." and ".."

  override set(name: string, ino: number): this {
    if (!this.cookies.has(name)) this.cookies.set(name, this.next++);
    return super.set(name, ino);
  }

  override delete(name: string): boolean {
    this.cookies.delete(name);
    return super.delete(name);
  }
}

interface Node {
  ino: number;
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  rdev: number;
  data: Buffer;
  size: number;
  target: string;
  children: DirMap | null;
  parent: number;
  xattrs: Map<string, Buffer>;
  atime: [number, number];
  mtime: [number, number];
  ctime: [number, number];
  nlookup: number;
  opens: number;
}

const TTL = 1;
const XATTR_CREATE = 1, XATTR_REPLACE = 2;
const SEEK_DATA = 3, SEEK_HOLE = 4;
const FALLOC_FL_KEEP_SIZE = 1, FALLOC_FL_PUNCH_HOLE = 2, FALLOC_FL_ZERO_RANGE = 0x10;
const NAME_MAX = 255;

/** Names longer than NAME_MAX can exist nowhere (the kernel passes up to 1024 bytes to FUSE). */
function checkName(name: string): void {
  if (Buffer.byteLength(name) > NAME_MAX) throw new FuseError('ENAMETOOLONG');
}

export class MemFS implements FileSystem {
  private nodes = new Map<number, Node>();
  private nextIno = ROOT_ID + 1;
  private nextFh = 1;

  constructor(uid = process.getuid?.() ?? 0, gid = process.getgid?.() ?? 0) {
    const root = this.newNode(S_IFDIR | 0o755, uid, gid);
    root.ino = ROOT_ID;
    this.nodes.delete(root.ino);
    this.nextIno = ROOT_ID + 1;
    root.ino = ROOT_ID;
    root.parent = ROOT_ID;
    root.nlink = 2;
    this.nodes.set(ROOT_ID, root);
  }

  private newNode(mode: number, uid: number, gid: number): Node {
    const t = nowTime();
    const n: Node = {
      ino: this.nextIno++, mode, uid, gid, nlink: 1, rdev: 0, data: Buffer.alloc(0), size: 0, target: '',
      children: (mode & S_IFMT) === S_IFDIR ? new DirMap() : null, parent: 0, xattrs: new Map(),
      atime: t, mtime: t, ctime: t, nlookup: 0, opens: 0,
    };
    this.nodes.set(n.ino, n);
    return n;
  }

  private node(ino: number): Node {
    const n = this.nodes.get(ino);
    if (!n) throw new FuseError('ENOENT', `no inode ${ino}`);
    return n;
  }

  private dir(ino: number): Node {
    const n = this.node(ino);
    if (!n.children) throw new FuseError('ENOTDIR');
    return n;
  }

  private attr(n: Node): Attr {
    const size = (n.mode & S_IFMT) === S_IFLNK ? Buffer.byteLength(n.target) : n.children ? 4096 : n.size;
    return {
      ino: n.ino, size, blocks: Math.ceil(size / 512), atime: n.atime[0], atimensec: n.atime[1],
      mtime: n.mtime[0], mtimensec: n.mtime[1], ctime: n.ctime[0], ctimensec: n.ctime[1],
      mode: n.mode, nlink: n.nlink, uid: n.uid, gid: n.gid, rdev: n.rdev, blksize: 4096,
    };
  }

  private entry(n: Node): Entry {
    n.nlookup++;
    return { nodeid: n.ino, entryValid: TTL, attrValid: TTL, attr: this.attr(n) };
  }

  private touch(n: Node, m = true): void {
    const t = nowTime();
    n.ctime = t;
    if (m) n.mtime = t;
  }

  private maybeFree(n: Node): void {
    if (n.nlink === 0 && n.nlookup === 0 && n.opens === 0 && n.ino !== ROOT_ID) this.nodes.delete(n.ino);
  }

  lookup(_c: Context, parent: number, name: string): Entry {
    const d = this.dir(parent);
    checkName(name);
    const ino = name === '.' ? d.ino : name === '..' ? d.parent : d.children!.get(name);
    if (ino === undefined) throw new FuseError('ENOENT');
    return this.entry(this.node(ino));
  }

  forget(ino: number, nlookup: number): void {
    const n = this.nodes.get(ino);
    if (!n) return;
    n.nlookup = Math.max(0, n.nlookup - nlookup);
    this.maybeFree(n);
  }

  getattr(_c: Context, ino: number) {
    return { attr: this.attr(this.node(ino)), attrValid: TTL };
  }

  setattr(_c: Context, ino: number, a: SetattrArgs) {
    const n = this.node(ino);
    if (a.valid & 1) n.mode = (n.mode & S_IFMT) | (a.mode & 0o7777);
    if (a.valid & 2) n.uid = a.uid;
    if (a.valid & 4) n.gid = a.gid;
    if (a.valid & 8) this.resize(n, a.size);
    const now = nowTime();
    if (a.valid & 128) n.atime = now; else if (a.valid & 16) n.atime = [a.atime, a.atimensec];
    if (a.valid & 256) n.mtime = now; else if (a.valid & 32) n.mtime = [a.mtime, a.mtimensec];
    n.ctime = a.valid & 1024 ? [a.ctime, a.ctimensec] : now;
    return { attr: this.attr(n), attrValid: TTL };
  }

  private resize(n: Node, size: number): void {
    if (n.children) throw new FuseError('EISDIR');
    if (size > n.data.length) {
      const grown = Buffer.alloc(Math.max(size, n.data.length * 2));
      n.data.copy(grown, 0, 0, n.size);
      n.data = grown;
    } else if (size < n.size) {
      n.data.fill(0, size, n.size);
    }
    n.size = size;
    this.touch(n);
  }

  readlink(_c: Context, ino: number): string {
    const n = this.node(ino);
    if ((n.mode & S_IFMT) !== S_IFLNK) throw new FuseError('EINVAL');
    return n.target;
  }

  private add(c: Context, parent: number, name: string, mode: number): Node {
    const d = this.dir(parent);
    checkName(name);
    if (d.children!.has(name)) throw new FuseError('EEXIST');
    const gid = d.mode & 0o2000 ? d.gid : c.gid;
    const n = this.newNode(mode, c.uid, gid);
    if (n.children && d.mode & 0o2000) n.mode |= 0o2000;
    n.parent = d.ino;
    d.children!.set(name, n.ino);
    if (n.children) { n.nlink = 2; d.nlink++; }
    this.touch(d);
    return n;
  }

  mknod(c: Context, parent: number, name: string, mode: number, rdev: number): Entry {
    const n = this.add(c, parent, name, mode);
    n.rdev = rdev;
    return this.entry(n);
  }

  mkdir(c: Context, parent: number, name: string, mode: number): Entry {
    return this.entry(this.add(c, parent, name, S_IFDIR | (mode & 0o7777)));
  }

  symlink(c: Context, parent: number, name: string, target: string): Entry {
    const n = this.add(c, parent, name, S_IFLNK | 0o777);
    n.target = target;
    return this.entry(n);
  }

  link(_c: Context, ino: number, newparent: number, newname: string): Entry {
    const n = this.node(ino);
    if (n.children) throw new FuseError('EPERM');
    const d = this.dir(newparent);
    checkName(newname);
    if (d.children!.has(newname)) throw new FuseError('EEXIST');
    d.children!.set(newname, n.ino);
    n.nlink++;
    this.touch(n, false);
    this.touch(d);
    return this.entry(n);
  }

  unlink(_c: Context, parent: number, name: string): void {
    const d = this.dir(parent);
    const ino = d.children!.get(name);
    if (ino === undefined) throw new FuseError('ENOENT');
    const n = this.node(ino);
    if (n.children) throw new FuseError('EISDIR');
    d.children!.delete(name);
    n.nlink--;
    this.touch(n, false);
    this.touch(d);
    this.maybeFree(n);
  }

  rmdir(_c: Context, parent: number, name: string): void {
    const d = this.dir(parent);
    const ino = d.children!.get(name);
    if (ino === undefined) throw new FuseError('ENOENT');
    const n = this.node(ino);
    if (!n.children) throw new FuseError('ENOTDIR');
    if (n.children.size) throw new FuseError('ENOTEMPTY');
    d.children!.delete(name);
    d.nlink--;
    n.nlink = 0;
    this.touch(d);
    this.maybeFree(n);
  }

  rename(_c: Context, parent: number, name: string, newparent: number, newname: string, flags: number): void {
    const from = this.dir(parent), to = this.dir(newparent);
    const ino = from.children!.get(name);
    if (ino === undefined) throw new FuseError('ENOENT');
    const n = this.node(ino);
    checkName(newname);
    const existing = to.children!.get(newname);
    if (flags & RENAME_NOREPLACE && existing !== undefined) throw new FuseError('EEXIST');
    if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE)) throw new FuseError('EINVAL');
    if (n.children && this.isAncestor(n.ino, to.ino)) throw new FuseError('EINVAL');
    if (flags & RENAME_EXCHANGE) {
      if (existing === undefined) throw new FuseError('ENOENT');
      const m = this.node(existing);
      if (m.children && this.isAncestor(m.ino, from.ino)) throw new FuseError('EINVAL');
      from.children!.set(name, existing);
      to.children!.set(newname, ino);
      if (n.children) n.parent = to.ino;
      if (m.children) m.parent = from.ino;
      if (!!n.children !== !!m.children) {
        const delta = n.children ? 1 : -1;
        to.nlink += delta; from.nlink -= delta;
      }
      this.touch(from); this.touch(to);
      return;
    }
    if (existing === ino) return;
    if (existing !== undefined) {
      const m = this.node(existing);
      if (m.children) {
        if (!n.children) throw new FuseError('EISDIR');
        if (m.children.size) throw new FuseError('ENOTEMPTY');
        to.nlink--;
        m.nlink = 0;
      } else {
        if (n.children) throw new FuseError('ENOTDIR');
        m.nlink--;
      }
      this.maybeFree(m);
    }
    from.children!.delete(name);
    to.children!.set(newname, ino);
    if (n.children) { n.parent = to.ino; from.nlink--; to.nlink++; }
    this.touch(n, false);
    this.touch(from);
    this.touch(to);
  }

  private isAncestor(anc: number, ino: number): boolean {
    for (let i = ino; ; ) {
      if (i === anc) return true;
      if (i === ROOT_ID) return false;
      i = this.node(i).parent;
    }
  }

  open(_c: Context, ino: number, flags: number) {
    const n = this.node(ino);
    if (n.children) throw new FuseError('EISDIR');
    if (flags & 0o1000 && (flags & 3) !== 0) this.resize(n, 0); // O_TRUNC (ATOMIC_O_TRUNC)
    n.opens++;
    return { fh: this.nextFh++ };
  }

  create(c: Context, parent: number, name: string, mode: number, flags: number) {
    const d = this.dir(parent);
    const existing = d.children!.get(name);
    if (existing !== undefined) {
      if (flags & 0o200) throw new FuseError('EEXIST');
      const n = this.node(existing);
      return { entry: this.entry(n), open: this.open(c, n.ino, flags) };
    }
    const n = this.add(c, parent, name, S_IFREG | (mode & 0o7777));
    n.opens++;
    return { entry: this.entry(n), open: { fh: this.nextFh++ } };
  }

  read(_c: Context, ino: number, _fh: number, offset: number, size: number): Buffer {
    const n = this.node(ino);
    if (offset >= n.size) return Buffer.alloc(0);
    return n.data.subarray(offset, Math.min(n.size, offset + size));
  }

  write(_c: Context, ino: number, _fh: number, offset: number, data: Buffer): number {
    const n = this.node(ino);
    const end = offset + data.length;
    if (end > n.data.length) {
      const grown = Buffer.alloc(Math.max(end, n.data.length * 2, 4096));
      n.data.copy(grown, 0, 0, n.size);
      n.data = grown;
    }
    data.copy(n.data, offset);
    if (end > n.size) n.size = end;
    this.touch(n);
    return data.length;
  }

  release(_c: Context, ino: number): void {
    const n = this.nodes.get(ino);
    if (!n) return;
    n.opens--;
    this.maybeFree(n);
  }

  flush(): void {}
  fsync(): void {}
  fsyncdir(): void {}

  opendir(_c: Context, ino: number) {
    this.dir(ino);
    return { fh: this.nextFh++ };
  }

  /** Entries after cookie `offset`, each with its own cookie (see DirMap): stable under concurrent changes. */
  private listing(ino: number, offset: number): { name: string; ino: number; off: number }[] {
    const d = this.dir(ino);
    const out: { name: string; ino: number; off: number }[] = [];
    if (offset < 1) out.push({ name: '.', ino: d.ino, off: 1 });
    if (offset < 2) out.push({ name: '..', ino: d.parent, off: 2 });
    const cookies = d.children!.cookies;
    for (const [name, i] of d.children!) {
      const off = cookies.get(name)!;
      if (off > offset) out.push({ name, ino: i, off });
    }
    return out;
  }

  readdir(_c: Context, ino: number, _fh: number, offset: number): DirEntry[] {
    return this.listing(ino, offset).map((e) => ({
      ino: e.ino, off: e.off, type: dtype(this.node(e.ino).mode), name: e.name,
    }));
  }

  readdirplus(_c: Context, ino: number, _fh: number, offset: number, size: number): DirEntryPlus[] {
    const out: DirEntryPlus[] = [];
    const list = this.listing(ino, offset);
    for (const e of list.slice(0, direntsThatFit(list, 0, size, true))) {
      const n = this.node(e.ino);
      const entry = e.name === '.' || e.name === '..'
        ? { nodeid: 0, entryValid: 0, attrValid: 0, attr: this.attr(n) }
        : this.entry(n);
      out.push({ ino: n.ino, off: e.off, type: dtype(n.mode), name: e.name, entry });
    }
    return out;
  }

  statfs(): Statfs {
    let bytes = 0;
    for (const n of this.nodes.values()) bytes += n.data.length;
    const blocks = 1 << 20;
    return { blocks, bfree: blocks - Math.ceil(bytes / 4096), bavail: blocks - Math.ceil(bytes / 4096), files: 1 << 20, ffree: (1 << 20) - this.nodes.size, bsize: 4096, namelen: 255, frsize: 4096 };
  }

  setxattr(_c: Context, ino: number, name: string, value: Buffer, flags: number): void {
    const n = this.node(ino);
    // Without FUSE_POSIX_ACL the kernel hands ACLs to the filesystem, which
    // must then keep the mode in step and enforce them. memfs does neither,
    // so it says "no ACLs here" (like tmpfs without ACL support): cp -a, tar
    // and rsync then fall back to chmod instead of storing an inert ACL that
    // leaves the mode wrong.
    if (name === 'system.posix_acl_access' || name === 'system.posix_acl_default') throw new FuseError('EOPNOTSUPP');
    if (flags & XATTR_CREATE && n.xattrs.has(name)) throw new FuseError('EEXIST');
    if (flags & XATTR_REPLACE && !n.xattrs.has(name)) throw new FuseError('ENODATA');
    n.xattrs.set(name, Buffer.from(value));
    this.touch(n, false);
  }

  getxattr(_c: Context, ino: number, name: string): Buffer {
    const v = this.node(ino).xattrs.get(name);
    if (!v) throw new FuseError('ENODATA');
    return v;
  }

  listxattr(_c: Context, ino: number): string[] {
    return [...this.node(ino).xattrs.keys()];
  }

  removexattr(_c: Context, ino: number, name: string): void {
    const n = this.node(ino);
    if (!n.xattrs.delete(name)) throw new FuseError('ENODATA');
    this.touch(n, false);
  }

  fallocate(_c: Context, ino: number, _fh: number, offset: number, length: number, mode: number): void {
    const n = this.node(ino);
    if (mode & FALLOC_FL_PUNCH_HOLE) {
      n.data.fill(0, Math.min(offset, n.size), Math.min(offset + length, n.size));
      this.touch(n);
      return;
    }
    if (mode & FALLOC_FL_ZERO_RANGE) {
      // zeroes the range; without KEEP_SIZE it also extends the file
      if (mode & ~(FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE)) throw new FuseError('EOPNOTSUPP');
      n.data.fill(0, Math.min(offset, n.size), Math.min(offset + length, n.size));
      if (offset + length > n.size && !(mode & FALLOC_FL_KEEP_SIZE)) this.resize(n, offset + length);
      else this.touch(n);
      return;
    }
    if (mode & ~FALLOC_FL_KEEP_SIZE) throw new FuseError('EOPNOTSUPP');
    if (offset + length > n.size && !(mode & FALLOC_FL_KEEP_SIZE)) this.resize(n, offset + length);
  }

  lseek(_c: Context, ino: number, _fh: number, offset: number, whence: number): number {
    const n = this.node(ino);
    if (whence === SEEK_DATA) { if (offset >= n.size) throw new FuseError('ENXIO'); return offset; }
    if (whence === SEEK_HOLE) { if (offset >= n.size) throw new FuseError('ENXIO'); return n.size; }
    throw new FuseError('EINVAL');
  }
}

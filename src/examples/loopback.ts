/**
 * Loopback: mirrors a host directory. The main subject of the tests and
 * benchmarks. Path-based like go-fuse's loopback: each node remembers the
 * path it was last looked up by; (st_dev, st_ino) identifies it, so hard
 * links share a node id. Metadata calls are synchronous syscalls on a local
 * directory (a thread-pool hop costs more than the syscall, see
 * spec/protocol.md); data I/O (read, write, fsync) is asynchronous, so many
 * transfers overlap.
 *
 * With FUSE passthrough negotiated (root), opens attach the host file as a
 * backing file and the kernel serves read/write/mmap itself.
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import { FOpen, InitFlag, RENAME_EXCHANGE, ROOT_ID, S_IFDIR, S_IFLNK, S_IFREG, SetattrValid } from '../fuse/abi.js';
import type { ConnectionInfo, FileSystem, SetattrArgs } from '../fuse/api.js';
import { attrFromStats, dtype, statxFromStats } from '../fuse/attr.js';
import { direntsThatFit } from '../fuse/codec.js';
import { FuseError } from '../fuse/errors.js';
import { AT_FDCWD, shim, type Shim } from '../fuse/native.js';
import { BackingFiles } from '../fuse/backing.js';
import type { Attr, AttrReply, Context, DirEntry, DirEntryPlus, Entry, Open, Statfs } from '../fuse/types.js';

interface LNode {
  nodeid: number;
  path: string;
  key: string;
  nlookup: number;
  /** every name a hard-linked inode is known by (path among them) */
  links?: Set<string>;
  /** open handles (host fds) on this inode */
  fds?: Set<number>;
  /** its last known name was removed (unlinked, or renamed over): path is stale */
  gone?: boolean;
  /** attributes when the last name went (nlink 0): stat of a removed cwd, or of an unlinked file no one has open */
  lastAttr?: Attr;
}

interface DirHandle { names: { name: string; type: number }[] }

export interface LoopbackOptions {
  /** entry and attribute validity in seconds (default 1) */
  timeout?: number;
}

const BIG = { bigint: true } as const;
const UTIME_NOW = (1 << 30) - 1;
const UTIME_OMIT = (1 << 30) - 2;
const O_ACCMODE = 3, O_CREAT = 0o100, O_WRONLY = 1, O_RDWR = 2, O_APPEND = 0o2000;

function check(r: number): number {
  if (r < 0) throw new FuseError(-r);
  return r;
}

export class LoopbackFS implements FileSystem {
  readonly root: string;
  private nodes = new Map<number, LNode>();
  private byKey = new Map<string, number>();
  private nextId = ROOT_ID + 1;
  private dirs = new Map<number, DirHandle>();
  private nextDirFh = 1;
  private backing: BackingFiles | undefined;
  /** fh (host fd) → node, for every open file */
  private fdNode = new Map<number, LNode>();
  private timeout: number;
  private conn: ConnectionInfo | undefined;
  private native: Shim;
  private amRoot = process.getuid?.() === 0;

  constructor(root: string, opts: LoopbackOptions = {}) {
    const st = fs.statSync(root, BIG);
    if (!st.isDirectory()) throw new FuseError('ENOTDIR', `${root} is not a directory`);
    this.root = root;
    this.timeout = opts.timeout ?? 1;
    const key = `${st.dev}:${st.ino}`;
    this.nodes.set(ROOT_ID, { nodeid: ROOT_ID, path: root, key, nlookup: 1 });
    this.byKey.set(key, ROOT_ID);
    this.native = shim();
  }

  init(conn: ConnectionInfo): void {
    this.conn = conn;
    if (conn.passthrough) this.backing = new BackingFiles(conn.devFd);
    // the kernel already applied the caller's umask to every mode it sends
    process.umask(0);
  }

  private node(id: number): LNode {
    const n = this.nodes.get(id);
    if (!n) throw new FuseError('ESTALE', `no node ${id}`);
    return n;
  }

  private entryFor(path: string, st: fs.BigIntStats): Entry {
    const key = `${st.dev}:${st.ino}`;
    let id = this.byKey.get(key);
    let n = id === undefined ? undefined : this.nodes.get(id);
    if (!n) {
      id = this.nextId++;
      n = { nodeid: id, path, key, nlookup: 0 };
      this.nodes.set(id, n);
      this.byKey.set(key, id);
    }
    if (n.path !== path && !n.gone && st.nlink > 1n && !st.isDirectory()) {
      // another name of a hard-linked inode: remember both, so removing one keeps the other usable
      (n.links ??= new Set()).add(n.path);
      n.links.add(path);
    }
    n.path = path;
    n.gone = false;
    n.lastAttr = undefined;
    n.nlookup++;
    return { nodeid: n.nodeid, entryValid: this.timeout, attrValid: this.timeout, attr: attrFromStats(st) };
  }

  private owned(c: Context, path: string): void {
    if (this.amRoot && (c.uid !== 0 || c.gid !== 0)) fs.lchownSync(path, c.uid, c.gid);
  }

  lookup(_c: Context, parent: number, name: string): Entry {
    const p = join(this.node(parent).path, name);
    return this.entryFor(p, fs.lstatSync(p, BIG));
  }

  forget(id: number, nlookup: number): void {
    const n = this.nodes.get(id);
    if (!n || id === ROOT_ID) return;
    n.nlookup -= nlookup;
    if (n.nlookup <= 0 && !this.backing?.has(id)) {
      this.nodes.delete(id);
      if (this.byKey.get(n.key) === id) this.byKey.delete(n.key);
    }
  }

  /** An open fd on `n` when its path is stale (unlinked or renamed over while open). */
  private goneFd(n: LNode): number | undefined {
    if (!n.gone || !n.fds) return undefined;
    for (const fd of n.fds) return fd;
    return undefined;
  }

  /** `path` (an inode we know, `st` its stats before) was removed or replaced: forget that name. */
  private dropName(st: fs.BigIntStats, path: string): void {
    const id = this.byKey.get(`${st.dev}:${st.ino}`);
    const n = id === undefined ? undefined : this.nodes.get(id);
    if (!n) return;
    n.links?.delete(path);
    if (n.path !== path) return;
    const other = n.links?.values().next().value;
    if (other !== undefined) {
      n.path = other;
    } else {
      n.gone = true;
      n.lastAttr = { ...attrFromStats(st), nlink: 0 };
    }
  }

  private statOf(path: string): fs.BigIntStats | undefined {
    try {
      return fs.lstatSync(path, BIG);
    } catch {
      return undefined;
    }
  }

  getattr(_c: Context, ino: number, fh: number | undefined): AttrReply {
    if (fh === undefined) {
      const n = this.node(ino);
      fh = this.goneFd(n);
      if (fh === undefined && n.gone && n.lastAttr) return { attr: n.lastAttr, attrValid: this.timeout };
    }
    const st = fh !== undefined ? fs.fstatSync(fh, BIG) : fs.lstatSync(this.node(ino).path, BIG);
    return { attr: attrFromStats(st), attrValid: this.timeout };
  }

  setattr(_c: Context, ino: number, a: SetattrArgs): AttrReply {
    const n = this.node(ino), V = SetattrValid;
    // an fd when the kernel gave one (ftruncate), or when the inode has no name left (fchmod on an unlinked file)
    const fd = a.valid & V.FH ? a.fh : this.goneFd(n);
    if (a.valid & V.MODE) {
      if (fd !== undefined) fs.fchmodSync(fd, a.mode & 0o7777);
      else fs.chmodSync(n.path, a.mode & 0o7777);
    }
    if (a.valid & (V.UID | V.GID)) {
      const uid = a.valid & V.UID ? a.uid : -1, gid = a.valid & V.GID ? a.gid : -1;
      if (fd !== undefined) fs.fchownSync(fd, uid, gid); else fs.lchownSync(n.path, uid, gid);
    }
    if (a.valid & V.SIZE) {
      if (fd !== undefined) fs.ftruncateSync(fd, a.size); else fs.truncateSync(n.path, a.size);
    }
    if (a.valid & (V.ATIME | V.MTIME | V.ATIME_NOW | V.MTIME_NOW)) {
      const at = a.valid & V.ATIME_NOW ? [0, UTIME_NOW] : a.valid & V.ATIME ? [a.atime, a.atimensec] : [0, UTIME_OMIT];
      const mt = a.valid & V.MTIME_NOW ? [0, UTIME_NOW] : a.valid & V.MTIME ? [a.mtime, a.mtimensec] : [0, UTIME_OMIT];
      // through the fd's /proc link (followed) when there is an fd: right even when the name is gone
      const target = fd !== undefined ? `/proc/self/fd/${fd}` : n.path;
      check(this.native.utimensat(AT_FDCWD, target, at[0], at[1], mt[0], mt[1], target === n.path));
    }
    return this.getattr(_c, ino, fd);
  }

  readlink(_c: Context, ino: number): Buffer {
    return fs.readlinkSync(this.node(ino).path, { encoding: 'buffer' });
  }

  mknod(c: Context, parent: number, name: string, mode: number, rdev: number): Entry {
    const p = join(this.node(parent).path, name);
    check(this.native.mknodat(AT_FDCWD, p, mode, rdev));
    this.owned(c, p);
    return this.entryFor(p, fs.lstatSync(p, BIG));
  }

  mkdir(c: Context, parent: number, name: string, mode: number): Entry {
    const p = join(this.node(parent).path, name);
    fs.mkdirSync(p, mode & 0o7777);
    this.owned(c, p);
    return this.entryFor(p, fs.lstatSync(p, BIG));
  }

  symlink(c: Context, parent: number, name: string, target: string): Entry {
    const p = join(this.node(parent).path, name);
    fs.symlinkSync(target, p);
    this.owned(c, p);
    return this.entryFor(p, fs.lstatSync(p, BIG));
  }

  link(_c: Context, ino: number, newparent: number, newname: string): Entry {
    const p = join(this.node(newparent).path, newname);
    fs.linkSync(this.node(ino).path, p);
    return this.entryFor(p, fs.lstatSync(p, BIG));
  }

  unlink(_c: Context, parent: number, name: string): void {
    const p = join(this.node(parent).path, name);
    const st = this.statOf(p);
    fs.unlinkSync(p);
    if (st) this.dropName(st, p);
  }

  rmdir(_c: Context, parent: number, name: string): void {
    const p = join(this.node(parent).path, name);
    const st = this.statOf(p);
    fs.rmdirSync(p);
    if (st) this.dropName(st, p);
  }

  rename(_c: Context, parent: number, name: string, newparent: number, newname: string, flags: number): void {
    const from = join(this.node(parent).path, name), to = join(this.node(newparent).path, newname);
    // the inode a plain rename replaces loses its name
    const replaced = flags & RENAME_EXCHANGE ? undefined : this.statOf(to);
    const moved = replaced === undefined ? undefined : this.statOf(from);
    if (flags) check(this.native.renameat(AT_FDCWD, from, AT_FDCWD, to, flags));
    else fs.renameSync(from, to);
    if (replaced && !(moved && moved.dev === replaced.dev && moved.ino === replaced.ino)) this.dropName(replaced, to);
    if (flags & RENAME_EXCHANGE) {
      const parked = '\0exchange';
      this.repath(to, parked);
      this.repath(from, to);
      this.repath(parked, from);
    } else {
      this.repath(from, to);
    }
  }

  /** Keeps remembered paths right after a rename (the node and everything below it). */
  private repath(from: string, to: string): void {
    const prefix = from + '/';
    const move = (p: string) => (p === from ? to : p.startsWith(prefix) ? to + p.slice(from.length) : p);
    for (const n of this.nodes.values()) {
      n.path = move(n.path);
      if (n.links) n.links = new Set([...n.links].map(move));
    }
  }

  open(_c: Context, ino: number, flags: number): Open {
    const n = this.node(ino);
    const old = this.goneFd(n);
    // no name left (open via /proc/self/fd of an unlinked file): reopen through an fd we hold
    const fd = this.openHost(old !== undefined ? `/proc/self/fd/${old}` : n.path, flags & ~O_CREAT);
    this.track(n, fd);
    return this.opened(n, fd, flags, old !== undefined ? `/proc/self/fd/${old}` : n.path);
  }

  /** The reply to an open: with passthrough, the kernel serves I/O from the host file itself. */
  private opened(n: LNode, fd: number, flags: number, hostPath: string): Open {
    if (!this.backing) return { fh: fd };
    const openFile = (f: number) => fs.openSync(hostPath, f | fs.constants.O_NOFOLLOW);
    return { fh: fd, ...this.backing.open(n.nodeid, fd, openFile, (flags & O_ACCMODE) !== 0, `${n.key}`) };
  }

  /**
   * open(2) on the host. With the writeback cache the kernel owns the file
   * offset and reads whole pages to merge partial writes: a write-only fd
   * must be able to read, and O_APPEND must go (the kernel already sends the
   * right offsets; the host would append them at its own end of file).
   */
  private openHost(path: string, flags: number, mode?: number): number {
    if (this.conn && (this.conn.flags & InitFlag.WRITEBACK_CACHE) !== 0n) {
      const wb = (flags & ~(O_ACCMODE | O_APPEND)) | ((flags & O_ACCMODE) === O_WRONLY ? O_RDWR : flags & O_ACCMODE);
      try {
        return fs.openSync(path, wb, mode);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EACCES') throw e;
        // not readable (or not for us): fall through to the flags as asked
      }
    }
    return fs.openSync(path, flags, mode);
  }

  private track(n: LNode, fd: number): void {
    (n.fds ??= new Set()).add(fd);
    this.fdNode.set(fd, n);
  }

  read(_c: Context, _ino: number, fh: number, offset: number, size: number): Promise<Buffer> {
    const buf = Buffer.allocUnsafe(size);
    return new Promise((res, rej) => fs.read(fh, buf, 0, size, offset, (err, n) => (err ? rej(err) : res(buf.subarray(0, n)))));
  }

  write(_c: Context, _ino: number, fh: number, offset: number, data: Buffer): Promise<number> {
    return new Promise((res, rej) => fs.write(fh, data, 0, data.length, offset, (err, n) => (err ? rej(err) : res(n))));
  }

  flush(): void {}

  release(_c: Context, _ino: number, fh: number): void {
    const t = this.fdNode.get(fh);
    if (t) {
      this.fdNode.delete(fh);
      t.fds?.delete(fh);
    }
    if (this.backing && t) {
      this.backing.release(fh);
      if (t.nlookup <= 0) this.forget(t.nodeid, 0);
    }
    fs.close(fh, () => {});
  }

  fsync(_c: Context, _ino: number, fh: number, datasync: boolean): Promise<void> {
    return new Promise((res, rej) => (datasync ? fs.fdatasync : fs.fsync)(fh, (err) => (err ? rej(err) : res())));
  }

  opendir(_c: Context, ino: number): Open {
    const n = this.node(ino);
    if (n.gone) {
      // a removed directory (someone's cwd): nothing to list, like any fs
      const fh = this.nextDirFh++;
      this.dirs.set(fh, { names: [] });
      return { fh };
    }
    const entries = fs.readdirSync(n.path, { withFileTypes: true });
    const names = [{ name: '.', type: 4 }, { name: '..', type: 4 }];
    for (const d of entries) names.push({ name: d.name, type: direntType(d) });
    const fh = this.nextDirFh++;
    this.dirs.set(fh, { names });
    return { fh };
  }

  private dir(fh: number): DirHandle {
    const d = this.dirs.get(fh);
    if (!d) throw new FuseError('EBADF');
    return d;
  }

  readdir(_c: Context, ino: number, fh: number, offset: number, size: number): DirEntry[] {
    const names = this.dir(fh).names, base = this.node(ino).path, out: DirEntry[] = [];
    for (let i = offset, end = direntsThatFit(names, offset, size, false); i < end; i++) {
      const { name, type } = names[i];
      // d_ino must be the st_ino that stat reports (find -inum, scandir().inode(), du and cp -a's link detection rely on it)
      let dino: number;
      try { dino = Number(fs.lstatSync(join(base, name), BIG).ino); } catch { continue; } // vanished since opendir
      out.push({ ino: dino, off: i + 1, type, name });
    }
    return out;
  }

  readdirplus(_c: Context, ino: number, fh: number, offset: number, size: number): DirEntryPlus[] {
    const names = this.dir(fh).names, base = this.node(ino).path, out: DirEntryPlus[] = [];
    for (let i = offset, end = direntsThatFit(names, offset, size, true); i < end; i++) {
      const { name } = names[i];
      const p = join(base, name);
      let st: fs.BigIntStats;
      try { st = fs.lstatSync(p, BIG); } catch { continue; } // vanished since opendir
      const entry = name === '.' || name === '..'
        ? { nodeid: 0, entryValid: 0, attrValid: 0, attr: attrFromStats(st) }
        : this.entryFor(p, st);
      out.push({ ino: Number(st.ino), off: i + 1, type: dtype(Number(st.mode)), name, entry });
    }
    return out;
  }

  releasedir(_c: Context, _ino: number, fh: number): void {
    this.dirs.delete(fh);
  }

  fsyncdir(): void {}

  statfs(_c: Context, ino: number): Statfs {
    const s = fs.statfsSync(this.node(ino).path);
    return { blocks: s.blocks, bfree: s.bfree, bavail: s.bavail, files: s.files, ffree: s.ffree, bsize: s.bsize, namelen: 255, frsize: s.bsize };
  }

  setxattr(_c: Context, ino: number, name: string, value: Buffer, flags: number): void {
    check(this.native.lsetxattr(AT_FDCWD, this.node(ino).path, name, value, flags));
  }

  getxattr(_c: Context, ino: number, name: string): Buffer {
    const p = this.node(ino).path;
    for (;;) {
      const size = check(this.native.lgetxattr(AT_FDCWD, p, name, Buffer.alloc(0)));
      const buf = Buffer.allocUnsafe(size);
      const r = this.native.lgetxattr(AT_FDCWD, p, name, buf);
      if (r === -34 /* ERANGE: grew meanwhile */) continue;
      return buf.subarray(0, check(r));
    }
  }

  listxattr(_c: Context, ino: number): string[] {
    const p = this.node(ino).path;
    for (;;) {
      const size = check(this.native.llistxattr(AT_FDCWD, p, Buffer.alloc(0)));
      const buf = Buffer.allocUnsafe(size);
      const r = this.native.llistxattr(AT_FDCWD, p, buf);
      if (r === -34) continue;
      return buf.toString('utf8', 0, check(r)).split('\0').filter(Boolean);
    }
  }

  removexattr(_c: Context, ino: number, name: string): void {
    check(this.native.lremovexattr(AT_FDCWD, this.node(ino).path, name));
  }

  access(_c: Context, ino: number, mask: number): void {
    fs.accessSync(this.node(ino).path, mask);
  }

  create(c: Context, parent: number, name: string, mode: number, flags: number): { entry: Entry; open: Open } {
    const p = join(this.node(parent).path, name);
    const fd = this.openHost(p, flags | O_CREAT, mode & 0o7777);
    try {
      this.owned(c, p);
      const entry = this.entryFor(p, fs.fstatSync(fd, BIG));
      this.track(this.node(entry.nodeid), fd);
      const open = this.opened(this.node(entry.nodeid), fd, flags, p);
      return { entry, open };
    } catch (e) {
      this.fdNode.get(fd)?.fds?.delete(fd);
      this.fdNode.delete(fd);
      fs.closeSync(fd);
      throw e;
    }
  }

  fallocate(_c: Context, _ino: number, fh: number, offset: number, length: number, mode: number): void {
    check(this.native.fallocate(fh, mode, offset, length));
  }

  lseek(_c: Context, _ino: number, fh: number, offset: number, whence: number): number {
    return check(this.native.lseek(fh, offset, whence));
  }

  async copyFileRange(_c: Context, _ino: number, a: { fhIn: number; offIn: number; fhOut: number; offOut: number; len: number }): Promise<number> {
    const chunk = Buffer.allocUnsafe(Math.min(a.len, 1 << 20));
    let done = 0;
    while (done < a.len) {
      const want = Math.min(chunk.length, a.len - done);
      const n = await new Promise<number>((res, rej) => fs.read(a.fhIn, chunk, 0, want, a.offIn + done, (e, k) => (e ? rej(e) : res(k))));
      if (n === 0) break;
      await new Promise<void>((res, rej) => fs.write(a.fhOut, chunk, 0, n, a.offOut + done, (e) => (e ? rej(e) : res())));
      done += n;
    }
    return done;
  }

  statx(_c: Context, ino: number, a: { getattrFlags: number; fh: number }) {
    const st = a.getattrFlags & 1 ? fs.fstatSync(a.fh, BIG) : fs.lstatSync(this.node(ino).path, BIG);
    return { attrValid: this.timeout, statx: statxFromStats(st) };
  }
}

function direntType(d: fs.Dirent): number {
  if (d.isFile()) return S_IFREG >> 12;
  if (d.isDirectory()) return S_IFDIR >> 12;
  if (d.isSymbolicLink()) return S_IFLNK >> 12;
  if (d.isFIFO()) return 1;
  if (d.isCharacterDevice()) return 2;
  if (d.isBlockDevice()) return 6;
  if (d.isSocket()) return 12;
  return 0;
}

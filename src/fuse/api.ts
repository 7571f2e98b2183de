/**
 * The inode-level FileSystem interface an implementation fills in. Every
 * method is optional: a missing one answers ENOSYS, as libfuse lowlevel,
 * go-fuse's RawFileSystem and fuser's trait do. A method may return a value
 * or a promise; to fail, throw a FuseError (or a Node fs error, whose errno
 * is used). Node ids, handles and offsets are numbers.
 */
import type { ArgsByOp, Request } from './codec.js';
import type {
  AttrReply, Context, DirEntry, DirEntryPlus, Entry, FileLock, IoctlReply, Open, Statfs, StatxReply,
} from './types.js';

export type MaybePromise<T> = T | Promise<T>;

export interface ConnectionInfo {
  /** negotiated protocol minor */
  minor: number;
  /** negotiated INIT flags (bits ≥ 32 are flags2) */
  flags: bigint;
  /** what the kernel offered */
  kernelFlags: bigint;
  maxWrite: number;
  maxReadahead: number;
  /** /dev/fuse fd, for FUSE_DEV_IOC_BACKING_OPEN */
  devFd: number;
  /** passthrough was negotiated: opens may answer FOPEN_PASSTHROUGH */
  passthrough: boolean;
}

export type SetattrArgs = ArgsByOp['SETATTR'];

export interface FileSystem {
  /** after INIT was negotiated, before any other request */
  init?(conn: ConnectionInfo): MaybePromise<void>;
  /** DESTROY, or the end of the session */
  destroy?(): MaybePromise<void>;

  lookup?(ctx: Context, parent: number, name: string): MaybePromise<Entry>;
  forget?(nodeid: number, nlookup: number): void;
  getattr?(ctx: Context, ino: number, fh: number | undefined): MaybePromise<AttrReply>;
  setattr?(ctx: Context, ino: number, args: SetattrArgs): MaybePromise<AttrReply>;
  readlink?(ctx: Context, ino: number): MaybePromise<string | Buffer>;
  mknod?(ctx: Context, parent: number, name: string, mode: number, rdev: number, umask: number): MaybePromise<Entry>;
  mkdir?(ctx: Context, parent: number, name: string, mode: number, umask: number): MaybePromise<Entry>;
  unlink?(ctx: Context, parent: number, name: string): MaybePromise<void>;
  rmdir?(ctx: Context, parent: number, name: string): MaybePromise<void>;
  symlink?(ctx: Context, parent: number, name: string, target: string): MaybePromise<Entry>;
  /** flags: RENAME_NOREPLACE / RENAME_EXCHANGE / RENAME_WHITEOUT (0 for plain rename) */
  rename?(ctx: Context, parent: number, name: string, newparent: number, newname: string, flags: number): MaybePromise<void>;
  link?(ctx: Context, ino: number, newparent: number, newname: string): MaybePromise<Entry>;
  open?(ctx: Context, ino: number, flags: number): MaybePromise<Open>;
  /** returns the bytes read; fewer than size means end of file */
  read?(ctx: Context, ino: number, fh: number, offset: number, size: number): MaybePromise<Uint8Array>;
  /** returns the number of bytes written */
  write?(ctx: Context, ino: number, fh: number, offset: number, data: Buffer, writeFlags: number): MaybePromise<number>;
  flush?(ctx: Context, ino: number, fh: number, lockOwner: bigint): MaybePromise<void>;
  release?(ctx: Context, ino: number, fh: number, flags: number): MaybePromise<void>;
  fsync?(ctx: Context, ino: number, fh: number, datasync: boolean): MaybePromise<void>;
  opendir?(ctx: Context, ino: number, flags: number): MaybePromise<Open>;
  /**
   * Entries from cookie `offset` on; each entry's `off` is the cookie of the
   * next one. Return as many as you like: the session packs what fits in
   * `size` bytes and the kernel asks again from the next cookie.
   */
  readdir?(ctx: Context, ino: number, fh: number, offset: number, size: number): MaybePromise<DirEntry[]>;
  /**
   * Like readdir, with an Entry per name (each entry with nodeid ≠ 0, other
   * than "." and "..", counts as a lookup). Entries that do not fit are
   * forgotten again by the session, so the lookup counts stay right.
   */
  readdirplus?(ctx: Context, ino: number, fh: number, offset: number, size: number): MaybePromise<DirEntryPlus[]>;
  releasedir?(ctx: Context, ino: number, fh: number, flags: number): MaybePromise<void>;
  fsyncdir?(ctx: Context, ino: number, fh: number, datasync: boolean): MaybePromise<void>;
  statfs?(ctx: Context, ino: number): MaybePromise<Statfs>;
  setxattr?(ctx: Context, ino: number, name: string, value: Buffer, flags: number): MaybePromise<void>;
  /** the whole value; the session answers size probes and ERANGE */
  getxattr?(ctx: Context, ino: number, name: string): MaybePromise<Uint8Array>;
  /** the names */
  listxattr?(ctx: Context, ino: number): MaybePromise<string[]>;
  removexattr?(ctx: Context, ino: number, name: string): MaybePromise<void>;
  access?(ctx: Context, ino: number, mask: number): MaybePromise<void>;
  create?(ctx: Context, parent: number, name: string, mode: number, flags: number, umask: number): MaybePromise<{ entry: Entry; open: Open }>;
  tmpfile?(ctx: Context, parent: number, mode: number, flags: number, umask: number): MaybePromise<{ entry: Entry; open: Open }>;
  getlk?(ctx: Context, ino: number, fh: number, owner: bigint, lock: FileLock): MaybePromise<FileLock>;
  setlk?(ctx: Context, ino: number, fh: number, owner: bigint, lock: FileLock, sleep: boolean, flock: boolean): MaybePromise<void>;
  bmap?(ctx: Context, ino: number, blocksize: number, block: number): MaybePromise<number>;
  ioctl?(ctx: Context, ino: number, args: ArgsByOp['IOCTL']): MaybePromise<IoctlReply>;
  /** returns revents */
  poll?(ctx: Context, ino: number, args: ArgsByOp['POLL']): MaybePromise<number>;
  fallocate?(ctx: Context, ino: number, fh: number, offset: number, length: number, mode: number): MaybePromise<void>;
  lseek?(ctx: Context, ino: number, fh: number, offset: number, whence: number): MaybePromise<number>;
  /** returns the number of bytes copied */
  copyFileRange?(ctx: Context, ino: number, args: ArgsByOp['COPY_FILE_RANGE']): MaybePromise<number>;
  statx?(ctx: Context, ino: number, args: ArgsByOp['STATX']): MaybePromise<StatxReply>;
  syncfs?(ctx: Context, ino: number): MaybePromise<void>;
}

/**
 * The raw hook sees every decoded request before dispatch. Return true when
 * it has taken the request over (it then answers through `reply`, or not at
 * all); anything else lets the session dispatch it to the FileSystem.
 */
export type RawHook = (req: Request, reply: Reply) => boolean | void | Promise<boolean | void>;

/** Sends the answer to one request. Exactly one call should be made. */
export interface Reply {
  readonly unique: number;
  /** negative or positive errno: answered as -errno; 0 = success with no payload */
  error(errno: number): void;
  /** any bytes, written as they are (header included): for conformance tests */
  raw(bytes: Uint8Array): void;
  /** a payload after a correct header */
  payload(bytes: Uint8Array): void;
  entry(e: Entry): void;
  attr(a: AttrReply): void;
  open(o: Open): void;
  create(e: Entry, o: Open): void;
  write(size: number): void;
  statfs(s: Statfs): void;
  data(bytes: Uint8Array): void;
  /** do not answer (the request stays pending in the kernel) */
  none(): void;
}

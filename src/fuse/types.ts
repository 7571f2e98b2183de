/**
 * Typed values that travel between the codec, the session and a FileSystem.
 * Times are whole seconds plus nanoseconds; inode numbers, handles and
 * offsets are JS numbers (exact below 2^53, which is all the kernel ever
 * sees from us); lock owners are bigints because the kernel picks them.
 */

export interface Attr {
  ino: number;
  size: number;
  blocks: number;
  atime: number; atimensec: number;
  mtime: number; mtimensec: number;
  ctime: number; ctimensec: number;
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  rdev: number;
  blksize: number;
  flags?: number;
}

export interface Entry {
  /** 0 = negative entry, cached by the kernel for entryValid seconds */
  nodeid: number;
  generation?: number;
  /** seconds, fractions allowed */
  entryValid: number;
  attrValid: number;
  attr: Attr;
}

export interface AttrReply {
  attr: Attr;
  /** seconds, fractions allowed */
  attrValid: number;
}

export interface Open {
  fh: number;
  /** FOPEN_* bits */
  openFlags?: number;
  /** from FUSE_DEV_IOC_BACKING_OPEN, with FOpen.PASSTHROUGH */
  backingId?: number;
}

export interface Statfs {
  blocks: number; bfree: number; bavail: number;
  files: number; ffree: number;
  bsize: number; namelen: number; frsize: number;
}

export interface FileLock { start: number; end: number; type: number; pid: number }

export interface DirEntry {
  ino: number;
  /** cookie of the NEXT entry */
  off: number;
  /** DT_* type: (mode & S_IFMT) >> 12 */
  type: number;
  name: string;
}

export interface DirEntryPlus extends DirEntry {
  /** entry.nodeid 0 = no attributes for this name */
  entry: Entry;
}

export interface Statx {
  mask: number;
  blksize: number;
  attributes: bigint;
  nlink: number; uid: number; gid: number; mode: number;
  ino: number; size: number; blocks: number;
  attributesMask: bigint;
  atime: { sec: number; nsec: number };
  btime: { sec: number; nsec: number };
  ctime: { sec: number; nsec: number };
  mtime: { sec: number; nsec: number };
  rdevMajor: number; rdevMinor: number;
  devMajor: number; devMinor: number;
}

export interface StatxReply { attrValid: number; flags?: number; statx: Statx }

export interface IoctlReply { result: number; flags?: number; inIovs?: number; outIovs?: number; data?: Buffer }

/** What the caller of a request is, from the request header. */
export interface Context {
  uid: number;
  gid: number;
  pid: number;
  unique: number;
  /** supplementary groups, when CREATE_SUPP_GROUP was negotiated and sent */
  groups?: number[];
  /** fulfilled when the kernel interrupts this request */
  readonly interrupted: boolean;
}

/**
 * The FUSE kernel ABI, protocol 7.45 (Linux 6.18): opcodes, flag bits and
 * struct sizes, including the older sizes the codec must honour when a
 * kernel negotiates a lower minor. Constants only; no logic.
 */

export const KERNEL_VERSION = 7;
/** The minor we implement; negotiation picks min(kernel's, this). */
export const KERNEL_MINOR_VERSION = 45;
/** The oldest minor whose struct sizes the codec still handles. */
export const OLDEST_MINOR = 12;
export const ROOT_ID = 1;

export const Op = {
  LOOKUP: 1, FORGET: 2, GETATTR: 3, SETATTR: 4, READLINK: 5, SYMLINK: 6, MKNOD: 8, MKDIR: 9,
  UNLINK: 10, RMDIR: 11, RENAME: 12, LINK: 13, OPEN: 14, READ: 15, WRITE: 16, STATFS: 17,
  RELEASE: 18, FSYNC: 20, SETXATTR: 21, GETXATTR: 22, LISTXATTR: 23, REMOVEXATTR: 24, FLUSH: 25,
  INIT: 26, OPENDIR: 27, READDIR: 28, RELEASEDIR: 29, FSYNCDIR: 30, GETLK: 31, SETLK: 32,
  SETLKW: 33, ACCESS: 34, CREATE: 35, INTERRUPT: 36, BMAP: 37, DESTROY: 38, IOCTL: 39, POLL: 40,
  NOTIFY_REPLY: 41, BATCH_FORGET: 42, FALLOCATE: 43, READDIRPLUS: 44, RENAME2: 45, LSEEK: 46,
  COPY_FILE_RANGE: 47, SETUPMAPPING: 48, REMOVEMAPPING: 49, SYNCFS: 50, TMPFILE: 51, STATX: 52,
  COPY_FILE_RANGE_64: 53,
  CUSE_INIT: 4096,
} as const;
export type OpName = keyof typeof Op;
export type Opcode = (typeof Op)[OpName];

export const OP_NAMES: Record<number, OpName> = Object.fromEntries(
  Object.entries(Op).map(([k, v]) => [v, k as OpName]),
);

/** INIT flags. Bits 32 and up travel in flags2 (as bit - 32) when INIT_EXT is set. */
export const InitFlag = {
  ASYNC_READ: 1n << 0n, POSIX_LOCKS: 1n << 1n, FILE_OPS: 1n << 2n, ATOMIC_O_TRUNC: 1n << 3n,
  EXPORT_SUPPORT: 1n << 4n, BIG_WRITES: 1n << 5n, DONT_MASK: 1n << 6n, SPLICE_WRITE: 1n << 7n,
  SPLICE_MOVE: 1n << 8n, SPLICE_READ: 1n << 9n, FLOCK_LOCKS: 1n << 10n, HAS_IOCTL_DIR: 1n << 11n,
  AUTO_INVAL_DATA: 1n << 12n, DO_READDIRPLUS: 1n << 13n, READDIRPLUS_AUTO: 1n << 14n,
  ASYNC_DIO: 1n << 15n, WRITEBACK_CACHE: 1n << 16n, NO_OPEN_SUPPORT: 1n << 17n,
  PARALLEL_DIROPS: 1n << 18n, HANDLE_KILLPRIV: 1n << 19n, POSIX_ACL: 1n << 20n,
  ABORT_ERROR: 1n << 21n, MAX_PAGES: 1n << 22n, CACHE_SYMLINKS: 1n << 23n,
  NO_OPENDIR_SUPPORT: 1n << 24n, EXPLICIT_INVAL_DATA: 1n << 25n, MAP_ALIGNMENT: 1n << 26n,
  SUBMOUNTS: 1n << 27n, HANDLE_KILLPRIV_V2: 1n << 28n, SETXATTR_EXT: 1n << 29n,
  INIT_EXT: 1n << 30n, INIT_RESERVED: 1n << 31n,
  SECURITY_CTX: 1n << 32n, HAS_INODE_DAX: 1n << 33n, CREATE_SUPP_GROUP: 1n << 34n,
  HAS_EXPIRE_ONLY: 1n << 35n, DIRECT_IO_ALLOW_MMAP: 1n << 36n, PASSTHROUGH: 1n << 37n,
  NO_EXPORT_SUPPORT: 1n << 38n, HAS_RESEND: 1n << 39n, ALLOW_IDMAP: 1n << 40n,
  OVER_IO_URING: 1n << 41n, REQUEST_TIMEOUT: 1n << 42n,
} as const;
export type InitFlagName = keyof typeof InitFlag;

/** Names of the flags set in a 64-bit flag word, for logs and spec tables. */
export function initFlagNames(flags: bigint): InitFlagName[] {
  return (Object.keys(InitFlag) as InitFlagName[]).filter((k) => (flags & InitFlag[k]) !== 0n);
}

/** open_flags of fuse_open_out */
export const FOpen = {
  DIRECT_IO: 1, KEEP_CACHE: 2, NONSEEKABLE: 4, CACHE_DIR: 8, STREAM: 16, NOFLUSH: 32,
  PARALLEL_DIRECT_WRITES: 64, PASSTHROUGH: 128,
} as const;

/** fuse_setattr_in.valid */
export const SetattrValid = {
  MODE: 1, UID: 2, GID: 4, SIZE: 8, ATIME: 16, MTIME: 32, FH: 64, ATIME_NOW: 128,
  MTIME_NOW: 256, LOCKOWNER: 512, CTIME: 1024, KILL_SUIDGID: 2048,
} as const;

export const GETATTR_FH = 1;
export const RELEASE_FLUSH = 1;
export const RELEASE_FLOCK_UNLOCK = 2;
export const FSYNC_FDATASYNC = 1;
export const READ_LOCKOWNER = 2;
export const WRITE_CACHE = 1;
export const WRITE_LOCKOWNER = 2;
export const WRITE_KILL_SUIDGID = 4;
export const OPEN_KILL_SUIDGID = 1;
export const LK_FLOCK = 1;
export const SETXATTR_ACL_KILL_SGID = 1;
export const ATTR_SUBMOUNT = 1;
export const ATTR_DAX = 2;
export const EXPIRE_ONLY = 1;
export const POLL_SCHEDULE_NOTIFY = 1;
export const IoctlFlag = { COMPAT: 1, UNRESTRICTED: 2, RETRY: 4, BIT32: 8, DIR: 16, COMPAT_X32: 32 } as const;
export const RENAME_NOREPLACE = 1;
export const RENAME_EXCHANGE = 2;
export const RENAME_WHITEOUT = 4;
export const UNIQUE_RESEND = 1n << 63n;
export const INVALID_UIDGID = 0xffffffff;
export const EXT_GROUPS = 32;

export const Notify = {
  POLL: 1, INVAL_INODE: 2, INVAL_ENTRY: 3, STORE: 4, RETRIEVE: 5, DELETE: 6, RESEND: 7,
  INC_EPOCH: 8, PRUNE: 9,
} as const;

/** Struct sizes in bytes (current protocol). */
export const Size = {
  IN_HEADER: 40, OUT_HEADER: 16,
  ATTR: 88, ENTRY_OUT: 128, ATTR_OUT: 104, OPEN_OUT: 16, WRITE_OUT: 8, STATFS_OUT: 80,
  GETXATTR_OUT: 8, LK_OUT: 24, BMAP_OUT: 8, IOCTL_OUT: 16, POLL_OUT: 8, LSEEK_OUT: 8,
  STATX_OUT: 288, STATX: 256, INIT_OUT: 64, COPY_FILE_RANGE_OUT: 8,
  INIT_IN: 64, GETATTR_IN: 16, SETATTR_IN: 88, OPEN_IN: 8, CREATE_IN: 16, MKNOD_IN: 16,
  MKDIR_IN: 8, RENAME_IN: 8, RENAME2_IN: 16, LINK_IN: 8, RELEASE_IN: 24, FLUSH_IN: 24,
  READ_IN: 40, WRITE_IN: 40, FSYNC_IN: 16, SETXATTR_IN: 16, GETXATTR_IN: 8, ACCESS_IN: 8,
  FORGET_IN: 8, FORGET_ONE: 16, BATCH_FORGET_IN: 8, INTERRUPT_IN: 8, LK_IN: 48, BMAP_IN: 16,
  IOCTL_IN: 32, POLL_IN: 24, FALLOCATE_IN: 32, LSEEK_IN: 24, COPY_FILE_RANGE_IN: 56,
  STATX_IN: 24, SYNCFS_IN: 8, NOTIFY_RETRIEVE_IN: 40,
  DIRENT_BASE: 24, DIRENTPLUS_BASE: 152,
} as const;

/** Older sizes, by the minor that changed them. */
export const CompatSize = {
  ENTRY_OUT: 120, // minor < 9
  ATTR_OUT: 96, // minor < 9
  WRITE_IN: 24, // minor < 9
  MKNOD_IN: 8, // minor < 12
  CREATE_IN: 8, // minor < 12
  SETXATTR_IN: 8, // unless SETXATTR_EXT
  STATFS_OUT: 48, // minor < 4
  INIT_IN: 16, // minor < 36
  INIT_OUT_5: 8, // minor < 5
  INIT_OUT_22: 24, // minor < 23
} as const;

/** Minimum read buffer: the kernel refuses smaller reads with EINVAL. */
export const MIN_READ_BUFFER = 8192;
export const PAGE_SIZE = 4096;
/** Largest max_pages the kernel accepts by default (max_pages_limit sysctl). */
export const MAX_PAGES_LIMIT = 256;
export const NAME_MAX = 1024;

/** File type bits as used in dirents: (mode & S_IFMT) >> 12 */
export const S_IFMT = 0o170000;
export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;
export const S_IFCHR = 0o020000;
export const S_IFBLK = 0o060000;
export const S_IFIFO = 0o010000;
export const S_IFSOCK = 0o140000;

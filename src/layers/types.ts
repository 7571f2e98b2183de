/**
 * A layer as the overlay sees it: a tree reached only through this
 * interface, by paths relative to the layer root ('' is the root, 'a/b' a
 * child). Plain directories and plugin-served layers implement the same
 * read side; the upper layer adds the write side. Errors are thrown as
 * errno-carrying errors (FuseError or Node fs errors); "absent" is a
 * null/false result, not an error.
 */

export interface LayerStat {
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  ino: number;
  dev: number;
  rdev: number;
  size: number;
  blocks: number;
  blksize: number;
  atimeNs: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
  birthtimeNs: bigint;
}

export interface LayerDirent {
  name: string;
  /** DT_* (0 = unknown) */
  type: number;
}

export interface Layer {
  /** for messages: the directory or the plugin spec */
  readonly name: string;
  /** st_dev of the layer root (inode identity across layers) */
  readonly dev: number;
  /** lstat; null when the path does not exist (ENOENT/ENOTDIR) */
  stat(path: string): LayerStat | null | Promise<LayerStat | null>;
  readdir(path: string): LayerDirent[] | Promise<LayerDirent[]>;
  readlink(path: string): Buffer | Promise<Buffer>;
  /** null when the attribute does not exist (ENODATA) or xattrs are unsupported */
  getxattr(path: string, name: string): Buffer | null | Promise<Buffer | null>;
  listxattr(path: string): string[] | Promise<string[]>;
  /** existence only (whiteout and opaque-marker probes); default: stat() !== null */
  exists?(path: string): boolean | Promise<boolean>;
  /** a real fd for reading, or -1 when the layer has none (reads then go through read()) */
  open?(path: string, flags: number): number | Promise<number>;
  /** bytes at an offset, for layers without real fds (fd: the handle's fd, when it has one) */
  read?(path: string, offset: number, length: number, fd?: number): Buffer | Promise<Buffer>;
  /** every read of an open file must go through read() (a plugin hook watches reads): no passthrough */
  readonly readsThrough?: boolean;
  /** can hold POSIX ACLs (plugin layers say so; directory layers probe) */
  readonly supportsAcls?: boolean;
  /** a host path for the object when one exists (fast copy-up with FICLONE) */
  hostPath?(path: string): string | undefined;
  /**
   * A plain local directory: readdir and open are syscalls with no side
   * effects that answer synchronously. The overlay then lists a directory
   * once instead of probing `.wh.NAME` per lookup, and opens files through
   * open() rather than host paths.
   */
  readonly local?: boolean;
  close?(): void | Promise<void>;
}

/**
 * The writable layer (upperdir), with its workdir for atomic copy-up. Every
 * change the overlay makes goes through these methods. Paths are layer
 * paths, or names from tempPath() (objects in the workdir, moved into the
 * layer with rename). Errors are thrown as errno-carrying errors.
 */
export interface UpperLayer extends Layer {
  /** a host path for the object (FUSE passthrough backing files need one) */
  hostPath(path: string): string;
  /** a fresh temporary name in the workdir, on the same filesystem as the upper */
  tempPath(): string;
  /** can mknod char 0/0 whiteouts (root, or a user namespace that allows it) */
  readonly canMknod: boolean;
  mkdir(path: string, mode: number): void;
  mknod(path: string, mode: number, rdev: number): void;
  symlink(target: string | Buffer, path: string): void;
  link(existing: string, path: string): void;
  unlink(path: string): void;
  rmdir(path: string): void;
  /** a directory and everything in it (an upper dir that only holds whiteouts, a failed temp) */
  removeTree(path: string): void;
  /** flags: RENAME_NOREPLACE / RENAME_EXCHANGE */
  rename(from: string, to: string, flags?: number): void;
  /** open(2) with O_CREAT; returns the fd */
  create(path: string, flags: number, mode: number): number;
  /** an empty file (AUFS whiteouts, opaque markers) */
  createEmpty(path: string, mode: number): void;
  /**
   * The data of a host file (of `size` bytes, when known) into a new file at
   * `path` (FICLONE where the filesystem allows). Returns true when the file
   * was created with the permission bits `mode` (the host's umask applied),
   * false when its mode is something else (to be set by the caller).
   * `openSource`: an fd of the source (read-only) for a small file, when the
   * caller has a cheaper way to it than the host path.
   */
  copyFileFrom(hostSource: string, path: string, size?: number, mode?: number, openSource?: () => number): boolean;
  /** owner and umask of the objects this layer creates: copy-up skips a chown or chmod that would change nothing */
  readonly created?: { uid: number; gid: number; umask: number };
  /** a new file at `path` from chunks (layers without host files) */
  writeFile(path: string, chunks: AsyncIterable<Buffer>): Promise<void>;
  lchown(path: string, uid: number, gid: number): void;
  chmod(path: string, mode: number): void;
  truncate(path: string, size: number): void;
  /** nanosecond times; nsec may be UTIME_NOW / UTIME_OMIT; never follows a final symlink */
  utimens(path: string, atime: [number, number], mtime: [number, number]): void;
  setxattr(path: string, name: string, value: Buffer, flags: number): void;
  removexattr(path: string, name: string): void;
  statfs(): { blocks: number; bfree: number; bavail: number; files: number; ffree: number; bsize: number };
}

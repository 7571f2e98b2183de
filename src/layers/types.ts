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
  /** a real fd for reading, when the layer has one */
  open?(path: string, flags: number): number | Promise<number>;
  /** bytes at an offset, for layers without real fds */
  read?(path: string, offset: number, length: number): Buffer | Promise<Buffer>;
  /** a host path for the object when one exists (fast copy-up with FICLONE) */
  hostPath?(path: string): string | undefined;
  close?(): void | Promise<void>;
}

/** The writable layer (upperdir), with its workdir for atomic copy-up. */
export interface UpperLayer extends Layer {
  /** a host path under the upper root; every write goes through these */
  hostPath(path: string): string;
  /** a fresh temporary name in the workdir, on the same filesystem as the upper */
  tempPath(): string;
  /** can mknod char 0/0 whiteouts (root, or a user namespace that allows it) */
  readonly canMknod: boolean;
}

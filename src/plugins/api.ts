/**
 * The plugin contract (normative text: spec/plugin-api.md). A plugin is a
 * JavaScript or TypeScript module whose default export is a `Plugin`. The
 * overlay calls `load(data, path)` once for every `//NAME/DATA/PATH` element
 * of lowerdir; each DataSource it returns is one lower layer. Errors are
 * errno codes: throw an Error whose `code` is an errno name ('ENOENT') or
 * whose `errno` is a number; anything else becomes EIO plus a log line.
 */
import type { LayerDirent } from '../layers/types.js';

export const PLUGIN_API_VERSION = 1;

type R<T> = T | Promise<T>;

/** What a plugin reports for an object. Missing fields get defaults (spec/plugin-api.md §Stat). */
export interface DataSourceStat {
  /** S_IFMT type bits and permission bits, as in st_mode (required) */
  mode: number;
  size?: number;
  uid?: number;
  gid?: number;
  nlink?: number;
  /** stable for the life of the mount, equal for hard links; 0/absent = assigned by the overlay per path */
  ino?: number;
  rdev?: number;
  blocks?: number;
  blksize?: number;
  atimeNs?: bigint;
  mtimeNs?: bigint;
  ctimeNs?: bigint;
}

/** One operation the core is about to do in a layer. */
export interface HookEvent {
  /** the hook that runs: 'lookup' | 'readdir' | 'open' | 'read' | 'readlink' */
  op: HookName;
  /** layer path ('' = root) */
  path: string;
  /** open flags (open) */
  flags?: number;
  /** byte range (read) */
  offset?: number;
  size?: number;
}

export type HookName = 'lookup' | 'readdir' | 'open' | 'read' | 'readlink';
/** Runs before the core's operation; a returned promise is awaited (bounded by plugin_timeout); a throw fails the operation. */
export type Hook = (ev: HookEvent) => void | Promise<void>;
export type Hooks = Partial<Record<HookName, Hook>>;

export interface DataSource {
  /** lstat; null (or an ENOENT/ENOTDIR throw) when the path does not exist */
  stat(path: string): R<DataSourceStat | null>;
  /** cheaper existence test for whiteout/opaque probes; default: stat(path) !== null */
  exists?(path: string): R<boolean>;
  /** the names in a directory (no "." or ".."): an array, or any (async) iterable to stream them */
  readdir(path: string): R<LayerDirent[] | Iterable<LayerDirent> | AsyncIterable<LayerDirent>>;
  readlink(path: string): R<Buffer | string>;
  getxattr?(path: string, name: string): R<Buffer | null>;
  listxattr?(path: string): R<string[]>;
  /** a real OS fd opened for reading (the core closes it); lets FUSE passthrough and mmap use it directly */
  open?(path: string, flags: number): R<number>;
  /** bytes of a regular file at an offset, for sources without fds (short only at end of file) */
  read?(path: string, offset: number, length: number): R<Buffer>;
  /** a host path for the object, when one exists (fast copy-up, passthrough) */
  hostPath?(path: string): string | undefined;
  /** can this layer hold POSIX ACLs? false (the default) on any layer turns ACLs off, like noacl */
  supportsAcls?: boolean;
  /** st_dev for the layer; default: a hash of the lowerdir element */
  dev?: number;
  /** hooks run before the core's operations in this layer */
  hooks?: Hooks;
  /** at unmount */
  close?(): R<void>;
}

export interface PluginContext {
  /** a log line (shown with -d / -f / TSFUSE_DAEMON_LOG) */
  log(line: string): void;
  /** the built-in plain-directory data source on a host directory (what every non-plugin layer is) */
  directory(path: string): DataSource;
  /** the whole lowerdir element, `//NAME/DATA/PATH` */
  element: string;
}

export interface Plugin {
  /** must be PLUGIN_API_VERSION */
  version: number;
  /** unique among the loaded plugins; the NAME of `//NAME/DATA/PATH` */
  name: string;
  /** one call per lowerdir element: one data source, or several (several layers, top first) */
  load(data: string, path: string, ctx: PluginContext): R<DataSource | DataSource[]>;
  /** once, at unmount */
  release?(): R<void>;
  /** seconds a callback may take by default (plugin_timeout= overrides; default 5) */
  timeout?: number;
}

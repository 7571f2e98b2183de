/**
 * A plugin's data source seen as a Layer (the interface every layer has).
 * This adapter is the only place plugin code is called from the overlay:
 *   - every call is bounded: a callback that throws something without an
 *     errno, returns nonsense or does not settle within plugin_timeout
 *     fails that one operation with EIO and a log line;
 *   - stats are completed (defaults) and checked; objects without a plugin
 *     inode number get one per path, stable for the life of the mount;
 *   - streamed listings are collected (the overlay keeps a listing per open
 *     directory for stable offsets anyway);
 *   - hooks run before the operation they are registered for. Methods
 *     without a hook are not wrapped, so layers and operations without
 *     hooks pay nothing for the feature.
 */
import * as fs from 'node:fs';
import { S_IFDIR, S_IFMT } from '../fuse/abi.js';
import { Errno, errnoOf, FuseError } from '../fuse/errors.js';
import type { Layer, LayerDirent, LayerStat } from '../layers/types.js';
import type { DataSource, DataSourceStat, HookEvent, HookName, Hooks } from './api.js';

const { ENOENT, ENOTDIR } = Errno;
const MAX_SAFE = Number.MAX_SAFE_INTEGER;
/** setTimeout's limit (a longer delay fires at once) */
export const MAX_TIMER = 2 ** 31 - 1;
const MAX_LISTING = 10_000_000;

function isThenable<T>(v: unknown): v is PromiseLike<T> {
  return typeof (v as { then?: unknown } | null)?.then === 'function';
}

/** Bounds plugin calls: errno errors pass through, anything else (or no answer in time) is EIO plus a log line. */
export class Guard {
  constructor(readonly plugin: string, readonly timeoutMs: number, private readonly log: (line: string) => void) {}

  fail(what: string, e: unknown): FuseError {
    const errno = errnoOf(e);
    if (errno) return e instanceof FuseError ? e : new FuseError(errno);
    this.log(`plugin ${this.plugin}: ${what} failed: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
    return new FuseError('EIO', `plugin ${this.plugin}: ${what} failed`);
  }

  /**
   * Calls f; `then` shapes the result. Synchronous answers stay synchronous
   * (no timer). `late` disposes of an answer that comes after the timeout
   * (an fd nobody will close otherwise).
   */
  run<T, U>(what: string, f: () => T | PromiseLike<T>, then: (v: T) => U, late?: (v: T) => void): U | Promise<U> {
    let r: T | PromiseLike<T>;
    try {
      r = f();
      if (!isThenable<T>(r)) return then(r);
    } catch (e) {
      throw this.fail(what, e);
    }
    const p = r;
    return new Promise<U>((resolve, reject) => {
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        this.log(`plugin ${this.plugin}: ${what} did not answer within ${this.timeoutMs} ms`);
        reject(new FuseError('EIO', `plugin ${this.plugin}: ${what} timed out`));
      }, Math.min(this.timeoutMs, MAX_TIMER));
      p.then((v) => {
        clearTimeout(timer);
        if (timedOut) { try { late?.(v); } catch { /* nothing to do */ } return; }
        try { resolve(then(v)); } catch (e) { reject(this.fail(what, e)); }
      }, (e: unknown) => {
        clearTimeout(timer);
        reject(this.fail(what, e));
      });
    });
  }
}

/**
 * Collects a streamed listing, bounded: an endless one is an error, not an
 * out-of-memory daemon, and one still going at the deadline (the guard has
 * answered EIO by then) is stopped at its next entry (the loop's exit
 * calls the iterator's return()), not read on for nobody.
 */
async function collect(r: Iterable<LayerDirent> | AsyncIterable<LayerDirent>, deadline: number): Promise<LayerDirent[]> {
  const out: LayerDirent[] = [];
  for await (const e of r as AsyncIterable<LayerDirent>) {
    if (out.length >= MAX_LISTING) throw new Error(`a listing of more than ${MAX_LISTING} entries`);
    if (Date.now() > deadline) throw new Error('the listing was still streaming at the timeout');
    out.push(e);
  }
  return out;
}

function checkDirents(list: LayerDirent[]): LayerDirent[] {
  for (const e of list) {
    if (!e || typeof e.name !== 'string' || !e.name || e.name === '.' || e.name === '..' || e.name.includes('/') || e.name.includes('\0')) {
      throw new Error(`bad directory entry ${JSON.stringify(e?.name)}`);
    }
    if (typeof e.type !== 'number') e.type = 0;
  }
  return list;
}

const finiteInt = (v: unknown, dflt: number): number => (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= MAX_SAFE ? v : dflt);
const time = (v: unknown, dflt: bigint): bigint => (typeof v === 'bigint' && v >= 0n ? v : dflt);

export class PluginLayer implements Layer {
  readonly name: string;
  readonly dev: number;
  readonly supportsAcls: boolean;
  private readonly inos = new Map<string, number>();
  private nextIno = 1;
  /** one time for every object that has none: the mount time */
  private readonly born = BigInt(Date.now()) * 1_000_000n;
  hostPath?: (path: string) => string | undefined;
  open?: (path: string, flags: number) => number | Promise<number>;
  read?: (path: string, offset: number, length: number, fd?: number) => Buffer | Promise<Buffer>;
  /** a read hook watches every read: the overlay then reads through read(), never by passthrough */
  readsThrough?: boolean;

  constructor(private readonly src: DataSource, element: string, index: number, private readonly guard: Guard) {
    this.name = index ? `${element}#${index}` : element;
    this.dev = typeof src.dev === 'number' && Number.isInteger(src.dev) && src.dev > 0 ? src.dev : hashDev(this.name);
    this.supportsAcls = src.supportsAcls === true;
    if (src.hostPath) this.hostPath = (p) => src.hostPath!(p);
    if (src.open) this.open = (p, flags) => guard.run(`open ${p}`, () => src.open!(p, flags), (fd) => {
      if (!Number.isInteger(fd) || fd < 0) throw new Error(`open returned ${String(fd)}, not an fd`);
      return fd;
    }, (fd) => { if (Number.isInteger(fd) && fd >= 0) fs.close(fd, () => {}); });
    if (src.read) {
      this.read = (p, offset, length) => guard.run(`read ${p}`, () => src.read!(p, offset, length), (b) => {
        const u = b as unknown;
        if (!(u instanceof Uint8Array)) throw new Error('read returned no bytes');
        const buf = Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength);
        return buf.length > length ? buf.subarray(0, length) : buf;
      });
      // no fd: handles read through read()
      if (!src.open) this.open = () => -1;
    }
    if (src.hooks) this.addHooks(src.hooks);
  }

  stat(path: string): LayerStat | null | Promise<LayerStat | null> {
    return this.guard.run(`stat ${path}`, () => this.statOrNull(path), (st) => (st ? this.complete(path, st) : null));
  }

  private statOrNull(path: string): DataSourceStat | null | PromiseLike<DataSourceStat | null> {
    const missing = (e: unknown) => {
      const n = errnoOf(e);
      if (n === ENOENT || n === ENOTDIR) return null;
      throw e;
    };
    try {
      const r = this.src.stat(path);
      return isThenable<DataSourceStat | null>(r) ? Promise.resolve(r).catch(missing) : r;
    } catch (e) {
      return missing(e);
    }
  }

  exists(path: string): boolean | Promise<boolean> {
    const ex = this.src.exists;
    if (!ex) {
      const st = this.stat(path);
      return isThenable(st) ? st.then((s) => s !== null) : st !== null;
    }
    return this.guard.run(`exists ${path}`, () => ex.call(this.src, path), (v) => v === true);
  }

  /** Defaults and sanity for a plugin's stat: it must not be able to crash the overlay. */
  private complete(path: string, st: DataSourceStat): LayerStat {
    if (!st || typeof st.mode !== 'number' || !Number.isInteger(st.mode)) throw new Error(`stat ${path}: no mode`);
    const fmt = st.mode & S_IFMT;
    if (!fmt) throw new Error(`stat ${path}: mode ${st.mode.toString(8)} has no file type`);
    if (path === '' && fmt !== S_IFDIR) throw new Error('the layer root is not a directory');
    const size = finiteInt(st.size, 0);
    if (st.size !== undefined && size !== st.size) throw new Error(`stat ${path}: impossible size ${String(st.size)}`);
    const mtime = time(st.mtimeNs, this.born);
    return {
      mode: st.mode >>> 0, uid: finiteInt(st.uid, 0), gid: finiteInt(st.gid, 0),
      nlink: finiteInt(st.nlink, 0) || (fmt === S_IFDIR ? 2 : 1),
      ino: finiteInt(st.ino, 0) || this.inoFor(path),
      dev: this.dev, rdev: finiteInt(st.rdev, 0), size,
      blocks: finiteInt(st.blocks, Math.ceil(size / 512)), blksize: finiteInt(st.blksize, 4096) || 4096,
      atimeNs: time(st.atimeNs, mtime), mtimeNs: mtime, ctimeNs: time(st.ctimeNs, mtime), birthtimeNs: 0n,
    };
  }

  private inoFor(path: string): number {
    let ino = this.inos.get(path);
    if (ino === undefined) this.inos.set(path, (ino = this.nextIno++));
    return ino;
  }

  readdir(path: string): LayerDirent[] | Promise<LayerDirent[]> {
    const deadline = Date.now() + this.guard.timeoutMs;
    return this.guard.run(`readdir ${path}`, () => {
      const r = this.src.readdir(path);
      const list = (l: LayerDirent[] | Iterable<LayerDirent> | AsyncIterable<LayerDirent>) => (Array.isArray(l) ? l : collect(l, deadline));
      return isThenable(r) ? Promise.resolve(r).then(list) : list(r);
    }, (l) => checkDirents(l.slice()));
  }

  readlink(path: string): Buffer | Promise<Buffer> {
    return this.guard.run(`readlink ${path}`, () => this.src.readlink(path), (t) => {
      if (typeof t === 'string') return Buffer.from(t);
      if (!Buffer.isBuffer(t)) throw new Error('readlink returned no target');
      return t;
    });
  }

  getxattr(path: string, name: string): Buffer | null | Promise<Buffer | null> {
    const g = this.src.getxattr;
    if (!g) return null;
    return this.guard.run(`getxattr ${path} ${name}`, () => {
      try {
        const r = g.call(this.src, path, name);
        return isThenable<Buffer | null>(r) ? Promise.resolve(r).catch(noData) : r;
      } catch (e) {
        return noData(e);
      }
    }, (v) => (v === null || v === undefined ? null : Buffer.isBuffer(v) ? v : Buffer.from(v)));
  }

  listxattr(path: string): string[] | Promise<string[]> {
    const l = this.src.listxattr;
    if (!l) return [];
    return this.guard.run(`listxattr ${path}`, () => l.call(this.src, path), (names) => {
      if (!Array.isArray(names) || names.some((n) => typeof n !== 'string')) throw new Error('listxattr returned no list of names');
      return names;
    });
  }

  close(): void | Promise<void> {
    const c = this.src.close;
    if (!c) return;
    return this.guard.run('close', () => c.call(this.src), () => undefined);
  }

  /** Wraps exactly the methods that have a hook: the hook runs (and is awaited when it returns a promise) first. */
  private addHooks(hooks: Hooks): void {
    const before = <A extends unknown[], T>(name: HookName, event: (...a: A) => HookEvent, f: (...a: A) => T | Promise<T>) => {
      const hook = hooks[name];
      if (typeof hook !== 'function') return f;
      return (...a: A): T | Promise<T> => {
        const ev = event(...a);
        const r = this.guard.run(`${name} hook ${ev.path}`, () => hook(ev), () => undefined);
        return isThenable(r) ? r.then(() => f(...a)) : f(...a);
      };
    };
    const lookup = before('lookup', (path: string) => ({ op: 'lookup', path }), this.stat.bind(this));
    this.stat = lookup;
    // without its own exists(), exists() goes through stat, which already runs the hook
    if (this.src.exists) this.exists = before('lookup', (path: string) => ({ op: 'lookup', path }), this.exists.bind(this));
    this.readdir = before('readdir', (path: string) => ({ op: 'readdir', path }), this.readdir.bind(this));
    this.readlink = before('readlink', (path: string) => ({ op: 'readlink', path }), this.readlink.bind(this));
    if (this.open) this.open = before('open', (path: string, flags: number) => ({ op: 'open', path, flags }), this.open);
    if (typeof hooks.read === 'function' && this.open) {
      // reads of fd-backed files come here too (by the fd), so the hook sees them
      const viaSource = this.read;
      const byFd = (path: string, offset: number, length: number, fd?: number): Buffer | Promise<Buffer> => {
        if (fd === undefined || fd < 0) {
          if (!viaSource) throw new FuseError('EIO', `read ${path}: the plugin has no read callback`);
          return viaSource(path, offset, length);
        }
        return readFd(fd, offset, length);
      };
      this.read = before('read', (path: string, offset: number, size: number) => ({ op: 'read', path, offset, size }), byFd);
      this.readsThrough = true;
    }
  }
}

function readFd(fd: number, offset: number, length: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(length);
  return new Promise((res, rej) => fs.read(fd, buf, 0, length, offset, (e, n) => (e ? rej(e) : res(buf.subarray(0, n)))));
}

function noData(e: unknown): null {
  const n = errnoOf(e);
  if (n === Errno.ENODATA || n === Errno.ENOTSUP) return null;
  throw e;
}

/** A stable st_dev for a layer without one: FNV-1a of its element (like fuse-overlayfs' hash_string), never 0. */
export function hashDev(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return (h | 0x80000000) >>> 0;
}

/**
 * Built-in plugin `fetch-on-lookup`: the hook model of fuse-overlayfs PR
 * #79. The layer is a plain local directory (PATH/root) that starts empty;
 * hooks copy each entry in from the source tree (DATA) the first time the
 * overlay looks it up, lists its directory or opens it, and the overlay
 * then reads the local copy like any directory layer (so reads, mmap and
 * passthrough are native).
 *
 *   -o plugins=fetch-on-lookup,lowerdir=//fetch-on-lookup/<base64url of /src>/<work dir>
 *
 * PATH/root is the materialized tree (kept across mounts: a later mount
 * starts from what earlier ones fetched), PATH/tmp holds copies in flight
 * (each entry appears in root by one rename, so it is whole or absent).
 * The source is read through the plain-directory data source: its
 * symlinks are copied as symlinks, never followed.
 */
import * as fs from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { AT_FDCWD, shim } from '../../fuse/native.js';
import { DirectoryLayer } from '../../layers/directory.js';
import type { LayerStat } from '../../layers/types.js';
import type { DataSource, HookEvent, Hooks, Plugin, PluginContext } from '../api.js';
import { decodePathData } from '../data.js';

const S_IFMT = 0o170000, S_IFREG = 0o100000, S_IFDIR = 0o040000, S_IFLNK = 0o120000;
const NS = 1_000_000_000n;

class Fetcher {
  /** paths present locally (this mount) */
  private readonly done = new Set<string>();
  /** directories whose whole listing was fetched */
  private readonly listed = new Set<string>();
  private counter = 0;

  constructor(private readonly src: DirectoryLayer, private readonly root: string, private readonly tmp: string,
    private readonly log: (l: string) => void) {}

  private local(path: string): string {
    return path ? join(this.root, path) : this.root;
  }

  /** Brings PATH (and its parents) into the local tree; false when the source has no such entry. */
  fetch(path: string): boolean {
    if (path === '' || this.done.has(path)) return true;
    const slash = path.lastIndexOf('/');
    // a child exists only under a parent that is a directory in the source (never through a symlink)
    if (slash >= 0 && !this.fetchDir(path.slice(0, slash))) return false;
    const st = this.src.stat(path);
    if (!st) return false;
    if (!fs.lstatSync(this.local(path), { throwIfNoEntry: false })) this.copyIn(path, st);
    this.done.add(path);
    return true;
  }

  private fetchDir(path: string): boolean {
    if (!this.fetch(path)) return false;
    return path === '' || fs.lstatSync(this.local(path)).isDirectory();
  }

  /** Every entry of a directory (before the overlay lists it). */
  fetchListing(path: string): void {
    if (this.listed.has(path) || !this.fetchDir(path)) return;
    for (const e of this.src.readdir(path)) this.fetch(path ? `${path}/${e.name}` : e.name);
    this.listed.add(path);
  }

  /** Hard-linked source files: the local name of the first one fetched ("dev:ino" → path). */
  private readonly linked = new Map<string, string>();

  private copyIn(path: string, st: LayerStat): void {
    const key = `${st.dev}:${st.ino}`;
    const first = st.nlink > 1 && (st.mode & S_IFMT) === S_IFREG ? this.linked.get(key) : undefined;
    if (first !== undefined) fs.linkSync(this.local(first), this.local(path));
    else this.copyObject(path, st);
    if (st.nlink > 1 && (st.mode & S_IFMT) === S_IFREG && first === undefined) this.linked.set(key, path);
    // adding the entry changed the local directory's times: give it the source's back
    const slash = path.lastIndexOf('/');
    const parent = slash < 0 ? '' : path.slice(0, slash);
    const pst = this.src.stat(parent);
    if (pst) setTimes(this.local(parent), pst);
    this.log(`fetched ${path}`);
  }

  private copyObject(path: string, st: LayerStat): void {
    const tmp = join(this.tmp, `#${(this.counter++).toString(16)}`);
    const fmt = st.mode & S_IFMT;
    const host = this.src.hostPath(path);
    try {
      if (fmt === S_IFREG) fs.copyFileSync(host, tmp, fs.constants.COPYFILE_FICLONE);
      else if (fmt === S_IFDIR) fs.mkdirSync(tmp, 0o700);
      else if (fmt === S_IFLNK) fs.symlinkSync(this.src.readlink(path), tmp);
      else if (shim().mknodat(AT_FDCWD, tmp, st.mode, st.rdev) < 0) throw new Error(`cannot make the special file ${path}`);
      try { fs.lchownSync(tmp, st.uid, st.gid); } catch { /* not root: keep ours */ }
      if (fmt !== S_IFLNK) fs.chmodSync(tmp, st.mode & 0o7777);
      for (const name of this.src.listxattr(path)) {
        const v = this.src.getxattr(path, name);
        if (v) shim().lsetxattr(AT_FDCWD, tmp, name, v, 0);
      }
      setTimes(tmp, st);
      fs.renameSync(tmp, this.local(path));
    } catch (e) {
      fs.rmSync(tmp, { recursive: true, force: true });
      throw e;
    }
  }
}

function setTimes(hostPath: string, st: LayerStat): void {
  shim().utimensat(AT_FDCWD, hostPath, Number(st.atimeNs / NS), Number(st.atimeNs % NS), Number(st.mtimeNs / NS), Number(st.mtimeNs % NS), true);
}

const plugin: Plugin = {
  version: 1,
  name: 'fetch-on-lookup',
  load(data: string, path: string, ctx: PluginContext): DataSource {
    if (!isAbsolute(path)) throw new Error(`PATH ${JSON.stringify(path)}: the work directory must be an absolute path`);
    const source = new DirectoryLayer(decodePathData(data));
    const root = join(path, 'root'), tmp = join(path, 'tmp');
    fs.mkdirSync(root, { recursive: true });
    fs.rmSync(tmp, { recursive: true, force: true });
    fs.mkdirSync(tmp, { mode: 0o700 });
    return new FetchedTree(root, source, new Fetcher(source, root, tmp, ctx.log));
  },
};

/** The layer: the local tree as a plain-directory data source, plus two hooks. */
class FetchedTree extends DirectoryLayer {
  readonly hooks: Hooks;

  constructor(root: string, private readonly source: DirectoryLayer, f: Fetcher) {
    super(root);
    this.hooks = {
      lookup: (ev: HookEvent) => { f.fetch(ev.path); },
      readdir: (ev: HookEvent) => { f.fetchListing(ev.path); },
    };
  }

  /** source directories' link counts (the source does not change under a mount) */
  private readonly dirLinks = new Map<string, number>();

  /** A directory's link count depends on subdirectories not fetched yet: the source's (asked once per directory). */
  override stat(path: string): LayerStat | null {
    const st = super.stat(path);
    if (st && (st.mode & S_IFMT) === S_IFDIR) {
      let n = this.dirLinks.get(path);
      if (n === undefined) {
        n = this.source.stat(path)?.nlink ?? st.nlink;
        this.dirLinks.set(path, n);
      }
      st.nlink = n;
    }
    return st;
  }

  override close(): void {
    super.close();
    this.source.close();
  }
}
export default plugin;

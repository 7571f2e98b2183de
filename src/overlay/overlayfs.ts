/**
 * The overlay filesystem: lookup across layers top-down, whiteouts and
 * opaque dirs, copy-up on the first change, merged readdir, rename rules
 * (EXDEV for directories with lower parts, as redirect_dir=off), id
 * mapping. Every layer is reached through the Layer interface
 * (src/layers/); the only host paths touched directly are the upper's.
 */
import * as fs from 'node:fs';
import { FOpen, RENAME_EXCHANGE, RENAME_NOREPLACE, ROOT_ID, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG, SetattrValid } from '../fuse/abi.js';
import type { ConnectionInfo, FileSystem, SetattrArgs } from '../fuse/api.js';
import { BackingFiles } from '../fuse/backing.js';
import { direntsThatFit } from '../fuse/codec.js';
import type { SessionOptions } from '../fuse/session.js';
import { FuseError } from '../fuse/errors.js';
import { shim } from '../fuse/native.js';
import type { Attr, AttrReply, Context, DirEntry, DirEntryPlus, Entry, Open, Statfs } from '../fuse/types.js';
import { toLayerStat } from '../layers/directory.js';
import type { Layer, LayerDirent, LayerStat, UpperLayer } from '../layers/types.js';
import { ACL_DEFAULT, newObjectAcl, type NewObjectAcl } from './acl.js';
import { copyUpObject, ORIGIN_XATTR } from './copyup.js';
import { IdMap } from './idmap.js';
import { isOverrideXattr, Ownership } from './permissions.js';
import { NodeTable, type OvlNode } from './node.js';
import type { OverlayOptions } from './options.js';
import {
  aufsNames, createWhiteout, hasAufsWhiteout, hasXattrWhiteouts, isOpaque, isPrivateXattr, isWhiteoutStat, join2, makeOpaque, OPAQUE_MARKER,
  NO_NAMES, removeWhiteout, WH_PREFIX,
} from './whiteout.js';

const NS = 1_000_000_000n;
const O_ACCMODE = 3, O_WRONLY = 1, O_RDWR = 2, O_CREAT = 0o100, O_EXCL = 0o200, O_TRUNC = 0o1000, O_APPEND = 0o2000;
const DT_CHR = 2;
const SEEK_HOLE = 4;
const UTIME_NOW = (1 << 30) - 1, UTIME_OMIT = (1 << 30) - 2;
/** the layers of a non-directory: none (one shared frozen array instead of an empty one per node) */
const NO_LAYERS: number[] = Object.freeze([]) as unknown as number[];

interface Found {
  layer: number;
  path: string;
  st: LayerStat;
  dirLayers: number[];
}

interface Handle {
  /** -1: the layer has no fd for the file; reads go through Layer.read */
  fd: number;
  node: OvlNode;
  /** where the object was when opened (a later copy-up does not move a read-only handle) */
  layer: Layer;
  path: string;
}

interface DirHandle {
  /** listed on the first READDIR (the kernel may serve the whole listing from its cache);
   * ino 0 = not computed yet (plain READDIR computes it for what it returns) */
  entries?: ListEntry[];
}

/** A name of a merged listing: its type, its st_ino once known (0: not yet), the layer it was listed from. */
interface ListEntry { name: string; type: number; ino: number; layer: number }

function split(ns: bigint): [number, number] {
  return [Number(ns / NS), Number(ns % NS)];
}

function check(r: number, what?: string): number {
  if (r < 0) throw new FuseError(-r, what);
  return r;
}

export class OverlayFS implements FileSystem {
  readonly layers: Layer[];
  readonly upper: UpperLayer | undefined;
  private readonly nodes: NodeTable;
  private readonly devIndex = new Map<number, number>();
  private readonly handles = new Map<number, Handle>();
  private readonly dirs = new Map<number, DirHandle>();
  private nextHandle = 1;
  private readonly timeout: number;
  /** FUSE_POSIX_ACL negotiated: we apply the umask and default ACLs to new objects */
  private readonly acls: boolean;
  private readonly own: Ownership;
  private readonly uids: IdMap;
  private readonly gids: IdMap;
  private conn: ConnectionInfo | undefined;
  private backing: BackingFiles | undefined;
  /** asked of the session by the CLI: FUSE passthrough when root (the kernel then serves read/write/mmap) */
  readonly sessionOptions: SessionOptions;
  /** run at unmount, after the layers are closed (plugin release) */
  readonly atDestroy: (() => Promise<void> | void)[] = [];

  constructor(readonly opts: OverlayOptions, upper: UpperLayer | undefined, lowers: Layer[], private readonly log: (l: string) => void = () => {}) {
    this.upper = upper;
    this.layers = upper ? [upper, ...lowers] : lowers;
    for (const l of this.layers) if (!this.devIndex.has(l.dev)) this.devIndex.set(l.dev, this.devIndex.size);
    // like fuse-overlayfs: everything changes through us, so the kernel may cache "forever"
    this.timeout = opts.timeout ?? 1e9;
    // POSIX ACLs as fuse-overlayfs: on unless noacl, when every layer can hold them (the kernel then checks them)
    this.acls = !opts.noacl && this.layers.every((l) => l.supportsAcls === true);
    this.sessionOptions = { passthrough: process.getuid?.() === 0 && !opts.writeback, maxStackDepth: 2, posixAcl: this.acls };
    this.own = new Ownership(opts.xattrPermissions ?? 0);
    this.uids = new IdMap(opts.uidMappings, opts.squashToUid ?? (opts.squashToRoot ? 0 : undefined));
    this.gids = new IdMap(opts.gidMappings, opts.squashToGid ?? (opts.squashToRoot ? 0 : undefined));
    const rootLayers = this.layers.map((_, i) => i);
    this.nodes = new NodeTable({
      ino: 0, fmt: S_IFDIR, isDir: true, layer: 0, path: '', dirLayers: rootLayers, parent: null, name: '', keys: [],
    });
  }

  async init(conn: ConnectionInfo): Promise<void> {
    this.conn = conn;
    if (conn.passthrough) this.backing = new BackingFiles(conn.devFd);
    const root = this.nodes.get(ROOT_ID)!;
    const st = await this.layers[0].stat('');
    if (st) root.ino = this.inoOf(this.layers[0], st.ino);
  }

  // ------------------------------------------------------------- resolving

  private node(id: number): OvlNode {
    const n = this.nodes.get(id);
    if (!n) throw new FuseError('ESTALE');
    return n;
  }

  private dirNode(id: number): OvlNode {
    const n = this.node(id);
    if (!n.isDir) throw new FuseError('ENOTDIR');
    return n;
  }

  private inoOf(layer: Layer, ino: number): number {
    const d = this.devIndex.get(layer.dev) ?? 0;
    return d === 0 ? ino : d * 2 ** 44 + (ino % 2 ** 44);
  }

  /** Finds NAME under the directory node, top layer first. `from` skips layers above it. */
  private async find(dir: OvlNode, name: string, from = 0): Promise<Found | null> {
    let found: Found | null = null;
    const p = join2(dir.path, name);
    const layers = dir.dirLayers, last = layers[layers.length - 1];
    for (const li of layers) {
      if (li < from) continue;
      const L = this.layers[li];
      const st = await this.statIn(li, p);
      // markers only matter for the layers below: the bottom layer of the directory needs no probes
      if (!st) {
        if (li !== last && (await this.aufsWhiteout(dir, li, name))) break;
        continue;
      }
      // lookups honour xattr whiteouts everywhere, listings only in "x" directories: the kernel's two rules
      if (await isWhiteoutStat(L, p, st, true)) break;
      if ((st.mode & S_IFMT) === S_IFDIR) {
        if (!found) found = { layer: li, path: p, st, dirLayers: [] };
        else if ((found.st.mode & S_IFMT) !== S_IFDIR) break;
        found.dirLayers.push(li);
        if (li === last) break;
        if (await isOpaque(L, p)) break;
        if (await this.aufsWhiteout(dir, li, name)) break;
        continue;
      }
      if (!found) found = { layer: li, path: p, st, dirLayers: NO_LAYERS };
      break;
    }
    return found;
  }

  /** The node for a found object: the same node for the same object (hard links, repeated lookups). */
  private async nodeFor(parent: OvlNode, name: string, f: Found, fresh = false): Promise<OvlNode> {
    const isDir = (f.st.mode & S_IFMT) === S_IFDIR;
    let idLayer = this.layers[f.layer], idIno = f.st.ino;
    if (isDir) {
      const bottom = f.dirLayers[f.dirLayers.length - 1];
      const bst = bottom === f.layer ? f.st : await this.layers[bottom].stat(f.path);
      if (bst) { idLayer = this.layers[bottom]; idIno = bst.ino; }
    } else if (f.layer === 0 && this.upper && !fresh) {
      // copied up earlier (maybe in an earlier mount): keep the lower object's identity
      const origin = await this.upper.getxattr(f.path, ORIGIN_XATTR);
      if (origin) {
        const op = origin.toString();
        for (let li = 1; li < this.layers.length; li++) {
          const ost = await this.layers[li].stat(op);
          // a hard-linked origin keeps its other names in the lower layer: after a remount they are
          // separate files again (as on disk), so the copy must not claim their inode number
          if (ost && (ost.mode & S_IFMT) === (f.st.mode & S_IFMT)) {
            if (ost.nlink <= 1) { idLayer = this.layers[li]; idIno = ost.ino; }
            break;
          }
        }
      }
    }
    const objDev = this.layers[f.layer].dev;
    let n = this.nodes.byObject(idLayer.dev, idIno) ?? this.nodes.byObject(objDev, f.st.ino);
    if (n && n.isDir === isDir) {
      if (!isDir && n.layer === 0 && f.layer !== 0) {
        // another lower name of a hard link already copied up: it becomes an upper link of the copy
        await this.linkUp(n, parent, name);
      } else {
        // a directory met at another path forgets what it knew of its old place
        if (isDir && n.path !== f.path) n.aufs = undefined;
        n.layer = f.layer;
        n.path = f.path;
      }
      if (isDir) n.dirLayers = f.dirLayers;
      else if (n.names || f.st.nlink > 1) (n.names ??= new Set()).add(join2(parent.path, name));
      n.parent = parent;
      n.name = name;
      return n;
    }
    n = this.nodes.add({
      ino: this.inoOf(idLayer, idIno), fmt: f.st.mode & S_IFMT, isDir, layer: f.layer, path: f.path, dirLayers: f.dirLayers,
      parent, name, keys: idLayer.dev === objDev && idIno === f.st.ino ? [objDev, idIno] : [idLayer.dev, idIno, objDev, f.st.ino],
    });
    if (!isDir && f.st.nlink > 1) n.names = new Set([f.path]);
    return n;
  }

  /**
   * Lower hard links are one inode for the life of the mount. When one name
   * is copied up, every other name of it we know (or meet later) is made an
   * upper hard link of the copy, so what was written through any name is on
   * disk under that name too (names never met keep the lower data).
   */
  private async linkUp(n: OvlNode, dir: OvlNode, name: string): Promise<void> {
    const upper = this.requireUpper();
    const target = join2(dir.path, name);
    if (target === n.path) return;
    await this.upperDir(dir);
    if (!(await this.unwhiteout(dir, name)) && (await upper.stat(target))) return;
    upper.link(n.path, target);
  }

  /** lstat in a layer, with owner/mode overrides applied (xattr_permissions) */
  private async statIn(li: number, path: string): Promise<LayerStat | null> {
    const L = this.layers[li];
    const st = await L.stat(path);
    return st && this.own.inXattrs ? this.own.apply(L, path, st) : st;
  }

  /** The object's own stat, without overrides: what copy-up reproduces. */
  private async rawStat(n: OvlNode): Promise<LayerStat> {
    const st = await this.layers[n.layer].stat(n.path);
    if (!st) throw new FuseError('ENOENT', `${n.path} vanished from ${this.layers[n.layer].name}`);
    return st;
  }

  private async statNode(n: OvlNode): Promise<LayerStat> {
    if (n.gone) {
      for (const fd of n.fds ?? []) return toLayerStat(fs.fstatSync(fd, { bigint: true }));
      throw new FuseError('ENOENT', `${n.path} was removed`);
    }
    const st = await this.statIn(n.layer, n.path);
    if (!st) throw new FuseError('ENOENT', `${n.path} vanished from ${this.layers[n.layer].name}`);
    return st;
  }

  private attr(n: OvlNode, st: LayerStat): Attr {
    const [atime, atimensec] = split(st.atimeNs), [mtime, mtimensec] = split(st.mtimeNs), [ctime, ctimensec] = split(st.ctimeNs);
    let nlink = st.nlink;
    if (n.isDir && (this.opts.staticNlink || n.dirLayers.length > 1)) nlink = 1;
    if (n.gone && !n.isDir) nlink = 0;
    return {
      ino: n.ino, size: st.size, blocks: st.blocks, atime, atimensec, mtime, mtimensec, ctime, ctimensec,
      mode: st.mode, nlink, uid: this.uids.toMount(st.uid), gid: this.gids.toMount(st.gid), rdev: st.rdev, blksize: st.blksize,
    };
  }

  private entry(n: OvlNode, st: LayerStat): Entry {
    n.nlookup++;
    return { nodeid: n.nodeid, entryValid: this.timeout, attrValid: this.timeout, attr: this.attr(n, st) };
  }

  async lookup(_c: Context, parent: number, name: string): Promise<Entry> {
    const dir = this.dirNode(parent);
    if (name.startsWith(WH_PREFIX)) throw new FuseError('ENOENT');
    const f = await this.find(dir, name);
    if (!f) throw new FuseError('ENOENT');
    return this.entryFound(dir, name, f);
  }

  /** The entry for a found name: attributes of the node's object (a hard link found in a lower layer may already live in the upper). */
  private async entryFound(dir: OvlNode, name: string, f: Found): Promise<Entry> {
    const n = await this.nodeFor(dir, name, f);
    const st = n.layer === f.layer && n.path === f.path ? f.st : await this.statNode(n);
    return this.entry(n, st);
  }

  forget(id: number, nlookup: number): void {
    this.nodes.forget(id, nlookup);
  }

  async getattr(_c: Context, ino: number, fh: number | undefined): Promise<AttrReply> {
    const n = this.node(ino);
    const h = fh !== undefined ? this.handles.get(fh) : undefined;
    const st = h && h.fd >= 0 && !this.own.inXattrs ? toLayerStat(fs.fstatSync(h.fd, { bigint: true })) : await this.statNode(n);
    return { attr: this.attr(n, st), attrValid: this.timeout };
  }

  // --------------------------------------------------------------- copy-up

  private requireUpper(): UpperLayer {
    if (!this.upper) throw new FuseError('EROFS');
    return this.upper;
  }

  /** Makes the directory exist in the upper (parents first). */
  private async upperDir(dir: OvlNode): Promise<void> {
    const upper = this.requireUpper();
    if (dir.dirLayers[0] === 0) return;
    if (dir.parent) await this.upperDir(dir.parent);
    const st = await this.rawStat(dir);
    await copyUpObject(this.layers[dir.layer], dir.path, upper, dir.path, st);
    dir.dirLayers = [0, ...dir.dirLayers];
    dir.layer = 0;
    (dir.aufs ??= [])[0] = NO_NAMES; // made empty just now
  }

  /**
   * Copies a node's object up (parents first); afterwards it lives in the
   * upper. `known`: the object's own stat, when the caller has just read it.
   */
  private async copyUp(n: OvlNode, known?: LayerStat): Promise<void> {
    const upper = this.requireUpper();
    if (n.isDir) return this.upperDir(n);
    if (n.layer === 0) return;
    const parent = n.parent!;
    await this.upperDir(parent);
    const target = join2(parent.path, n.name);
    const st = known ?? await this.rawStat(n);
    await copyUpObject(this.layers[n.layer], n.path, upper, target, st);
    n.layer = 0;
    n.path = target;
    const ust = await upper.stat(target);
    if (ust) this.nodes.alias(upper.dev, ust.ino, n);
    for (const other of n.names ?? []) {
      if (other === target) continue;
      const slash = other.lastIndexOf('/');
      const dirNode = await this.dirAt(slash < 0 ? '' : other.slice(0, slash));
      if (dirNode) await this.linkUp(n, dirNode, other.slice(slash + 1));
    }
  }

  /** The directory node for a merged path, walking down from the root (null when it is gone). */
  private async dirAt(path: string): Promise<OvlNode | null> {
    let d = this.nodes.get(ROOT_ID)!;
    if (!path) return d;
    for (const part of path.split('/')) {
      const f = await this.find(d, part);
      if (!f || (f.st.mode & S_IFMT) !== S_IFDIR) return null;
      d = await this.nodeFor(d, part, f);
    }
    return d;
  }

  /** Does any layer below the upper show NAME in this directory? (then removing it needs a whiteout) */
  private async lowerHas(dir: OvlNode, name: string): Promise<boolean> {
    return (await this.find(dir, name, 1)) !== null;
  }

  /**
   * lowerHas() for a name find() just resolved to `f`: found below the
   * upper (or a directory with lower parts), the answer is yes without a
   * second lookup; only an object wholly in the upper needs one (an opaque
   * or replacing upper copy may still hide a lower namesake).
   */
  private lowerHasFound(dir: OvlNode, name: string, f: Found): boolean | Promise<boolean> {
    return f.layer > 0 || f.dirLayers.some((li) => li > 0) || this.lowerHas(dir, name);
  }

  private ownIds(c: Context): [number, number] {
    return [this.uids.toLayer(c.uid), this.gids.toLayer(c.gid)];
  }

  /**
   * Owner (the caller, mapped), mode and ACLs of a new upper object (or
   * workdir temp) we just created with the permission bits of `acl.mode`;
   * returns its stat. Only what the creation did not already get right is
   * changed: usually nothing, when the caller is the daemon's own user.
   */
  private async settle(c: Context, path: string, type: number, acl: NewObjectAcl): Promise<LayerStat> {
    const upper = this.upper!;
    const [uid, gid] = this.ownIds(c);
    const mode = type === S_IFLNK ? undefined : acl.mode & 0o7777;
    if (this.own.inXattrs) {
      this.own.set(upper, path, { uid, gid, mode: type }, { uid, gid, mode }, true);
      this.setAcls(path, acl);
      return this.rawStatOf(path);
    }
    let st = await upper.stat(path);
    if (!st) throw new FuseError('ENOENT', `${path} vanished after creation`);
    const chown = st.uid !== uid || st.gid !== gid;
    // chown clears set-ID bits: those are set again after it
    const chmod = mode !== undefined && ((st.mode & 0o7777) !== mode || (chown && (mode & 0o6000) !== 0));
    if (chown || chmod) {
      this.own.set(upper, path, st, { uid: chown ? uid : undefined, gid: chown ? gid : undefined, mode: chmod ? mode : undefined }, true);
      st = null;
    }
    if (acl.xattrs.length) { this.setAcls(path, acl); st = null; }
    return st ?? (await this.rawStatOf(path));
  }

  private async rawStatOf(path: string): Promise<LayerStat> {
    const st = await this.upper!.stat(path);
    if (!st) throw new FuseError('ENOENT', `${path} vanished after creation`);
    return this.own.inXattrs ? this.own.apply(this.upper!, path, st) : st;
  }

  /** The entry of an object we just created in the upper at DIR/NAME (nothing to look up: no whiteout, no origin, no lower part). */
  private async entryNew(dir: OvlNode, name: string, st: LayerStat): Promise<Entry> {
    const path = join2(dir.path, name);
    const isDir = (st.mode & S_IFMT) === S_IFDIR;
    const n = await this.nodeFor(dir, name, { layer: 0, path, st, dirLayers: isDir ? [0] : NO_LAYERS }, true);
    return this.entry(n, st);
  }

  /** With ACLs on, the mode a new object in DIR gets (umask or inherited default ACL) and the ACL xattrs to set on it. */
  private async newObject(dir: OvlNode, mode: number, umask: number, isDir: boolean): Promise<NewObjectAcl> {
    if (!this.acls) return { mode: mode & 0o7777, xattrs: [] };
    // read once per directory: every create in it needs it (setxattr/removexattr of it forget it)
    if (dir.aclDefault === undefined) dir.aclDefault = await this.layers[dir.layer].getxattr(dir.path, ACL_DEFAULT);
    return newObjectAcl(mode, umask, isDir, dir.aclDefault);
  }

  private setAcls(path: string, a: NewObjectAcl): void {
    for (const [name, value] of a.xattrs) this.upper!.setxattr(path, name, value, 0);
  }

  /** Prepares DIR/NAME for a new object: upper dir, name free, stale whiteouts gone. Returns whether a lower object was hidden there. */
  private async prepareCreate(dir: OvlNode, name: string): Promise<{ hidLower: boolean }> {
    if (name.startsWith(WH_PREFIX)) throw new FuseError('EINVAL', 'names starting with .wh. are reserved');
    if (Buffer.byteLength(name) > 255) throw new FuseError('ENAMETOOLONG');
    const upper = this.requireUpper();
    if (await this.find(dir, name)) throw new FuseError('EEXIST');
    await this.upperDir(dir);
    const hadWhiteout = await this.unwhiteout(dir, name);
    const hidLower = hadWhiteout || (dir.dirLayers.length > 1 && (await this.lowerHasAny(dir, name)));
    return { hidLower };
  }

  /** Is there any object named NAME in the lower layers of DIR, visible or whited out? */
  private async lowerHasAny(dir: OvlNode, name: string): Promise<boolean> {
    const p = join2(dir.path, name);
    for (const li of dir.dirLayers) if (li > 0 && (await this.layers[li].stat(p))) return true;
    return false;
  }

  // -------------------------------------------------------------- creating

  async mkdir(c: Context, parent: number, name: string, mode: number, umask = 0): Promise<Entry> {
    const dir = this.dirNode(parent);
    const { hidLower } = await this.prepareCreate(dir, name);
    const upper = this.upper!;
    const acl = await this.newObject(dir, mode, umask, true);
    const tmp = upper.tempPath();
    const path = join2(dir.path, name);
    upper.mkdir(tmp, acl.mode & 0o777);
    try {
      await this.settle(c, tmp, S_IFDIR, acl);
      // a new dir over a deleted lower one must not merge with it
      if (hidLower) makeOpaque(upper, tmp);
      upper.rename(tmp, path);
    } catch (e) {
      upper.removeTree(tmp);
      throw e;
    }
    return this.entryNew(dir, name, await this.rawStatOf(path));
  }

  async mknod(c: Context, parent: number, name: string, mode: number, rdev: number, umask = 0): Promise<Entry> {
    const dir = this.dirNode(parent);
    await this.prepareCreate(dir, name);
    const path = join2(dir.path, name);
    const acl = await this.newObject(dir, mode, umask, false);
    this.upper!.mknod(path, (mode & S_IFMT) | (acl.mode & 0o777), rdev);
    return this.entryNew(dir, name, await this.settle(c, path, mode & S_IFMT, acl));
  }

  async symlink(c: Context, parent: number, name: string, target: string): Promise<Entry> {
    const dir = this.dirNode(parent);
    await this.prepareCreate(dir, name);
    const path = join2(dir.path, name);
    this.upper!.symlink(target, path);
    return this.entryNew(dir, name, await this.settle(c, path, S_IFLNK, { mode: 0o777, xattrs: [] }));
  }

  async link(_c: Context, ino: number, newparent: number, newname: string): Promise<Entry> {
    const n = this.node(ino);
    if (n.isDir) throw new FuseError('EPERM');
    const dir = this.dirNode(newparent);
    await this.prepareCreate(dir, newname);
    await this.copyUp(n);
    this.upper!.link(n.path, join2(dir.path, newname));
    (n.names ??= new Set([n.path])).add(join2(dir.path, newname));
    const st = await this.statNode(n);
    return this.entry(n, st);
  }

  async create(c: Context, parent: number, name: string, mode: number, flags: number, umask = 0): Promise<{ entry: Entry; open: Open }> {
    const dir = this.dirNode(parent);
    await this.prepareCreate(dir, name);
    const path = join2(dir.path, name);
    const acl = await this.newObject(dir, mode, umask, false);
    const fd = this.upper!.create(path, this.hostFlags(flags) | O_EXCL, acl.mode & 0o777);
    try {
      const entry = await this.entryNew(dir, name, await this.settle(c, path, S_IFREG, acl));
      return { entry, open: this.openHandle(fd, this.node(entry.nodeid), flags) };
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
  }

  // -------------------------------------------------------------- removing

  async unlink(_c: Context, parent: number, name: string): Promise<void> {
    const dir = this.dirNode(parent);
    const upper = this.requireUpper();
    const f = await this.find(dir, name);
    if (!f) throw new FuseError('ENOENT');
    if ((f.st.mode & S_IFMT) === S_IFDIR) throw new FuseError('EISDIR');
    await this.upperDir(dir);
    const needWhiteout = await this.lowerHasFound(dir, name, f);
    const n = this.nodes.byObject(this.layers[f.layer].dev, f.st.ino);
    if (f.layer === 0) {
      upper.unlink(f.path);
      await this.nameGone(n, f);
    } else n?.names?.delete(f.path);
    if (needWhiteout) this.whiteout(dir, name);
  }

  /**
   * The upper name `f.path` of node `n` no longer names its object (unlinked,
   * or replaced by a rename): the node is gone with its last link, or lives
   * on under another of its names.
   */
  private async nameGone(n: OvlNode | undefined, f: Found): Promise<void> {
    if (!n) return;
    n.names?.delete(f.path);
    if (n.isDir) {
      n.dirLayers = [];
      n.aufs = undefined;
      n.gone = true;
    } else if (f.st.nlink <= 1) n.gone = true;
    else if (n.path === f.path) {
      for (const other of n.names ?? []) if (await this.upper!.stat(other)) { n.path = other; break; }
    }
  }

  async rmdir(_c: Context, parent: number, name: string): Promise<void> {
    const dir = this.dirNode(parent);
    const upper = this.requireUpper();
    const f = await this.find(dir, name);
    if (!f) throw new FuseError('ENOENT');
    if ((f.st.mode & S_IFMT) !== S_IFDIR) throw new FuseError('ENOTDIR');
    const child = await this.nodeFor(dir, name, f);
    if ((await this.listMerged(child)).length) throw new FuseError('ENOTEMPTY');
    await this.upperDir(dir);
    // also below an opaque upper copy: a lower dir of that name must stay hidden
    const hasLower = await this.lowerHasFound(dir, name, f);
    if (f.dirLayers[0] === 0) {
      // only whiteouts and markers are left in the upper copy
      upper.removeTree(f.path);
    }
    if (hasLower) this.whiteout(dir, name);
    child.dirLayers = [];
    child.aufs = undefined;
    child.gone = true;
  }

  async rename(_c: Context, parent: number, name: string, newparent: number, newname: string, flags: number): Promise<void> {
    const upper = this.requireUpper();
    if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE)) throw new FuseError('EINVAL');
    if (newname.startsWith(WH_PREFIX)) throw new FuseError('EINVAL');
    const from = this.dirNode(parent), to = this.dirNode(newparent);
    const src = await this.find(from, name);
    if (!src) throw new FuseError('ENOENT');
    const dst = await this.find(to, newname);
    if (flags & RENAME_NOREPLACE && dst) throw new FuseError('EEXIST');
    if (flags & RENAME_EXCHANGE && !dst) throw new FuseError('ENOENT');
    const srcDir = (src.st.mode & S_IFMT) === S_IFDIR;
    const dstDir = dst ? (dst.st.mode & S_IFMT) === S_IFDIR : false;
    // redirect_dir=off: a directory with lower parts cannot move
    if (srcDir && src.dirLayers.some((li) => li > 0)) throw new FuseError('EXDEV');
    if (flags & RENAME_EXCHANGE && dstDir && dst!.dirLayers.some((li) => li > 0)) throw new FuseError('EXDEV');
    if (dst && !(flags & RENAME_EXCHANGE)) {
      if (srcDir && !dstDir) throw new FuseError('ENOTDIR');
      if (!srcDir && dstDir) throw new FuseError('EISDIR');
      if (dstDir) {
        const dn = await this.nodeFor(to, newname, dst);
        if ((await this.listMerged(dn)).length) throw new FuseError('ENOTEMPTY');
      }
    }
    if (src.layer === dst?.layer && src.path === dst.path && !(flags & RENAME_EXCHANGE)) return;
    const srcNode = await this.nodeFor(from, name, src);
    // found below the upper: its stat is the object's own (unless owners live in xattrs)
    await this.copyUp(srcNode, src.layer > 0 && !this.own.inXattrs && srcNode.layer === src.layer ? src.st : undefined);
    await this.upperDir(to);
    const srcPath = join2(from.path, name), dstPath = join2(to.path, newname);
    const srcNeedsWhiteout = !(flags & RENAME_EXCHANGE) && (await this.lowerHasFound(from, name, src));
    if (flags & RENAME_EXCHANGE) {
      const dstNode = await this.nodeFor(to, newname, dst!);
      await this.copyUp(dstNode);
      // a directory that lands where a lower entry exists must not merge with it
      if (srcDir && (await this.lowerHasAny(to, newname))) makeOpaque(upper, join2(from.path, name));
      if (dstDir && (await this.lowerHasAny(from, name))) makeOpaque(upper, join2(to.path, newname));
      upper.rename(srcPath, dstPath, RENAME_EXCHANGE);
      if (srcDir || dstDir) this.swapPaths(srcPath, dstPath);
      else [srcNode.path, dstNode.path] = [dstPath, srcPath];
      // the merged names of lower hard links move with their objects
      const srcMoved = srcNode.names?.delete(srcPath), dstMoved = dstNode.names?.delete(dstPath);
      if (srcMoved) srcNode.names!.add(dstPath);
      if (dstMoved) dstNode.names!.add(srcPath);
      return;
    }
    if (dst) {
      // the upper may hold the target itself or only a whiteout of it
      const dstHidesLower = await this.lowerHasFound(to, newname, dst);
      if (dstDir && dst.dirLayers[0] === 0) upper.removeTree(dstPath);
      // the object the rename replaces: its node (if the kernel still holds one) must not point at what comes next
      if (dst.layer === 0) await this.nameGone(this.nodes.byObject(this.layers[dst.layer].dev, dst.st.ino), dst);
      if (srcDir && dstHidesLower) makeOpaque(upper, join2(from.path, name));
    } else {
      const hadWhiteout = await this.unwhiteout(to, newname);
      if (srcDir && (hadWhiteout || (await this.lowerHasAny(to, newname)))) makeOpaque(upper, join2(from.path, name));
    }
    upper.rename(srcPath, dstPath, flags & RENAME_NOREPLACE);
    // a directory moves every node below it (a scan of the table); a file moves only its own node
    if (srcDir) this.nodes.repath(srcPath, dstPath);
    else srcNode.path = dstPath;
    if (srcNode.names?.delete(srcPath)) srcNode.names.add(dstPath);
    srcNode.parent = to;
    srcNode.name = newname;
    if (srcNeedsWhiteout) this.whiteout(from, name);
  }

  private swapPaths(a: string, b: string): void {
    const parked = '\0swap';
    this.nodes.repath(a, parked);
    this.nodes.repath(b, a);
    this.nodes.repath(parked, b);
  }

  // ---------------------------------------------------------------- changing

  async setattr(_c: Context, ino: number, a: SetattrArgs): Promise<AttrReply> {
    const n = this.node(ino), V = SetattrValid;
    const upper = this.requireUpper();
    await this.copyUp(n);
    const h = a.valid & V.FH ? this.handles.get(a.fh) : undefined;
    if (a.valid & (V.MODE | V.UID | V.GID)) {
      // the current owner and mode matter only where they live in an xattr (they fill what is not changed)
      const st0 = this.own.inXattrs ? await this.statNode(n) : { uid: -1, gid: -1, mode: n.fmt };
      this.own.set(upper, n.path, st0, {
        mode: a.valid & V.MODE ? a.mode : undefined,
        uid: a.valid & V.UID ? this.uids.toLayer(a.uid) : undefined,
        gid: a.valid & V.GID ? this.gids.toLayer(a.gid) : undefined,
      }, this.squashing());
    }
    if (a.valid & V.SIZE) {
      if (n.isDir) throw new FuseError('EISDIR');
      if (h && (h.node.layer === 0)) fs.ftruncateSync(h.fd, a.size); else upper.truncate(n.path, a.size);
    }
    if (a.valid & (V.ATIME | V.MTIME | V.ATIME_NOW | V.MTIME_NOW)) {
      const at = a.valid & V.ATIME_NOW ? [0, UTIME_NOW] : a.valid & V.ATIME ? [a.atime, a.atimensec] : [0, UTIME_OMIT];
      const mt = a.valid & V.MTIME_NOW ? [0, UTIME_NOW] : a.valid & V.MTIME ? [a.mtime, a.mtimensec] : [0, UTIME_OMIT];
      upper.utimens(n.path, at as [number, number], mt as [number, number]);
    }
    return { attr: this.attr(n, await this.statNode(n)), attrValid: this.timeout };
  }

  private squashing(): boolean {
    return !!(this.opts.squashToRoot || this.opts.squashToUid !== undefined || this.opts.squashToGid !== undefined);
  }

  async readlink(_c: Context, ino: number): Promise<Buffer> {
    const n = this.node(ino);
    return this.layers[n.layer].readlink(n.path);
  }

  // ------------------------------------------------------------------ files

  private hostFlags(flags: number): number {
    let f = flags & ~(O_CREAT | O_EXCL);
    if (this.conn && (this.conn.flags & (1n << 16n)) !== 0n) {
      // writeback cache: the kernel may read through write-only opens and owns append
      if ((f & O_ACCMODE) === O_WRONLY) f = (f & ~O_ACCMODE) | O_RDWR;
      f &= ~O_APPEND;
    }
    return f;
  }

  private openHandle(fd: number, node: OvlNode, flags: number): Open {
    const fh = this.nextHandle++;
    const layer = this.layers[node.layer];
    this.handles.set(fh, { fd, node, layer, path: node.path });
    if (fd >= 0) (node.fds ??= new Set()).add(fd);
    const host = fd >= 0 && !layer.readsThrough ? layer.hostPath?.(node.path) : undefined;
    if (this.backing && host) {
      const path = node.path;
      // a local layer opens relative to its root fd; others through the host path
      const openFile = layer.local ? (f: number) => layer.open!(path, f) as number : (f: number) => fs.openSync(host, f | fs.constants.O_NOFOLLOW);
      // the backing follows the object: after a copy-up the old one is not shared
      try {
        return { fh, ...this.backing.open(node.nodeid, fh, openFile, (flags & O_ACCMODE) !== 0, `${node.layer}:${path}`) };
      } catch (e) {
        // served through our fd instead (uncached: other opens of the inode may be passthrough)
        this.log(`passthrough for ${path}: ${(e as Error).message}; served directly`);
        return { fh, openFlags: FOpen.DIRECT_IO };
      }
    }
    return { fh, openFlags: this.timeout > 0 ? FOpen.KEEP_CACHE : 0 };
  }

  async open(_c: Context, ino: number, flags: number): Promise<Open> {
    const n = this.node(ino);
    if (n.isDir) throw new FuseError('EISDIR');
    const writes = (flags & O_ACCMODE) !== 0 || (flags & O_TRUNC) !== 0;
    if (writes) await this.copyUp(n);
    const L = this.layers[n.layer];
    if (!L.open) throw new FuseError('EIO', `layer ${L.name} cannot open files`);
    const fd = await L.open(n.path, writes ? this.hostFlags(flags) : this.hostFlags(flags) & ~O_TRUNC);
    if (fd < 0 && !L.read) throw new FuseError('EIO', `layer ${L.name} gave no fd and cannot read`);
    return this.openHandle(fd, n, flags);
  }

  private handle(fh: number): Handle {
    const h = this.handles.get(fh);
    if (!h) throw new FuseError('EBADF');
    return h;
  }

  read(_c: Context, _ino: number, fh: number, offset: number, size: number): Promise<Buffer> | Buffer {
    const h = this.handle(fh);
    const fd = h.fd;
    if (fd < 0 || h.layer.readsThrough) return h.layer.read!(h.path, offset, size, fd);
    const buf = Buffer.allocUnsafe(size);
    return new Promise((res, rej) => fs.read(fd, buf, 0, size, offset, (e, n) => (e ? rej(e) : res(buf.subarray(0, n)))));
  }

  write(_c: Context, _ino: number, fh: number, offset: number, data: Buffer): Promise<number> {
    const { fd } = this.handle(fh);
    return new Promise((res, rej) => fs.write(fd, data, 0, data.length, offset, (e, n) => (e ? rej(e) : res(n))));
  }

  flush(): void {}

  release(_c: Context, _ino: number, fh: number): void {
    const h = this.handles.get(fh);
    if (!h) return;
    this.handles.delete(fh);
    if (h.fd < 0) return;
    const fds = h.node.fds;
    if (fds?.delete(h.fd) && fds.size === 0) h.node.fds = undefined;
    this.backing?.release(fh);
    // close(2) of a local file is quick: no threadpool round trip (a wakeup and a futex) per release
    try { fs.closeSync(h.fd); } catch { /* nothing to tell: RELEASE has no caller waiting */ }
  }

  fsync(_c: Context, _ino: number, fh: number, datasync: boolean): Promise<void> | void {
    if (this.opts.noFsync) return;
    const { fd } = this.handle(fh);
    if (fd < 0) return; // read-only, nothing to sync
    return new Promise((res, rej) => (datasync ? fs.fdatasync : fs.fsync)(fd, (e) => (e ? rej(e) : res())));
  }

  fsyncdir(): void {}

  // ------------------------------------------------------------ directories

  /** Whether the kernel's xattr whiteouts count in DIR's part in layer li (asked once per directory and layer). */
  private async xattrWhiteouts(dir: OvlNode, li: number): Promise<boolean> {
    const known = dir.xw?.[li];
    if (known !== undefined) return known;
    const v = await hasXattrWhiteouts(this.layers[li], dir.path);
    (dir.xw ??= [])[li] = v;
    return v;
  }

  /**
   * Is NAME hidden in DIR's part in layer li by a `.wh.NAME` file? A local
   * layer's directory is listed once for that and the names kept (the
   * upper changes only through us, lowers never): a lookup that misses
   * then costs one stat per layer, not two. Other layers are probed.
   */
  private async aufsWhiteout(dir: OvlNode, li: number, name: string): Promise<boolean> {
    const L = this.layers[li];
    if (!L.local) return hasAufsWhiteout(L, dir.path, name);
    let names = dir.aufs?.[li];
    if (!names) {
      // listed and stored in one turn (a local layer answers synchronously): no whiteout made meanwhile is missed
      try {
        names = aufsNames(L.readdir(dir.path) as LayerDirent[]);
      } catch {
        return hasAufsWhiteout(L, dir.path, name); // unreadable: probe, and learn nothing
      }
      (dir.aufs ??= [])[li] = names;
    }
    return names.has(name);
  }

  /** Creates a whiteout of NAME in DIR's upper part, keeping DIR's `.wh.` names current. */
  private whiteout(dir: OvlNode, name: string): void {
    if (createWhiteout(this.upper!, dir.path, name) !== 'aufs') return;
    const known = dir.aufs?.[0];
    if (known) dir.aufs![0] = new Set(known).add(name);
  }

  /** Removes any whiteout of NAME in DIR's upper part (before NAME is made there); true when there was one. */
  private async unwhiteout(dir: OvlNode, name: string): Promise<boolean> {
    const removed = await removeWhiteout(this.upper!, dir.path, name, dir.aufs?.[0]?.has(name));
    // read again: a lookup may have listed the directory while the removal waited
    const known = dir.aufs?.[0];
    if (known?.has(name)) {
      const left = new Set(known);
      left.delete(name);
      dir.aufs![0] = left.size ? left : NO_NAMES;
    }
    return removed;
  }

  /** The merged listing of a directory node (no "." or ".."), upper first, whiteouts applied. */
  async listMerged(dir: OvlNode): Promise<(LayerDirent & { layer: number })[]> {
    const seen = new Set<string>(), hidden = new Set<string>();
    const out: (LayerDirent & { layer: number })[] = [];
    for (const li of dir.dirLayers) {
      const L = this.layers[li];
      const layerHides: string[] = [];
      // regular files need a look only where the kernel's xattr whiteouts count
      const xw = await this.xattrWhiteouts(dir, li).catch(() => false);
      let list: LayerDirent[];
      if (L.local) {
        // listed and its .wh. names stored in one turn (see aufsWhiteout)
        list = L.readdir(dir.path) as LayerDirent[];
        (dir.aufs ??= [])[li] = aufsNames(list);
      } else list = await L.readdir(dir.path);
      for (const e of list) {
        if (e.name === OPAQUE_MARKER) continue;
        if (e.name.startsWith(WH_PREFIX)) { layerHides.push(e.name.slice(WH_PREFIX.length)); continue; }
        if (seen.has(e.name) || hidden.has(e.name)) continue;
        if (e.type === DT_CHR || e.type === 0 || (e.type === 8 && xw)) {
          const p = join2(dir.path, e.name);
          // an entry the layer cannot stat is listed (its lookup reports the error)
          const st = await Promise.resolve(L.stat(p)).catch(() => null);
          if (st && (await isWhiteoutStat(L, p, st, xw).catch(() => false))) { layerHides.push(e.name); continue; }
        }
        seen.add(e.name);
        out.push({ name: e.name, type: e.type, layer: li });
      }
      for (const h of layerHides) hidden.add(h);
    }
    return out;
  }

  opendir(_c: Context, ino: number): Open {
    this.dirNode(ino);
    const fh = this.nextHandle++;
    this.dirs.set(fh, {});
    // the kernel may keep the listing: its own changes to the directory invalidate it
    return { fh, openFlags: this.timeout > 0 ? FOpen.KEEP_CACHE | FOpen.CACHE_DIR : 0 };
  }

  /** d_ino for a listing: the same number stat() reports (never the raw upper inode of a copied-up file). */
  private async direntIno(dir: OvlNode, name: string): Promise<number> {
    const f = await this.find(dir, name);
    if (!f) return 0xffffffff;
    const existing = this.nodes.byObject(this.layers[f.layer].dev, f.st.ino);
    if (existing) return existing.ino;
    if (f.layer === 0 || (f.st.mode & S_IFMT) === S_IFDIR) {
      const n = await this.nodeFor(dir, name, f);
      const ino = n.ino;
      if (n.nlookup === 0) this.nodes.forget(n.nodeid, 0);
      return ino;
    }
    return this.inoOf(this.layers[f.layer], f.st.ino);
  }

  /** The listing of an open directory, made on first use and kept for the life of the handle (stable offsets). */
  private async listing(dir: OvlNode, fh: number): Promise<ListEntry[]> {
    const d = this.dirs.get(fh);
    if (!d) throw new FuseError('EBADF');
    if (!d.entries) {
      const entries: ListEntry[] = [{ name: '.', type: 4, ino: dir.ino, layer: -1 }, { name: '..', type: 4, ino: dir.parent?.ino ?? dir.ino, layer: -1 }];
      for (const e of await this.listMerged(dir)) entries.push({ name: e.name, type: e.type, ino: 0, layer: e.layer });
      d.entries = entries;
    }
    return d.entries;
  }

  async readdir(_c: Context, ino: number, fh: number, offset: number, size: number): Promise<DirEntry[]> {
    const dir = this.dirNode(ino);
    const entries = await this.listing(dir, fh);
    const out: DirEntry[] = [];
    for (let i = offset, end = direntsThatFit(entries, offset, size, false); i < end; i++) {
      const e = entries[i];
      if (e.ino === 0) e.ino = await this.direntIno(dir, e.name).catch(() => 0xffffffff);
      out.push({ ino: e.ino, off: i + 1, type: e.type, name: e.name });
    }
    return out;
  }

  /**
   * The lookups of a READDIRPLUS batch stat one entry after another on this
   * thread; on a cold cache each waits for its inode to be read from disk.
   * Asking the thread pool to stat the batch first lets those reads overlap
   * (only the first READDIRPLUS of a listing comes here: the kernel caches it).
   */
  private warmInodes(dir: OvlNode, entries: ListEntry[], offset: number, end: number): void {
    for (let i = offset; i < end; i++) {
      const e = entries[i];
      if (e.layer < 0) continue;
      const host = this.layers[e.layer].hostPath?.(join2(dir.path, e.name));
      if (host) fs.lstat(host, () => {});
    }
  }

  async readdirplus(_c: Context, ino: number, fh: number, offset: number, size: number): Promise<DirEntryPlus[]> {
    const dir = this.dirNode(ino);
    const entries = await this.listing(dir, fh);
    const end = direntsThatFit(entries, offset, size, true);
    this.warmInodes(dir, entries, offset, end);
    const out: DirEntryPlus[] = [];
    for (let i = offset; i < end; i++) {
      const e = entries[i];
      let entry: Entry = { nodeid: 0, entryValid: 0, attrValid: 0, attr: zeroAttr(e.ino) };
      if (e.name !== '.' && e.name !== '..') {
        let f: Found | null = null;
        try {
          f = await this.find(dir, e.name);
        } catch (err) {
          // listed without attributes: its own lookup reports the error
          this.log(`readdirplus ${join2(dir.path, e.name)}: ${(err as Error).message}`);
        }
        // listed but not found (gone since opendir, an xattr whiteout outside an "x" directory): the name without attributes
        if (f) entry = await this.entryFound(dir, e.name, f);
        else entry.attr = zeroAttr(e.ino || 0xffffffff);
      }
      out.push({ ino: entry.nodeid ? entry.attr.ino : e.ino || entry.attr.ino, off: i + 1, type: e.type, name: e.name, entry });
    }
    return out;
  }

  releasedir(_c: Context, _ino: number, fh: number): void {
    this.dirs.delete(fh);
  }

  // ----------------------------------------------------------------- xattrs

  private xattrsOn(): void {
    if (this.opts.noxattrs) throw new FuseError('ENOSYS');
  }

  async getxattr(_c: Context, ino: number, name: string): Promise<Buffer> {
    this.xattrsOn();
    if (isPrivateXattr(name) || isOverrideXattr(name)) throw new FuseError('ENODATA');
    const n = this.node(ino);
    const v = await this.layers[n.layer].getxattr(n.path, name);
    if (!v) throw new FuseError('ENODATA');
    return v;
  }

  async listxattr(_c: Context, ino: number): Promise<string[]> {
    this.xattrsOn();
    const n = this.node(ino);
    return (await this.layers[n.layer].listxattr(n.path)).filter((x) => !isPrivateXattr(x) && !isOverrideXattr(x));
  }

  async setxattr(_c: Context, ino: number, name: string, value: Buffer, flags: number): Promise<void> {
    this.xattrsOn();
    if (isPrivateXattr(name) || isOverrideXattr(name)) throw new FuseError('EPERM');
    const n = this.node(ino);
    await this.copyUp(n);
    this.upper!.setxattr(n.path, name, value, flags);
    if (name === ACL_DEFAULT) n.aclDefault = undefined;
  }

  async removexattr(_c: Context, ino: number, name: string): Promise<void> {
    this.xattrsOn();
    if (isPrivateXattr(name) || isOverrideXattr(name)) throw new FuseError('EPERM');
    const n = this.node(ino);
    // nothing to remove: answer without copying anything up (as the kernel does)
    if (n.layer !== 0 && !(await this.layers[n.layer].getxattr(n.path, name))) throw new FuseError('ENODATA');
    await this.copyUp(n);
    this.upper!.removexattr(n.path, name);
    if (name === ACL_DEFAULT) n.aclDefault = undefined;
  }

  // ------------------------------------------------------------------ misc

  statfs(): Statfs {
    // the upper's filesystem, or the top lower's for a read-only overlay
    const host = this.upper ? undefined : this.layers[0].hostPath?.('');
    if (!this.upper && !host) return { blocks: 0, bfree: 0, bavail: 0, files: 0, ffree: 0, bsize: 4096, namelen: 251, frsize: 4096 };
    // a plugin layer on top has no filesystem of its own: an empty one
    const s = this.upper ? this.upper.statfs() : host ? fs.statfsSync(host) : { blocks: 0, bfree: 0, bavail: 0, files: 0, ffree: 0, bsize: 4096 };
    // like fuse-overlayfs: names need room for the ".wh." prefix
    return { blocks: s.blocks, bfree: s.bfree, bavail: s.bavail, files: s.files, ffree: s.ffree, bsize: s.bsize, namelen: 255 - WH_PREFIX.length, frsize: s.bsize };
  }

  fallocate(_c: Context, _ino: number, fh: number, offset: number, length: number, mode: number): void {
    check(shim().fallocate(this.handle(fh).fd, mode, offset, length), 'fallocate');
  }

  async lseek(_c: Context, _ino: number, fh: number, offset: number, whence: number): Promise<number> {
    const h = this.handle(fh);
    if (h.fd >= 0) return check(shim().lseek(h.fd, offset, whence), 'lseek');
    // a file without an fd has no holes we know of: data up to its size
    const st = await this.statNode(h.node);
    if (offset >= st.size) throw new FuseError('ENXIO');
    return whence === SEEK_HOLE ? st.size : offset;
  }

  async destroy(): Promise<void> {
    for (const h of this.handles.values()) if (h.fd >= 0) try { fs.closeSync(h.fd); } catch { /* closed */ }
    // together: a layer waiting for its network must not hold up the others
    await Promise.all(this.layers.map((l) => Promise.resolve().then(() => l.close?.()).catch((e: Error) => this.log(`closing ${l.name}: ${e.message}`))));
    for (const f of this.atDestroy) await f();
  }
}

function zeroAttr(ino: number): Attr {
  return { ino, size: 0, blocks: 0, atime: 0, atimensec: 0, mtime: 0, mtimensec: 0, ctime: 0, ctimensec: 0, mode: S_IFDIR, nlink: 1, uid: 0, gid: 0, rdev: 0, blksize: 4096 };
}

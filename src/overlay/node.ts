/**
 * The overlay's inode table. A node is what the kernel holds a nodeid for:
 * where its object lives (layer index and path in that layer), for
 * directories which layers contribute to it, and a stable st_ino.
 * Non-directories are keyed by the (device, inode) of their object, so
 * lower hard links stay one inode for the life of the mount, also after one
 * of their names was copied up.
 */
import { ROOT_ID } from '../fuse/abi.js';

/** What a new node is made from (the table assigns nodeid and nlookup). */
export type NodeInit = Pick<OvlNode, 'ino' | 'fmt' | 'isDir' | 'layer' | 'path' | 'dirLayers' | 'parent' | 'name' | 'keys'>;

/**
 * One class with every field set in the constructor: all nodes share one
 * hidden class. (Built by object spread they got a map each once the clone
 * site went megamorphic: ~600 bytes more per node, measured with a heap
 * snapshot after a tar of 31k files.)
 */
export class OvlNode {
  nodeid: number;
  /** st_ino shown to callers: stable across copy-up for the life of the mount */
  ino: number;
  /** file type bits (S_IFMT) of the object */
  fmt: number;
  isDir: boolean;
  /** layer index of the object (0 is the upper when there is one) */
  layer: number;
  /** path of the object in that layer */
  path: string;
  /** directories: contributing layers, top first (stops at an opaque layer) */
  dirLayers: number[];
  /** kernel-side name (for parents of copy-up) */
  parent: OvlNode | null;
  name: string;
  nlookup: number;
  /** the objects that map to this node, as flat (dev, ino) pairs */
  keys: number[];
  /** merged paths of the names of a lower hard-linked file (linked up together at copy-up) */
  names: Set<string> | undefined = undefined;
  /** its upper object was removed while the kernel still holds it (open-unlinked): stat through an open fd */
  gone = false;
  /** fds of open handles (for open-unlinked files); undefined while none is open */
  fds: Set<number> | undefined = undefined;
  /** directories: per layer index, whether the kernel's xattr whiteouts count there (overlay.opaque = "x") */
  xw: boolean[] | undefined = undefined;
  /** directories: per layer index, the names `.wh.NAME` files hide there (learned from one listing; local layers only) */
  aufs: (ReadonlySet<string> | undefined)[] | undefined = undefined;
  /** directories: the default ACL new objects inherit (null: none; undefined: not read yet) */
  aclDefault: Buffer | null | undefined = undefined;

  constructor(nodeid: number, nlookup: number, n: NodeInit) {
    this.nodeid = nodeid;
    this.ino = n.ino;
    this.fmt = n.fmt;
    this.isDir = n.isDir;
    this.layer = n.layer;
    this.path = n.path;
    this.dirLayers = n.dirLayers;
    this.parent = n.parent;
    this.name = n.name;
    this.nlookup = nlookup;
    this.keys = n.keys;
  }
}

export class NodeTable {
  private byId = new Map<number, OvlNode>();
  /** dev → ino → node: numbers, no key string to build and hash per lookup */
  private byKey = new Map<number, Map<number, OvlNode>>();
  private next = ROOT_ID + 1;

  readonly root: OvlNode;

  constructor(root: NodeInit) {
    this.root = new OvlNode(ROOT_ID, 1, root);
    this.byId.set(ROOT_ID, this.root);
  }

  get(id: number): OvlNode | undefined {
    return this.byId.get(id);
  }

  byObject(dev: number, ino: number): OvlNode | undefined {
    return this.byKey.get(dev)?.get(ino);
  }

  add(n: NodeInit): OvlNode {
    const node = new OvlNode(this.next++, 0, n);
    this.byId.set(node.nodeid, node);
    for (let i = 0; i < node.keys.length; i += 2) this.setKey(node.keys[i], node.keys[i + 1], node);
    return node;
  }

  private setKey(dev: number, ino: number, n: OvlNode): void {
    let inos = this.byKey.get(dev);
    if (!inos) this.byKey.set(dev, (inos = new Map()));
    inos.set(ino, n);
  }

  /** Another object (e.g. the upper copy after copy-up) that names the same node. */
  alias(dev: number, ino: number, n: OvlNode): void {
    let known = false;
    for (let i = 0; i < n.keys.length; i += 2) if (n.keys[i] === dev && n.keys[i + 1] === ino) known = true;
    if (!known) n.keys.push(dev, ino);
    this.setKey(dev, ino, n);
  }

  forget(id: number, nlookup: number): void {
    const n = this.byId.get(id);
    if (!n || id === ROOT_ID) return;
    n.nlookup -= nlookup;
    if (n.nlookup <= 0) {
      this.byId.delete(id);
      for (let i = 0; i < n.keys.length; i += 2) {
        const inos = this.byKey.get(n.keys[i]);
        if (inos?.get(n.keys[i + 1]) === n) inos.delete(n.keys[i + 1]);
      }
    }
  }

  /** Every node whose path is `from` or below it now lives at `to` (after a rename of dirs). */
  repath(from: string, to: string): void {
    const prefix = from + '/';
    for (const n of this.byId.values()) {
      if (n.path === from) n.path = to;
      else if (n.path.startsWith(prefix)) n.path = to + n.path.slice(from.length);
    }
  }

  get size(): number {
    return this.byId.size;
  }
}

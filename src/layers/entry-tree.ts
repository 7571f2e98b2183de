/**
 * The in-memory tree of a layer that comes from an index — a tar archive
 * (the tar plugin) or a TOC (lazy layers): entry names cleaned, parents made
 * as needed, the last entry of a name winning, a directory named again
 * keeping its children, link counts kept (hard links share one node).
 */

export interface TreeNode {
  ino: number;
  nlink: number;
  children?: Map<string, TreeNode>;
}

/** `./a/b/`, `/a/b`, `a//b` → `a/b`, '' for the root; null when a `..` component would leave the layer. */
export function cleanEntryName(name: string): string | null {
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  return parts.includes('..') ? null : parts.join('/');
}

/** An archive or TOC name, cleaned; one that leaves the layer is an error naming it. */
export function entryNameOrThrow(name: string): string {
  const clean = cleanEntryName(name);
  if (clean === null) throw new Error(`entry ${JSON.stringify(name)} leaves the layer (..)`);
  return clean;
}

export class EntryTree<N extends TreeNode> {
  readonly nodes = new Map<string, N>();

  /** `newDir` makes an implicit parent directory (with a fresh inode number). */
  constructor(root: N, private readonly newDir: () => N) {
    this.nodes.set('', root);
  }

  get(path: string): N | undefined {
    return this.nodes.get(path);
  }

  /** Puts a node at a path, replacing what was there; a directory over a directory takes its children and inode. */
  put(path: string, node: N): void {
    const old = this.nodes.get(path);
    if (old && old !== node && old.children && node.children) {
      node.children = old.children;
      node.nlink = old.nlink;
      node.ino = old.ino;
    } else if (old && old !== node) this.remove(path);
    if (path === '') { this.nodes.set('', node); return; }
    const slash = path.lastIndexOf('/');
    const parentPath = slash < 0 ? '' : path.slice(0, slash);
    let parent = this.nodes.get(parentPath);
    if (!parent?.children) {
      parent = this.newDir();
      this.put(parentPath, parent);
    }
    const name = path.slice(slash + 1);
    if (!parent.children!.has(name) && node.children) parent.nlink++;
    parent.children!.set(name, node);
    this.nodes.set(path, node);
  }

  /** Another name for a node (a hard link). */
  link(path: string, target: N): void {
    if (this.nodes.get(path) === target) return;
    this.remove(path);
    target.nlink++;
    this.put(path, target);
  }

  remove(path: string): void {
    const n = this.nodes.get(path);
    if (!n || path === '') return;
    if (n.children) for (const name of [...n.children.keys()]) this.remove(`${path}/${name}`);
    this.nodes.delete(path);
    const slash = path.lastIndexOf('/');
    const parent = this.nodes.get(slash < 0 ? '' : path.slice(0, slash));
    if (parent?.children?.delete(path.slice(slash + 1)) && n.children) parent.nlink--;
    if (!n.children) n.nlink--;
  }
}

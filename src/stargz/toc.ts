/**
 * The TOC of a seekable blob as a tree: names cleaned (`./x`, `/x`, `x/`),
 * implicit parents made, hard links resolved, each regular file's chunks in
 * order with the blob range that holds them. Everything a TOC says is
 * checked before it is used: names that leave the layer, offsets outside the
 * payload, chunks that do not tile their file, sizes beyond reason are one
 * FormatError naming the entry. Tolerated as real TOCs have them: S_IF bits
 * in `mode`, missing uid/gid/mode/modtime, user/group names only on first
 * use, unknown keys, `chunkSize` 0 on a last chunk, empty files without an
 * offset, duplicate names (the last wins).
 */
import { encodeDev } from '../fuse/attr.js';
import { cleanEntryName, EntryTree } from '../layers/entry-tree.js';
import { FormatError, NO_PREFETCH_LANDMARK, PREFETCH_LANDMARK, type TocEntryJson, type TocJson } from './format.js';

const MAX_SAFE = Number.MAX_SAFE_INTEGER;
/** min-chunk-size groups small files into one member: their offsets inside it stay small */
const MAX_INNER_OFFSET = 256 << 20;
const TYPES = new Set(['dir', 'reg', 'symlink', 'hardlink', 'char', 'block', 'fifo', 'chunk']);

export interface Chunk {
  /** where the chunk's bytes start in the file */
  fileOffset: number;
  size: number;
  /** compressed range [offset, end) in the blob, then `innerOffset` bytes to skip after decompressing */
  offset: number;
  end: number;
  innerOffset: number;
  /** sha256:… of the chunk's uncompressed bytes */
  digest?: string;
  /** a run of zeros (containers-storage "zeros" chunks): nothing to fetch */
  zeros?: boolean;
}

export type NodeType = 'dir' | 'reg' | 'symlink' | 'char' | 'block' | 'fifo';

export interface TocNode {
  type: NodeType;
  /** permission bits */
  perm: number;
  uid: number;
  gid: number;
  size: number;
  mtimeNs: bigint;
  rdev: number;
  ino: number;
  nlink: number;
  link?: string;
  xattrs?: Map<string, Buffer>;
  /** sha256:… of the whole file */
  digest?: string;
  chunks?: Chunk[];
  children?: Map<string, TocNode>;
}

function fail(e: TocEntryJson | undefined, why: string): never {
  throw new FormatError(e ? `TOC entry ${JSON.stringify(e.name)}: ${why}` : `TOC: ${why}`);
}

/** The entry's name, cleaned (`./a/`, `/a` → `a`); a name that leaves the layer is refused. */
export function cleanName(name: string, e?: TocEntryJson): string {
  const clean = cleanEntryName(name);
  if (clean === null) fail(e, 'the name leaves the layer (..)');
  return clean;
}

function int(e: TocEntryJson, key: keyof TocEntryJson, max = MAX_SAFE): number {
  const v = e[key];
  if (v === undefined || v === null) return 0;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) fail(e, `impossible ${key} ${JSON.stringify(v)}`);
  return v;
}

/** RFC 3339 (with optional fraction) → ns since the epoch; 0 when absent or unreadable. */
export function parseTime(s: string | undefined): bigint {
  if (!s) return 0n;
  const m = /^(.*?)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$/.exec(s);
  const ms = Date.parse(m ? m[1] + m[3] : s);
  if (!Number.isFinite(ms)) return 0n;
  return BigInt(ms) * 1_000_000n + BigInt((m?.[2] ?? '').padEnd(9, '0') || '0');
}

export interface IndexOptions {
  /** the payload ends here (TOC start): chunk ranges must lie below */
  payloadEnd: number;
  /** the largest file the index accepts */
  maxFileSize?: number;
}

export class TocIndex {
  private readonly tree: EntryTree<TocNode>;
  /** regular files in TOC order (prefetch walks them) */
  readonly files: { path: string; node: TocNode }[] = [];
  /** blob offset of `.prefetch.landmark`: the prioritized files lie below it */
  prefetchEnd = 0;
  noPrefetch = false;
  private nextIno = 2;

  constructor(toc: TocJson, opts: IndexOptions) {
    if (!toc || typeof toc !== 'object' || !Array.isArray(toc.entries)) fail(undefined, 'no entries array');
    if (toc.version !== 1) fail(undefined, `unsupported version ${JSON.stringify(toc.version)}`);
    this.tree = new EntryTree(this.dirNode(1), () => this.dirNode(this.nextIno++));
    const offsets: number[] = [opts.payloadEnd];
    const links: [string, string, TocEntryJson][] = [];
    const chunksOf = new Map<TocNode, { e: TocEntryJson; c: Chunk }[]>();
    let lastFile: { node: TocNode; path: string } | undefined;
    for (const e of toc.entries) {
      if (!e || typeof e.name !== 'string' || typeof e.type !== 'string') fail(undefined, 'an entry without name or type');
      if (!TYPES.has(e.type)) fail(e, `unknown type ${JSON.stringify(e.type)}`);
      const path = cleanName(e.name, e);
      if (e.offset !== undefined) {
        const off = int(e, 'offset');
        if (off >= opts.payloadEnd && (off > 0 || opts.payloadEnd > 0)) fail(e, `offset ${off} is past the payload (${opts.payloadEnd} bytes)`);
        if (off > 0) offsets.push(off);
      }
      if (e.type === 'chunk') {
        if (!lastFile || lastFile.path !== path) fail(e, 'a chunk that does not follow its file');
        chunksOf.get(lastFile.node)!.push({ e, c: this.chunk(e, lastFile.node) });
        continue;
      }
      if (path === PREFETCH_LANDMARK && e.type === 'reg') { this.prefetchEnd = int(e, 'offset'); continue; }
      if (path === NO_PREFETCH_LANDMARK && e.type === 'reg') { this.noPrefetch = true; continue; }
      if (e.type === 'hardlink') {
        links.push([path, cleanName(e.linkName ?? '', e), e]);
        continue;
      }
      if (path === '') {
        if (e.type !== 'dir') fail(e, 'the root is not a directory');
        Object.assign(this.tree.get('')!, this.meta(e));
        continue;
      }
      const node = this.entryNode(e, opts);
      this.tree.put(path, node);
      if (node.type === 'reg') {
        this.files.push({ path, node });
        lastFile = { node, path };
        chunksOf.set(node, node.size > 0 ? [{ e, c: this.chunk(e, node) }] : []);
      } else lastFile = undefined;
    }
    for (const [path, target, e] of links) {
      if (path === '') fail(e, 'a hard link cannot be the root');
      const t = this.tree.get(target);
      if (!t || t.type === 'dir') fail(e, `hard link to ${JSON.stringify(target)}, which is ${t ? 'a directory' : 'not in the TOC'}`);
      this.tree.link(path, t);
    }
    // a chunk's compressed bytes run to the next member start (or to its endOffset)
    const starts = [...new Set(offsets)].sort((a, b) => a - b);
    const nextStart = (off: number) => {
      let lo = 0, hi = starts.length - 1;
      while (lo < hi) { const mid = (lo + hi) >> 1; if (starts[mid] > off) hi = mid; else lo = mid + 1; }
      return starts[lo] > off ? starts[lo] : opts.payloadEnd;
    };
    for (const [node, list] of chunksOf) {
      const chunks = list.map(({ e, c }) => {
        if (!c.zeros) {
          c.end = e.endOffset !== undefined && e.chunkType === undefined && list.length === 1 ? int(e, 'endOffset') : nextStart(c.offset);
          if (c.end <= c.offset || c.end > opts.payloadEnd) fail(e, `compressed range ${c.offset}..${c.end} is outside the payload`);
        }
        return c;
      }).sort((a, b) => a.fileOffset - b.fileOffset);
      // the chunks must tile the file exactly
      let at = 0;
      for (let i = 0; i < chunks.length; i++) {
        const c = chunks[i];
        if (c.size === 0) c.size = node.size - c.fileOffset; // "to the end of the file"
        if (c.fileOffset !== at || c.size <= 0 || c.fileOffset + c.size > node.size) {
          fail(list[0].e, `chunks do not tile the file (chunk at ${c.fileOffset}, size ${c.size}, file size ${node.size})`);
        }
        at += c.size;
      }
      if (at !== node.size) fail(list[0].e, `chunks cover ${at} of ${node.size} bytes`);
      node.chunks = chunks;
    }
  }

  /** path → node (the root is '') */
  get nodes(): Map<string, TocNode> {
    return this.tree.nodes;
  }

  private dirNode(ino: number): TocNode {
    return { type: 'dir', perm: 0o755, uid: 0, gid: 0, size: 4096, mtimeNs: 0n, rdev: 0, ino, nlink: 2, children: new Map() };
  }

  private meta(e: TocEntryJson): Partial<TocNode> {
    const xattrs = e.xattrs && typeof e.xattrs === 'object'
      ? new Map(Object.entries(e.xattrs).map(([k, v]) => {
        if (typeof v !== 'string') fail(e, `xattr ${k} is not base64`);
        return [k, Buffer.from(v, 'base64')];
      }))
      : undefined;
    return {
      perm: int(e, 'mode') & 0o7777, uid: int(e, 'uid', 0xffffffff), gid: int(e, 'gid', 0xffffffff), mtimeNs: parseTime(e.modtime),
      ...(xattrs && xattrs.size ? { xattrs } : {}),
    };
  }

  private entryNode(e: TocEntryJson, opts: IndexOptions): TocNode {
    const type = e.type as NodeType;
    const size = type === 'reg' ? int(e, 'size', opts.maxFileSize ?? MAX_SAFE) : type === 'dir' ? 4096 : 0;
    const node: TocNode = {
      type, perm: 0, uid: 0, gid: 0, size, mtimeNs: 0n, ino: this.nextIno++, nlink: type === 'dir' ? 2 : 1,
      rdev: type === 'char' || type === 'block' ? encodeDev(int(e, 'devMajor', 0xfff), int(e, 'devMinor', 0xfffff)) : 0,
      ...this.meta(e),
    };
    if (type === 'symlink') {
      if (typeof e.linkName !== 'string') fail(e, 'a symlink without linkName');
      node.link = e.linkName;
      node.size = Buffer.byteLength(e.linkName);
    }
    if (type === 'dir') node.children = new Map();
    if (type === 'reg' && typeof e.digest === 'string') node.digest = e.digest;
    return node;
  }

  private chunk(e: TocEntryJson, file: TocNode): Chunk {
    const fileOffset = int(e, 'chunkOffset');
    const size = e.chunkSize ? int(e, 'chunkSize') : file.size - fileOffset;
    // what is decoded before the window is work too: innerOffset stays within a chunk's worth
    const c: Chunk = { fileOffset, size, offset: int(e, 'offset'), end: 0, innerOffset: int(e, 'innerOffset', MAX_INNER_OFFSET) };
    if (typeof e.chunkDigest === 'string') c.digest = e.chunkDigest;
    if (e.chunkType === 'zeros') c.zeros = true;
    else if (e.offset === undefined) fail(e, 'a non-empty file or chunk without an offset');
    return c;
  }
}

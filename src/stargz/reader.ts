/**
 * A seekable layer blob served as a data source (the plugin API): the TOC
 * is read and checked at open, file bytes are fetched chunk by chunk when
 * first read — the compressed range, decompressed, verified against the
 * chunk digest, kept in a small in-memory LRU — and the prioritized files
 * below `.prefetch.landmark` are fetched in one request in the background
 * right after open. A digest mismatch is EIO plus a log line, never wrong
 * bytes.
 */
import { FuseError } from '../fuse/errors.js';
import type { LayerDirent } from '../layers/types.js';
import type { DataSource, DataSourceStat } from '../plugins/api.js';
import type { BlobReader } from './blob.js';
import type { ChunkCache } from './cache.js';
import { sha256 } from './digest.js';
import { codecOf, decodeToc, decodeWindow, type Codec } from './decompress.js';
import { FOOTER_PROBE, FormatError, MAX_TOC_BYTES, parseFooter, type Footer, type TocJson } from './format.js';
import { TocIndex, type Chunk, type TocNode } from './toc.js';

const TYPE_BITS: Record<string, number> = { dir: 0o040000, reg: 0o100000, symlink: 0o120000, char: 0o020000, block: 0o060000, fifo: 0o010000 };
const DT: Record<string, number> = { dir: 4, reg: 8, symlink: 10, char: 2, block: 6, fifo: 1 };
/** a chunk is buffered whole: larger ones are refused at open */
export const MAX_CHUNK = 256 << 20;
/** the most the landmark prefetch reads at once */
const PREFETCH_RUN = 8 << 20;

export interface StargzOptions {
  /** sha256:… of the TOC (the layer annotation): checked, and then every chunk must have a digest */
  tocDigest?: string;
  log?: (line: string) => void;
  /** in-memory cache of decompressed chunks, bytes (default 64 MiB) */
  cacheBytes?: number;
  /** fetch the prioritized files at open (default true) */
  prefetch?: boolean;
  /** the on-disk chunk cache, shared by mounts */
  cache?: ChunkCache;
  /** fetch the whole blob into the cache in the background while no reads come in */
  background?: boolean;
}


/** A byte-bounded LRU of buffers. */
class Lru {
  private readonly m = new Map<string, Buffer>();
  private bytes = 0;
  constructor(private readonly cap: number) {}
  has(k: string): boolean {
    return this.m.has(k);
  }
  get(k: string): Buffer | undefined {
    const v = this.m.get(k);
    if (v) { this.m.delete(k); this.m.set(k, v); }
    return v;
  }
  put(k: string, v: Buffer): void {
    if (v.length > this.cap || this.m.has(k)) return;
    this.m.set(k, v);
    this.bytes += v.length;
    for (const [key, b] of this.m) {
      if (this.bytes <= this.cap) break;
      this.m.delete(key);
      this.bytes -= b.length;
    }
  }
}

/** What a chunk's bytes must hash to: its chunkDigest, or the file digest for a file of one chunk. */
function digestOf(n: TocNode, c: Chunk): string | undefined {
  return c.digest ?? (n.chunks!.length === 1 ? n.digest : undefined);
}

export interface OpenedToc { footer: Footer; json: Buffer; tocDigest: string; index: TocIndex }

/** Reads, checks and indexes a blob's TOC. Throws FormatError naming the problem. */
export async function readToc(blob: BlobReader, expectDigest?: string): Promise<OpenedToc> {
  if (blob.size < 40) throw new FormatError(`${blob.size}-byte blob is too small to be a seekable layer`);
  const tailLen = Math.min(blob.size, FOOTER_PROBE);
  const footer = parseFooter(await blob.read(blob.size - tailLen, tailLen), blob.size);
  if (footer.tocLength > MAX_TOC_BYTES) throw new FormatError(`the compressed TOC is ${footer.tocLength} bytes, more than ${MAX_TOC_BYTES}`);
  const compressed = await blob.read(footer.tocOffset, footer.tocLength);
  const json = decodeToc(footer.format, compressed, footer.tocUncompressed);
  // two definitions in use: stargz-snapshotter digests the TOC JSON (containerd.io/snapshot/stargz/toc.digest),
  // containers-storage the compressed manifest (…zstd-chunked.manifest-checksum, whatever the footer); both bind the TOC
  const ofJson = sha256(json), ofCompressed = sha256(compressed);
  const tocDigest = footer.format === 'zstd:chunked-storage' ? ofCompressed : ofJson;
  if (expectDigest !== undefined && expectDigest !== ofJson && expectDigest !== ofCompressed) {
    throw new FormatError(`TOC digest mismatch: expected ${expectDigest}, the blob's is ${tocDigest}`);
  }
  let toc: TocJson;
  try {
    toc = JSON.parse(json.toString('utf8')) as TocJson;
  } catch (e) {
    throw new FormatError(`TOC: not JSON (${(e as Error).message})`);
  }
  return { footer, json, tocDigest, index: new TocIndex(toc, { payloadEnd: footer.payloadEnd }) };
}

export class StargzLayer implements DataSource {
  private readonly codec: Codec;
  private readonly cache: Lru;
  private readonly inflight = new Map<string, Promise<Buffer>>();
  private readonly log: (l: string) => void;
  /** chunks served (decoded and verified) and how many came from the cache */
  stats = { chunks: 0, cacheHits: 0, verified: 0 };
  prefetched: Promise<void> = Promise.resolve();
  /** the background fetch (bgfetch=1), awaited by close() */
  private background: Promise<unknown> = Promise.resolve();

  private readonly disk: ChunkCache | undefined;
  /** when the last on-demand read came in (background fetching waits for quiet) */
  private lastRead = 0;
  private closed = false;
  /** background fetch progress: compressed bytes of chunks present / of all chunks */
  progress = { done: 0, total: 0, finished: false };

  private constructor(readonly blob: BlobReader, readonly toc: OpenedToc, private readonly verifyAll: boolean, opts: StargzOptions) {
    this.codec = codecOf(toc.footer.format);
    this.cache = new Lru(opts.cacheBytes ?? 64 << 20);
    this.log = opts.log ?? (() => {});
    this.disk = opts.cache;
  }

  static async open(blob: BlobReader, opts: StargzOptions = {}): Promise<StargzLayer> {
    const toc = await readToc(blob, opts.tocDigest);
    for (const { path, node } of toc.index.files) {
      for (const c of node.chunks ?? []) {
        // a zeros chunk is never buffered (a read fills its range), so any size will do
        if (!c.zeros && c.size > MAX_CHUNK) throw new FormatError(`TOC entry ${JSON.stringify(path)}: a ${c.size}-byte chunk (the most we buffer is ${MAX_CHUNK})`);
        if (c.end - c.offset > MAX_CHUNK + (64 << 20)) throw new FormatError(`TOC entry ${JSON.stringify(path)}: a ${c.end - c.offset}-byte compressed range`);
        if (opts.tocDigest && !c.zeros && !c.digest && !(node.chunks!.length === 1 && node.digest)) {
          throw new FormatError(`TOC entry ${JSON.stringify(path)} has no chunk digest: a verified mount needs one for every chunk`);
        }
      }
    }
    const layer = new StargzLayer(blob, toc, !!opts.tocDigest, opts);
    if (opts.prefetch !== false && toc.index.prefetchEnd > 0) layer.prefetched = layer.prefetch().catch((e) => layer.log(`prefetch failed: ${(e as Error).message}`));
    if (opts.background) layer.background = layer.prefetched.then(() => layer.fetchAll({ whenIdle: true })).catch((e) => layer.log(`background fetch failed: ${(e as Error).message}`));
    return layer;
  }

  get index(): TocIndex { return this.toc.index; }

  private node(path: string): TocNode {
    const n = this.toc.index.nodes.get(path);
    if (!n) throw new FuseError('ENOENT');
    return n;
  }

  stat(path: string): DataSourceStat | null {
    const n = this.toc.index.nodes.get(path);
    if (!n) return null;
    return { mode: TYPE_BITS[n.type] | n.perm, size: n.size, uid: n.uid, gid: n.gid, nlink: n.nlink, ino: n.ino, rdev: n.rdev, mtimeNs: n.mtimeNs };
  }

  exists(path: string): boolean {
    return this.toc.index.nodes.has(path);
  }

  readdir(path: string): LayerDirent[] {
    const n = this.node(path);
    if (!n.children) throw new FuseError('ENOTDIR');
    return [...n.children].map(([name, c]) => ({ name, type: DT[c.type] }));
  }

  readlink(path: string): Buffer {
    const n = this.node(path);
    if (n.link === undefined) throw new FuseError('EINVAL');
    return Buffer.from(n.link);
  }

  getxattr(path: string, name: string): Buffer | null {
    return this.node(path).xattrs?.get(name) ?? null;
  }

  listxattr(path: string): string[] {
    return [...(this.node(path).xattrs?.keys() ?? [])];
  }

  async read(path: string, offset: number, length: number): Promise<Buffer> {
    this.lastRead = Date.now();
    const n = this.node(path);
    if (n.type !== 'reg') throw new FuseError('EISDIR');
    const end = Math.min(n.size, offset + length);
    if (offset >= end) return Buffer.alloc(0);
    const out = Buffer.allocUnsafe(end - offset);
    const chunks = n.chunks ?? [];
    // the chunks overlapping [offset, end) (sorted by file offset: a binary search for the first); the missing ones fetched together
    let first = 0;
    for (let hi = chunks.length; first < hi;) {
      const mid = (first + hi) >>> 1;
      if (chunks[mid].fileOffset + chunks[mid].size <= offset) first = mid + 1; else hi = mid;
    }
    let last = first;
    while (last < chunks.length && chunks[last].fileOffset < end) last++;
    const wanted = chunks.slice(first, last);
    this.startMissing(path, n, wanted);
    const parts: Promise<void>[] = [];
    for (const c of wanted) {
      const from = Math.max(offset, c.fileOffset), to = Math.min(end, c.fileOffset + c.size);
      if (c.zeros) { out.fill(0, from - offset, to - offset); continue; }
      parts.push(this.chunkData(path, n, c).then((data) => { data.copy(out, from - offset, from - c.fileOffset, to - c.fileOffset); }));
    }
    await Promise.all(parts);
    return out;
  }

  private key(c: Chunk): string {
    return `${c.offset}:${c.innerOffset}:${c.size}`;
  }

  /** A chunk's verified bytes: from the cache, a fetch already under way, or the blob. */
  private chunkData(path: string, n: TocNode, c: Chunk, compressed?: Buffer | Promise<Buffer>): Promise<Buffer> {
    if (c.zeros) return Promise.resolve(Buffer.alloc(c.size));
    const k = this.key(c);
    const hit = this.cache.get(k);
    this.stats.chunks++;
    if (hit) { this.stats.cacheHits++; return Promise.resolve(hit); }
    const going = this.inflight.get(k);
    if (going) return going;
    const want = digestOf(n, c);
    const p = (async () => {
      const kept = await this.disk?.get(want);
      if (kept && kept.length === c.size) {
        this.cache.put(k, kept);
        return kept;
      }
      const src = compressed ? await compressed : await this.blob.read(c.offset, c.end - c.offset);
      let data: Buffer;
      try {
        data = await decodeWindow(this.codec, src, c.innerOffset, c.size);
      } catch (e) {
        this.log(`${this.blob.name}: ${path} at ${c.fileOffset}: ${(e as Error).message}`);
        throw new FuseError('EIO', `${path}: ${(e as Error).message}`);
      }
      if (want) {
        const got = sha256(data);
        if (got !== want) {
          this.log(`${this.blob.name}: ${path} at ${c.fileOffset}: chunk digest mismatch (TOC ${want}, data ${got}): refusing to serve it`);
          throw new FuseError('EIO', `${path}: chunk digest mismatch`);
        }
        this.stats.verified++;
      } else if (this.verifyAll) {
        throw new FuseError('EIO', `${path}: no digest to verify`);
      }
      this.cache.put(k, data);
      if (want) this.disk?.put(want, data);
      return data;
    })();
    this.inflight.set(k, p);
    p.then(() => this.inflight.delete(k), () => this.inflight.delete(k));
    return p;
  }

  /**
   * Starts fetching the chunks of a read that are neither cached (memory or
   * disk) nor already under way, in as few requests as the source allows:
   * contiguous ranges merged, separate ones in one multi-range request. The
   * chunks count as in flight at once, so concurrent reads (kernel
   * readahead) wait for this instead of fetching them again.
   */
  private startMissing(path: string, n: TocNode, chunks: Chunk[]): void {
    const missing = chunks.filter((c) => !c.zeros && !this.cache.has(this.key(c)) && !this.inflight.has(this.key(c)) && !this.disk?.has(digestOf(n, c)));
    if (missing.length < 2 || !this.blob.readRanges) return;
    const groups: { start: number; end: number; chunks: Chunk[] }[] = [];
    for (const c of [...missing].sort((a, b) => a.offset - b.offset)) {
      const g = groups[groups.length - 1];
      if (g && c.offset <= g.end) { g.end = Math.max(g.end, c.end); g.chunks.push(c); } else groups.push({ start: c.offset, end: c.end, chunks: [c] });
    }
    const fetched = this.blob.readRanges(groups.map((g) => [g.start, g.end - g.start]));
    fetched.catch(() => {}); // the chunks' own promises carry the error to their readers
    groups.forEach((g, i) => {
      for (const c of g.chunks) {
        const slice = fetched.then((bufs) => bufs[i].subarray(c.offset - g.start, c.end - g.start));
        slice.catch(() => {});
        void this.chunkData(path, n, c, slice).catch(() => {});
      }
    });
  }

  /**
   * Decodes every chunk below .prefetch.landmark that is neither in memory
   * nor in the disk cache, fetched in runs of contiguous chunks of at most
   * 8 MiB each, one run at a time (a landmark far into a big blob must not
   * become one read of all of it; a remount with a warm cache fetches nothing).
   */
  async prefetch(): Promise<void> {
    const end = this.toc.index.prefetchEnd;
    const t0 = Date.now();
    const todo: { path: string; node: TocNode; c: Chunk }[] = [];
    for (const { path, node } of this.toc.index.files) {
      for (const c of node.chunks ?? []) {
        if (c.zeros || c.end > end || this.cache.has(this.key(c)) || this.disk?.has(digestOf(node, c))) continue;
        todo.push({ path, node, c });
      }
    }
    todo.sort((a, b) => a.c.offset - b.c.offset);
    let bytes = 0;
    for (let i = 0; i < todo.length && !this.closed;) {
      const start = todo[i].c.offset;
      let j = i + 1;
      while (j < todo.length && todo[j].c.offset <= todo[j - 1].c.end && todo[j].c.end - start <= PREFETCH_RUN) j++;
      const runEnd = Math.max(...todo.slice(i, j).map((t) => t.c.end));
      const area = this.blob.read(start, runEnd - start);
      area.catch(() => {}); // awaited through the chunks
      bytes += runEnd - start;
      await Promise.all(todo.slice(i, j).map((t) => this.chunkData(t.path, t.node, t.c, area.then((a) => a.subarray(t.c.offset - start, t.c.end - start)))));
      i = j;
    }
    this.log(`${this.blob.name}: prefetched ${todo.length} chunk(s), ${bytes} bytes, in ${Date.now() - t0} ms`);
  }

  /**
   * Fetches every chunk not in the disk cache yet, a few MiB per request
   * (with whenIdle: only while no on-demand read came in for a second);
   * logs progress every 10 %. Needs the disk cache (the memory cache is not
   * for whole blobs). True when everything is in the cache.
   */
  async fetchAll(opts: { whenIdle?: boolean; onProgress?: (p: { done: number; total: number }) => void } = {}): Promise<boolean> {
    if (!this.disk) { this.log('background fetch needs the disk cache; not started'); return false; }
    const todo: { path: string; node: TocNode; c: Chunk }[] = [];
    for (const { path, node } of this.toc.index.files) for (const c of node.chunks ?? []) if (!c.zeros) todo.push({ path, node, c });
    todo.sort((a, b) => a.c.offset - b.c.offset);
    const digestOfTask = (t: { node: TocNode; c: Chunk }) => digestOf(t.node, t.c);
    this.progress.total = todo.reduce((n, t) => n + t.c.end - t.c.offset, 0);
    let reported = 0, failures = 0;
    for (let i = 0; i < todo.length && !this.closed;) {
      if (opts.whenIdle && Date.now() - this.lastRead < 1000) { await this.pause(250); continue; }
      // the next run of missing chunks, up to 4 MiB compressed
      const group: typeof todo = [];
      while (i < todo.length) {
        const t = todo[i];
        // being fetched by a read right now: wait for it (it stores the chunk), then look again
        const going = this.inflight.get(this.key(t.c));
        if (going) {
          if (group.length) break;
          await going.catch(() => {});
          continue;
        }
        if (!digestOfTask(t) || this.disk.has(digestOfTask(t))) { this.progress.done += t.c.end - t.c.offset; i++; continue; }
        if (group.length && (t.c.offset !== group[group.length - 1].c.end || t.c.end - group[0].c.offset > 4 << 20)) break;
        group.push(t);
        i++;
      }
      if (!group.length) continue;
      for (;;) {
        try {
          const start = group[0].c.offset, area = await this.blob.read(start, group[group.length - 1].c.end - start);
          for (const t of group) {
            const data = await decodeWindow(this.codec, area.subarray(t.c.offset - start, t.c.end - start), t.c.innerOffset, t.c.size);
            if (sha256(data) !== digestOfTask(t)) throw new Error(`${t.path} at ${t.c.fileOffset}: chunk digest mismatch`);
            this.disk.put(digestOfTask(t), data);
          }
          this.progress.done += group.reduce((n, t) => n + t.c.end - t.c.offset, 0);
          failures = 0;
          break;
        } catch (e) {
          this.log(`background fetch: ${(e as Error).message}`);
          if (this.closed) return false;
          if (++failures >= 5) { this.log('background fetch: stopped after 5 failures in a row'); return false; }
          await this.pause(1000 * failures);
          if (this.closed) return false;
        }
      }
      opts.onProgress?.(this.progress);
      const pct = Math.floor((100 * this.progress.done) / Math.max(1, this.progress.total));
      if (pct >= reported + 10) { reported = pct - (pct % 10); this.log(`background fetch: ${pct} % of ${this.blob.name}`); }
    }
    if (this.closed) return false;
    this.progress.finished = true;
    this.log(`background fetch: complete (${this.blob.name} is in the cache)`);
    return true;
  }

  /** Waits `ms`, or less when the layer is closed meanwhile. */
  private pause(ms: number): Promise<void> {
    return new Promise((r) => {
      const t = setTimeout(() => { this.wake = undefined; r(); }, ms);
      this.wake = () => { clearTimeout(t); r(); };
    });
  }

  private wake: (() => void) | undefined;

  /** Ends background work (the fetch loop stops at its next step), then closes the blob. */
  async close(): Promise<void> {
    this.closed = true;
    this.wake?.();
    // a request of the background fetch or the prefetch in flight ends first, so the blob is not closed under
    // it; a network that hangs is given 5 s (its own deadline is longer), not the whole of an unmount
    let timer: NodeJS.Timeout | undefined;
    const ended = await Promise.race([
      Promise.all([this.background, this.prefetched]).then(() => true),
      new Promise<boolean>((r) => { timer = setTimeout(() => r(false), 5000); }),
    ]);
    clearTimeout(timer);
    if (!ended) this.log(`${this.blob.name}: closing with a background request still in flight`);
    const pct = this.blob.size ? ((100 * this.blob.fetched) / this.blob.size).toFixed(1) : '0';
    this.log(`${this.blob.name}: fetched ${this.blob.fetched} of ${this.blob.size} bytes (${pct} %), ${this.stats.verified} chunks verified`);
    await this.blob.close();
  }
}

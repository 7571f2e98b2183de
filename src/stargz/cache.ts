/**
 * The on-disk chunk cache: decompressed chunks stored by their sha256
 * (content addressed, so every mount of every blob that holds the same
 * chunk shares it), written through a temp file and one rename (a reader
 * never sees half a chunk, concurrent mounts may race freely), checked
 * against the digest again when read back (a damaged file is dropped, not
 * served), and kept under a size cap by evicting the least recently used.
 * Chunks without a digest are not cached here (only in memory).
 *
 * One process opens a directory once (`ChunkCache.at`): the layers of one
 * mount that name the same cache share its index and its cap. Temp files
 * left by a process that died mid-write are removed when a cache is opened.
 */
import * as fs from 'node:fs';
import { join, resolve } from 'node:path';
import { sha256 } from './digest.js';

export const DEFAULT_CACHE_BYTES = 2 * 2 ** 30;

interface Entry { size: number; used: number }

/** true while process `pid` exists (EPERM: it does, and is not ours) */
function alive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch (e) { return (e as NodeJS.ErrnoException).code === 'EPERM'; }
}

export class ChunkCache {
  private static readonly opened = new Map<string, ChunkCache>();
  private readonly index = new Map<string, Entry>();
  private bytes = 0;
  private counter = 0;
  hits = 0;
  stored = 0;

  /** the cap was given (not the default) */
  private capGiven = false;

  /**
   * The cache in DIR for this process: opened once (by its real path), then
   * shared. Its cap is the smallest one given, the default when none is (a
   * cap is a promise about disk use).
   */
  static at(dir: string, capBytes?: number, log: (l: string) => void = () => {}): ChunkCache {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const key = fs.realpathSync(resolve(dir));
    const had = ChunkCache.opened.get(key);
    if (had) {
      if (capBytes !== undefined && (!had.capGiven || capBytes < had.capBytes)) {
        had.capBytes = capBytes;
        had.capGiven = true;
        had.evict();
      }
      return had;
    }
    const c = new ChunkCache(key, capBytes, log);
    c.capGiven = capBytes !== undefined;
    ChunkCache.opened.set(key, c);
    return c;
  }

  /** Opens (creating) DIR and learns what it holds. */
  constructor(readonly dir: string, public capBytes = DEFAULT_CACHE_BYTES, private readonly log: (l: string) => void = () => {}) {
    fs.mkdirSync(join(dir, 'tmp'), { recursive: true, mode: 0o700 });
    this.sweepTemp();
    for (const sub of fs.readdirSync(dir)) {
      if (!/^[0-9a-f]{2}$/.test(sub)) continue;
      for (const name of fs.readdirSync(join(dir, sub))) {
        if (!/^[0-9a-f]{64}$/.test(name)) continue;
        const st = fs.statSync(join(dir, sub, name), { throwIfNoEntry: false });
        if (!st) continue;
        this.index.set(name, { size: st.size, used: st.mtimeMs });
        this.bytes += st.size;
      }
    }
    this.evict();
  }

  /** Removes temp files (named PID-N) of processes that are gone: a write they never finished. */
  private sweepTemp(): void {
    const tmp = join(this.dir, 'tmp');
    for (const name of fs.readdirSync(tmp)) {
      const pid = Number(/^(\d+)-\d+$/.exec(name)?.[1]);
      if (pid && pid !== process.pid && alive(pid)) continue;
      fs.rmSync(join(tmp, name), { force: true });
    }
  }

  private path(hex: string): string {
    return join(this.dir, hex.slice(0, 2), hex);
  }

  private static hex(digest: string | undefined): string | undefined {
    const m = /^sha256:([0-9a-f]{64})$/.exec(digest ?? '');
    return m?.[1];
  }

  /** The chunk with this digest, if cached and intact (read off the event loop's thread). */
  async get(digest: string | undefined): Promise<Buffer | undefined> {
    const hex = ChunkCache.hex(digest);
    if (!hex || !this.has(digest)) return undefined;
    let b: Buffer;
    try { b = await fs.promises.readFile(this.path(hex)); } catch { this.forget(hex); return undefined; }
    if (sha256(b) !== digest) {
      this.log(`chunk cache: ${hex} is damaged; dropped`);
      fs.rmSync(this.path(hex), { force: true });
      this.forget(hex);
      return undefined;
    }
    // a chunk another process stored is not counted here (its file may be evicted by that process any time)
    const e = this.index.get(hex);
    if (e) e.used = Date.now();
    this.hits++;
    return b;
  }

  /** In the index, or put there by another process since this one opened the cache. */
  has(digest: string | undefined): boolean {
    const hex = ChunkCache.hex(digest);
    return !!hex && (this.index.has(hex) || fs.existsSync(this.path(hex)));
  }

  /** Stores verified chunk bytes under their digest (errors — a full disk — are logged, not thrown). */
  put(digest: string | undefined, data: Buffer): void {
    const hex = ChunkCache.hex(digest);
    if (!hex || this.index.has(hex) || data.length > this.capBytes) return;
    const tmp = join(this.dir, 'tmp', `${process.pid}-${this.counter++}`);
    try {
      fs.mkdirSync(join(this.dir, hex.slice(0, 2)), { recursive: true, mode: 0o700 });
      fs.writeFileSync(tmp, data, { mode: 0o600 });
      fs.renameSync(tmp, this.path(hex));
      this.index.set(hex, { size: data.length, used: Date.now() });
      this.bytes += data.length;
      this.stored++;
      this.evict();
    } catch (e) {
      fs.rmSync(tmp, { force: true });
      this.log(`chunk cache: cannot store ${hex}: ${(e as Error).message}`);
    }
  }

  private forget(hex: string): void {
    const e = this.index.get(hex);
    if (!e) return;
    this.bytes -= e.size;
    this.index.delete(hex);
  }

  /** Least recently used out until the cache is under 90 % of its cap. */
  private evict(): void {
    if (this.bytes <= this.capBytes) return;
    const goal = this.capBytes * 0.9;
    for (const [hex] of [...this.index].sort((a, b) => a[1].used - b[1].used)) {
      if (this.bytes <= goal) break;
      fs.rmSync(this.path(hex), { force: true });
      this.forget(hex);
    }
  }

  get size(): number {
    return this.bytes;
  }
}

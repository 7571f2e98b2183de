/**
 * The on-disk chunk cache: decompressed chunks stored by their sha256
 * (content addressed, so every mount of every blob that holds the same
 * chunk shares it), written through a temp file and one rename (a reader
 * never sees half a chunk, concurrent mounts may race freely), checked
 * against the digest again when read back (a damaged file is dropped, not
 * served), and kept under a size cap by evicting the least recently used.
 * Chunks without a digest are not cached here (only in memory).
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import { sha256 } from './digest.js';

export const DEFAULT_CACHE_BYTES = 2 * 2 ** 30;

interface Entry { size: number; used: number }

export class ChunkCache {
  private readonly index = new Map<string, Entry>();
  private bytes = 0;
  private counter = 0;
  hits = 0;
  stored = 0;

  /** Opens (creating) DIR and learns what it holds. */
  constructor(readonly dir: string, readonly capBytes = DEFAULT_CACHE_BYTES, private readonly log: (l: string) => void = () => {}) {
    fs.mkdirSync(join(dir, 'tmp'), { recursive: true, mode: 0o700 });
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

  private path(hex: string): string {
    return join(this.dir, hex.slice(0, 2), hex);
  }

  private static hex(digest: string | undefined): string | undefined {
    const m = /^sha256:([0-9a-f]{64})$/.exec(digest ?? '');
    return m?.[1];
  }

  /** The chunk with this digest, if cached and intact. */
  get(digest: string | undefined): Buffer | undefined {
    const hex = ChunkCache.hex(digest);
    if (!hex) return undefined;
    let b: Buffer;
    try { b = fs.readFileSync(this.path(hex)); } catch { this.forget(hex); return undefined; }
    if (sha256(b) !== digest) {
      this.log(`chunk cache: ${hex} is damaged; dropped`);
      fs.rmSync(this.path(hex), { force: true });
      this.forget(hex);
      return undefined;
    }
    const e = this.index.get(hex);
    if (e) e.used = Date.now(); else { this.index.set(hex, { size: b.length, used: Date.now() }); this.bytes += b.length; }
    this.hits++;
    return b;
  }

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

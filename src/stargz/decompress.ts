/**
 * Decompressing pieces of a blob: a window [skip, skip+size) of the bytes a
 * compressed range decodes to (gzip with Node's zlib on the thread pool,
 * zstd with fzstd), stopping as soon as the window is full — a range that
 * decodes to more (a bomb) costs no more than the window. And the TOC: a
 * gzip member holding a one-entry tar, or a zstd frame of JSON.
 */
import * as zlib from 'node:zlib';
import { Decompress as ZstdDecompress } from 'fzstd';
import { FormatError, MAX_TOC_BYTES, TOC_TAR_NAME, type BlobFormat } from './format.js';

export type Codec = 'gzip' | 'zstd';

export function codecOf(f: BlobFormat): Codec {
  return f === 'estargz' || f === 'stargz' ? 'gzip' : 'zstd';
}

/** Copies the overlap of decoded bytes [pos, pos+d.length) with the window into out; returns bytes copied. */
function take(out: Buffer, skip: number, pos: number, d: Uint8Array): number {
  const from = Math.max(skip, pos), to = Math.min(skip + out.length, pos + d.length);
  if (to <= from) return 0;
  out.set(d.subarray(from - pos, to - pos), from - skip);
  return to - from;
}

const ENOUGH = Symbol('enough');

export function decodeWindow(codec: Codec, src: Buffer, skip: number, size: number): Promise<Buffer> {
  const out = Buffer.allocUnsafe(size);
  if (size === 0) return Promise.resolve(out);
  if (codec === 'zstd') {
    let pos = 0, filled = 0;
    const z = new ZstdDecompress((d) => {
      filled += take(out, skip, pos, d);
      pos += d.length;
      if (filled === size) throw ENOUGH;
    });
    try {
      z.push(src, true);
    } catch (e) {
      if (e === ENOUGH) return Promise.resolve(out);
      return Promise.reject(new FormatError(`zstd: ${(e as Error).message}`));
    }
    return Promise.reject(new FormatError(`the chunk decodes to ${Math.max(0, filled)} of ${size} bytes`));
  }
  return new Promise((resolve, reject) => {
    let pos = 0, filled = 0, done = false;
    const z = zlib.createGunzip();
    const finish = (e?: Error) => {
      if (done) return;
      done = true;
      z.destroy();
      if (e) reject(e); else resolve(out);
    };
    z.on('data', (d: Buffer) => {
      if (done) return;
      filled += take(out, skip, pos, d);
      pos += d.length;
      if (filled === size) finish();
    });
    z.on('end', () => finish(new FormatError(`the chunk decodes to ${filled} of ${size} bytes`)));
    z.on('error', (e) => finish(new FormatError(`gzip: ${e.message}`)));
    z.end(src);
  });
}

function octal(b: Buffer, at: number, len: number): number {
  if (b[at] & 0x80) { // base-256
    let v = 0;
    for (let i = at + 1; i < at + len; i++) v = v * 256 + b[i];
    return v;
  }
  const s = b.toString('latin1', at, at + len).replace(/\0.*$/s, '').trim();
  if (s && !/^[0-7]+$/.test(s)) throw new FormatError(`TOC: tar header field ${JSON.stringify(s)} is not an octal number`);
  return s ? parseInt(s, 8) : 0;
}

/** The TOC JSON bytes out of its compressed form. */
export function decodeToc(format: BlobFormat, compressed: Buffer, expectedSize?: number): Buffer {
  if (codecOf(format) === 'zstd') {
    const parts: Uint8Array[] = [];
    let total = 0;
    const z = new ZstdDecompress((d) => {
      total += d.length;
      if (total > MAX_TOC_BYTES) throw new FormatError(`the TOC is larger than ${MAX_TOC_BYTES} bytes`);
      parts.push(d.slice());
    });
    try { z.push(compressed, true); } catch (e) { throw e instanceof FormatError ? e : new FormatError(`TOC: zstd: ${(e as Error).message}`); }
    const json = Buffer.concat(parts);
    if (expectedSize !== undefined && json.length !== expectedSize) throw new FormatError(`TOC: ${json.length} bytes, the footer says ${expectedSize}`);
    return json;
  }
  let tar: Buffer;
  try {
    tar = zlib.gunzipSync(compressed, { maxOutputLength: MAX_TOC_BYTES + 64 * 1024 });
  } catch (e) {
    throw new FormatError(`TOC: ${(e as Error).message.includes('maxOutputLength') ? `larger than ${MAX_TOC_BYTES} bytes` : `gzip: ${(e as Error).message}`}`);
  }
  // a tar of one entry (maybe after a pax header)
  for (let at = 0; at + 512 <= tar.length;) {
    const type = String.fromCharCode(tar[at + 156] || 0x30);
    const size = octal(tar, at + 124, 12);
    const data = at + 512;
    if (data + size > tar.length) break;
    // every step moves forward: a header and its data, rounded up to whole blocks
    if (type === 'x' || type === 'g') { at = data + Math.ceil(size / 512) * 512; continue; }
    const name = tar.toString('utf8', at, at + 100).replace(/\0.*$/s, '');
    if (name !== TOC_TAR_NAME) throw new FormatError(`TOC: the tar entry is ${JSON.stringify(name)}, not ${TOC_TAR_NAME}`);
    return tar.subarray(data, data + size);
  }
  throw new FormatError(`TOC: no ${TOC_TAR_NAME} entry`);
}

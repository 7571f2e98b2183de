/**
 * Where a blob's bytes come from: a random-access reader of known size. The
 * file reader is here; the HTTP/registry reader implements the same
 * interface. A reader never returns more or fewer bytes than asked within
 * the blob: a short answer is an error.
 */
import * as fs from 'node:fs';

export interface BlobReader {
  /** for messages: the path or URL */
  readonly name: string;
  readonly size: number;
  /** exactly `length` bytes at `offset` (offset + length <= size) */
  read(offset: number, length: number): Promise<Buffer>;
  /** several ranges at once (one multi-range request over HTTP), when the reader can do better than one by one */
  readRanges?(ranges: [number, number][]): Promise<Buffer[]>;
  /** bytes fetched from the source so far (network or disk) */
  readonly fetched: number;
  close(): void | Promise<void>;
}

export class BlobError extends Error {}

export class FileBlob implements BlobReader {
  readonly size: number;
  fetched = 0;
  private readonly fd: number;

  constructor(readonly name: string) {
    try {
      this.fd = fs.openSync(name, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new BlobError(`${name}: ${code === 'ENOENT' ? 'does not exist' : code === 'ELOOP' ? 'is a symlink' : (e as Error).message}`);
    }
    const st = fs.fstatSync(this.fd);
    if (!st.isFile()) { fs.closeSync(this.fd); throw new BlobError(`${name}: not a regular file`); }
    this.size = st.size;
  }

  read(offset: number, length: number): Promise<Buffer> {
    if (offset < 0 || length < 0 || offset + length > this.size) return Promise.reject(new BlobError(`${this.name}: read ${offset}+${length} past the end (${this.size})`));
    const buf = Buffer.allocUnsafe(length);
    return new Promise((res, rej) => {
      let got = 0;
      const step = () => fs.read(this.fd, buf, got, length - got, offset + got, (e, n) => {
        if (e) return rej(e);
        if (n === 0) return rej(new BlobError(`${this.name}: the file shrank (short read at ${offset + got})`));
        got += n;
        this.fetched += n;
        if (got < length) step(); else res(buf);
      });
      if (length === 0) res(buf); else step();
    });
  }

  close(): void {
    try { fs.closeSync(this.fd); } catch { /* closed */ }
  }
}

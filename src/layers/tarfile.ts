/**
 * Reading tar archives by offset (the tar plugin and the eStargz builder):
 * a .tar is used as it is; a .tar.gz is decompressed once into an unlinked
 * temporary file (gone with the process whatever happens), with a bound on
 * how much it may decompress to, so a gzip bomb cannot fill the disk. The
 * entries come from tar-stream, each with the offset of its data.
 */
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import * as tar from 'tar-stream';
import { unlinkedTempFd } from './temp-file.js';

export type TarHeader = tar.Header & { byteOffset?: number; pax?: Record<string, string> };

/** A gzip archive may decompress to at most this many times its size (and at least 1 GiB). */
const MAX_RATIO = 100;

/**
 * An fd of the uncompressed archive (the caller closes it). `workDir`: where
 * a decompressed copy goes (default the system temp dir).
 */
export async function openTarFile(file: string, workDir = ''): Promise<number> {
  const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  let out: number | undefined;
  try {
    const magic = Buffer.alloc(2);
    fs.readSync(fd, magic, 0, 2, 0);
    if (magic[0] !== 0x1f || magic[1] !== 0x8b) return fd;
    const dir = workDir || tmpdir();
    if (!isAbsolute(dir)) throw new Error(`work dir ${dir} is not absolute`);
    fs.mkdirSync(dir, { recursive: true });
    out = unlinkedTempFd(dir, 'tar');
    const limit = Math.max(1 << 30, MAX_RATIO * fs.fstatSync(fd).size);
    let n = 0;
    const bound = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        n += chunk.length;
        cb(n > limit ? new Error(`${file} decompresses to more than ${limit} bytes`) : null, chunk);
      },
    });
    await pipeline(fs.createReadStream('', { fd, start: 0, autoClose: false }), createGunzip(), bound,
      fs.createWriteStream('', { fd: out, autoClose: false }));
    fs.closeSync(fd);
    return out;
  } catch (e) {
    fs.closeSync(fd);
    if (out !== undefined) fs.closeSync(out);
    throw e;
  }
}

/** Every entry header of the archive on `fd`, in order (byteOffset: where its data starts). */
export async function eachTarEntry(fd: number, onEntry: (h: TarHeader) => void): Promise<void> {
  const ex = tar.extract();
  const done = pipeline(fs.createReadStream('', { fd, start: 0, autoClose: false }), ex);
  done.catch(() => {}); // when onEntry throws, its error is the one to report
  for await (const entry of ex) {
    try {
      onEntry(entry.header as TarHeader);
    } finally {
      entry.resume();
    }
  }
  await done;
}

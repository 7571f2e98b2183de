/**
 * Byte layouts of seekable compressed layer blobs (shared/research/lazy.md
 * §A1): the footers of eStargz (51 bytes), legacy stargz (47), and
 * zstd:chunked in stargz-snapshotter's form (40, magic "GnUlInUx") and
 * containers-storage's form (64, magic "GNUlInUx", inside a skippable
 * frame), plus the TOC JSON types.
 */

export const TOC_TAR_NAME = 'stargz.index.json';
export const PREFETCH_LANDMARK = '.prefetch.landmark';
export const NO_PREFETCH_LANDMARK = '.no.prefetch.landmark';
/** a landmark's whole content */
export const LANDMARK_BYTE = 0x0f;
/** the most TOC JSON we accept (containers-storage's maxTocSize) */
export const MAX_TOC_BYTES = 150 << 20;
/** the most bytes any footer variant needs from the tail */
export const FOOTER_PROBE = 64 + 8;

export type BlobFormat = 'estargz' | 'stargz' | 'zstd:chunked' | 'zstd:chunked-storage';

export interface Footer {
  format: BlobFormat;
  /** where the compressed TOC starts in the blob */
  tocOffset: number;
  /** compressed TOC length (zstd forms; for gzip: up to the footer) */
  tocLength: number;
  /** uncompressed TOC length when the footer says it (zstd forms) */
  tocUncompressed?: number;
  /** bytes of the blob that hold file data (before the TOC) */
  payloadEnd: number;
}

export class FormatError extends Error {}

const STARGZ_GZIP_HDR = [0x1f, 0x8b, 0x08, 0x04];

function hexOffset(b: Buffer, at: number): number | undefined {
  const s = b.toString('latin1', at, at + 16);
  return /^[0-9a-f]{16}$/.test(s) ? parseInt(s, 16) : undefined;
}

function le64(b: Buffer, at: number): number {
  const v = b.readBigUInt64LE(at);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new FormatError(`footer value ${v} is impossible`);
  return Number(v);
}

/**
 * Parses the blob's tail (the last FOOTER_PROBE bytes, or all of a shorter
 * blob) given the blob size. Throws a FormatError naming what was found.
 */
export function parseFooter(tail: Buffer, blobSize: number): Footer {
  const at = (n: number) => (tail.length >= n ? tail.subarray(tail.length - n) : undefined);
  const check = (f: Footer): Footer => {
    if (f.tocOffset >= blobSize || f.tocOffset + f.tocLength > blobSize || f.tocLength <= 0) {
      throw new FormatError(`${f.format} footer points at a TOC (${f.tocOffset}+${f.tocLength}) outside the ${blobSize}-byte blob`);
    }
    return f;
  };
  // eStargz: gzip header with FEXTRA, subfield "SG" of 22 bytes
  const e = at(51);
  if (e && STARGZ_GZIP_HDR.every((v, i) => e[i] === v) && e.readUInt16LE(10) === 26 && e[12] === 0x53 && e[13] === 0x47 && e.readUInt16LE(14) === 22
    && e.toString('latin1', 32, 38) === 'STARGZ') {
    const off = hexOffset(e, 16);
    if (off === undefined) throw new FormatError('eStargz footer has no hex TOC offset');
    return check({ format: 'estargz', tocOffset: off, tocLength: blobSize - 51 - off, payloadEnd: off });
  }
  // legacy stargz: XLEN 22, the raw "%016xSTARGZ"
  const l = at(47);
  if (l && STARGZ_GZIP_HDR.every((v, i) => l[i] === v) && l.readUInt16LE(10) === 22 && l.toString('latin1', 28, 34) === 'STARGZ') {
    const off = hexOffset(l, 12);
    if (off === undefined) throw new FormatError('stargz footer has no hex TOC offset');
    return check({ format: 'stargz', tocOffset: off, tocLength: blobSize - 47 - off, payloadEnd: off });
  }
  const magic = tail.length >= 8 ? tail.toString('latin1', tail.length - 8) : '';
  if (magic === 'GnUlInUx') {
    const z = at(40)!;
    const tocOffset = le64(z, 0), tocLength = le64(z, 8), tocUncompressed = le64(z, 16);
    if (le64(z, 24) !== 1) throw new FormatError('zstd:chunked footer: unknown manifest type');
    return check({ format: 'zstd:chunked', tocOffset, tocLength, tocUncompressed, payloadEnd: Math.max(0, tocOffset - 8) });
  }
  if (magic === 'GNUlInUx') {
    const z = at(64);
    if (!z) throw new FormatError('zstd:chunked footer truncated');
    const tocOffset = le64(z, 0), tocLength = le64(z, 8), tocUncompressed = le64(z, 16);
    if (le64(z, 24) !== 1) throw new FormatError('zstd:chunked footer: unknown manifest type');
    return check({ format: 'zstd:chunked-storage', tocOffset, tocLength, tocUncompressed, payloadEnd: Math.max(0, tocOffset - 8) });
  }
  if (e && e.readUInt16LE(10) === 21 && e.toString('latin1', 16, 33) === 'STARGZEXTERNALTOC') {
    throw new FormatError('eStargz with an external TOC (a separate TOC image) is not supported');
  }
  throw new FormatError('no eStargz, stargz or zstd:chunked footer at the end of the blob (was it recompressed on push?)');
}

/** The 51-byte eStargz footer for a TOC at `tocOffset`. */
export function estargzFooter(tocOffset: number): Buffer {
  const b = Buffer.alloc(51);
  Buffer.from([0x1f, 0x8b, 0x08, 0x04, 0, 0, 0, 0, 0, 0xff]).copy(b, 0);
  b.writeUInt16LE(26, 10);
  b.write('SG', 12, 'latin1');
  b.writeUInt16LE(22, 14);
  b.write(tocOffset.toString(16).padStart(16, '0') + 'STARGZ', 16, 'latin1');
  Buffer.from([0x01, 0x00, 0x00, 0xff, 0xff]).copy(b, 38);
  return b; // CRC32 and ISIZE of the empty member are zero
}

/** One TOC entry as written in JSON (eStargz / stargz / zstd:chunked keys; unknown keys are ignored). */
export interface TocEntryJson {
  name: string;
  type: string;
  size?: number;
  modtime?: string;
  linkName?: string;
  mode?: number;
  uid?: number;
  gid?: number;
  userName?: string;
  groupName?: string;
  offset?: number;
  endOffset?: number;
  innerOffset?: number;
  devMajor?: number;
  devMinor?: number;
  xattrs?: Record<string, string>;
  digest?: string;
  chunkOffset?: number;
  chunkSize?: number;
  chunkDigest?: string;
  chunkType?: string;
}

export interface TocJson {
  version: number;
  entries: TocEntryJson[];
}

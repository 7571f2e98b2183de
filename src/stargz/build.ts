/**
 * Building eStargz blobs (the layout of stargz-snapshotter's estargz
 * package, docs/estargz.md): a tar stream cut into gzip members — a new
 * member at the payload of every non-empty file and at every chunk
 * boundary — then the TOC (`stargz.index.json`, with a sha256 chunk digest
 * per chunk) as a tar entry in its own member, then the 51-byte footer.
 * Prioritized files (with their parent directories) come first, followed
 * by `.prefetch.landmark`; without them `.no.prefetch.landmark` leads.
 * The output is deterministic: same input, same bytes.
 *
 * Input: a directory (walked in name order; xattrs read from the files, so
 * binary values survive), a .tar, or a .tar.gz (read with tar-stream: pax
 * xattr values arrive as UTF-8 text).
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { dirname, join } from 'node:path';
import * as zlib from 'node:zlib';
import { DirectoryLayer } from '../layers/directory.js';
import { eachTarEntry, openTarFile } from '../layers/tarfile.js';
import { estargzFooter, LANDMARK_BYTE, NO_PREFETCH_LANDMARK, PREFETCH_LANDMARK, TOC_TAR_NAME, type TocEntryJson } from './format.js';
import { sha256 } from './digest.js';
import { encodeHeader, pad512, type TarMeta, type TarType } from './tar-header.js';
import { entryNameOrThrow } from '../layers/entry-tree.js';

export const DEFAULT_CHUNK_SIZE = 4 << 20;

export interface BuildOptions {
  chunkSize?: number;
  /** layer paths to put first, in this order (their parents come along) */
  prioritized?: string[];
  /** compression level (default gzip 9, as estargz; zstd 3) */
  level?: number;
  /** zstd:chunked instead of eStargz (frames made by the zstd program, the reference encoder) */
  zstd?: boolean;
}

export interface BuildResult {
  /** sha256 of the blob (the layer digest) */
  blobDigest: string;
  /** sha256 of the TOC JSON (annotation containerd.io/snapshot/stargz/toc.digest) */
  tocDigest: string;
  /** sha256 of the uncompressed tar stream */
  diffID: string;
  size: number;
  uncompressedSize: number;
  entries: number;
}

interface SourceEntry {
  meta: TarMeta;
  /** the file's data, read in pieces */
  read?: (offset: number, length: number) => Buffer;
}

function readerAt(fd: number, base: number) {
  return (offset: number, length: number): Buffer => {
    const b = Buffer.allocUnsafe(length);
    let got = 0;
    while (got < length) {
      const n = fs.readSync(fd, b, got, length - got, base + offset + got);
      if (n === 0) throw new Error('input shrank while building');
      got += n;
    }
    return b;
  };
}

const TYPE_OF: Record<string, TarType> = { file: 'file', 'contiguous-file': 'file', directory: 'directory', symlink: 'symlink', link: 'link', 'character-device': 'character-device', 'block-device': 'block-device', fifo: 'fifo' };

/** Entries of a .tar / .tar.gz, in archive order (a gzip one is first decompressed into an unlinked temp file). */
async function tarEntries(file: string, fds: number[]): Promise<SourceEntry[]> {
  const fd = await openTarFile(file);
  fds.push(fd);
  const list: SourceEntry[] = [];
  await eachTarEntry(fd, (h) => {
    const type = TYPE_OF[h.type ?? ''];
    if (!type) throw new Error(`${file}: entry ${h.name}: tar type ${h.type} is not supported`);
    const name = entryNameOrThrow(h.name);
    if (name === TOC_TAR_NAME || name === PREFETCH_LANDMARK || name === NO_PREFETCH_LANDMARK || name === '') return;
    const xattrs = new Map<string, Buffer>();
    for (const [k, v] of Object.entries(h.pax ?? {})) if (k.startsWith('SCHILY.xattr.')) xattrs.set(k.slice(13), Buffer.from(v));
    const meta: TarMeta = {
      name, type, mode: h.mode ?? 0o644, uid: h.uid ?? 0, gid: h.gid ?? 0, size: type === 'file' ? h.size ?? 0 : 0,
      mtime: Math.floor((h.mtime?.getTime() ?? 0) / 1000), linkname: type === 'link' ? entryNameOrThrow(h.linkname ?? '') : h.linkname ?? undefined,
      uname: h.uname || undefined, gname: h.gname || undefined, devmajor: h.devmajor ?? 0, devminor: h.devminor ?? 0,
      ...(xattrs.size ? { xattrs } : {}),
    };
    list.push({ meta, ...(type === 'file' && meta.size > 0 ? { read: readerAt(fd, h.byteOffset!) } : {}) });
  });
  return list;
}

/** Entries of a directory tree, parents before children, names in byte order; hard links as links. */
function dirEntries(dir: string): SourceEntry[] {
  const layer = new DirectoryLayer(dir);
  const seen = new Map<string, string>();
  const out: SourceEntry[] = [];
  const walk = (rel: string) => {
    const names = layer.readdir(rel).map((e) => e.name).sort((a, b) => (Buffer.compare(Buffer.from(a), Buffer.from(b))));
    for (const n of names) {
      const path = rel ? `${rel}/${n}` : n;
      const st = layer.stat(path)!;
      const fmt = st.mode & 0o170000;
      const type: TarType | undefined = ({ 0o100000: 'file', 0o040000: 'directory', 0o120000: 'symlink', 0o020000: 'character-device', 0o060000: 'block-device', 0o010000: 'fifo' } as Record<number, TarType>)[fmt];
      if (!type) continue; // sockets have no tar form
      const xattrs = new Map<string, Buffer>();
      for (const x of layer.listxattr(path)) { const v = layer.getxattr(path, x); if (v) xattrs.set(x, v); }
      const meta: TarMeta = {
        name: path, type, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, size: type === 'file' ? st.size : 0,
        mtime: Number(st.mtimeNs / 1_000_000_000n), devmajor: (st.rdev >> 8) & 0xfff, devminor: (st.rdev & 0xff) | ((st.rdev >> 12) & 0xfff00),
        ...(type === 'symlink' ? { linkname: layer.readlink(path).toString() } : {}),
        ...(xattrs.size ? { xattrs } : {}),
      };
      const key = `${st.dev}:${st.ino}`;
      if (type === 'file' && st.nlink > 1 && seen.has(key)) {
        out.push({ meta: { ...meta, type: 'link', size: 0, linkname: seen.get(key) } });
        continue;
      }
      if (type === 'file' && st.nlink > 1) seen.set(key, path);
      let read: SourceEntry['read'];
      if (type === 'file' && st.size > 0) {
        // opened per piece, not held: a tree has more files than a process has fds
        const host = join(dir, path); // the layer (and its root fd) is closed before the data is read
        read = (offset, length) => {
          const fd = fs.openSync(host, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
          try { return readerAt(fd, 0)(offset, length); } finally { fs.closeSync(fd); }
        };
      }
      out.push({ meta, ...(read ? { read } : {}) });
      if (type === 'directory') walk(path);
    }
  };
  walk('');
  layer.close();
  return out;
}

/** Prioritized entries (parents and link targets first), the landmark, then the rest in input order. */
function order(entries: SourceEntry[], prioritized: string[]): SourceEntry[] {
  const landmark = (name: string): SourceEntry => ({
    meta: { name, type: 'file', mode: 0o644, uid: 0, gid: 0, size: 1, mtime: 0 },
    read: () => Buffer.from([LANDMARK_BYTE]),
  });
  if (!prioritized.length) return [landmark(NO_PREFETCH_LANDMARK), ...entries];
  const byName = new Map(entries.map((e) => [e.meta.name, e]));
  const first: SourceEntry[] = [], taken = new Set<SourceEntry>();
  const take = (name: string) => {
    const e = byName.get(name);
    if (!e || taken.has(e)) return;
    const slash = name.lastIndexOf('/');
    if (slash > 0) take(name.slice(0, slash));
    if (e.meta.type === 'link' && e.meta.linkname) take(e.meta.linkname);
    taken.add(e);
    first.push(e);
  };
  for (const p of prioritized) {
    const name = entryNameOrThrow(p);
    if (!byName.has(name)) throw new Error(`prioritized file ${p} is not in the layer`);
    take(name);
  }
  return [...first, landmark(PREFETCH_LANDMARK), ...entries.filter((e) => !taken.has(e))];
}

/** The output: gzip members appended one after another, with the digests kept as we go. */
class MemberWriter {
  pos = 0;
  usize = 0;
  private cur: Buffer[] = [];
  private curLen = 0;
  private readonly blob = createHash('sha256');
  private readonly diff = createHash('sha256');

  constructor(private readonly fd: number, private readonly compress: (b: Buffer) => Buffer) {}

  /** uncompressed bytes into the current member */
  add(b: Buffer): void {
    this.cur.push(b);
    this.curLen += b.length;
    this.usize += b.length;
    this.diff.update(b);
  }

  /** ends the current member; returns the offset where the next one starts */
  member(): number {
    if (this.curLen) {
      this.raw(this.compress(Buffer.concat(this.cur, this.curLen)));
      this.cur = [];
      this.curLen = 0;
    }
    return this.pos;
  }

  raw(b: Buffer): void {
    fs.writeSync(this.fd, b);
    this.blob.update(b);
    this.pos += b.length;
  }

  digests(): { blob: string; diff: string } {
    return { blob: `sha256:${this.blob.digest('hex')}`, diff: `sha256:${this.diff.digest('hex')}` };
  }
}

/** One zstd frame of `b`, made by the zstd program (Node 20 has no zstd; the reference encoder is the maintained one). */
function zstdFrame(b: Buffer, level: number): Buffer {
  const r = spawnSync('zstd', [`-${Math.min(19, Math.max(1, level))}`, '-q', '-c', '--no-check'], { input: b, maxBuffer: b.length * 2 + (1 << 20) });
  if (r.error || r.status !== 0) throw new Error(`zstd: ${r.error?.message ?? r.stderr.toString().trim()} (install the zstd package for --zstd)`);
  return r.stdout;
}

/** A zstd skippable frame (magic 0x184D2A50) around `b`. */
function skippable(b: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt32LE(0x184d2a50, 0);
  h.writeUInt32LE(b.length, 4);
  return Buffer.concat([h, b]);
}

const TOC_TYPE: Record<TarType, string> = { file: 'reg', directory: 'dir', symlink: 'symlink', link: 'hardlink', 'character-device': 'char', 'block-device': 'block', fifo: 'fifo' };

export async function buildEstargz(input: string, output: string, opts: BuildOptions = {}): Promise<BuildResult> {
  const chunkSize = opts.chunkSize ?? DEFAULT_CHUNK_SIZE;
  if (!Number.isInteger(chunkSize) || chunkSize < 512) throw new Error(`chunk size ${chunkSize}: must be an integer of at least 512 bytes`);
  const fds: number[] = [];
  const tmp = join(dirname(output), `.${Date.now()}-${process.pid}.estargz.tmp`);
  let outFd: number | undefined;
  try {
    let st: fs.Stats;
    try { st = fs.statSync(input); } catch { throw new Error(`${input} does not exist`); }
    const entries = order(st.isDirectory() ? dirEntries(input) : await tarEntries(input, fds), opts.prioritized ?? []);
    outFd = fs.openSync(tmp, 'wx', 0o644);
    const level = opts.level ?? (opts.zstd ? 3 : 9);
    const w = new MemberWriter(outFd, opts.zstd ? (b) => zstdFrame(b, level) : (b) => zlib.gzipSync(b, { level }));
    const toc: TocEntryJson[] = [];
    const names = { u: new Set<number>(), g: new Set<number>() };
    for (const e of entries) {
      const m = e.meta;
      w.add(encodeHeader(m));
      const j: TocEntryJson = { name: m.type === 'directory' ? `${m.name}/` : m.name, type: TOC_TYPE[m.type] };
      if (m.type === 'file' && m.size) j.size = m.size;
      if (m.mtime > 0) j.modtime = new Date(m.mtime * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
      if (m.linkname && (m.type === 'symlink' || m.type === 'link')) j.linkName = m.linkname;
      if (m.mode & 0o7777) j.mode = m.mode & 0o7777;
      if (m.uid) j.uid = m.uid;
      if (m.gid) j.gid = m.gid;
      if (m.uname && !names.u.has(m.uid)) { j.userName = m.uname; names.u.add(m.uid); }
      if (m.gname && !names.g.has(m.gid)) { j.groupName = m.gname; names.g.add(m.gid); }
      if (m.type === 'character-device' || m.type === 'block-device') {
        if (m.devmajor) j.devMajor = m.devmajor;
        if (m.devminor) j.devMinor = m.devminor;
      }
      if (m.xattrs?.size) j.xattrs = Object.fromEntries([...m.xattrs].map(([k, v]) => [k, v.toString('base64')]));
      if (m.type !== 'file') { toc.push(j); continue; }
      const whole = createHash('sha256');
      if (!m.size) { j.digest = sha256(Buffer.alloc(0)); toc.push(j); continue; }
      const entryChunks: TocEntryJson[] = [];
      for (let off = 0; off < m.size; off += chunkSize) {
        const len = Math.min(chunkSize, m.size - off);
        const data = e.read!(off, len);
        whole.update(data);
        const c: TocEntryJson = off === 0 ? j : { name: m.name, type: 'chunk' };
        c.offset = w.member();
        if (off > 0) c.chunkOffset = off;
        if (m.size > chunkSize && off + len < m.size) c.chunkSize = len;
        c.chunkDigest = sha256(data);
        w.add(data);
        entryChunks.push(c);
      }
      w.add(Buffer.alloc(pad512(m.size)));
      j.digest = `sha256:${whole.digest('hex')}`;
      toc.push(...entryChunks);
    }
    // the TOC: a tar entry of its own member, with the archive's end blocks
    const json = Buffer.from(JSON.stringify({ version: 1, entries: toc }, null, '\t'));
    if (opts.zstd) {
      // zstd:chunked (stargz-snapshotter's form): the TOC as a zstd frame inside a skippable frame, then the footer in another
      w.member();
      const z = zstdFrame(json, level);
      w.raw(skippable(z));
      const footer = Buffer.alloc(40);
      footer.writeBigUInt64LE(BigInt(w.pos - z.length), 0);
      footer.writeBigUInt64LE(BigInt(z.length), 8);
      footer.writeBigUInt64LE(BigInt(json.length), 16);
      footer.writeBigUInt64LE(1n, 24);
      footer.write('GnUlInUx', 32, 'latin1');
      w.raw(skippable(footer));
    } else {
      const tocOffset = w.member();
      w.add(encodeHeader({ name: TOC_TAR_NAME, type: 'file', mode: 0o644, uid: 0, gid: 0, size: json.length, mtime: 0 }));
      w.add(json);
      w.add(Buffer.alloc(pad512(json.length) + 1024));
      w.member();
      w.raw(estargzFooter(tocOffset));
    }
    const { blob, diff } = w.digests();
    fs.fsyncSync(outFd);
    fs.closeSync(outFd);
    outFd = undefined;
    fs.renameSync(tmp, output);
    return { blobDigest: blob, tocDigest: sha256(json), diffID: diff, size: w.pos, uncompressedSize: w.usize, entries: toc.length };
  } finally {
    if (outFd !== undefined) { fs.closeSync(outFd); fs.rmSync(tmp, { force: true }); }
    for (const fd of fds) try { fs.closeSync(fd); } catch { /* closed */ }
  }
}

/**
 * Built-in plugin `tar`: a .tar or .tar.gz file served as a lower layer.
 *
 *   -o plugins=tar,lowerdir=//tar/<base64url of /abs/layer.tar>/<work dir>
 *
 * At load the archive is indexed once with tar-stream (names, metadata,
 * the byte offset of each file's data); afterwards every read is a pread
 * at that offset. A gzip archive is first decompressed into an unlinked
 * temporary file in the work dir (PATH; the system temp dir when PATH is
 * empty), so nothing is left behind. The archive is never trusted: names
 * with `..` refuse the load, data must lie inside the file, hard links
 * must point at earlier entries. Layer-format markers (`.wh.NAME`,
 * `.wh..wh..opq`, char 0/0) are served as they are; the overlay reads them.
 */
import * as fs from 'node:fs';
import type * as tar from 'tar-stream';
import { encodeDev } from '../../fuse/attr.js';
import { EntryTree, entryNameOrThrow } from '../../layers/entry-tree.js';
import { eachTarEntry, openTarFile, type TarHeader } from '../../layers/tarfile.js';
import { FuseError } from '../../fuse/errors.js';
import type { LayerDirent } from '../../layers/types.js';
import type { DataSource, DataSourceStat, Plugin, PluginContext } from '../api.js';
import { decodePathData } from '../data.js';

const S_IFREG = 0o100000, S_IFDIR = 0o040000, S_IFLNK = 0o120000, S_IFCHR = 0o020000, S_IFBLK = 0o060000, S_IFIFO = 0o010000;
const DT: Record<number, number> = { [S_IFREG]: 8, [S_IFDIR]: 4, [S_IFLNK]: 10, [S_IFCHR]: 2, [S_IFBLK]: 6, [S_IFIFO]: 1 };
const XATTR_PREFIX = 'SCHILY.xattr.';
/** st_size of directories: what they have once extracted onto ext4/xfs (one block) */
const DIR_SIZE = 4096;

/** An entry: its stat (served as it is) plus where its data and extras are. */
interface TarNode extends DataSourceStat {
  mode: number;
  size: number;
  ino: number;
  nlink: number;
  /** data offset in the (uncompressed) archive */
  offset: number;
  link?: Buffer;
  xattrs?: Map<string, Buffer>;
  children?: Map<string, TarNode>;
}

const dirNode = (ino: number): TarNode => ({ mode: S_IFDIR | 0o755, size: DIR_SIZE, ino, nlink: 2, offset: 0, children: new Map() });

function mtimeNs(h: tar.Header): bigint | undefined {
  const pax = (h as { pax?: Record<string, string> }).pax?.mtime;
  if (pax && /^\d+(\.\d{1,9})?$/.test(pax)) {
    const [s, f = ''] = pax.split('.');
    return BigInt(s) * 1_000_000_000n + BigInt(f.padEnd(9, '0'));
  }
  return h.mtime ? BigInt(h.mtime.getTime()) * 1_000_000n : undefined;
}

export class TarSource implements DataSource {
  private nextIno = 2;
  private readonly tree = new EntryTree<TarNode>(dirNode(1), () => dirNode(this.nextIno++));

  private constructor(private readonly fd: number, private readonly fileSize: number, private readonly log: (l: string) => void) {}

  /** Opens and indexes an archive (decompressing a gzip one first). */
  static async open(file: string, workDir: string, log: (l: string) => void): Promise<TarSource> {
    const fd = await openTarFile(file, workDir);
    try {
      const src = new TarSource(fd, fs.fstatSync(fd).size, log);
      await eachTarEntry(fd, (h) => src.add(h));
      return src;
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
  }

  private add(h: TarHeader): void {
    const path = entryNameOrThrow(h.name);
    const size = h.size ?? 0;
    let fmt: number;
    switch (h.type) {
      case 'file': case 'contiguous-file': fmt = S_IFREG; break;
      case 'directory': fmt = S_IFDIR; break;
      case 'symlink': fmt = S_IFLNK; break;
      case 'character-device': fmt = S_IFCHR; break;
      case 'block-device': fmt = S_IFBLK; break;
      case 'fifo': fmt = S_IFIFO; break;
      case 'link': return this.addHardLink(path, entryNameOrThrow(h.linkname ?? ''));
      default:
        this.log(`skipping ${h.name}: tar entry type ${h.type} is not supported`);
        return;
    }
    if (fmt === S_IFREG) {
      if (typeof h.byteOffset !== 'number') throw new Error('tar-stream did not report data offsets');
      if (h.byteOffset + size > this.fileSize) throw new Error(`entry ${h.name}: data runs past the end of the archive`);
    }
    if (path === '' && fmt !== S_IFDIR) throw new Error(`entry ${JSON.stringify(h.name)}: the layer root is not a directory`);
    let xattrs: Map<string, Buffer> | undefined;
    for (const [k, v] of Object.entries((h.pax ?? {}) as Record<string, string>)) {
      if (k.startsWith(XATTR_PREFIX)) (xattrs ??= new Map()).set(k.slice(XATTR_PREFIX.length), Buffer.from(v, 'utf8'));
    }
    // a directory named again (the root included) keeps its children and inode: the tree sees to that
    this.tree.put(path, {
      mode: fmt | ((h.mode ?? 0o644) & 0o7777), size: fmt === S_IFREG ? size : fmt === S_IFLNK ? Buffer.byteLength(h.linkname ?? '') : fmt === S_IFDIR ? DIR_SIZE : 0,
      uid: h.uid ?? 0, gid: h.gid ?? 0, ino: this.nextIno++, nlink: fmt === S_IFDIR ? 2 : 1, mtimeNs: mtimeNs(h),
      rdev: fmt === S_IFCHR || fmt === S_IFBLK ? encodeDev(h.devmajor ?? 0, h.devminor ?? 0) : 0,
      offset: h.byteOffset ?? 0,
      ...(fmt === S_IFLNK ? { link: Buffer.from(h.linkname ?? '') } : {}),
      ...(fmt === S_IFDIR ? { children: new Map() } : {}),
      ...(xattrs ? { xattrs } : {}),
    });
  }

  private addHardLink(path: string, target: string): void {
    if (path === '') throw new Error('a hard link cannot be the layer root');
    const t = this.tree.get(target);
    if (!t || t.children) {
      this.log(`skipping hard link ${path}: its target ${target} is ${t ? 'a directory' : 'not earlier in the archive'}`);
      return;
    }
    this.tree.link(path, t);
  }

  private node(path: string): TarNode {
    const n = this.tree.get(path);
    if (!n) throw new FuseError('ENOENT');
    return n;
  }

  stat(path: string): DataSourceStat | null {
    return this.tree.get(path) ?? null;
  }

  exists(path: string): boolean {
    return this.tree.nodes.has(path);
  }

  readdir(path: string): LayerDirent[] {
    const n = this.node(path);
    if (!n.children) throw new FuseError('ENOTDIR');
    const out: LayerDirent[] = [];
    for (const [name, c] of n.children) out.push({ name, type: DT[c.mode & 0o170000] ?? 0 });
    return out;
  }

  readlink(path: string): Buffer {
    const n = this.node(path);
    if (!n.link) throw new FuseError('EINVAL');
    return n.link;
  }

  getxattr(path: string, name: string): Buffer | null {
    return this.node(path).xattrs?.get(name) ?? null;
  }

  listxattr(path: string): string[] {
    return [...(this.node(path).xattrs?.keys() ?? [])];
  }

  read(path: string, offset: number, length: number): Promise<Buffer> {
    const n = this.node(path);
    const fmt = n.mode & 0o170000;
    if (fmt !== S_IFREG) throw new FuseError(fmt === S_IFDIR ? 'EISDIR' : 'EINVAL');
    const len = Math.max(0, Math.min(length, n.size - offset));
    const buf = Buffer.allocUnsafe(len);
    if (len === 0) return Promise.resolve(buf);
    return new Promise((res, rej) => fs.read(this.fd, buf, 0, len, n.offset + offset, (e, got) => (e ? rej(e) : res(buf.subarray(0, got)))));
  }

  close(): void {
    fs.closeSync(this.fd);
  }
}

const plugin: Plugin = {
  version: 1,
  name: 'tar',
  async load(data: string, path: string, ctx: PluginContext) {
    const file = decodePathData(data);
    try {
      return await TarSource.open(file, path, ctx.log);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') throw new Error(`${file} does not exist`);
      throw new Error(`${file}: ${(e as Error).message}`);
    }
  },
};
export default plugin;

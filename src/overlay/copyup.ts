/**
 * Copy-up: bring an object from a lower layer into the upper, through the
 * workdir and one rename, so a crash at any point leaves either nothing or
 * the whole object in upper — never a partial file. Parents first (each
 * also through the workdir). Data by FICLONE where the filesystem allows,
 * else a copy; then owner, mode, xattrs, times, and the origin marker
 * fuse-overlayfs writes (`user.fuseoverlayfs.origin` = the lower path).
 */
import * as fs from 'node:fs';
import { S_IFDIR, S_IFLNK, S_IFMT, S_IFREG } from '../fuse/abi.js';
import { Errno, errnoOf, FuseError } from '../fuse/errors.js';
import type { Layer, LayerStat, UpperLayer } from '../layers/types.js';
import { isPrivateXattr } from './whiteout.js';

const NS = 1_000_000_000n;
export const ORIGIN_XATTR = 'user.fuseoverlayfs.origin';
const { ENOTSUP, EINVAL, EOVERFLOW, EPERM } = Errno;

/**
 * Owner, mode, xattrs and times of `st` onto the upper object (or workdir
 * temp) at `dst`. `createdMode`: the permission bits `dst` was created with
 * (before the umask), when known; a chown or chmod that would change nothing
 * is skipped (each is a syscall on every copy-up).
 */
export async function copyMetadata(src: Layer, srcPath: string, st: LayerStat, upper: UpperLayer, dst: string, createdMode?: number): Promise<void> {
  const made = upper.created;
  if (!made || made.uid !== st.uid || made.gid !== st.gid) upper.lchown(dst, st.uid, st.gid);
  // chown clears only set-user/group-ID bits: without those, a file created with the right bits keeps them
  const perm = st.mode & 0o7777;
  const exact = made !== undefined && createdMode === perm && (perm & 0o7000) === 0 && (perm & made.umask) === 0;
  if ((st.mode & S_IFMT) !== S_IFLNK && !exact) upper.chmod(dst, st.mode);
  for (const name of await src.listxattr(srcPath)) {
    if (isPrivateXattr(name)) continue;
    const v = await src.getxattr(srcPath, name);
    if (v === null) continue;
    try {
      upper.setxattr(dst, name, v, 0);
    } catch (e) {
      // like fuse-overlayfs: attributes the upper cannot hold are skipped
      if (![ENOTSUP, EINVAL, EOVERFLOW, EPERM].includes(errnoOf(e))) throw e;
    }
  }
  const t = (ns: bigint): [number, number] => [Number(ns / NS), Number(ns % NS)];
  upper.utimens(dst, t(st.atimeNs), t(st.mtimeNs));
}

/** Reads a layer file in chunks (for layers without host files): by its fd when it gives one, else through read(). */
async function* chunksOf(src: Layer, path: string, size: number): AsyncIterable<Buffer> {
  const fd = src.open ? await src.open(path, fs.constants.O_RDONLY) : -1;
  try {
    for (let off = 0; off < size;) {
      const len = Math.min(1 << 20, size - off);
      let chunk: Buffer | null = null;
      if (fd >= 0 && !src.readsThrough) {
        chunk = Buffer.allocUnsafe(len);
        chunk = chunk.subarray(0, fs.readSync(fd, chunk, 0, len, off));
      } else if (src.read) chunk = await src.read(path, off, len, fd);
      if (!chunk || chunk.length === 0) throw new FuseError('EIO', `short read copying up ${path}`);
      yield chunk;
      off += chunk.length;
    }
  } finally {
    if (fd >= 0) fs.closeSync(fd);
  }
}

/**
 * Copies one object (not its parents) from `src` at `path` into the upper
 * at `upperPath`, atomically. Directories are created empty (their lower
 * contents keep showing through the merge).
 */
export async function copyUpObject(src: Layer, path: string, upper: UpperLayer, upperPath: string, st: LayerStat): Promise<void> {
  const tmp = upper.tempPath();
  const fmt = st.mode & S_IFMT;
  // created with its own permission bits where that is possible (the work dir is ours alone: 0700)
  const perm = st.mode & 0o777;
  let createdMode: number | undefined;
  try {
    if (fmt === S_IFREG) {
      const host = src.hostPath?.(path);
      // a local layer opens relative to its root fd: no walk through /proc/self/fd/N per copy-up
      const openSource = src.local ? () => src.open!(path, fs.constants.O_RDONLY) as number : undefined;
      if (host) createdMode = upper.copyFileFrom(host, tmp, st.size, perm, openSource) ? perm : undefined;
      else await upper.writeFile(tmp, chunksOf(src, path, st.size));
    } else if (fmt === S_IFDIR) { upper.mkdir(tmp, perm); createdMode = perm; }
    else if (fmt === S_IFLNK) upper.symlink(await src.readlink(path), tmp);
    else upper.mknod(tmp, st.mode, st.rdev);
    await copyMetadata(src, path, st, upper, tmp, createdMode);
    // the origin marker keeps st_ino across remounts; user.* xattrs cannot go on special files
    if (fmt === S_IFREG) try { upper.setxattr(tmp, ORIGIN_XATTR, Buffer.from(path), 0); } catch { /* upper without user xattrs */ }
    // no whiteout can stand at upperPath: the object was found below it, so none hid it
    upper.rename(tmp, upperPath);
  } catch (e) {
    upper.removeTree(tmp);
    throw e;
  }
}

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
import { FuseError } from '../fuse/errors.js';
import { shim } from '../fuse/native.js';
import type { Layer, LayerStat, UpperLayer } from '../layers/types.js';
import { isPrivateXattr } from './whiteout.js';

const NS = 1_000_000_000n;
export const ORIGIN_XATTR = 'user.fuseoverlayfs.origin';

function check(r: number, what: string): void {
  if (r < 0) throw new FuseError(-r, what);
}

/** Owner, mode, xattrs and times of `st` onto the host object at `host`. */
export async function copyMetadata(src: Layer, srcPath: string, st: LayerStat, host: string): Promise<void> {
  const s = shim();
  const isLink = (st.mode & S_IFMT) === S_IFLNK;
  fs.lchownSync(host, st.uid, st.gid);
  if (!isLink) fs.chmodSync(host, st.mode & 0o7777);
  for (const name of await src.listxattr(srcPath)) {
    if (isPrivateXattr(name)) continue;
    const v = await src.getxattr(srcPath, name);
    if (v === null) continue;
    const r = s.lsetxattr(host, name, v, 0);
    // like fuse-overlayfs: attributes the upper cannot hold are skipped
    if (r < 0 && r !== -95 /* ENOTSUP */ && r !== -22 /* EINVAL */ && r !== -75 /* EOVERFLOW */ && r !== -1 /* EPERM */) check(r, `copy xattr ${name}`);
  }
  const t = (ns: bigint) => [Number(ns / NS), Number(ns % NS)];
  const [as, ans] = t(st.atimeNs), [ms, mns] = t(st.mtimeNs);
  check(s.utimensat(host, as, ans, ms, mns, true), 'copy times');
}

/** Copies the data of a regular file from a layer to a host path. */
async function copyData(src: Layer, srcPath: string, size: number, dst: string): Promise<void> {
  const host = src.hostPath?.(srcPath);
  if (host) {
    fs.copyFileSync(host, dst, fs.constants.COPYFILE_FICLONE);
    return;
  }
  // layers without host files (plugins): through their read callback
  const fd = fs.openSync(dst, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o600);
  try {
    for (let off = 0; off < size;) {
      const chunk = src.read ? await src.read(srcPath, off, Math.min(1 << 20, size - off)) : null;
      if (!chunk || chunk.length === 0) throw new FuseError('EIO', `short read copying up ${srcPath}`);
      fs.writeSync(fd, chunk, 0, chunk.length, off);
      off += chunk.length;
    }
  } finally {
    fs.closeSync(fd);
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
  try {
    if (fmt === S_IFREG) await copyData(src, path, st.size, tmp);
    else if (fmt === S_IFDIR) fs.mkdirSync(tmp, 0o700);
    else if (fmt === S_IFLNK) fs.symlinkSync(await src.readlink(path), tmp);
    else check(shim().mknod(tmp, st.mode, st.rdev), `copy up ${path}`);
    await copyMetadata(src, path, st, tmp);
    if (fmt !== S_IFDIR && fmt !== S_IFLNK) shim().lsetxattr(tmp, ORIGIN_XATTR, Buffer.from(path), 0);
    // no whiteout can stand at upperPath: the object was found below it, so none hid it
    fs.renameSync(tmp, upper.hostPath(upperPath));
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}

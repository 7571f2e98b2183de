/**
 * Loads the native shim (native-shim/, built by `npm install`). Every
 * function returns a number; negative numbers are -errno.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface Shim {
  socketpair(): [number, number] | number;
  recvFd(sock: number): number;
  /** xattrs of dirFd/path (AT_FDCWD: a plain path), never following a final symlink; a 0-length buffer probes the size */
  lgetxattr(dirFd: number, path: string, name: string, buf: Buffer): number;
  llistxattr(dirFd: number, path: string, buf: Buffer): number;
  lsetxattr(dirFd: number, path: string, name: string, value: Buffer, flags: number): number;
  lremovexattr(dirFd: number, path: string, name: string): number;
  /** the *at calls: dirFd is a directory fd, or AT_FDCWD for a plain path */
  openat(dirFd: number, path: string, flags: number, mode: number): number;
  mkdirat(dirFd: number, path: string, mode: number): number;
  /** flags: AT_REMOVEDIR for a directory */
  unlinkat(dirFd: number, path: string, flags: number): number;
  fchmodat(dirFd: number, path: string, mode: number): number;
  /** never follows a final symlink; -1 keeps an id */
  fchownat(dirFd: number, path: string, uid: number, gid: number): number;
  mknodat(dirFd: number, path: string, mode: number, rdev: number): number;
  symlinkat(target: string | Buffer, dirFd: number, path: string): number;
  /** readlinkat into buf: the target's length (a full buf may mean a longer target), or -errno */
  readlinkat(dirFd: number, path: string, buf: Buffer): number;
  linkat(oldDirFd: number, oldPath: string, newDirFd: number, newPath: string): number;
  /** renameat2: flags RENAME_NOREPLACE / RENAME_EXCHANGE */
  renameat(oldDirFd: number, oldPath: string, newDirFd: number, newPath: string, flags: number): number;
  utimensat(dirFd: number, path: string, asec: number, ansec: number, msec: number, mnsec: number, nofollow: boolean): number;
  fallocate(fd: number, mode: number, offset: number, length: number): number;
  lseek(fd: number, offset: number, whence: number): number;
  ioctlClone(newFd: number, sessionFd: number): number;
  backingOpen(devFd: number, fd: number): number;
  backingClose(devFd: number, id: number): number;
  read(fd: number, buf: Buffer): number;
  watch(fd: number, cb: (status: number) => void): object;
  unwatch(handle: object): number;
  pause(handle: object): number;
  resume(handle: object): number;
  setNonblock(fd: number): number;
  makedev(major: number, minor: number): number;
  mount(source: string, target: string, fstype: string, flags: number, data: string): number;
  setsid(): number;
  /** statx(dirfd, path, AT_SYMLINK_NOFOLLOW) into out: 10 doubles (dev mode nlink uid gid rdev blksize ino size blocks), then atime/mtime/ctime/btime as int64 ns; 0 or -errno */
  lstatat(dirfd: number, path: string, out: Float64Array): number;
  /** the entries of dirfd/path but . and ..: per entry its d_type byte, name, NUL; or -errno */
  readdirat(dirfd: number, path: string): Buffer | number;
  /** queues n work items that each hold a libuv pool thread for 30 ms; cb gets the thread id each ran on */
  poolThreads(n: number, cb: (tids: number[]) => void): number;
  /** setpriority for one thread of this process; 0 or -errno */
  setThreadNice(tid: number, nice: number): number;
}

/** the dirFd of a plain path */
export const AT_FDCWD = -100;
export const AT_REMOVEDIR = 0x200;

let cached: Shim | undefined;

/** The shim, or a clear error telling how to build it. */
export function shim(): Shim {
  if (cached) return cached;
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [
    join(here, '../../native-shim/build/Release/tsfuse_shim.node'),
    join(here, '../../../native-shim/build/Release/tsfuse_shim.node'),
  ];
  const found = candidates.find((p) => existsSync(p));
  if (!found) throw new Error('tsfuse: native shim not built (run `npm install` or `npx node-gyp rebuild -C native-shim`)');
  cached = createRequire(import.meta.url)(found) as Shim;
  return cached;
}

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
  lgetxattr(path: string, name: string, buf: Buffer): number;
  llistxattr(path: string, buf: Buffer): number;
  lsetxattr(path: string, name: string, value: Buffer, flags: number): number;
  lremovexattr(path: string, name: string): number;
  mknod(path: string, mode: number, rdev: number): number;
  renameat2(from: string, to: string, flags: number): number;
  utimensat(path: string, asec: number, ansec: number, msec: number, mnsec: number, nofollow: boolean): number;
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
}

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

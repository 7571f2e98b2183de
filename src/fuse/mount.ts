/**
 * Getting a mount: as root through mount(2) (the shim makes the call, as
 * libfuse does: no mount(8) process per mount), rootless — or whenever auto_unmount is
 * asked — through fusermount3, which hands the fd back over a socketpair
 * (SCM_RIGHTS, received by the shim). Unmounting, and the checks that give
 * a clear one-line error before anything is mounted.
 */
import { spawn } from './spawn.js';
import * as fs from 'node:fs';
import { resolve } from 'node:path';
import { shim } from './native.js';
import { Errno, errnoName } from './errors.js';

export interface MountOptions {
  fsname?: string;
  subtype?: string;
  allowOther?: boolean;
  defaultPermissions?: boolean;
  ro?: boolean;
  autoUnmount?: boolean;
  maxRead?: number;
  /** other mount flags passed through: nosuid, nodev, noexec, noatime, suid, dev, exec, sync, dirsync… */
  flags?: string[];
  /** force the fusermount3 path even as root */
  useFusermount?: boolean;
}

export interface Mounted {
  /** the /dev/fuse fd, non-blocking, ready for a Session */
  fd: number;
  mountpoint: string;
  /** how it was mounted */
  via: 'mount' | 'fusermount3';
  /** fusermount3's socket (kept open for auto_unmount: closing it unmounts) */
  commFd?: number;
}

export class MountError extends Error {}

/** mount(2) flag bits of the flag names (the rest — rw, suid, dev, exec, async, atime — are the defaults: 0) */
const MS: Record<string, number> = {
  ro: 1, nosuid: 2, nodev: 4, noexec: 8, sync: 16, dirsync: 128, noatime: 1024, nodiratime: 2048,
  relatime: 1 << 21, strictatime: 1 << 24, lazytime: 1 << 25,
};
/** every mount flag name we accept: those with a bit, and the defaults they turn off */
const MOUNT_FLAGS = new Set([...Object.keys(MS), 'rw', 'suid', 'dev', 'exec', 'async', 'atime']);

export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

/** Checks a mountpoint: exists, is a directory, is not a mount already, is not a dead FUSE mount. */
export function checkMountpoint(mountpoint: string): string {
  const mp = resolve(mountpoint);
  let st: fs.Stats;
  try {
    st = fs.statSync(mp);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOTCONN' || code === 'ECONNABORTED') throw new MountError(`mountpoint ${mp} is a dead FUSE mount (Transport endpoint is not connected); unmount it first with fusermount3 -u`);
    if (code === 'ENOENT') throw new MountError(`mountpoint ${mp} does not exist`);
    throw new MountError(`cannot use mountpoint ${mp}: ${code}`);
  }
  if (!st.isDirectory()) throw new MountError(`mountpoint ${mp} is not a directory`);
  if (mountedAt(mp)) throw new MountError(`mountpoint ${mp} is busy: something is already mounted there`);
  return mp;
}

/** The fs type mounted exactly at `mp` (from /proc/self/mountinfo), or undefined. */
export function mountedAt(mp: string): string | undefined {
  let info: string;
  try { info = fs.readFileSync('/proc/self/mountinfo', 'utf8'); } catch { return undefined; }
  let found: string | undefined;
  for (const line of info.split('\n')) {
    const f = line.split(' ');
    if (f.length < 10) continue;
    if (unescapeMount(f[4]) === mp) {
      const sep = f.indexOf('-');
      found = f[sep + 1];
    }
  }
  return found;
}

function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)));
}

function optionString(o: MountOptions, kernelOnly: boolean): string[] {
  const out: string[] = [];
  if (o.allowOther) out.push('allow_other');
  if (o.defaultPermissions) out.push('default_permissions');
  if (o.maxRead) out.push(`max_read=${o.maxRead}`);
  if (!kernelOnly) {
    if (o.fsname) out.push(`fsname=${o.fsname.replace(/,/g, '\\,')}`);
    if (o.subtype) out.push(`subtype=${o.subtype}`);
    if (o.autoUnmount) out.push('auto_unmount');
    if (o.ro) out.push('ro');
    for (const f of o.flags ?? []) if (MOUNT_FLAGS.has(f)) out.push(f);
  }
  return out;
}

/** Mounts a FUSE filesystem at `mountpoint` and returns the /dev/fuse fd to serve. */
export async function mount(mountpoint: string, o: MountOptions = {}): Promise<Mounted> {
  const mp = checkMountpoint(mountpoint);
  if (isRoot() && !o.autoUnmount && !o.useFusermount) return mountDirect(mp, o);
  return mountFusermount(mp, o);
}

async function mountDirect(mp: string, o: MountOptions): Promise<Mounted> {
  let fd: number;
  try {
    fd = fs.openSync('/dev/fuse', fs.constants.O_RDWR | fs.constants.O_NONBLOCK);
  } catch (e) {
    throw new MountError(`cannot open /dev/fuse: ${(e as NodeJS.ErrnoException).code}`);
  }
  const st = fs.statSync(mp);
  const subtype = o.subtype ?? 'tsfuse';
  const data = [`fd=${fd}`, `rootmode=${(st.mode & 0o170000).toString(8)}`, `user_id=${process.getuid!()}`, `group_id=${process.getgid!()}`,
    ...optionString(o, true)].join(',');
  const flags = new Set(['nosuid', 'nodev']);
  for (const f of o.flags ?? []) {
    if (f === 'suid') flags.delete('nosuid');
    else if (f === 'dev') flags.delete('nodev');
    else if (MOUNT_FLAGS.has(f)) flags.add(f);
  }
  if (o.ro) flags.add('ro');
  let msFlags = 0;
  for (const f of flags) msFlags |= MS[f] ?? 0;
  // mount(2) itself, as libfuse does for root: one syscall instead of a mount(8) process (~10 ms)
  const r = shim().mount(o.fsname ?? subtype, mp, `fuse.${subtype}`, msFlags, data);
  if (r < 0) {
    fs.closeSync(fd);
    throw new MountError(`cannot mount ${mp}: ${errnoName(-r)}`);
  }
  return { fd, mountpoint: mp, via: 'mount' };
}

async function mountFusermount(mp: string, o: MountOptions): Promise<Mounted> {
  const s = shim();
  const pair = s.socketpair();
  if (typeof pair === 'number') throw new MountError(`socketpair: ${errnoName(pair)}`);
  const [mine, theirs] = pair;
  const opts = optionString(o, false);
  if (!opts.includes('ro') && !(o.flags ?? []).includes('rw')) opts.push('rw');
  const child = spawn('fusermount3', ['-o', opts.join(','), '--', mp], {
    stdio: ['ignore', 'ignore', 'pipe', theirs],
    env: { ...process.env, _FUSE_COMMFD: '3' },
    detached: !!o.autoUnmount,
  });
  fs.closeSync(theirs);
  let stderr = '';
  child.stderr!.on('data', (d) => { stderr += d; });
  const exited = new Promise<number>((res) => {
    child.on('error', (e) => { stderr += e.message; res(127); });
    child.on('exit', (code) => res(code ?? 1));
  });
  // wait until fusermount3 has sent the fd (socket readable) or gave up (EOF)
  await new Promise<void>((res) => {
    const h = s.watch(mine, () => { s.unwatch(h); res(); });
  });
  const fd = s.recvFd(mine);
  if (fd < 0) {
    fs.closeSync(mine);
    await exited;
    throw new MountError(`fusermount3 failed: ${oneLine(stderr) || errnoName(fd)}`);
  }
  s.setNonblock(fd);
  if (o.autoUnmount) {
    // fusermount3 stays alive watching the socket; it unmounts when we die
    child.unref();
    child.stderr!.destroy();
    if (!isRoot()) armUnmountWatcher(mp);
    return { fd, mountpoint: mp, via: 'fusermount3', commFd: mine };
  }
  fs.closeSync(mine);
  const code = await exited;
  if (code !== 0) {
    fs.closeSync(fd);
    throw new MountError(`fusermount3 failed: ${oneLine(stderr) || `exit ${code}`}`);
  }
  return { fd, mountpoint: mp, via: 'fusermount3' };
}

/**
 * fusermount3 3.14's auto_unmount cannot release an unprivileged mount on
 * kernels where root is refused by a mount without allow_other: it checks
 * the dead mount with open() as root, gets EACCES instead of ENOTCONN and
 * leaves it. So a rootless daemon also starts a tiny watcher that blocks
 * reading a pipe only the daemon holds; when the daemon dies, however it
 * dies, the pipe ends and the watcher lazily unmounts as the same user.
 */
function armUnmountWatcher(mp: string): void {
  const w = spawn('sh', ['-c', 'read _ || true; exec fusermount3 -u -z -q -- "$1" 2>/dev/null', 'tsfuse-unmount-watcher', mp], {
    stdio: ['pipe', 'ignore', 'ignore'], detached: true,
  });
  w.on('error', () => {});
  w.unref();
  (w.stdin as unknown as { unref?: () => void }).unref?.();
}

/**
 * Unmounts. Never synchronous: umount(8) asks the daemon for GETATTR and
 * STATFS first, so the serving loop must keep running meanwhile.
 */
export async function unmount(mountpoint: string, opts: { lazy?: boolean } = {}): Promise<void> {
  const mp = resolve(mountpoint);
  const args = ['-u', ...(opts.lazy ? ['-z'] : []), '-q', mp];
  try {
    await run('fusermount3', args, ['ignore', 'ignore', 'pipe']);
  } catch (e) {
    if (!isRoot()) throw e;
    await run('umount', opts.lazy ? ['-l', mp] : [mp], ['ignore', 'ignore', 'pipe']);
  }
}

function run(cmd: string, args: string[], stdio: ('ignore' | 'pipe' | number)[]): Promise<void> {
  return new Promise((res, rej) => {
    const c = spawn(cmd, args, { stdio });
    let err = '';
    c.stderr?.on('data', (d) => { err += d; });
    c.on('error', (e) => rej(new MountError(`${cmd}: ${e.message}`)));
    c.on('exit', (code) => (code === 0 ? res() : rej(new MountError(`${cmd} failed: ${oneLine(err) || `exit ${code}`}`))));
  });
}

function oneLine(s: string): string {
  return s.trim().split('\n').filter(Boolean).pop() ?? '';
}

export { Errno };

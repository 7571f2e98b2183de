/**
 * Rootless mounts: an unprivileged user mounts through fusermount3, which
 * hands the /dev/fuse fd back over a socketpair (received by the shim).
 * Needs what distros ship: /dev/fuse mode 0666 and a plain user account;
 * .ci/setup prepares both (this machine ships /dev/fuse 0600).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { forceUnmount, installForUsers, isMounted, mountType, pidAlive, tempDir, waitFor } from './helpers.js';

const USER = 'tsfuse-rootless';

let uid = -1, gid = -1;
let install = '';

/** Runs a command as the unprivileged user. */
function asUser(cmd: string, args: string[], timeout = 30_000) {
  const r = spawnSync('runuser', ['-u', USER, '--', cmd, ...args], { encoding: 'utf8', timeout, cwd: '/' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function userDir(): string {
  const d = tempDir('tsfuse-rootless-');
  fs.chownSync(d, uid, gid);
  fs.chmodSync(d, 0o755);
  return d;
}

describe('rootless (fusermount3)', () => {
  beforeAll(() => {
    expect(process.getuid!(), 'the rootless tests create their user and need root to do so').toBe(0);
    if (spawnSync('id', ['-u', USER]).status !== 0) execFileSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', USER]);
    uid = Number(execFileSync('id', ['-u', USER], { encoding: 'utf8' }));
    gid = Number(execFileSync('id', ['-g', USER], { encoding: 'utf8' }));
    const mode = fs.statSync('/dev/fuse').mode & 0o777;
    expect(mode & 0o006, '/dev/fuse must be 0666 as distros ship it (run .ci/setup)').toBe(0o006);
    install = installForUsers();
  });

  function mountAsUser(kind: 'memfs' | 'loopback', args: string[], mnt: string, opts: string[] = []) {
    const pidFile = join(userDir(), 'pid');
    const r = asUser(process.execPath, [join(install, 'bin/tsfuse'), 'mount', kind, ...args, mnt, '--pid-file', pidFile, ...(opts.length ? ['-o', opts.join(',')] : [])]);
    expect(r.status, r.stderr).toBe(0);
    return Number(fs.readFileSync(pidFile, 'utf8'));
  }

  it('mounts memfs as a plain user, serves it, and unmounts with fusermount3 -u', () => {
    const mnt = userDir();
    const pid = mountAsUser('memfs', [], mnt);
    try {
      expect(mountType(mnt)).toBe('fuse.memfs');
      const line = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').find((l) => l.split(' ')[4] === mnt)!;
      expect(line).toContain(`user_id=${uid}`);
      expect(line).toMatch(/nosuid/);
      const w = asUser('sh', ['-c', `echo rootless > ${mnt}/f && cat ${mnt}/f && stat -c %u ${mnt}/f`]);
      expect(w.status, w.stderr).toBe(0);
      expect(w.stdout.split('\n').slice(0, 2)).toEqual(['rootless', String(uid)]);
      // the daemon really runs as the user
      expect(fs.statSync(`/proc/${pid}`).uid).toBe(uid);
      const u = asUser('fusermount3', ['-u', mnt]);
      expect(u.status, u.stderr).toBe(0);
      waitFor(() => !pidAlive(pid), 10_000, 'rootless daemon exit');
      expect(isMounted(mnt)).toBe(false);
    } finally {
      forceUnmount(mnt);
      if (pidAlive(pid)) process.kill(pid, 'SIGKILL');
    }
  });

  it('mounts a loopback of a user-owned dir; files created through it belong to the user', () => {
    const src = userDir(), mnt = userDir();
    const pid = mountAsUser('loopback', [src], mnt);
    try {
      const w = asUser('sh', ['-c', `mkdir ${mnt}/d && echo x > ${mnt}/d/f && ln -s f ${mnt}/d/l && ls ${mnt}/d`]);
      expect(w.status, w.stderr).toBe(0);
      expect(w.stdout.trim().split('\n')).toEqual(['f', 'l']);
      expect(fs.statSync(join(src, 'd/f')).uid).toBe(uid);
      expect(fs.readlinkSync(join(src, 'd/l'))).toBe('f');
      // root is not the mount owner: without allow_other the kernel refuses root too
      expect(() => fs.statSync(join(mnt, 'd'))).toThrow(/EACCES/);
    } finally {
      forceUnmount(mnt);
      if (pidAlive(pid)) process.kill(pid, 'SIGKILL');
    }
  });

  it('auto_unmount: SIGKILL of the rootless daemon releases the mountpoint', () => {
    const mnt = userDir();
    const pid = mountAsUser('memfs', [], mnt, ['auto_unmount']);
    try {
      expect(mountType(mnt)).toBe('fuse.memfs');
      process.kill(pid, 'SIGKILL');
      waitFor(() => !isMounted(mnt), 10_000, 'auto_unmount');
    } finally {
      forceUnmount(mnt);
    }
  });

  it('a rootless mount on a dir the user cannot write fails with fusermount3\'s reason, one line', () => {
    const mnt = tempDir(); // owned by root, mode 0700
    fs.chmodSync(mnt, 0o700);
    const r = asUser(process.execPath, [join(install, 'bin/tsfuse'), 'mount', 'memfs', mnt]);
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^tsfuse: /);
    expect(isMounted(mnt)).toBe(false);
  });

  it('tsfuse-overlayfs as a plain user: the sh launcher, fusermount3, writes land in the upper as the user, fusermount3 -u ends the daemon', () => {
    const base = userDir();
    const [l, u, w, m] = ['l', 'u', 'w', 'm'].map((n) => join(base, n));
    for (const d of [l, u, w, m]) { fs.mkdirSync(d); fs.chownSync(d, uid, gid); }
    fs.writeFileSync(join(l, 'old'), 'lower');
    fs.chownSync(join(l, 'old'), uid, gid);
    const r = asUser('env', [`TSFUSE_NODE=${process.execPath}`, join(install, 'bin/tsfuse-overlayfs'), '-o', `lowerdir=${l},upperdir=${u},workdir=${w}`, m]);
    expect(r.status, r.stderr).toBe(0);
    try {
      expect(mountType(m)).toBe('fuse.tsfuse-overlayfs');
      const s = asUser('sh', ['-c', `echo new > ${m}/new && echo more >> ${m}/old && rm ${m}/old && ls ${m}`]);
      expect(s.status, s.stderr).toBe(0);
      expect(s.stdout.trim()).toBe('new');
      expect(fs.statSync(join(u, 'new')).uid).toBe(uid);
      // Linux (5.8+) lets a plain user mknod the 0/0 whiteout device: the deletion is recorded as fuse-overlayfs records it as root
      expect(fs.readdirSync(u).sort()).toEqual(['new', 'old']);
      const wh = fs.lstatSync(join(u, 'old'));
      expect([wh.isCharacterDevice(), wh.rdev]).toEqual([true, 0]);
      const pid = Number(execFileSync('pgrep', ['-u', String(uid), '-f', `${m} --tsfuse-daemon-child`], { encoding: 'utf8' }).trim());
      expect(asUser('fusermount3', ['-u', m]).status).toBe(0);
      waitFor(() => !pidAlive(pid), 10_000, 'rootless overlay daemon exit');
    } finally {
      forceUnmount(m);
    }
  });
});
void os;

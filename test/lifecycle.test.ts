/**
 * Mount lifecycle through the real CLI: daemon start/stop, signals, crashes
 * with and without auto_unmount, bad mountpoints and options.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BIN, forceUnmount, isMounted, mountCli, mountType, pidAlive, shr, tempDir, waitFor } from './helpers.js';

function tsfuse(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('lifecycle', () => {
  it('--version and --help exit 0', () => {
    const v = tsfuse(['--version']);
    expect(v.status).toBe(0);
    expect(v.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
    const h = tsfuse(['--help']);
    expect(h.status).toBe(0);
    expect(h.stdout).toContain('mount');
  });

  it('fusermount3 -u unmounts and the daemon exits by itself', () => {
    const mnt = tempDir();
    const m = mountCli('memfs', [], mnt);
    expect(pidAlive(m.pid)).toBe(true);
    expect(spawnSync('fusermount3', ['-u', mnt]).status).toBe(0);
    waitFor(() => !pidAlive(m.pid), 10_000, 'daemon exit');
    expect(isMounted(mnt)).toBe(false);
  });

  it('umount(8) works too (it sends GETATTR/STATFS to the daemon first)', () => {
    const mnt = tempDir();
    const m = mountCli('memfs', [], mnt);
    const r = shr(`umount ${mnt}`);
    expect(r.status, r.stderr).toBe(0);
    waitFor(() => !pidAlive(m.pid), 10_000, 'daemon exit');
    expect(isMounted(mnt)).toBe(false);
  });

  it.each(['SIGTERM', 'SIGINT'] as const)('%s unmounts cleanly and the daemon exits 0', (sig) => {
    const mnt = tempDir();
    const src = tempDir();
    fs.writeFileSync(join(src, 'f'), 'x');
    const m = mountCli('loopback', [src], mnt);
    expect(fs.readFileSync(join(mnt, 'f'), 'utf8')).toBe('x');
    process.kill(m.pid, sig);
    waitFor(() => !pidAlive(m.pid), 10_000, 'daemon exit after signal');
    expect(isMounted(mnt)).toBe(false);
    // the source is untouched
    expect(fs.readFileSync(join(src, 'f'), 'utf8')).toBe('x');
  });

  it('SIGKILL without auto_unmount leaves a dead mount that a stat reports as ENOTCONN', () => {
    const mnt = tempDir();
    const m = mountCli('memfs', [], mnt);
    process.kill(m.pid, 'SIGKILL');
    waitFor(() => !pidAlive(m.pid), 10_000, 'daemon death');
    expect(isMounted(mnt)).toBe(true);
    // a request caught by the abort itself may see ECONNABORTED; after that, ENOTCONN
    const code = () => { try { fs.statSync(mnt); return 'ok'; } catch (e) { return (e as NodeJS.ErrnoException).code; } };
    waitFor(() => code() === 'ENOTCONN', 5000, 'ENOTCONN from the dead mount');
    // and a new mount on it explains what is wrong instead of hanging
    const r = tsfuse(['mount', 'memfs', mnt]);
    expect(r.status).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/dead FUSE mount|not connected/);
    forceUnmount(mnt);
    expect(isMounted(mnt)).toBe(false);
  });

  it('SIGKILL with auto_unmount: the mountpoint is released', () => {
    const mnt = tempDir();
    const m = mountCli('memfs', [], mnt, ['auto_unmount']);
    expect(mountType(mnt)).toBe('fuse.memfs');
    fs.writeFileSync(join(mnt, 'a'), 'b');
    process.kill(m.pid, 'SIGKILL');
    waitFor(() => !isMounted(mnt), 10_000, 'auto_unmount to release the mount');
    expect(fs.readdirSync(mnt)).toEqual([]);
  });

  it('mounting on a missing directory fails with one clear line and mounts nothing', () => {
    const base = tempDir();
    const mnt = join(base, 'missing');
    const r = tsfuse(['mount', 'memfs', mnt]);
    expect(r.status).toBe(1);
    expect(r.stderr.trim()).toBe(`tsfuse: mountpoint ${mnt} does not exist`);
    expect(isMounted(mnt)).toBe(false);
  });

  it('mounting on a file fails clearly', () => {
    const base = tempDir();
    const file = join(base, 'file');
    fs.writeFileSync(file, '');
    const r = tsfuse(['mount', 'memfs', file]);
    expect(r.status).toBe(1);
    expect(r.stderr.trim()).toBe(`tsfuse: mountpoint ${file} is not a directory`);
  });

  it('mounting on a busy mountpoint fails clearly and leaves the first mount serving', () => {
    const mnt = tempDir();
    mountCli('memfs', [], mnt);
    fs.writeFileSync(join(mnt, 'keep'), '1');
    const r = tsfuse(['mount', 'memfs', mnt]);
    expect(r.status).toBe(1);
    expect(r.stderr.trim()).toBe(`tsfuse: mountpoint ${mnt} is busy: something is already mounted there`);
    expect(fs.readFileSync(join(mnt, 'keep'), 'utf8')).toBe('1');
  });

  it.each([
    [['-o', 'bogus'], /unknown option bogus/],
    [['-o', 'max_read=abc'], /max_read=abc: expected a positive whole number/],
    [['-o', 'readdirplus=maybe'], /readdirplus=maybe/],
    [['-o', 'fsname'], /option fsname needs a value/],
  ])('bad options %j: one line, non-zero, nothing mounted', (opts, re) => {
    const mnt = tempDir();
    const r = tsfuse(['mount', 'memfs', mnt, ...opts]);
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(re);
    expect(isMounted(mnt)).toBe(false);
  });

  it('unknown filesystem kind and wrong argument counts are clear errors', () => {
    const mnt = tempDir();
    expect(tsfuse(['mount', 'nosuchfs', mnt]).stderr).toMatch(/unknown filesystem "nosuchfs"/);
    expect(tsfuse(['mount', 'loopback', mnt]).stderr).toMatch(/usage: tsfuse mount loopback DIR MOUNTPOINT/);
    expect(tsfuse(['mount', 'loopback', join(mnt, 'nope'), mnt]).stderr).toMatch(/source directory .* does not exist/);
    expect(isMounted(mnt)).toBe(false);
  });

  it('mount options reach the kernel: fsname, subtype, ro, default_permissions, allow_other', () => {
    const mnt = tempDir();
    mountCli('memfs', [], mnt, ['fsname=myfs', 'subtype=mysub', 'ro', 'default_permissions', 'allow_other']);
    const line = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').find((l) => l.split(' ')[4] === mnt)!;
    expect(line).toContain(' - fuse.mysub myfs ');
    expect(line).toMatch(/\bro\b/);
    expect(line).toContain('default_permissions');
    expect(line).toContain('allow_other');
    expect(() => fs.writeFileSync(join(mnt, 'x'), '')).toThrow(/EROFS/);
  });

  it('-f stays in the foreground and exits after unmount', async () => {
    const mnt = tempDir();
    const { spawn } = await import('node:child_process');
    const child = spawn(process.execPath, [BIN, 'mount', 'memfs', mnt, '-f'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => { err += d; });
    const exited = new Promise<number | null>((res) => child.on('exit', (c) => res(c)));
    try {
      await new Promise<void>((res, rej) => {
        const t = setInterval(() => { if (mountType(mnt)) { clearInterval(t); res(); } }, 20);
        setTimeout(() => { clearInterval(t); rej(new Error('no mount: ' + err)); }, 10_000);
      });
      // the mount is live while the process keeps running
      expect(child.exitCode).toBeNull();
      const u = spawn('fusermount3', ['-u', mnt]);
      await new Promise((res) => u.on('exit', res));
      expect(await exited).toBe(0);
    } finally {
      forceUnmount(mnt);
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});

/**
 * Test helpers: temp dirs, mounting through the real CLI (a separate daemon
 * process, so tests may use synchronous child processes freely), and
 * cleanup that unmounts and kills (by PID, only what we started) even when
 * a test fails.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll } from 'vitest';

export const ROOT = resolve(import.meta.dirname, '..');
export const BIN = join(ROOT, 'bin/tsfuse');

const cleanups: (() => void)[] = [];

// Registered when a test file imports this module (hooks must be collected
// before the tests run): unmount, kill and remove everything, even on failure.
afterAll(() => {
  while (cleanups.length) {
    try { cleanups.pop()!(); } catch { /* keep cleaning */ }
  }
});


/** A fresh directory under the system temp dir, removed after the file's tests. */
export function tempDir(prefix = 'tsfuse-test-'): string {
  const d = fs.mkdtempSync(join(os.tmpdir(), prefix));
  cleanups.unshift(() => {
    if (!isMounted(d)) fs.rmSync(d, { recursive: true, force: true });
  });
  return d;
}

/** Is anything mounted at (or under) `p`? */
export function isMounted(p: string): boolean {
  const info = fs.readFileSync('/proc/self/mountinfo', 'utf8');
  return info.split('\n').some((l) => { const mp = l.split(' ')[4]; return mp === p || mp?.startsWith(p + '/'); });
}

export function mountType(p: string): string | undefined {
  for (const l of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const f = l.split(' ');
    if (f[4] === p) return f[f.indexOf('-') + 1];
  }
  return undefined;
}

/** Running (a zombie waiting for its reaper counts as gone). */
export function pidAlive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** Force-unmounts `mnt` if still mounted (lazy), for cleanup. */
export function forceUnmount(mnt: string): void {
  for (let i = 0; i < 5 && isMounted(mnt); i++) {
    spawnSync('fusermount3', ['-u', '-z', mnt], { stdio: 'ignore' });
    if (isMounted(mnt)) spawnSync('umount', ['-l', mnt], { stdio: 'ignore' });
  }
}

export interface CliMount {
  mnt: string;
  pid: number;
  /** fusermount3 -u, then wait for the daemon to exit */
  unmount(): void;
}

/**
 * Mounts through `tsfuse mount KIND ARGS... MNT` (daemon mode) and registers
 * cleanup. Throws with the CLI's stderr when the mount fails.
 */
export function mountCli(kind: 'memfs' | 'loopback', args: string[], mnt: string, options: string[] = [], extra: string[] = []): CliMount {
  const pidFile = join(os.tmpdir(), `tsfuse-pid-${process.pid}-${Math.random().toString(36).slice(2)}`);
  const o = options.length ? ['-o', options.join(',')] : [];
  const r = spawnSync(process.execPath, [BIN, 'mount', kind, ...args, mnt, ...o, '--pid-file', pidFile, ...extra], { encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) throw new Error(`tsfuse mount failed (${r.status}): ${r.stderr.trim()}`);
  const pid = Number(fs.readFileSync(pidFile, 'utf8'));
  fs.rmSync(pidFile, { force: true });
  const m: CliMount = {
    mnt, pid,
    unmount() {
      if (isMounted(mnt)) execFileSync('fusermount3', ['-u', mnt]);
      waitFor(() => !pidAlive(pid), 10_000, `daemon ${pid} to exit after unmount`);
    },
  };
  cleanups.push(() => {
    forceUnmount(mnt);
    if (pidAlive(pid)) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
  });
  return m;
}

/** Polls `cond` (synchronously, sleeping between tries) until true or the deadline. */
export function waitFor(cond: () => boolean, ms: number, what: string): void {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
  }
}

/** Runs a shell command, returns stdout; throws with stderr on failure. */
export function sh(cmd: string, cwd?: string): string {
  return execFileSync('bash', ['-c', cmd], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 });
}

/** Runs a shell command and returns {status, stdout, stderr} without throwing. */
export function shr(cmd: string, cwd?: string): { status: number; stdout: string; stderr: string } {
  const r = spawnSync('bash', ['-c', cmd], { cwd, encoding: 'utf8', maxBuffer: 64 << 20 });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/**
 * A copy of the built package that any user can read and run (the checkout
 * itself may sit under a directory a plain user cannot enter).
 */
export function installForUsers(): string {
  const install = tempDir('tsfuse-install-');
  fs.chmodSync(install, 0o755);
  for (const p of ['package.json', 'bin', 'dist', 'native-shim/build/Release/tsfuse_shim.node', 'node_modules/commander']) {
    fs.cpSync(join(ROOT, p), join(install, p), { recursive: true });
  }
  execFileSync('chmod', ['-R', 'a+rX', install]);
  return install;
}

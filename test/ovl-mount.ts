/**
 * Mounting tsfuse-overlayfs from tests: through its command line, the
 * daemon found by PID (the process whose argv names the mountpoint), and
 * every mount force-unmounted after the file's tests, whatever happened.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect } from 'vitest';
import { forceUnmount, isMounted, pidAlive, ROOT, waitFor } from './helpers.js';

export const BIN = join(ROOT, 'bin/tsfuse-overlayfs');

export interface Ovl { mnt: string; pid: number; unmount(): void }

const mounted: string[] = [];
export function ovl(opts: string, mnt: string, env?: NodeJS.ProcessEnv): Ovl {
  const r = spawnSync(BIN, ['-o', opts, mnt], { encoding: 'utf8', timeout: 30_000, env: env && { ...process.env, ...env } });
  if (r.status !== 0) throw new Error(`tsfuse-overlayfs failed (${r.status}): ${r.stderr.trim()}`);
  mounted.push(mnt);
  const pid = daemonPid(mnt);
  return {
    mnt, pid,
    unmount() {
      expect(spawnSync('fusermount3', ['-u', mnt]).status).toBe(0);
      waitFor(() => !pidAlive(pid), 10_000, 'overlay daemon exit');
    },
  };
}

/**
 * Runs tsfuse-overlayfs where it should fail; a mount that happens anyway
 * (the test is about to fail) is unmounted after the file's tests.
 */
export function ovlFails(opts: string, mnt: string, env?: NodeJS.ProcessEnv): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(BIN, ['-o', opts, mnt], { encoding: 'utf8', timeout: 60_000, env: env && { ...process.env, ...env } });
  if (isMounted(mnt)) mounted.push(mnt);
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The daemon serving `mnt`: the process whose argv names it (we started it). */
export function daemonPid(mnt: string, arg = mnt): number {
  for (const p of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const argv = fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0');
      if (argv.some((a) => a.endsWith('tsfuse-overlayfs') || a.endsWith('cli/overlayfs.js')) && argv.includes(arg) && argv.some((a) => a.includes('daemon-child'))) return Number(p);
    } catch { /* gone */ }
  }
  throw new Error(`no daemon for ${mnt}`);
}

afterAll(() => { for (const m of mounted) forceUnmount(m); });

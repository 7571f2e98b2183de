/**
 * Daemonizing like fuse-overlayfs: the parent re-runs this program in the
 * background and exits 0 only once the child reports the mount live, or
 * non-zero with the child's one-line reason. The child serves until the
 * filesystem is unmounted (fusermount3 -u, umount) and then exits by
 * itself; SIGINT/SIGTERM unmount first.
 *
 * Two kinds of parent: a Node parent (runDetached; the child reports over
 * IPC), or the sh launcher bin/tsfuse-overlayfs, which starts the daemon
 * directly and reads its verdict from a pipe (TSFUSE_REPORT_FD): a first
 * line "ok", "error" or "foreground", then lines for its stderr.
 */
import { spawn } from '../fuse/spawn.js';
import * as fs from 'node:fs';
import type { Served } from '../fuse/serve.js';
import { shim } from '../fuse/native.js';

export const DAEMON_FLAG = '--tsfuse-daemon-child';

let reportFd: number | undefined;
/** lines for the launcher to print before the verdict's own (warnings) */
const notes: string[] = [];

/**
 * Started by the sh launcher: take over its verdict pipe and leave its
 * session. Call first, before anything is spawned: the pipe is reopened
 * close-on-exec, so no child of ours can hold the launcher open.
 */
export function takeReportPipe(): boolean {
  const v = process.env.TSFUSE_REPORT_FD;
  if (v === undefined) return false;
  delete process.env.TSFUSE_REPORT_FD;
  const inherited = Number(v);
  reportFd = fs.openSync(`/proc/self/fd/${inherited}`, 'w');
  fs.closeSync(inherited);
  shim().setsid();
  return true;
}

/** A verdict for the launcher; a launcher that is gone (killed while waiting) changes nothing for the mount. */
function tellLauncher(text: string): void {
  try { fs.writeSync(reportFd!, text); } catch { /* EPIPE: nobody is waiting any more */ }
}

/** The launcher reruns us in its foreground (-f or -d came in through -o): nothing was done yet. */
export function handBackToForeground(): void {
  if (reportFd === undefined) return;
  tellLauncher('foreground\n');
  process.exit(0);
}

/** In the parent: start the child and wait for its verdict. Never returns. */
export function runDetached(argv: string[], logFile?: string, prog = 'tsfuse'): void {
  // TSFUSE_DAEMON_LOG: where a background daemon writes its log (default: nowhere)
  logFile ??= process.env.TSFUSE_DAEMON_LOG || undefined;
  const log = logFile ? fs.openSync(logFile, 'a') : 'ignore';
  const child = spawn(process.execPath, [...process.execArgv, process.argv[1], ...argv, DAEMON_FLAG], {
    detached: true,
    stdio: ['ignore', log, log, 'ipc'],
  });
  let done = false;
  const finish = (code: number, msg?: string) => {
    if (done) return;
    done = true;
    if (msg) process.stderr.write(msg.endsWith('\n') ? msg : msg + '\n');
    process.exit(code);
  };
  let failure: string | undefined;
  child.on('message', (m: { ok?: boolean; error?: string }) => {
    if (m.ok) { child.disconnect(); child.unref(); finish(0); return; }
    // a failed child exits right after reporting: wait for that (bounded), so nothing is left running when we return
    failure = m.error ?? `${prog}: mount failed`;
    setTimeout(() => finish(1, failure), 2000).unref();
  });
  child.on('exit', (code, sig) => finish(1, failure ?? `${prog}: daemon exited before the mount was ready (${sig ?? `exit ${code}`})`));
  child.on('error', (e) => finish(1, `${prog}: cannot start daemon: ${e.message}`));
}

/** True in the background child. */
export function isDaemonChild(argv: string[]): boolean {
  return argv.includes(DAEMON_FLAG);
}

/**
 * Lines for the caller's stderr (warnings): printed now, or carried by the
 * verdict to the sh launcher. A Node parent prints its own.
 */
export function notify(lines: string[], isChild: boolean): void {
  if (reportFd !== undefined) notes.push(...lines);
  else if (!isChild) for (const l of lines) process.stderr.write(l + '\n');
}

/** In the child (or in -f mode): report success to a waiting parent. */
export function reportReady(): void {
  if (reportFd !== undefined) {
    tellLauncher(['ok', ...notes].join('\n') + '\n');
    fs.closeSync(reportFd);
    reportFd = undefined;
  } else if (process.send) { process.send({ ok: true }); process.disconnect?.(); }
}

/** Report a failure: one line to the parent (or stderr), then exit 1 once it is delivered. */
export function reportFailure(prog: string, err: unknown): void {
  const msg = `${prog}: ${(err as Error)?.message ?? String(err)}`.split('\n')[0];
  // the launcher's pipe closes when we exit: it returns once nothing of ours is left running
  if (reportFd !== undefined) { tellLauncher(['error', ...notes, msg].join('\n') + '\n'); process.exit(1); }
  if (process.send) process.send({ error: msg }, () => process.exit(1));
  else { process.stderr.write(msg + '\n'); process.exit(1); }
}

/** Unmount on SIGINT/SIGTERM, exit when the session ends. */
export function serveUntilUnmounted(served: Served, log: (l: string) => void): void {
  // a log reader that goes away (`-d | head`) must not take the filesystem down
  process.stderr.on('error', () => {});
  process.stdout.on('error', () => {});
  process.on('SIGPIPE', () => {});
  let stopping = false;
  const stop = (sig: string) => {
    if (stopping) return;
    stopping = true;
    log(`${sig}: unmounting ${served.mountpoint}`);
    served.unmount().catch((e) => {
      log(`unmount failed (${(e as Error).message}); detaching lazily`);
      return served.unmount({ lazy: true });
    }).catch((e) => { log(`lazy unmount failed: ${(e as Error).message}`); process.exit(1); });
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGHUP', () => {});
  served.closed.then(() => process.exit(0));
}

/**
 * Run-time settings for a daemon whose mount is live (made now, so that no
 * command-line flag slows Node's start: a V8 flag there costs ~10 ms per
 * mount): a small young generation, and helper threads that yield.
 */
export function tuneLiveDaemon(log: (l: string) => void): void {
  keepYoungGenerationSmall();
  yieldHelperThreads(log);
}

/**
 * V8 grows its young generation up to 2 × 16 MiB under a steady stream of
 * long-lived objects (one node per inode the kernel holds): most of the
 * daemon's heap growth. TSFUSE_SEMI_SPACE_GROWTH overrides the factor
 * (empty: V8's default).
 */
function keepYoungGenerationSmall(): void {
  const factor = process.env.TSFUSE_SEMI_SPACE_GROWTH ?? '1';
  if (factor) void import('node:v8').then((v8) => v8.setFlagsFromString(`--semi-space-growth-factor=${factor}`));
}

/**
 * V8's helper threads (optimizing compiler, concurrent GC) yield to the rest
 * of the daemon: they run at nice 19, so on a machine with few CPUs they use
 * what the thread answering the kernel leaves idle instead of competing
 * with it (and with the caller). libuv's pool keeps its priority: it does
 * the file I/O of requests. Call once the mount is live; the pool is found
 * by holding each of its threads for 30 ms. TSFUSE_HELPER_NICE sets the
 * value (empty: leave all threads alone).
 */
function yieldHelperThreads(log: (l: string) => void): void {
  const nice = process.env.TSFUSE_HELPER_NICE ?? '19';
  if (!nice) return;
  const s = shim();
  const size = Number(process.env.UV_THREADPOOL_SIZE) || 4;
  s.poolThreads(Math.min(size, 64), (tids) => {
    const pool = new Set(tids);
    // a pool thread was busy and ran two probes: which one was missed cannot be told
    if (pool.size !== tids.length) { log('helper threads: the thread pool was busy; priorities left as they are'); return; }
    let lowered = 0;
    for (const t of fs.readdirSync('/proc/self/task')) {
      const tid = Number(t);
      if (tid === process.pid || pool.has(tid)) continue;
      if (s.setThreadNice(tid, Number(nice)) === 0) lowered++;
    }
    log(`helper threads: ${lowered} at nice ${nice}, ${pool.size} pool threads and the main thread unchanged`);
  });
}

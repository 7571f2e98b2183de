/**
 * Which read-loop shape serves /dev/fuse fastest from Node? One mount, an
 * echo filesystem (GETATTR answered from memory), the same C client doing
 * fstat() round trips, three shapes of the daemon's loop:
 *   poll     — ours: non-blocking fd watched by uv_poll (shim), requests
 *              read and answered on the main thread, no thread hop
 *   worker   — a worker thread blocks in readSync on a cloned fd and
 *              transfers each request to the main thread (postMessage)
 *   uvpool   — async fs.read on a cloned fd (libuv thread pool), 2 in flight
 * Run: npx tsx bench/loop-shapes.ts [N] [poll,worker,uvpool]. Prints median µs per round trip.
 */
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { mount, unmount } from '../src/fuse/mount.js';
import { Session } from '../src/fuse/session.js';
import { shim } from '../src/fuse/native.js';
import type { FileSystem } from '../src/fuse/api.js';
import type { Attr } from '../src/fuse/types.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const N = Number(process.argv[2] ?? 20000);
const RUNS = 5;

const attr = (ino: number, mode: number): Attr => ({
  ino, size: 4096, blocks: 8, atime: 0, atimensec: 0, mtime: 0, mtimensec: 0, ctime: 0, ctimensec: 0,
  mode, nlink: 1, uid: 0, gid: 0, rdev: 0, blksize: 4096,
});
const echo: FileSystem = {
  lookup: (_c, _p, name) => {
    if (name !== 'f') throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
    return { nodeid: 2, entryValid: 60, attrValid: 0, attr: attr(2, 0o100644) };
  },
  getattr: (_c, ino) => ({ attrValid: 0, attr: ino === 1 ? attr(1, 0o40755) : attr(2, 0o100644) }),
  open: () => ({ fh: 1 }),
};

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** runs the client off the main thread's critical path (async spawn) */
function client(bin: string, file: string): Promise<number> {
  return new Promise((res, rej) => {
    const c = spawn(bin, [file, String(N)]);
    let out = '';
    c.stdout.on('data', (d) => { out += d; });
    c.on('exit', (code) => (code === 0 ? res(Number(out)) : rej(new Error(`client exit ${code}`))));
  });
}

async function shape(name: 'poll' | 'worker' | 'uvpool', bin: string): Promise<number> {
  const mnt = fs.mkdtempSync(join(os.tmpdir(), 'tsfuse-loop-'));
  const m = await mount(mnt, { subtype: 'loopshape' });
  let session: Session;
  let worker: Worker | undefined;
  let stop = false;
  if (name === 'poll') {
    session = new Session(m.fd, echo).start();
  } else {
    const clone = fs.openSync('/dev/fuse', fs.constants.O_RDWR);
    if (shim().ioctlClone(clone, m.fd) < 0) throw new Error('FUSE_DEV_IOC_CLONE failed');
    session = new Session(clone, echo);
    const size = (1 << 20) + 4096;
    if (name === 'worker') {
      worker = new Worker(join(here, 'loop-shapes/worker.mjs'), { workerData: { fd: clone, size } });
      worker.on('message', (msg: { ab?: ArrayBuffer; off: number; n: number }) => {
        if (msg.ab) session.handle(Buffer.from(msg.ab, msg.off, msg.n), msg.n);
      });
      worker.unref();
    } else {
      const loop = (buf: Buffer) => {
        fs.read(clone, buf, 0, size, null, (err, n) => {
          if (err || stop) return;
          session.handle(buf, n);
          loop(buf);
        });
      };
      loop(Buffer.allocUnsafe(size));
      loop(Buffer.allocUnsafe(size));
    }
  }
  try {
    await new Promise((r) => setTimeout(r, 100));
    const results: number[] = [];
    for (let i = 0; i < RUNS; i++) results.push(await client(bin, join(mnt, 'f')));
    return median(results);
  } finally {
    stop = true;
    await unmount(mnt, { lazy: true });
    if (name === 'poll') await session.closed;
    try { fs.closeSync(m.fd); } catch { /* closed by the session */ }
    await worker?.terminate();
    fs.rmdirSync(mnt);
  }
}

async function main() {
  const build = join(here, '.build');
  fs.mkdirSync(build, { recursive: true });
  const bin = join(build, 'fstat-loop');
  execFileSync('gcc', ['-O2', '-o', bin, join(here, 'loop-shapes/fstat-loop.c')]);
  const rows: [string, number][] = [];
  const only = process.argv[3]?.split(',');
  for (const s of ['poll', 'worker', 'uvpool'] as const) if (!only || only.includes(s)) rows.push([s, await shape(s, bin)]);
  console.log(`GETATTR round trip, fstat() from C, ${N} calls x ${RUNS} runs, median:`);
  for (const [s, us] of rows) console.log(`  ${s.padEnd(8)} ${us.toFixed(2)} µs/op  (${Math.round(1e6 / us)} ops/s)`);
  process.exit(0);
}

main().catch((e) => { console.error(e); process.exit(1); });

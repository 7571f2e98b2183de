/**
 * The session on real mounts, served by this test process: raw hook,
 * notifications, interrupts, negative entries, passthrough, older protocol
 * minors, no head-of-line blocking. Everything that touches a mount served
 * here runs in a child process (async), never synchronously in this one.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FOpen, InitFlag, Op } from '../src/fuse/abi.js';
import type { FileSystem } from '../src/fuse/api.js';
import { FuseError } from '../src/fuse/errors.js';
import { serve, type Served } from '../src/fuse/serve.js';
import type { SessionOptions } from '../src/fuse/session.js';
import type { Attr } from '../src/fuse/types.js';
import { MemFS } from '../src/examples/memfs.js';
import { LoopbackFS } from '../src/examples/loopback.js';
import { forceUnmount, tempDir } from './helpers.js';

const served: Served[] = [];
afterEach(async () => {
  for (const s of served.splice(0)) {
    await s.unmount().catch(() => forceUnmount(s.mountpoint));
  }
});

async function mountIt(fsys: FileSystem, opts: SessionOptions = {}): Promise<Served> {
  const s = await serve(fsys, tempDir(), { session: opts });
  served.push(s);
  return s;
}

/** Runs a shell command in a child process; resolves with its result. */
function run(cmd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((res) => {
    execFile('bash', ['-c', cmd], { encoding: 'utf8' }, (err, stdout, stderr) => {
      res({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

const py = (code: string) => run(`python3 -c '${code.replace(/'/g, `'"'"'`)}'`);

function fileAttr(ino: number, size: number, mode = 0o100644): Attr {
  return { ino, size, blocks: 1, atime: 1, atimensec: 0, mtime: 1, mtimensec: 0, ctime: 1, ctimensec: 0, mode, nlink: 1, uid: 0, gid: 0, rdev: 0, blksize: 4096 };
}

/** A one-file filesystem whose content the test changes behind the kernel's back. */
class OneFile implements FileSystem {
  content = Buffer.from('first version\n');
  name = 'f';
  lookups = 0;
  reads = 0;
  lookup(_c: unknown, parent: number, name: string) {
    this.lookups++;
    if (parent !== 1 || name !== this.name) throw new FuseError('ENOENT');
    return { nodeid: 2, entryValid: 60, attrValid: 60, attr: fileAttr(2, this.content.length) };
  }
  getattr(_c: unknown, ino: number) {
    return { attrValid: 60, attr: ino === 1 ? fileAttr(1, 0, 0o40755) : fileAttr(2, this.content.length) };
  }
  open() { return { fh: 1, openFlags: FOpen.KEEP_CACHE }; }
  read(_c: unknown, _i: number, _fh: number, off: number, size: number) {
    this.reads++;
    return this.content.subarray(off, off + size);
  }
}

describe('session on real mounts', () => {
  it('raw hook: sees every request and can answer with anything', async () => {
    const seen = new Set<string>();
    const mem = new MemFS();
    const s = await mountIt(mem, {
      rawHook: (req, reply) => {
        seen.add(req.op);
        if (req.op === 'LOOKUP' && (req.args as { name: string }).name === 'forbidden') {
          const b = Buffer.alloc(16);
          b.writeUInt32LE(16, 0);
          b.writeInt32LE(-1 /* EPERM */, 4);
          b.writeBigUInt64LE(BigInt(req.unique), 8);
          reply.raw(b);
          return true;
        }
        if (req.op === 'LOOKUP' && (req.args as { name: string }).name === 'magic') {
          reply.entry({ nodeid: 4242, entryValid: 0, attrValid: 60, attr: fileAttr(4242, 31337) });
          return true;
        }
        return false;
      },
    });
    const r1 = await run(`stat -c %s ${s.mountpoint}/magic`);
    expect(r1.stdout.trim()).toBe('31337');
    const r2 = await run(`stat ${s.mountpoint}/forbidden`);
    expect(r2.code).not.toBe(0);
    expect(r2.stderr).toMatch(/Operation not permitted/);
    const r3 = await run(`echo hi > ${s.mountpoint}/x && cat ${s.mountpoint}/x`);
    expect(r3.stdout).toBe('hi\n');
    for (const op of ['INIT', 'LOOKUP', 'CREATE', 'WRITE', 'READ', 'RELEASE']) expect(seen).toContain(op);
  });

  it('negative entries (nodeid 0 + entry_valid) are cached by the kernel', async () => {
    const f = new OneFile();
    const s = await mountIt({
      ...bind(f),
      lookup: (c, p, name) => {
        f.lookups++;
        if (name === 'f') return f.lookup(c, p, name);
        return { nodeid: 0, entryValid: 60, attrValid: 0, attr: fileAttr(0, 0) };
      },
    });
    await run(`stat ${s.mountpoint}/nothere; stat ${s.mountpoint}/nothere; stat ${s.mountpoint}/nothere`);
    expect(f.lookups).toBe(1);
  });

  it('INVAL_INODE makes the kernel drop cached data; INVAL_ENTRY and DELETE drop names', async () => {
    const f = new OneFile();
    const s = await mountIt(bind(f));
    const file = join(s.mountpoint, 'f');
    expect((await run(`cat ${file}`)).stdout).toBe('first version\n');
    // same size and mtime: the kernel keeps its cached pages (keep_cache)
    f.content = Buffer.from('FIRST VERSION\n');
    expect((await run(`cat ${file}`)).stdout).toBe('first version\n');
    expect(await s.session.notifyInvalInode(2, 0, 0)).toBe(true);
    expect((await run(`cat ${file}`)).stdout).toBe('FIRST VERSION\n');
    // attributes only (off < 0): cached size until invalidated
    f.content = Buffer.from('second version\n');
    expect((await run(`stat -c %s ${file}`)).stdout.trim()).toBe('14');
    expect(await s.session.notifyInvalInode(2, -1, 0)).toBe(true);
    expect((await run(`stat -c %s ${file}`)).stdout.trim()).toBe('15');

    f.name = 'g';
    expect((await run(`stat -c %n ${file}`)).code).toBe(0); // the dentry is still cached
    expect(await s.session.notifyInvalEntry(1, 'f')).toBe(true);
    expect((await run(`stat ${file}`)).code).not.toBe(0);
    expect((await run(`stat -c %s ${s.mountpoint}/g`)).stdout.trim()).toBe(String(f.content.length));
    expect(await s.session.notifyDelete(1, 2, 'g')).toBe(true);
    f.name = 'h';
    expect((await run(`stat ${s.mountpoint}/g`)).code).not.toBe(0);
    // a notification about something the kernel does not cache is not an error
    expect(await s.session.notifyInvalEntry(1, 'never-looked-up')).toBe(false);
  });

  it('STORE puts data in the page cache; RETRIEVE reads it back', async () => {
    const f = new OneFile();
    f.content = Buffer.alloc(8192, 'a');
    const s = await mountIt(bind(f));
    const file = join(s.mountpoint, 'f');
    expect((await run(`md5sum < ${file}`)).code).toBe(0);
    const readsBefore = f.reads;
    expect(await s.session.notifyStore(2, 0, Buffer.from('STORED'))).toBe(true);
    expect((await run(`head -c 8 ${file}`)).stdout).toBe('STOREDaa');
    expect(f.reads).toBe(readsBefore);
    const got = await s.session.notifyRetrieve(2, 0, 10);
    expect(got.data.toString()).toBe('STOREDaaaa');
  });

  it('INTERRUPT reaches the handler; answering EINTR ends the caller\'s read', async () => {
    let interrupted = false;
    const f = new OneFile();
    const s = await mountIt({
      ...bind(f),
      read: (ctx) => new Promise((_res, rej) => {
        (ctx as unknown as { onInterrupt: () => void }).onInterrupt = () => { interrupted = true; rej(new FuseError('EINTR')); };
      }),
    }, { asyncRead: false });
    const r = await py(`
import os, signal
def h(*a): raise TimeoutError("alarm")
signal.signal(signal.SIGALRM, h)
signal.setitimer(signal.ITIMER_REAL, 0.3)
fd = os.open("${s.mountpoint}/f", os.O_RDONLY)
try:
    os.read(fd, 4096)
    print("read returned")
except TimeoutError:
    print("interrupted")
`);
    expect(r.stdout.trim()).toBe('interrupted');
    await new Promise((res) => setTimeout(res, 100));
    expect(interrupted).toBe(true);
  });

  it('a slow request never blocks the others (no head-of-line blocking)', async () => {
    let release!: () => void;
    const gate = new Promise<void>((res) => { release = res; });
    const mem = new MemFS();
    let armed = false;
    const s = await mountIt({
      ...bind(mem),
      lookup: async (c, p, name) => {
        if (armed && name === 'slow') await gate;
        return mem.lookup(c, p, name);
      },
    });
    await run(`touch ${s.mountpoint}/slow ${s.mountpoint}/fast`); // cached entries expire in 1 s
    await new Promise((res) => setTimeout(res, 1100));
    armed = true;
    const order: string[] = [];
    const slow = run(`stat ${s.mountpoint}/slow`).then(() => order.push('slow'));
    await new Promise((res) => setTimeout(res, 100));
    await run(`stat ${s.mountpoint}/fast`).then(() => order.push('fast'));
    release();
    await slow;
    expect(order).toEqual(['fast', 'slow']);
  });

  it.each([12, 23, 31, 36, 40])('works with the older struct sizes of protocol 7.%i', async (minor) => {
    const s = await mountIt(new MemFS(), { maxMinor: minor });
    expect(s.session.neg.minor).toBe(minor);
    const r = await run(`cd ${s.mountpoint} && mkdir d && printf 'abc' > d/f && mknod d/p p && ln -s f d/l && cat d/f && ls d | tr '\\n' ' ' && stat -c '%s %F' d/f d/p`);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('abcf l p 3 regular file\n0 fifo\n');
  });

  it('FUSE passthrough (root): reads bypass the daemon and return the host file', async () => {
    const src = tempDir();
    const data = Buffer.alloc(3 << 20);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7) & 0xff;
    fs.writeFileSync(join(src, 'big'), data);
    let reads = 0;
    const s = await mountIt(new LoopbackFS(src), {
      passthrough: true,
      rawHook: (req) => { if (req.opcode === Op.READ) reads++; return false; },
    });
    expect(s.session.neg.flags & InitFlag.PASSTHROUGH).toBe(InitFlag.PASSTHROUGH);
    const r = await run(`md5sum < ${s.mountpoint}/big; md5sum < ${src}/big; echo appended >> ${s.mountpoint}/big; tail -c 9 ${src}/big`);
    const [a, b, tail] = r.stdout.trim().split('\n');
    expect(a).toBe(b);
    expect(tail).toBe('appended');
    expect(reads).toBe(0);
  });

  it('readdirplus entries that do not fit are forgotten again (lookup counts stay balanced)', async () => {
    const mem = new MemFS();
    const counts = new Map<number, number>();
    const s = await mountIt({
      ...bind(mem),
      readdirplus: (c, ino, fh, off) => {
        // offer far more than fits into the kernel's buffer
        const all = mem.readdirplus(c, ino, fh, off, 1 << 30);
        for (const e of all) if (e.entry.nodeid) counts.set(e.entry.nodeid, (counts.get(e.entry.nodeid) ?? 0) + 1);
        return all;
      },
      forget: (id, n) => { counts.set(id, (counts.get(id) ?? 0) - n); mem.forget(id, n); },
    }, { readdirplus: 'on' });
    await run(`cd ${s.mountpoint} && for i in $(seq 1 300); do touch file-with-a-long-name-$i; done`);
    for (const k of counts.keys()) counts.set(k, 0);
    await run(`ls -l ${s.mountpoint} > /dev/null`);
    await s.unmount();
    served.length = 0;
    // after unmount, whatever the kernel did not forget it was told about: never negative
    for (const v of counts.values()) expect(v).toBeGreaterThanOrEqual(0);
  });
});

/** The object's methods bound to it, as a plain FileSystem (for overriding some of them). */
function bind<T extends object>(o: T): FileSystem {
  const out: Record<string, unknown> = {};
  let p: object | null = o;
  while (p && p !== Object.prototype) {
    for (const k of Object.getOwnPropertyNames(p)) {
      const v = (o as Record<string, unknown>)[k];
      if (k !== 'constructor' && typeof v === 'function' && !(k in out)) out[k] = v.bind(o);
    }
    p = Object.getPrototypeOf(p);
  }
  return out as FileSystem;
}

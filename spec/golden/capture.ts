/**
 * Captures golden vectors: mounts the MemFS through serve() with a byte
 * trace, drives real syscalls against it from child processes (python3,
 * coreutils, attr tools — never synchronously from this process, which
 * serves the mount), sends a few notifications, unmounts, and writes
 * spec/golden/vectors.json: for a couple of requests of each opcode seen,
 * the request bytes, their decode, and the reply bytes the session wrote.
 *
 *   sudo npx tsx spec/golden/capture.ts [--keep-all]
 *
 * uid/gid/pid/unique/nodeid and timestamps differ per run; the tests only
 * check self-consistency of the recorded bytes and decodes.
 */
import { execFile } from 'node:child_process';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { initFlagNames } from '../../src/fuse/abi.js';
import { decodeHeader, decodeRequest, readU64, type Negotiated, type Request } from '../../src/fuse/codec.js';
import { decodeNotification, decodeReply } from '../../src/fuse/kernel-side.js';
import { mountedAt, unmount } from '../../src/fuse/mount.js';
import { serve, type Served } from '../../src/fuse/serve.js';
import { MemFS } from '../../src/examples/memfs.js';
import { toJson, type GoldenFile, type NotificationVector, type RequestVector } from './json.js';

const run = promisify(execFile);
const HERE = dirname(fileURLToPath(import.meta.url));
const OUT = join(HERE, 'vectors.json');
const MAX_PER_OP = 3;

/** Syscalls before the notifications: files whose nodeids the notifications name. */
const PHASE1 = String.raw`
import os, sys
m = sys.argv[1]
P = lambda *a: os.path.join(m, *a)
def step(name, f):
    try:
        f(); print('ok  ', name)
    except Exception as e:
        print('fail', name, repr(e))
def create():
    with open(P('file.txt'), 'w') as f: f.write('hello golden\n')
step('create + write + flush + release', create)
step('open + read', lambda: open(P('file.txt')).read())
step('victim', lambda: open(P('victim'), 'w').close())
step('negative lookup', lambda: os.path.exists(P('nope')))
`;

/** Everything else, after the notifications. */
const PHASE2 = String.raw`
import ctypes, fcntl, os, select, stat, subprocess, sys, time
m = sys.argv[1]
P = lambda *a: os.path.join(m, *a)
libc = ctypes.CDLL(None, use_errno=True)
def step(name, f):
    try:
        r = f(); print('ok  ', name, '' if r is None else repr(r)[:60])
    except Exception as e:
        print('fail', name, repr(e))
def sh(*argv):
    r = subprocess.run(argv, capture_output=True, text=True)
    return (r.returncode, (r.stdout + r.stderr).strip()[:60])
def renameat2(a, b, flags):
    if libc.renameat2(-100, a.encode(), -100, b.encode(), flags) != 0:
        e = ctypes.get_errno(); raise OSError(e, os.strerror(e))

step('unlink after notify delete', lambda: os.unlink(P('victim')))
step('mkdir', lambda: os.mkdir(P('dir'), 0o750))
step('mknod fifo', lambda: os.mknod(P('fifo'), stat.S_IFIFO | 0o640))
step('mknod chr', lambda: os.mknod(P('null'), stat.S_IFCHR | 0o666, os.makedev(1, 3)))
step('symlink', lambda: os.symlink('file.txt', P('link')))
step('readlink', lambda: os.readlink(P('link')))
step('link', lambda: os.link(P('file.txt'), P('dir', 'hard')))
step('listdir root', lambda: os.listdir(m))
step('chmod', lambda: os.chmod(P('file.txt'), 0o600))
step('utime', lambda: os.utime(P('file.txt'), (1700000000, 1700000001)))
step('truncate', lambda: os.truncate(P('file.txt'), 5))
step('setfattr', lambda: sh('setfattr', '-n', 'user.golden', '-v', 'value', P('file.txt')))
step('getfattr (probe + read)', lambda: sh('getfattr', '-n', 'user.golden', P('file.txt')))
step('getfattr -d (list probe + list)', lambda: sh('getfattr', '-d', P('file.txt')))
step('getfattr missing', lambda: sh('getfattr', '-n', 'user.missing', P('file.txt')))
step('setfattr -x', lambda: sh('setfattr', '-x', 'user.golden', P('file.txt')))
step('statvfs', lambda: os.statvfs(m))
step('access', lambda: os.access(P('file.txt'), os.W_OK))
step('stat (statx with btime)', lambda: sh('stat', P('file.txt')))
def fileops():
    fd = os.open(P('file.txt'), os.O_RDWR)
    try:
        os.pwrite(fd, b'0123456789abcdef', 0)
        os.fsync(fd)
        os.fdatasync(fd)
        os.posix_fallocate(fd, 0, 8192)
        print('     SEEK_DATA', os.lseek(fd, 0, os.SEEK_DATA), 'SEEK_HOLE', os.lseek(fd, 0, os.SEEK_HOLE))
        p = select.poll(); p.register(fd, select.POLLIN); print('     poll', p.poll(0))
        try: fcntl.ioctl(fd, 0x80086601, bytearray(8))  # FS_IOC_GETFLAGS
        except OSError as e: print('     ioctl', e)
        time.sleep(1.1)  # let the attributes expire: fstat then asks GETATTR with the fh
        os.fstat(fd)
        dst = os.open(P('copy.txt'), os.O_RDWR | os.O_CREAT, 0o644)
        print('     copied', os.copy_file_range(fd, dst, 16, 0, 0))
        os.close(dst)
    finally:
        os.close(fd)
step('file ops', fileops)
step('open O_TRUNC', lambda: os.close(os.open(P('copy.txt'), os.O_WRONLY | os.O_TRUNC)))
def dirsync():
    fd = os.open(P('dir'), os.O_RDONLY | os.O_DIRECTORY)
    try: os.fsync(fd)
    finally: os.close(fd)
step('fsyncdir', dirsync)
step('O_TMPFILE (MemFS has no tmpfile: EOPNOTSUPP expected)', lambda: os.close(os.open(P('dir'), os.O_TMPFILE | os.O_RDWR, 0o600)))
step('rename', lambda: os.rename(P('copy.txt'), P('renamed.txt')))
step('renameat2 NOREPLACE', lambda: renameat2(P('renamed.txt'), P('dir', 'moved.txt'), 1))
step('renameat2 EXCHANGE', lambda: renameat2(P('dir', 'moved.txt'), P('file.txt'), 2))
def many():
    os.mkdir(P('many'))
    for i in range(30):
        open(P('many', 'entry-%02d-with-a-longer-name' % i), 'w').close()
    print('     listed', len(os.listdir(P('many'))))
    # a read at a non-zero cookie is a plain READDIR (READDIRPLUS_AUTO uses plus only at 0 or after lookups)
    fd = os.open(P('many'), os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.lseek(fd, 28, os.SEEK_SET)
        buf = ctypes.create_string_buffer(4096)
        print('     getdents64 from cookie 28:', libc.syscall(217 if os.uname().machine == 'x86_64' else 61, fd, buf, 4096), 'bytes')
    finally:
        os.close(fd)
    for n in os.listdir(P('many')):
        os.unlink(P('many', n))
    os.rmdir(P('many'))
step('readdir across several requests, then forget them all', many)
step('unlink', lambda: os.unlink(P('link')))
step('rmdir non-empty (ENOTEMPTY expected)', lambda: os.rmdir(P('dir')))
`;

interface Traced { dir: 'in' | 'out'; bytes: Buffer }

async function python(script: string, mnt: string): Promise<void> {
  const { stdout, stderr } = await run('python3', ['-c', script, mnt], { timeout: 60_000 });
  const indent = (text: string, mark: string) => text.trimEnd().replace(/^/gm, mark) + '\n';
  process.stdout.write(indent(stdout, '  | '));
  if (stderr.trim()) process.stdout.write(indent(stderr, '  ! '));
}

function nodeidOf(trace: Traced[], ops: string[], name: string): number | undefined {
  const byUnique = new Map<number, Buffer>();
  for (const t of trace) if (t.dir === 'out' && t.bytes.length >= 16) byUnique.set(readU64(t.bytes, 8), t.bytes);
  for (const t of trace) {
    if (t.dir !== 'in') continue;
    let q: Request;
    try { q = decodeRequest(t.bytes, t.bytes.length, { minor: 45, flags: 0n }); } catch { continue; }
    if (!ops.includes(q.op) || (q.args as { name?: string }).name !== name) continue;
    const r = byUnique.get(q.unique);
    if (r && r.length >= 24 && r.readInt32LE(4) === 0) return readU64(r, 16);
  }
  return undefined;
}

function shapeOf(q: Request, kind: string, reply: Buffer | null): string {
  const a = q.args as Record<string, unknown>;
  let variant = '';
  if (q.op === 'GETXATTR' || q.op === 'LISTXATTR') variant = a.size === 0 ? 'probe' : 'value';
  else if (q.op === 'SETATTR') variant = `valid=${a.valid}`;
  else if (q.op === 'RENAME2') variant = `flags=${a.flags}`;
  else if (q.op === 'LSEEK') variant = `whence=${a.whence}`;
  else if (q.op === 'FSYNC') variant = `fsyncFlags=${a.fsyncFlags}`;
  else if (q.op === 'MKNOD') variant = `fmt=${((a.mode as number) >> 12).toString(8)}`;
  const err = reply && reply.readInt32LE(4) !== 0 ? `errno=${-reply.readInt32LE(4)}` : '';
  return [q.op, kind, variant, err].filter(Boolean).join(' ');
}

async function main(): Promise<void> {
  const keepAll = process.argv.includes('--keep-all');
  if (process.getuid?.() !== 0) throw new Error('capture mounts directly: run as root');
  const mnt = await fsp.mkdtemp(join(os.tmpdir(), 'tsfuse-golden-'));
  const trace: Traced[] = [];
  const notes: { kind: string; index: number; accepted: boolean }[] = [];
  let served: Served | undefined;
  try {
    served = await serve(new MemFS(), mnt, {
      mount: { fsname: 'golden', subtype: 'golden' },
      session: { trace: (dir, bytes) => trace.push({ dir, bytes: Buffer.from(bytes) }) },
    });
    const s = served.session;
    console.log(`mounted ${mnt}: 7.${s.neg.minor}, flags ${initFlagNames(s.neg.flags).join(',')}`);

    console.log('phase 1');
    await python(PHASE1, mnt);

    // notifications, each recorded with whether the kernel took it
    const file = nodeidOf(trace, ['CREATE', 'LOOKUP'], 'file.txt');
    const victim = nodeidOf(trace, ['CREATE', 'LOOKUP'], 'victim');
    if (file === undefined || victim === undefined) throw new Error('file.txt / victim nodeids not found in the trace');
    const notify = async (kind: string, f: () => Promise<unknown>) => {
      const index = trace.length;
      try {
        const r = await f();
        notes.push({ kind, index, accepted: r !== false });
        console.log(`  notify ${kind}: ${r === false ? 'nothing cached (ENOENT)' : 'accepted'}`);
      } catch (e) {
        notes.push({ kind, index, accepted: false });
        console.log(`  notify ${kind}: refused (${(e as Error).message})`);
      }
    };
    console.log('notifications');
    await notify('INVAL_INODE', () => s.notifyInvalInode(file, 0, 0));
    await notify('STORE', () => s.notifyStore(file, 0, Buffer.from('hello golden\n')));
    await notify('RETRIEVE', () => s.notifyRetrieve(file, 0, 4096));
    await notify('INVAL_ENTRY', () => s.notifyInvalEntry(1, 'file.txt'));
    await notify('POLL', () => s.notifyPoll(1));
    await notify('DELETE', () => s.notifyDelete(1, victim, 'victim'));
    await notify('INC_EPOCH', () => s.notifyIncEpoch());
    await notify('RESEND', () => s.notifyResend());
    await notify('PRUNE', () => s.notifyPrune([victim]));

    console.log('phase 2');
    await python(PHASE2, mnt);
    await served.unmount();
    served = undefined;

    const neg: Negotiated = { minor: s.neg.minor, flags: s.neg.flags };
    const vectors = selectVectors(trace, neg, keepAll);
    const notifications: NotificationVector[] = [];
    for (const n of notes) {
      const t = trace.slice(n.index).find((x) => x.dir === 'out' && x.bytes.length >= 16 && readU64(x.bytes, 8) === 0);
      if (!t) continue;
      notifications.push({ kind: n.kind, bytes: t.bytes.toString('hex'), decoded: toJson(decodeNotification(t.bytes)), accepted: n.accepted });
    }
    const golden: GoldenFile = {
      description: 'Requests read from /dev/fuse and the replies tsfuse wrote, captured by spec/golden/capture.ts against the MemFS; see spec/protocol.md',
      kernel: `${os.type()} ${os.release()}`,
      captured: new Date().toISOString().slice(0, 10),
      negotiated: { minor: neg.minor, flags: '0x' + neg.flags.toString(16) },
      vectors,
      notifications,
    };
    await fsp.writeFile(OUT, JSON.stringify(golden, null, 1) + '\n');
    const ops = [...new Set(vectors.map((v) => v.op))];
    console.log(`wrote ${OUT}: ${vectors.length} vectors over ${ops.length} opcodes, ${notifications.length} notifications`);
    console.log(`opcodes: ${ops.join(' ')}`);
  } finally {
    if (served) {
      try { await served.unmount(); } catch (e) {
        console.error(`unmount failed (${(e as Error).message}); lazy unmount`);
        await unmount(mnt, { lazy: true }).catch(() => {});
        served.session.close();
      }
    }
    if (mountedAt(mnt)) await unmount(mnt, { lazy: true }).catch(() => {});
    if (!mountedAt(mnt)) await fsp.rm(mnt, { recursive: true, force: true });
    else console.error(`warning: ${mnt} is still mounted`);
  }
}

/** Pairs requests with replies, keeps the smallest example of each shape, at most MAX_PER_OP per op. */
function selectVectors(trace: Traced[], neg: Negotiated, keepAll: boolean): RequestVector[] {
  const replies = new Map<number, Buffer>();
  for (const t of trace) if (t.dir === 'out' && t.bytes.length >= 16 && readU64(t.bytes, 8) !== 0) replies.set(readU64(t.bytes, 8), t.bytes);
  const best = new Map<string, { v: RequestVector; size: number; order: number }>();
  let order = 0;
  for (const t of trace) {
    if (t.dir !== 'in') continue;
    const h = decodeHeader(t.bytes, t.bytes.length);
    const q = decodeRequest(t.bytes, t.bytes.length, neg);
    // NOTIFY_REPLY carries the unique we chose for RETRIEVE, not a request unique
    const reply = q.op === 'NOTIFY_REPLY' ? null : replies.get(h.unique) ?? null;
    const r = reply ? decodeReply(q.op, reply, neg, q) : null;
    const kind = r?.kind ?? 'noreply';
    const shape = shapeOf(q, kind, reply);
    const v: RequestVector = {
      op: q.op, request: t.bytes.toString('hex'), decoded: toJson(q), reply: reply ? reply.toString('hex') : null,
      ...(r ? { replyKind: r.kind, replyDecoded: toJson(r.value) } : {}), shape,
    };
    // smallest wins, but an empty READ/READDIR answer (end of file/directory) only when nothing else exists
    const emptyVariable = reply?.length === 16 && ['data', 'dirents', 'direntsPlus'].includes(kind);
    const size = t.bytes.length + (reply?.length ?? 0) + (emptyVariable ? 1e6 : 0);
    const key = keepAll ? `${order}` : shape;
    const prev = best.get(key);
    if (!prev || size < prev.size) best.set(key, { v, size, order: prev?.order ?? order });
    order++;
  }
  const perOp = new Map<string, number>();
  return [...best.values()].sort((a, b) => a.order - b.order).map((x) => x.v).filter((v) => {
    const n = (perOp.get(v.op) ?? 0) + 1;
    perOp.set(v.op, n);
    return keepAll || n <= MAX_PER_OP;
  });
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});

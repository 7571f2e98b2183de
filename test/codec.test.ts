/**
 * The codec against the kernel's half (kernel-side.ts) and against bytes
 * assembled by hand from the kernel struct layouts: every opcode decoded
 * and encoded, request and reply round trips, struct sizes per negotiated
 * minor, and malformed input (truncations, seeded random and mutated
 * bytes) rejected with DecodeError and nothing else.
 */
import { describe, expect, it } from 'vitest';
import { CompatSize, InitFlag, Notify, Op, OP_NAMES, Size, type OpName } from '../src/fuse/abi.js';
import {
  decodeRequest, encodeAttr, encodeBmap, encodeCopyRange, encodeCreate, encodeData, encodeDirents, encodeDirentsPlus,
  encodeEmpty, encodeEntry, encodeError, encodeInit, encodeIoctl, encodeLock, encodeLseek, encodeNotifyBare,
  encodeNotifyDelete, encodeNotifyInvalEntry, encodeNotifyInvalInode, encodeNotifyPoll, encodeNotifyPrune,
  encodeNotifyRetrieve, encodeNotifyStore, encodeOpen, encodePoll, encodeStatfs, encodeStatx, encodeWrite,
  encodeXattrSize, type InitReply, type Negotiated, type Request,
} from '../src/fuse/codec.js';
import { DecodeError } from '../src/fuse/errors.js';
import {
  decodeNotification, decodeReply, encodeGroupsExt, encodeReply, encodeRequest, REPLY_KIND, type DecodedReply,
  type ReplyKind, type RequestInit,
} from '../src/fuse/kernel-side.js';
import type { Attr, DirEntry, DirEntryPlus, Entry, StatxReply } from '../src/fuse/types.js';
import { prng } from './prng.js';

// ---------------------------------------------------------------- fixtures

const FULL: Negotiated = {
  minor: 45,
  flags: InitFlag.SETXATTR_EXT | InitFlag.INIT_EXT | InitFlag.MAX_PAGES | InitFlag.CREATE_SUPP_GROUP | InitFlag.BIG_WRITES,
};
const neg = (minor: number, ext = minor >= 33): Negotiated => ({ minor, flags: ext ? FULL.flags : InitFlag.BIG_WRITES });

const MINORS = [12, 23, 31, 36, 45];


const buf = (s: string) => Buffer.from(s);
const hdr = { unique: 0x1234_5678_9a, nodeid: 0x0102_0304_0506, uid: 1000, gid: 100, pid: 4242 };

/** One request of every opcode, field values all distinct and non-zero so misplaced offsets show. */
function samples(n: Negotiated): RequestInit[] {
  const compat12 = n.minor < 12;
  const ext = (n.flags & InitFlag.SETXATTR_EXT) !== 0n;
  const rd = { fh: 0x11_0000_0001, offset: 0x22_0000_0002, size: 4096, readFlags: 2, lockOwner: 0xdead_beef_cafe_f00dn, flags: 0o100002 };
  const lk = { fh: 7, owner: 0x8000_0000_0000_0001n, lk: { start: 100, end: 0x7fff_ffff_ffff, type: 1, pid: 99 }, lkFlags: 1 };
  const copy = { fhIn: 3, offIn: 4096, nodeidOut: 9, fhOut: 5, offOut: 8192, len: 65536, flags: 0 };
  const r = <K extends OpName>(op: K, args: RequestInit<K>['args'], extra: Partial<RequestInit<K>> = {}): RequestInit =>
    ({ op, ...hdr, args, ...extra }) as RequestInit;
  return [
    r('LOOKUP', { name: 'hello.txt' }),
    r('FORGET', { nlookup: 3 }),
    r('GETATTR', { getattrFlags: 1, fh: 0x55 }),
    r('SETATTR', {
      valid: 0x7ff, fh: 6, size: 0x1_0000_0000, lockOwner: 0x1122334455667788n, atime: 1_700_000_000, mtime: -5,
      ctime: 1_700_000_002, atimensec: 1, mtimensec: 999_999_999, ctimensec: 3, mode: 0o100644, uid: 1001, gid: 1002,
    }),
    r('READLINK', {}),
    r('SYMLINK', { name: 'link', target: '../some/target' }),
    r('MKNOD', { mode: 0o20644, rdev: 0x0103, umask: compat12 ? 0 : 0o022, name: 'null' }),
    r('MKDIR', { mode: 0o755, umask: 0o022, name: 'dir' }),
    r('UNLINK', { name: 'gone' }),
    r('RMDIR', { name: 'olddir' }),
    r('RENAME', { newdir: 17, flags: 0, oldname: 'a', newname: 'b' }),
    r('LINK', { oldnodeid: 23, newname: 'hard' }),
    r('OPEN', { flags: 0o100002, openFlags: 1 }),
    r('READ', rd),
    r('WRITE', {
      fh: 8, offset: 12345, size: 5, writeFlags: n.minor < 9 ? 1 : 3, lockOwner: n.minor < 9 ? 0n : 77n,
      flags: n.minor < 9 ? 0 : 0o2, data: buf('world'),
    }),
    r('STATFS', {}),
    r('RELEASE', { fh: 9, flags: 0o2, releaseFlags: 1, lockOwner: 0xffff_ffff_ffff_ffffn }),
    r('FSYNC', { fh: 10, fsyncFlags: 1 }),
    r('SETXATTR', { size: 3, flags: 1, setxattrFlags: ext ? 1 : 0, name: 'user.k', value: buf('v\0x') }),
    r('GETXATTR', { size: 64, name: 'user.k' }),
    r('LISTXATTR', { size: 0 }),
    r('REMOVEXATTR', { name: 'user.k' }),
    r('FLUSH', { fh: 11, lockOwner: 0x0102030405060708n }),
    r('INIT', {
      major: 7, minor: n.minor, maxReadahead: 131072,
      flags: n.minor >= 36 ? 0x73fffffbn | (0x5fdn << 32n) : 0x3fffffbn,
    }, { nodeid: 0 }),
    r('OPENDIR', { flags: 0o200000, openFlags: 0 }),
    r('READDIR', { ...rd, readFlags: 0, lockOwner: 0n, flags: 0 }),
    r('RELEASEDIR', { fh: 12, flags: 0, releaseFlags: 0, lockOwner: 0n }),
    r('FSYNCDIR', { fh: 13, fsyncFlags: 0 }),
    r('GETLK', lk),
    r('SETLK', { ...lk, lkFlags: 0 }),
    r('SETLKW', { ...lk, lk: { ...lk.lk, type: 2 } }),
    r('ACCESS', { mask: 4 }),
    r('CREATE', { flags: 0o101102, mode: 0o100600, umask: compat12 ? 0 : 0o077, openFlags: compat12 ? 0 : 1, name: 'new' }),
    r('INTERRUPT', { unique: 0x1234_5678_98 }),
    r('BMAP', { block: 1 << 40, blocksize: 4096 }),
    r('DESTROY', {}),
    r('IOCTL', { fh: 14, flags: 16, cmd: 0x80086601, arg: 0x7ffd_0000_1000n, inSize: 4, outSize: 8, data: buf('\x01\x02\x03\x04') }),
    r('POLL', { fh: 15, kh: 16, flags: 1, events: 0x19 }),
    r('NOTIFY_REPLY', { offset: 4096, size: 6, data: buf('cached') }),
    r('BATCH_FORGET', { forgets: [{ nodeid: 2, nlookup: 1 }, { nodeid: 0x1_0000_0003, nlookup: 5 }] }, { nodeid: 0 }),
    r('FALLOCATE', { fh: 17, offset: 1 << 20, length: 1 << 21, mode: 1 }),
    r('READDIRPLUS', { ...rd, readFlags: 0, lockOwner: 0n, flags: 0 }),
    r('RENAME2', { newdir: 18, flags: 2, oldname: 'x', newname: 'y' }),
    r('LSEEK', { fh: 19, offset: 100, whence: 3 }),
    r('COPY_FILE_RANGE', copy),
    r('SETUPMAPPING', { raw: Buffer.from('0001020304050607', 'hex') }),
    r('REMOVEMAPPING', { raw: Buffer.from('08090a0b', 'hex') }),
    r('SYNCFS', {}),
    r('TMPFILE', { flags: 0o20200002, mode: 0o100600, umask: compat12 ? 0 : 0o022, openFlags: 0, name: '/' }),
    r('STATX', { getattrFlags: 1, fh: 20, sxFlags: 0x800, sxMask: 0xfff }),
    r('COPY_FILE_RANGE_64', { ...copy, len: 0x1_0000_0000 }),
    r('CUSE_INIT', { raw: Buffer.from('07000000', 'hex') }),
  ];
}

/** Opcodes whose arguments are opaque bytes: any prefix is a valid request. */
const OPAQUE = new Set<OpName>(['SETUPMAPPING', 'REMOVEMAPPING', 'CUSE_INIT']);

function expectDecodeError(f: () => unknown, what = ''): void {
  let thrown: unknown;
  try { f(); } catch (e) { thrown = e; }
  if (!(thrown instanceof DecodeError)) {
    throw new Error(`${what}: expected DecodeError, got ${thrown === undefined ? 'success' : String((thrown as Error)?.stack ?? thrown)}`);
  }
}

/** Runs f; returns 'ok' or 'decode-error', fails the test on any other exception. */
function outcome(f: () => unknown, what: string): 'ok' | 'decode-error' {
  try { f(); return 'ok'; } catch (e) {
    if (e instanceof DecodeError) return 'decode-error';
    throw new Error(`${what}: threw ${(e as Error)?.constructor?.name}: ${(e as Error)?.stack ?? e}`);
  }
}

const decode = (b: Buffer, n: Negotiated) => decodeRequest(b, b.length, n);

/** Little byte builder for hand-assembled structs (independent of kernel-side layouts). */
class Bytes {
  private parts: Buffer[] = [];
  u16(v: number) { const b = Buffer.alloc(2); b.writeUInt16LE(v); this.parts.push(b); return this; }
  u32(v: number) { const b = Buffer.alloc(4); b.writeUInt32LE(v >>> 0); this.parts.push(b); return this; }
  i32(v: number) { const b = Buffer.alloc(4); b.writeInt32LE(v); this.parts.push(b); return this; }
  u64(v: number | bigint) { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt.asUintN(64, BigInt(v))); this.parts.push(b); return this; }
  str(s: string) { this.parts.push(Buffer.from(s)); return this; }
  zero(n: number) { this.parts.push(Buffer.alloc(n)); return this; }
  raw(b: Buffer) { this.parts.push(b); return this; }
  get length() { return this.parts.reduce((s, b) => s + b.length, 0); }
  done() { return Buffer.concat(this.parts); }
}

/** fuse_in_header by hand; len computed from the body */
function request(opcode: number, body: Buffer, h: { unique?: number; nodeid?: number; extlen?: number } = {}): Buffer {
  return new Bytes().u32(40 + body.length).u32(opcode).u64(h.unique ?? 2).u64(h.nodeid ?? 1).u32(0).u32(0).u32(7)
    .u16(h.extlen ?? 0).u16(0).raw(body).done();
}

// -------------------------------------------------------- request coverage

describe('requests: every opcode', () => {
  it('the sample table covers every opcode the ABI defines', () => {
    const ops = new Set(samples(FULL).map((s) => s.op));
    expect([...ops].sort()).toEqual(Object.keys(Op).sort());
  });

  for (const minor of [...MINORS, 8]) {
    const n = neg(minor);
    for (const s of samples(n)) {
      if (minor < 9 && s.op === 'GETATTR') continue; // no getattr_in before 7.9: args not carried
      it(`7.${minor} ${s.op}: encode → decode gives the args back, decode → encode gives the bytes back`, () => {
        const bytes = encodeRequest(s, n);
        expect(bytes.readUInt32LE(0)).toBe(bytes.length);
        expect(bytes.readUInt32LE(4)).toBe(Op[s.op!]);
        const q = decode(bytes, n);
        expect(q.op).toBe(s.op);
        expect(q.opcode).toBe(Op[s.op!]);
        expect({ unique: q.unique, nodeid: q.nodeid, uid: q.uid, gid: q.gid, pid: q.pid })
          .toEqual({ unique: s.unique, nodeid: s.nodeid, uid: s.uid, gid: s.gid, pid: s.pid });
        expect(q.args).toEqual(s.args);
        expect(q.ext).toBeNull();
        expect(encodeRequest(q, n).equals(bytes)).toBe(true);
      });
    }
  }

  it('GETATTR before 7.9 carries no getattr_in', () => {
    const b = encodeRequest({ op: 'GETATTR', ...hdr, args: { getattrFlags: 1, fh: 5 } }, neg(8));
    expect(b.length).toBe(40);
    expect(decode(b, neg(8)).args).toEqual({ getattrFlags: 0, fh: 0 });
  });

  it('an opcode alone is enough for encodeRequest', () => {
    const b = encodeRequest({ opcode: Op.UNLINK, ...hdr, args: { name: 'x' } } as RequestInit, FULL);
    expect(decode(b, FULL).op).toBe('UNLINK');
    expect(() => encodeRequest({ opcode: 7, ...hdr, args: {} } as unknown as RequestInit, FULL)).toThrow(TypeError);
  });

  it('supplementary groups travel as a FUSE_EXT_GROUPS extension', () => {
    const s: RequestInit = { op: 'MKDIR', ...hdr, args: { mode: 0o755, umask: 0o22, name: 'd' }, groups: [10, 20, 30] };
    const b = encodeRequest(s, FULL);
    const ext = encodeGroupsExt([10, 20, 30]);
    expect(ext.length).toBe(24); // 8 header + 4 count + 12 groups = 24, already aligned
    expect(b.readUInt16LE(36)).toBe(3);
    const q = decode(b, FULL);
    expect(q.groups).toEqual([10, 20, 30]);
    expect(q.ext!.equals(ext)).toBe(true);
    expect(q.args).toEqual(s.args);
    expect(encodeRequest(q, FULL).equals(b)).toBe(true);
    expect(encodeGroupsExt([1]).length).toBe(16);
    expect(() => encodeRequest({ ...s, ext: Buffer.alloc(5) }, FULL)).toThrow(TypeError);
  });
});

describe('requests: bytes assembled by hand from the kernel layouts', () => {
  it('LOOKUP', () => {
    const b = request(Op.LOOKUP, Buffer.from('name\0'), { unique: 10, nodeid: 1 });
    const q = decode(b, FULL);
    expect(q).toMatchObject({ op: 'LOOKUP', unique: 10, nodeid: 1, pid: 7, len: 45, args: { name: 'name' } });
    expect(encodeRequest({ op: 'LOOKUP', unique: 10, nodeid: 1, pid: 7, args: { name: 'name' } }, FULL).equals(b)).toBe(true);
  });

  it('READ (fuse_read_in, 40 bytes)', () => {
    const body = new Bytes().u64(3).u64(0x1_0000_0000).u32(131072).u32(2).u64(0xfedcba9876543210n).u32(0o100000).u32(0).done();
    expect(body.length).toBe(Size.READ_IN);
    const b = request(Op.READ, body);
    expect(decode(b, FULL).args).toEqual({ fh: 3, offset: 0x1_0000_0000, size: 131072, readFlags: 2, lockOwner: 0xfedcba9876543210n, flags: 0o100000 });
    expect(encodeRequest(decode(b, FULL), FULL).equals(b)).toBe(true);
  });

  it('WRITE: 40-byte write_in from 7.9, 24 before', () => {
    const data = Buffer.from('abc');
    const body = new Bytes().u64(1).u64(2).u32(3).u32(1).u64(5).u32(6).u32(0).raw(data).done();
    const q = decode(request(Op.WRITE, body), FULL);
    expect(q.args).toMatchObject({ fh: 1, offset: 2, size: 3, writeFlags: 1, lockOwner: 5n, flags: 6 });
    expect((q.args as { data: Buffer }).data.toString()).toBe('abc');
    const old = decode(request(Op.WRITE, new Bytes().u64(1).u64(2).u32(3).u32(1).raw(data).done()), neg(8));
    expect(old.args).toMatchObject({ fh: 1, offset: 2, size: 3, writeFlags: 1, lockOwner: 0n, flags: 0 });
    expect((old.args as { data: Buffer }).data.toString()).toBe('abc');
  });

  it('SETATTR (fuse_setattr_in, 88 bytes)', () => {
    const body = new Bytes().u32(0x1f).u32(0).u64(2).u64(3).u64(4).u64(5).u64(-6).u64(7).u32(8).u32(9).u32(10).u32(0o644)
      .u32(0).u32(12).u32(13).u32(0).done();
    expect(body.length).toBe(Size.SETATTR_IN);
    const a = decode(request(Op.SETATTR, body), FULL).args;
    expect(a).toEqual({ valid: 0x1f, fh: 2, size: 3, lockOwner: 4n, atime: 5, mtime: -6, ctime: 7, atimensec: 8, mtimensec: 9, ctimensec: 10, mode: 0o644, uid: 12, gid: 13 });
    expect(encodeRequest({ op: 'SETATTR', unique: 2, nodeid: 1, pid: 7, args: a as RequestInit<'SETATTR'>['args'] }, FULL).equals(request(Op.SETATTR, body))).toBe(true);
  });

  it('RENAME2 / LINK / SYMLINK names after their structs', () => {
    expect(decode(request(Op.RENAME2, new Bytes().u64(9).u32(1).u32(0).str('old\0new\0').done()), FULL).args)
      .toEqual({ newdir: 9, flags: 1, oldname: 'old', newname: 'new' });
    expect(decode(request(Op.LINK, new Bytes().u64(4).str('l\0').done()), FULL).args).toEqual({ oldnodeid: 4, newname: 'l' });
    expect(decode(request(Op.SYMLINK, Buffer.from('s\0/t\0')), FULL).args).toEqual({ name: 's', target: '/t' });
  });

  it('BATCH_FORGET entries', () => {
    const body = new Bytes().u32(2).u32(0).u64(5).u64(1).u64(6).u64(2).done();
    expect(decode(request(Op.BATCH_FORGET, body), FULL).args).toEqual({ forgets: [{ nodeid: 5, nlookup: 1 }, { nodeid: 6, nlookup: 2 }] });
  });

  it('INIT: 64-byte init_in with flags2 (7.36+), 16-byte without', () => {
    const b64 = request(Op.INIT, new Bytes().u32(7).u32(45).u32(131072).u32(0x73fffffb).u32(0x5fd).zero(44).done());
    expect(b64.length).toBe(104); // what 6.18 sends (research notes §0)
    expect(decode(b64, { minor: 0, flags: 0n }).args).toEqual({ major: 7, minor: 45, maxReadahead: 131072, flags: 0x73fffffbn | (0x5fdn << 32n) });
    const b16 = request(Op.INIT, new Bytes().u32(7).u32(31).u32(65536).u32(0x40000000 | 1).done());
    expect(decode(b16, { minor: 0, flags: 0n }).args).toEqual({ major: 7, minor: 31, maxReadahead: 65536, flags: 0x40000001n });
    expect(encodeRequest(decode(b64, { minor: 0, flags: 0n }), FULL).equals(b64)).toBe(true);
    expect(encodeRequest(decode(b16, { minor: 0, flags: 0n }), FULL).equals(b16)).toBe(true);
  });

  it('flags2 is ignored without INIT_EXT', () => {
    const b = request(Op.INIT, new Bytes().u32(7).u32(45).u32(0).u32(1).u32(0xff).zero(44).done());
    expect((decode(b, FULL).args as { flags: bigint }).flags).toBe(1n);
  });
});

// ------------------------------------------------------------ compat sizes

describe('struct sizes by negotiated minor', () => {
  const argBytes = (s: RequestInit, n: Negotiated) => encodeRequest(s, n).length - Size.IN_HEADER;
  const sample = (op: OpName, n: Negotiated) => samples(n).find((s) => s.op === op)!;

  for (const minor of MINORS) {
    it(`7.${minor}`, () => {
      const n = neg(minor, false), x = neg(minor, true);
      // replies
      expect(encodeEntry(1, ENTRY, minor).length - 16).toBe(Size.ENTRY_OUT);
      expect(encodeAttr(1, { attr: ATTR, attrValid: 1 }, minor).length - 16).toBe(Size.ATTR_OUT);
      expect(encodeCreate(1, ENTRY, { fh: 1 }, minor).length - 16).toBe(Size.ENTRY_OUT + Size.OPEN_OUT);
      expect(encodeStatfs(1, STATFS, minor).length - 16).toBe(Size.STATFS_OUT);
      const initOut = encodeInit(1, { ...INIT_REPLY, minor }).length - 16;
      expect(initOut).toBe(minor < 23 ? CompatSize.INIT_OUT_22 : Size.INIT_OUT);
      expect(initOut).toBe(minor < 23 ? 24 : 64);
      // requests
      expect(argBytes(sample('WRITE', n), n)).toBe(Size.WRITE_IN + 5);
      expect(argBytes(sample('MKNOD', n), n)).toBe(Size.MKNOD_IN + 'null\0'.length);
      expect(argBytes(sample('CREATE', n), n)).toBe(Size.CREATE_IN + 'new\0'.length);
      expect(argBytes(sample('SETXATTR', n), n)).toBe(CompatSize.SETXATTR_IN + 'user.k\0'.length + 3);
      expect(argBytes(sample('SETXATTR', x), x)).toBe(Size.SETXATTR_IN + 'user.k\0'.length + 3);
      expect(argBytes(sample('INIT', n), n)).toBe(minor < 36 ? 16 : 64);
      // and each decodes back at that minor
      for (const s of [sample('WRITE', n), sample('MKNOD', n), sample('CREATE', n), sample('SETXATTR', n), sample('INIT', n)]) {
        expect(decode(encodeRequest(s, n), n).args).toEqual(s.args);
      }
      const sx = sample('SETXATTR', x);
      expect(decode(encodeRequest(sx, x), x).args).toEqual(sx.args);
      // the same bytes read with the wrong SETXATTR_EXT setting are misparsed: the flag matters
      const wrong = outcome(() => decode(encodeRequest(sx, x), n), 'setxattr');
      if (wrong === 'ok') expect(decode(encodeRequest(sx, x), n).args).not.toEqual(sx.args);
    });
  }

  it('pre-7.12 / pre-7.9 compat sizes the codec still honours', () => {
    const o11 = neg(11, false), o8 = neg(8, false);
    expect(argBytes(sample('MKNOD', o11), o11)).toBe(CompatSize.MKNOD_IN + 'null\0'.length);
    expect(argBytes(sample('CREATE', o11), o11)).toBe(CompatSize.CREATE_IN + 'new\0'.length);
    expect(argBytes(sample('WRITE', o8), o8)).toBe(CompatSize.WRITE_IN + 5);
    expect(encodeEntry(1, ENTRY, 8).length - 16).toBe(CompatSize.ENTRY_OUT);
    expect(encodeAttr(1, { attr: ATTR, attrValid: 1 }, 8).length - 16).toBe(CompatSize.ATTR_OUT);
    expect(encodeStatfs(1, STATFS, 3).length - 16).toBe(CompatSize.STATFS_OUT);
    expect(encodeInit(1, { ...INIT_REPLY, minor: 4 }).length - 16).toBe(CompatSize.INIT_OUT_5);
    // compat entry/attr decode: everything but fuse_attr.flags (the cut-off tail) survives
    const e = decodeReply('LOOKUP', encodeEntry(3, ENTRY, 8), o8);
    expect(e.kind === 'entry' && e.value).toEqual({ ...ENTRY, attr: { ...ENTRY.attr, blksize: 0, flags: 0 } });
    const a = decodeReply('GETATTR', encodeAttr(3, { attr: ATTR, attrValid: 2 }, 8), o8);
    expect(a.kind === 'attr' && a.value).toEqual({ attrValid: 2, attr: { ...ATTR, blksize: 0, flags: 0 } });
  });
});

// ------------------------------------------------------------------ replies

const ATTR: Attr = {
  ino: 0x1_0000_0002, size: 5000, blocks: 10, atime: 1_700_000_001, atimensec: 11, mtime: 1_700_000_002, mtimensec: 22,
  ctime: -3, ctimensec: 33, mode: 0o100644, nlink: 2, uid: 1000, gid: 1001, rdev: 0x0103, blksize: 4096, flags: 1,
};
const ENTRY: Entry = { nodeid: 0x1_0000_0002, generation: 7, entryValid: 1.5, attrValid: 0.25, attr: ATTR };
const STATFS = { blocks: 1 << 20, bfree: 1000, bavail: 900, files: 5000, ffree: 4000, bsize: 4096, namelen: 255, frsize: 512 };
const INIT_REPLY: InitReply = {
  major: 7, minor: 45, maxReadahead: 131072, flags: InitFlag.INIT_EXT | InitFlag.MAX_PAGES | InitFlag.HAS_EXPIRE_ONLY,
  maxBackground: 64, congestionThreshold: 48, maxWrite: 1 << 20, timeGran: 1, maxPages: 256, mapAlignment: 0,
  maxStackDepth: 0, requestTimeout: 0,
};
const STATX: StatxReply = {
  attrValid: 2, flags: 0,
  statx: {
    mask: 0xfff, blksize: 4096, attributes: 0x20n, nlink: 1, uid: 5, gid: 6, mode: 0o100600, ino: 42, size: 99, blocks: 1,
    attributesMask: 0x30n, atime: { sec: 1, nsec: 2 }, btime: { sec: -3, nsec: 4 }, ctime: { sec: 5, nsec: 6 }, mtime: { sec: 7, nsec: 8 },
    rdevMajor: 1, rdevMinor: 3, devMajor: 0, devMinor: 52,
  },
};
const DIRENTS: DirEntry[] = [
  { ino: 1, off: 1, type: 4, name: '.' },
  { ino: 1, off: 2, type: 4, name: '..' },
  { ino: 5, off: 3, type: 8, name: 'exactly8' },
  { ino: 6, off: 4, type: 10, name: 'é-utf8' },
];
const DIRENTS_PLUS: DirEntryPlus[] = DIRENTS.map((d, i) => ({
  ...d, entry: i < 2 ? { nodeid: 0, generation: 0, entryValid: 0, attrValid: 0, attr: { ...ATTR, ino: d.ino } } : { ...ENTRY, nodeid: d.ino, attr: { ...ATTR, ino: d.ino } },
}));

/** [op or kind, codec-encoded reply, the value decodeReply must find, request args if needed] */
function replyCases(minor: number): [OpName | ReplyKind, Buffer, unknown, unknown?][] {
  const u = 0x77;
  return [
    ['LOOKUP', encodeEntry(u, ENTRY, minor), ENTRY],
    ['GETATTR', encodeAttr(u, { attr: ATTR, attrValid: 3.5 }, minor), { attr: ATTR, attrValid: 3.5 }],
    ['OPEN', encodeOpen(u, { fh: 9, openFlags: 3, backingId: -2 }), { fh: 9, openFlags: 3, backingId: -2 }],
    ['CREATE', encodeCreate(u, ENTRY, { fh: 10, openFlags: 1 }, minor), { entry: ENTRY, open: { fh: 10, openFlags: 1, backingId: 0 } }],
    ['WRITE', encodeWrite(u, 4096), 4096],
    ['STATFS', encodeStatfs(u, STATFS, minor), STATFS],
    ['GETXATTR', encodeXattrSize(u, 17), 17, { size: 0 }],
    ['LISTXATTR', encodeXattrSize(u, 18), 18, { size: 0 }],
    ['GETXATTR', encodeData(u, buf('value')), buf('value'), { size: 64 }],
    ['READ', encodeData(u, buf('some data')), buf('some data'), { size: 4096 }],
    ['READLINK', encodeData(u, buf('/target')), buf('/target')],
    ['GETLK', encodeLock(u, { start: 1, end: 2, type: 1, pid: 3 }), { start: 1, end: 2, type: 1, pid: 3 }],
    ['BMAP', encodeBmap(u, 0x1_0000_0001), 0x1_0000_0001],
    ['LSEEK', encodeLseek(u, 123456), 123456],
    ['COPY_FILE_RANGE', encodeCopyRange(u, 65536, false), 65536],
    ['COPY_FILE_RANGE_64', encodeCopyRange(u, 0x1_0000_0000, true), 0x1_0000_0000],
    ['POLL', encodePoll(u, 5), 5],
    ['IOCTL', encodeIoctl(u, { result: -1, flags: 4, inIovs: 1, outIovs: 2, data: buf('iov!') }), { result: -1, flags: 4, inIovs: 1, outIovs: 2, data: buf('iov!') }],
    ['STATX', encodeStatx(u, STATX), STATX],
    ['READDIR', encodeDirents(u, DIRENTS, 4096).reply, DIRENTS, { size: 4096 }],
    ['READDIRPLUS', encodeDirentsPlus(u, DIRENTS_PLUS, 4096, minor).reply, DIRENTS_PLUS, { size: 4096 }],
    ['INIT', encodeInit(u, { ...INIT_REPLY, minor }), minor < 23
      ? { ...INIT_REPLY, minor, flags: INIT_REPLY.flags & 0xffffffffn, maxPages: 0, mapAlignment: 0, maxStackDepth: 0, requestTimeout: 0, timeGran: 0 }
      : { ...INIT_REPLY, minor }],
    ['UNLINK', encodeEmpty(u), null],
    ['FSYNC', encodeEmpty(u), null],
  ];
}

describe('replies: codec encoder → decodeReply → encodeReply', () => {
  for (const minor of MINORS) {
    it(`7.${minor}: every reply kind`, () => {
      const n = neg(minor);
      const kinds = new Set<string>();
      for (const [op, bytes, value, args] of replyCases(minor)) {
        const r = decodeReply(op, bytes, n, args ? { args } : undefined);
        kinds.add(r.kind);
        expect(r.unique, String(op)).toBe(0x77);
        expect(r.error).toBe(0);
        expect(r.value, `${op} value`).toEqual(value);
        expect(encodeReply(r, n).equals(bytes), `${op} re-encoded`).toBe(true);
      }
      const expected = new Set(Object.values(REPLY_KIND).filter((k) => k !== 'none'));
      expected.add('xattrSize');
      expected.add('copyRange64');
      expect([...kinds].sort()).toEqual([...expected].sort());
    });
  }

  it('entry/attr fields land at the kernel offsets', () => {
    const e = encodeEntry(1, ENTRY, 45);
    expect(e.readBigUInt64LE(16)).toBe(0x1_0000_0002n); // nodeid
    expect(e.readBigUInt64LE(24)).toBe(7n); // generation
    expect(e.readBigUInt64LE(32)).toBe(1n); // entry_valid
    expect(e.readBigUInt64LE(40)).toBe(0n); // attr_valid
    expect(e.readUInt32LE(48)).toBe(500_000_000); // entry_valid_nsec
    expect(e.readUInt32LE(52)).toBe(250_000_000); // attr_valid_nsec
    expect(e.readUInt32LE(56 + 60)).toBe(0o100644); // attr.mode
    const hand = new Bytes().u32(16 + 104).i32(0).u64(9).u64(3).u32(7).u32(0)
      .u64(1).u64(2).u64(3).u64(4).u64(5).u64(6).u32(7).u32(8).u32(9).u32(0o40755).u32(11).u32(12).u32(13).u32(14).u32(15).u32(0).done();
    const r = decodeReply('GETATTR', hand, FULL);
    expect(r.kind === 'attr' && r.value).toEqual({
      attrValid: 3.000000007,
      attr: { ino: 1, size: 2, blocks: 3, atime: 4, mtime: 5, ctime: 6, atimensec: 7, mtimensec: 8, ctimensec: 9, mode: 0o40755, nlink: 11, uid: 12, gid: 13, rdev: 14, blksize: 15, flags: 0 },
    });
  });

  it('hand-made readdir records: 8-byte aligned, name not NUL-terminated', () => {
    const b = new Bytes().u32(16 + 32 + 32).i32(0).u64(5)
      .u64(2).u64(1).u32(3).u32(8).str('abc').zero(5)
      .u64(3).u64(2).u32(8).u32(4).str('12345678').done();
    const r = decodeReply('READDIR', b, FULL);
    expect(r.value).toEqual([{ ino: 2, off: 1, type: 8, name: 'abc' }, { ino: 3, off: 2, type: 4, name: '12345678' }]);
  });

  it('error replies', () => {
    const r = decodeReply('LOOKUP', encodeError(5, 2), FULL);
    expect(r).toEqual({ len: 16, error: -2, unique: 5, kind: 'error', value: null });
    expect(encodeReply(r, FULL).equals(encodeError(5, 2))).toBe(true);
    const bad = encodeError(5, 2); bad.writeInt32LE(2, 4);
    expectDecodeError(() => decodeReply('LOOKUP', bad, FULL), 'positive error');
    bad.writeInt32LE(-512, 4);
    expectDecodeError(() => decodeReply('LOOKUP', bad, FULL), 'error -512');
    // an errno the kernel would refuse (<= -512) leaves the caller hanging: the codec sends EIO instead
    expect(encodeError(5, 512).readInt32LE(4)).toBe(-5);
    expect(encodeError(5, -511).readInt32LE(4)).toBe(-511);
    expect(decodeReply('LOOKUP', encodeError(5, 100000), FULL).error).toBe(-5);
    const long = Buffer.concat([encodeError(5, 2), Buffer.alloc(8)]); long.writeUInt32LE(24, 0);
    expectDecodeError(() => decodeReply('LOOKUP', long, FULL), 'error with payload');
  });

  it('replies the kernel would refuse', () => {
    expectDecodeError(() => decodeReply('READ', encodeData(3, Buffer.alloc(10)), FULL, { args: { size: 9 } }), 'data longer than asked');
    expectDecodeError(() => decodeReply('READDIR', encodeDirents(3, DIRENTS, 4096).reply, FULL, { args: { size: 40 } }), 'dirents too long');
    expectDecodeError(() => decodeReply('FORGET', encodeEmpty(3), FULL), 'reply to FORGET');
    expectDecodeError(() => decodeReply('LOOKUP', encodeEntry(0, ENTRY, 45), FULL), 'unique 0');
    const slash = encodeDirents(3, [{ ino: 1, off: 1, type: 8, name: 'a/b' }], 4096).reply;
    expectDecodeError(() => decodeReply('READDIR', slash, FULL), 'slash in name');
    const lenMismatch = encodeWrite(3, 1); lenMismatch.writeUInt32LE(30, 0);
    expectDecodeError(() => decodeReply('WRITE', lenMismatch, FULL), 'len mismatch');
    expect(() => decodeReply('nonsense' as OpName, encodeEmpty(3), FULL)).toThrow(TypeError);
  });

  for (const minor of [12, 45]) {
    it(`7.${minor}: every truncation of a fixed-size reply is refused`, () => {
      const n = neg(minor);
      let checked = 0;
      for (const [op, bytes, , args] of replyCases(minor)) {
        const kind = decodeReply(op, bytes, n, args ? { args } : undefined).kind;
        for (let len = 0; len < bytes.length; len++) {
          const t = Buffer.from(bytes.subarray(0, len));
          if (len >= 4) t.writeUInt32LE(len, 0);
          const r = outcome(() => decodeReply(op, t, n, args ? { args } : undefined), `${op} truncated to ${len}`);
          // variable-size replies may legitimately be shorter (data, a whole number of dirents, a shorter init_out)
          if (len < 16 || !['data', 'dirents', 'direntsPlus', 'init', 'ioctl'].includes(kind)) {
            expect(r, `${op} truncated to ${len}`).toBe('decode-error');
            checked++;
          }
        }
      }
      expect(checked).toBeGreaterThan(1000);
    });
  }

  it('a partial trailing dirent is refused', () => {
    const full = encodeDirents(3, DIRENTS, 4096).reply;
    for (let cut = 1; cut < 32; cut++) {
      const t = Buffer.from(full.subarray(0, full.length - cut));
      t.writeUInt32LE(t.length, 0);
      const endsOnRecord = full.length - cut === 16 + 32 + 32 + 32; // the first three records
      expect(outcome(() => decodeReply('READDIR', t, FULL), `cut ${cut}`)).toBe(endsOnRecord ? 'ok' : 'decode-error');
    }
  });
});

// ----------------------------------------------------------- notifications

describe('notifications', () => {
  const cases: [Buffer, unknown][] = [
    [encodeNotifyPoll(0x99), { code: Notify.POLL, kind: 'POLL', kh: 0x99 }],
    [encodeNotifyInvalInode(5, -1, 0), { code: Notify.INVAL_INODE, kind: 'INVAL_INODE', ino: 5, off: -1, len: 0 }],
    [encodeNotifyInvalEntry(1, 'name', 1), { code: Notify.INVAL_ENTRY, kind: 'INVAL_ENTRY', parent: 1, flags: 1, name: 'name' }],
    [encodeNotifyStore(6, 4096, buf('page')), { code: Notify.STORE, kind: 'STORE', nodeid: 6, offset: 4096, data: buf('page') }],
    [encodeNotifyRetrieve(3, 6, 0, 8192), { code: Notify.RETRIEVE, kind: 'RETRIEVE', notifyUnique: 3, nodeid: 6, offset: 0, size: 8192 }],
    [encodeNotifyDelete(1, 7, 'gone'), { code: Notify.DELETE, kind: 'DELETE', parent: 1, child: 7, name: 'gone' }],
    [encodeNotifyBare(7), { code: Notify.RESEND, kind: 'RESEND' }],
    [encodeNotifyBare(8), { code: Notify.INC_EPOCH, kind: 'INC_EPOCH' }],
    [encodeNotifyPrune([4, 0x1_0000_0005]), { code: Notify.PRUNE, kind: 'PRUNE', nodeids: [4, 0x1_0000_0005] }],
  ];

  it('codec notification encoders decode as the kernel reads them', () => {
    for (const [b, v] of cases) {
      expect(b.readBigUInt64LE(8)).toBe(0n);
      expect(decodeNotification(b)).toEqual(v);
    }
    expect(new Set(cases.map(([b]) => b.readInt32LE(4)))).toEqual(new Set(Object.values(Notify)));
  });

  it('layouts by hand: INVAL_ENTRY and PRUNE', () => {
    const ie = new Bytes().u32(16 + 16 + 2).i32(3).u64(0).u64(9).u32(1).u32(0).str('x\0').done();
    expect(encodeNotifyInvalEntry(9, 'x').equals(ie)).toBe(true);
    const pr = new Bytes().u32(16 + 16 + 8).i32(9).u64(0).u32(1).u32(0).u64(0).u64(12).done();
    expect(encodeNotifyPrune([12]).equals(pr)).toBe(true);
  });

  it('truncated or malformed notifications are refused', () => {
    for (const [b] of cases) {
      for (let len = 0; len < b.length; len++) {
        const t = Buffer.from(b.subarray(0, len));
        if (len >= 4) t.writeUInt32LE(len, 0);
        expectDecodeError(() => decodeNotification(t), `notification ${b.readInt32LE(4)} truncated to ${len}`);
      }
    }
    const r = encodeEntry(5, ENTRY, 45);
    expectDecodeError(() => decodeNotification(r), 'a reply');
    const unknown = encodeNotifyBare(7); unknown.writeInt32LE(42, 4);
    expectDecodeError(() => decodeNotification(unknown), 'unknown code');
    const noNul = encodeNotifyInvalEntry(1, 'ab'); noNul[noNul.length - 1] = 0x41;
    expectDecodeError(() => decodeNotification(noNul), 'name without NUL');
  });
});

// -------------------------------------------------------- malformed input

describe('malformed requests: DecodeError and nothing else', () => {
  for (const minor of [12, 45]) {
    it(`7.${minor}: every truncation of every valid request`, () => {
      const n = neg(minor);
      let cases = 0;
      const reqs = [...samples(n), { op: 'CREATE', ...hdr, args: samples(n).find((s) => s.op === 'CREATE')!.args, groups: [1, 2] } as RequestInit];
      for (const s of reqs) {
        const bytes = encodeRequest(s, n);
        for (let len = 0; len < bytes.length; len++) {
          const cut = Buffer.from(bytes.subarray(0, len));
          // as read: the header still claims the full length
          expectDecodeError(() => decodeRequest(cut, len, n), `${s.op} cut to ${len}`);
          // a length argument beyond the buffer
          expectDecodeError(() => decodeRequest(cut, bytes.length, n), `${s.op} cut to ${len}, full length claimed`);
          // header patched to agree with the truncation
          if (len >= 4) {
            cut.writeUInt32LE(len, 0);
            if (OPAQUE.has(s.op!) && len >= Size.IN_HEADER) {
              expect(outcome(() => decodeRequest(cut, len, n), `${s.op} ${len}`)).toBe('ok');
            } else {
              expectDecodeError(() => decodeRequest(cut, len, n), `${s.op} cut to ${len}, len patched`);
            }
          }
          cases++;
        }
      }
      expect(cases).toBeGreaterThan(3000);
    });
  }

  it('unknown opcodes, bad extension lengths', () => {
    for (const opcode of [0, 7, 19, 54, 4095, 0xffffffff]) {
      expectDecodeError(() => decode(request(opcode, Buffer.alloc(64)), FULL), `opcode ${opcode}`);
    }
    expectDecodeError(() => decode(request(Op.LOOKUP, Buffer.from('abc\0'), { extlen: 1 }), FULL), 'extlen beyond args');
    const mk = encodeRequest({ op: 'MKDIR', ...hdr, args: { mode: 0o755, umask: 0, name: 'd' }, groups: [1] }, FULL);
    const badExt = Buffer.from(mk); badExt.writeUInt32LE(4, badExt.length - 16); // ext header size < 8
    expectDecodeError(() => decode(badExt, FULL), 'ext size < 8');
    const over = Buffer.from(mk); over.writeUInt32LE(64, over.length - 16); // ext size beyond the request
    expectDecodeError(() => decode(over, FULL), 'ext overrun');
    const manyGroups = Buffer.from(mk); manyGroups.writeUInt32LE(1000, manyGroups.length - 8);
    expectDecodeError(() => decode(manyGroups, FULL), 'groups overrun');
    expectDecodeError(() => decode(request(Op.WRITE, new Bytes().u64(1).u64(0).u32(100).zero(20).str('short').done()), FULL), 'write data short');
    expectDecodeError(() => decode(request(Op.BATCH_FORGET, new Bytes().u32(0xffffffff).u32(0).done()), FULL), 'huge forget count');
    expectDecodeError(() => decode(request(Op.LOOKUP, Buffer.from('no-nul')), FULL), 'no NUL');
  });

  const VALID_OPCODES = Object.values(Op);

  it('seeded random bytes (10000 cases)', () => {
    const rnd = prng(0x5eed);
    const tally = { ok: 0, 'decode-error': 0 };
    for (let i = 0; i < 10000; i++) {
      const len = Math.floor(rnd() * 200);
      const b = Buffer.alloc(len);
      for (let j = 0; j < len; j++) b[j] = Math.floor(rnd() * 256);
      // most cases get a consistent header so decoding reaches the argument parsers
      if (len >= 40 && rnd() < 0.9) {
        b.writeUInt32LE(len, 0);
        b.writeUInt32LE(VALID_OPCODES[Math.floor(rnd() * VALID_OPCODES.length)], 4);
        b.writeUInt16LE(rnd() < 0.8 ? 0 : Math.floor(rnd() * 8), 36);
        // names: sprinkle NULs so string fields sometimes terminate
        for (let j = 40; j < len; j++) if (rnd() < 0.05) b[j] = 0;
      }
      const n = rnd() < 0.5 ? FULL : neg(MINORS[Math.floor(rnd() * MINORS.length)]);
      tally[outcome(() => decodeRequest(b, len, n), `random case ${i}`)]++;
    }
    // both outcomes occur: the generator reaches the decoders and the checks reject things
    expect(tally.ok).toBeGreaterThan(1000);
    expect(tally['decode-error']).toBeGreaterThan(1000);
  });

  it('seeded mutations of valid requests (every opcode, 200 each)', () => {
    const rnd = prng(42);
    let ok = 0, bad = 0;
    for (const s of samples(FULL)) {
      const bytes = encodeRequest(s, FULL);
      for (let i = 0; i < 200; i++) {
        const m = Buffer.from(bytes);
        const flips = 1 + Math.floor(rnd() * 4);
        for (let k = 0; k < flips; k++) {
          const at = rnd() < 0.7 ? 40 + Math.floor(rnd() * Math.max(1, m.length - 40)) : Math.floor(rnd() * m.length);
          if (at < m.length) m[at] = Math.floor(rnd() * 256);
        }
        if (rnd() < 0.8) m.writeUInt32LE(m.length, 0);
        if (outcome(() => decode(m, FULL), `${s.op} mutation ${i}`) === 'ok') ok++; else bad++;
      }
    }
    expect(ok).toBeGreaterThan(1000);
    expect(bad).toBeGreaterThan(500);
  });

  it('seeded random replies and notifications', () => {
    const rnd = prng(7);
    const targets: (OpName | ReplyKind)[] = [...Object.keys(REPLY_KIND) as OpName[], 'xattrSize'];
    const tally = { ok: 0, 'decode-error': 0 };
    for (let i = 0; i < 10000; i++) {
      const len = Math.floor(rnd() * 400);
      const b = Buffer.alloc(len);
      for (let j = 0; j < len; j++) b[j] = Math.floor(rnd() * 256);
      if (len >= 16 && rnd() < 0.9) {
        b.writeUInt32LE(len, 0);
        b.writeInt32LE(rnd() < 0.8 ? 0 : -Math.floor(rnd() * 600), 4);
        if (rnd() < 0.3) { b.writeBigUInt64LE(0n, 8); b.writeInt32LE(Math.floor(rnd() * 11), 4); }
      }
      const op = targets[Math.floor(rnd() * targets.length)];
      tally[outcome(() => decodeReply(op, b, rnd() < 0.5 ? FULL : neg(12), rnd() < 0.5 ? { args: { size: Math.floor(rnd() * 400) } } : undefined), `reply ${i} ${op}`)]++;
      tally[outcome(() => decodeNotification(b), `notification ${i}`)]++;
    }
    expect(tally.ok).toBeGreaterThan(200);
    expect(tally['decode-error']).toBeGreaterThan(5000);
  });

  it('seeded mutations of valid replies', () => {
    const rnd = prng(99);
    let ok = 0;
    for (const [op, bytes, , args] of replyCases(45)) {
      for (let i = 0; i < 200; i++) {
        const m = Buffer.from(bytes);
        for (let k = 0; k < 3; k++) { const at = 16 + Math.floor(rnd() * Math.max(1, m.length - 16)); if (at < m.length) m[at] = Math.floor(rnd() * 256); }
        const r = outcome(() => decodeReply(op, m, FULL, args ? { args } : undefined), `${op} mutation ${i}`);
        if (r === 'ok') {
          ok++;
          // whatever decodes must re-encode without throwing
          const d = decodeReply(op, m, FULL, args ? { args } : undefined) as DecodedReply;
          expect(() => encodeReply(d, FULL)).not.toThrow();
        }
      }
    }
    expect(ok).toBeGreaterThan(1000);
  });
});

describe('kernel-side encodeRequest agrees with OP_NAMES', () => {
  it('every opcode number maps to its name and back', () => {
    for (const [num, name] of Object.entries(OP_NAMES)) {
      const s = samples(FULL).find((x) => x.op === name)!;
      const b = encodeRequest({ ...s, op: undefined, opcode: Number(num) } as RequestInit, FULL);
      expect((decode(b, FULL) as Request).op).toBe(name);
    }
  });
});

/**
 * The codec: bytes from /dev/fuse → typed request, typed reply → bytes.
 * One table of decoders indexed by opcode; one encoder per reply kind.
 * It knows the protocol and nothing else (no overlay, no session state
 * other than the negotiated minor and flags it is handed).
 */
import {
  CompatSize, EXT_GROUPS, InitFlag, NAME_MAX, Op, OP_NAMES, Size, type OpName,
} from './abi.js';
import { DecodeError, Errno } from './errors.js';
import type {
  Attr, AttrReply, DirEntry, DirEntryPlus, Entry, FileLock, IoctlReply, Open, Statfs, StatxReply,
} from './types.js';

const TWO32 = 4294967296;

export function readU64(b: Buffer, off: number): number {
  return b.readUInt32LE(off) + b.readUInt32LE(off + 4) * TWO32;
}

export function writeU64(b: Buffer, off: number, v: number): void {
  if (v >= 0) {
    b.writeUInt32LE(v % TWO32, off);
    b.writeUInt32LE(Math.floor(v / TWO32) >>> 0, off + 4);
  } else {
    b.writeBigInt64LE(BigInt(Math.trunc(v)), off);
  }
}

/** What the codec needs to know about the connection. */
export interface Negotiated {
  minor: number;
  /** negotiated INIT flags (incl. flags2 bits ≥ 32) */
  flags: bigint;
}

// ------------------------------------------------------------------ requests

export interface Header {
  len: number;
  opcode: number;
  unique: number;
  nodeid: number;
  uid: number;
  gid: number;
  pid: number;
  totalExtlen: number;
}

export interface LockIn { fh: number; owner: bigint; lk: FileLock; lkFlags: number }
export interface ReadIn { fh: number; offset: number; size: number; readFlags: number; lockOwner: bigint; flags: number }
export interface CreateIn { flags: number; mode: number; umask: number; openFlags: number; name: string }

/** The decoded arguments of each opcode. */
export interface ArgsByOp {
  LOOKUP: { name: string };
  FORGET: { nlookup: number };
  GETATTR: { getattrFlags: number; fh: number };
  SETATTR: {
    valid: number; fh: number; size: number; lockOwner: bigint;
    atime: number; mtime: number; ctime: number; atimensec: number; mtimensec: number; ctimensec: number;
    mode: number; uid: number; gid: number;
  };
  READLINK: Record<string, never>;
  SYMLINK: { name: string; target: string };
  MKNOD: { mode: number; rdev: number; umask: number; name: string };
  MKDIR: { mode: number; umask: number; name: string };
  UNLINK: { name: string };
  RMDIR: { name: string };
  RENAME: { newdir: number; flags: number; oldname: string; newname: string };
  LINK: { oldnodeid: number; newname: string };
  OPEN: { flags: number; openFlags: number };
  READ: ReadIn;
  WRITE: { fh: number; offset: number; size: number; writeFlags: number; lockOwner: bigint; flags: number; data: Buffer };
  STATFS: Record<string, never>;
  RELEASE: { fh: number; flags: number; releaseFlags: number; lockOwner: bigint };
  FSYNC: { fh: number; fsyncFlags: number };
  SETXATTR: { size: number; flags: number; setxattrFlags: number; name: string; value: Buffer };
  GETXATTR: { size: number; name: string };
  LISTXATTR: { size: number };
  REMOVEXATTR: { name: string };
  FLUSH: { fh: number; lockOwner: bigint };
  INIT: { major: number; minor: number; maxReadahead: number; flags: bigint };
  OPENDIR: { flags: number; openFlags: number };
  READDIR: ReadIn;
  RELEASEDIR: { fh: number; flags: number; releaseFlags: number; lockOwner: bigint };
  FSYNCDIR: { fh: number; fsyncFlags: number };
  GETLK: LockIn;
  SETLK: LockIn;
  SETLKW: LockIn;
  ACCESS: { mask: number };
  CREATE: CreateIn;
  INTERRUPT: { unique: number };
  BMAP: { block: number; blocksize: number };
  DESTROY: Record<string, never>;
  IOCTL: { fh: number; flags: number; cmd: number; arg: bigint; inSize: number; outSize: number; data: Buffer };
  POLL: { fh: number; kh: number; flags: number; events: number };
  NOTIFY_REPLY: { offset: number; size: number; data: Buffer };
  BATCH_FORGET: { forgets: { nodeid: number; nlookup: number }[] };
  FALLOCATE: { fh: number; offset: number; length: number; mode: number };
  READDIRPLUS: ReadIn;
  RENAME2: { newdir: number; flags: number; oldname: string; newname: string };
  LSEEK: { fh: number; offset: number; whence: number };
  COPY_FILE_RANGE: { fhIn: number; offIn: number; nodeidOut: number; fhOut: number; offOut: number; len: number; flags: number };
  SETUPMAPPING: { raw: Buffer };
  REMOVEMAPPING: { raw: Buffer };
  SYNCFS: Record<string, never>;
  TMPFILE: CreateIn;
  STATX: { getattrFlags: number; fh: number; sxFlags: number; sxMask: number };
  COPY_FILE_RANGE_64: { fhIn: number; offIn: number; nodeidOut: number; fhOut: number; offOut: number; len: number; flags: number };
  CUSE_INIT: { raw: Buffer };
}

/** A decoded request. `args` is typed by `op`. */
export type Request<K extends OpName = OpName> = {
  [P in K]: Header & {
    op: P;
    args: ArgsByOp[P];
    /** request extensions (security context, supplementary groups), raw */
    ext: Buffer | null;
    /** supplementary groups from a FUSE_EXT_GROUPS extension */
    groups?: number[];
  };
}[K];

type Decoder = (b: Buffer, p: number, end: number, n: Negotiated) => unknown;

function need(end: number, p: number, size: number, what: string): void {
  if (p + size > end) throw new DecodeError(`${what}: argument truncated (${end - p} < ${size} bytes)`);
}

function cstr(b: Buffer, p: number, end: number, what: string): [string, number] {
  const z = b.indexOf(0, p);
  if (z < 0 || z >= end) throw new DecodeError(`${what}: name not NUL-terminated`);
  if (z - p > NAME_MAX * 4) throw new DecodeError(`${what}: name too long`);
  return [b.toString('utf8', p, z), z + 1];
}

function nameOnly(what: string): Decoder {
  return (b, p, end) => ({ name: cstr(b, p, end, what)[0] });
}

function empty(): Record<string, never> {
  return {};
}

function readIn(b: Buffer, p: number, end: number, what: string): ReadIn {
  need(end, p, Size.READ_IN, what);
  return {
    fh: readU64(b, p), offset: readU64(b, p + 8), size: b.readUInt32LE(p + 16),
    readFlags: b.readUInt32LE(p + 20), lockOwner: b.readBigUInt64LE(p + 24), flags: b.readUInt32LE(p + 32),
  };
}

function releaseIn(what: string): Decoder {
  return (b, p, end) => {
    need(end, p, Size.RELEASE_IN, what);
    return { fh: readU64(b, p), flags: b.readUInt32LE(p + 8), releaseFlags: b.readUInt32LE(p + 12), lockOwner: b.readBigUInt64LE(p + 16) };
  };
}

function fsyncIn(what: string): Decoder {
  return (b, p, end) => {
    need(end, p, Size.FSYNC_IN, what);
    return { fh: readU64(b, p), fsyncFlags: b.readUInt32LE(p + 8) };
  };
}

function lkIn(what: string): Decoder {
  return (b, p, end) => {
    need(end, p, Size.LK_IN, what);
    return {
      fh: readU64(b, p), owner: b.readBigUInt64LE(p + 8),
      lk: { start: readU64(b, p + 16), end: readU64(b, p + 24), type: b.readUInt32LE(p + 32), pid: b.readUInt32LE(p + 36) },
      lkFlags: b.readUInt32LE(p + 40),
    } satisfies LockIn;
  };
}

function openIn(what: string): Decoder {
  return (b, p, end) => {
    need(end, p, Size.OPEN_IN, what);
    return { flags: b.readUInt32LE(p), openFlags: b.readUInt32LE(p + 4) };
  };
}

function createIn(what: string): Decoder {
  return (b, p, end, n) => {
    if (n.minor < 12) {
      need(end, p, CompatSize.CREATE_IN, what);
      return { flags: b.readUInt32LE(p), mode: b.readUInt32LE(p + 4), umask: 0, openFlags: 0, name: cstr(b, p + 8, end, what)[0] };
    }
    need(end, p, Size.CREATE_IN, what);
    return {
      flags: b.readUInt32LE(p), mode: b.readUInt32LE(p + 4), umask: b.readUInt32LE(p + 8),
      openFlags: b.readUInt32LE(p + 12), name: cstr(b, p + 16, end, what)[0],
    } satisfies CreateIn;
  };
}

function copyRangeIn(what: string): Decoder {
  return (b, p, end) => {
    need(end, p, Size.COPY_FILE_RANGE_IN, what);
    return {
      fhIn: readU64(b, p), offIn: readU64(b, p + 8), nodeidOut: readU64(b, p + 16), fhOut: readU64(b, p + 24),
      offOut: readU64(b, p + 32), len: readU64(b, p + 40), flags: readU64(b, p + 48),
    };
  };
}

function raw(b: Buffer, p: number, end: number): { raw: Buffer } {
  return { raw: b.subarray(p, end) };
}

const DECODERS: (Decoder | undefined)[] = [];
const D = (op: number, d: Decoder) => { DECODERS[op] = d; };

D(Op.LOOKUP, nameOnly('LOOKUP'));
D(Op.FORGET, (b, p, end) => { need(end, p, Size.FORGET_IN, 'FORGET'); return { nlookup: readU64(b, p) }; });
D(Op.GETATTR, (b, p, end, n) => {
  if (n.minor < 9) return { getattrFlags: 0, fh: 0 };
  need(end, p, Size.GETATTR_IN, 'GETATTR');
  return { getattrFlags: b.readUInt32LE(p), fh: readU64(b, p + 8) };
});
D(Op.SETATTR, (b, p, end) => {
  need(end, p, Size.SETATTR_IN, 'SETATTR');
  return {
    valid: b.readUInt32LE(p), fh: readU64(b, p + 8), size: readU64(b, p + 16), lockOwner: b.readBigUInt64LE(p + 24),
    atime: Number(b.readBigInt64LE(p + 32)), mtime: Number(b.readBigInt64LE(p + 40)), ctime: Number(b.readBigInt64LE(p + 48)),
    atimensec: b.readUInt32LE(p + 56), mtimensec: b.readUInt32LE(p + 60), ctimensec: b.readUInt32LE(p + 64),
    mode: b.readUInt32LE(p + 68), uid: b.readUInt32LE(p + 76), gid: b.readUInt32LE(p + 80),
  };
});
D(Op.READLINK, empty);
D(Op.SYMLINK, (b, p, end) => {
  const [name, q] = cstr(b, p, end, 'SYMLINK');
  return { name, target: cstr(b, q, end, 'SYMLINK target')[0] };
});
D(Op.MKNOD, (b, p, end, n) => {
  if (n.minor < 12) {
    need(end, p, CompatSize.MKNOD_IN, 'MKNOD');
    return { mode: b.readUInt32LE(p), rdev: b.readUInt32LE(p + 4), umask: 0, name: cstr(b, p + 8, end, 'MKNOD')[0] };
  }
  need(end, p, Size.MKNOD_IN, 'MKNOD');
  return { mode: b.readUInt32LE(p), rdev: b.readUInt32LE(p + 4), umask: b.readUInt32LE(p + 8), name: cstr(b, p + 16, end, 'MKNOD')[0] };
});
D(Op.MKDIR, (b, p, end) => {
  need(end, p, Size.MKDIR_IN, 'MKDIR');
  return { mode: b.readUInt32LE(p), umask: b.readUInt32LE(p + 4), name: cstr(b, p + 8, end, 'MKDIR')[0] };
});
D(Op.UNLINK, nameOnly('UNLINK'));
D(Op.RMDIR, nameOnly('RMDIR'));
D(Op.RENAME, (b, p, end) => {
  need(end, p, Size.RENAME_IN, 'RENAME');
  const [oldname, q] = cstr(b, p + 8, end, 'RENAME');
  return { newdir: readU64(b, p), flags: 0, oldname, newname: cstr(b, q, end, 'RENAME newname')[0] };
});
D(Op.RENAME2, (b, p, end) => {
  need(end, p, Size.RENAME2_IN, 'RENAME2');
  const [oldname, q] = cstr(b, p + 16, end, 'RENAME2');
  return { newdir: readU64(b, p), flags: b.readUInt32LE(p + 8), oldname, newname: cstr(b, q, end, 'RENAME2 newname')[0] };
});
D(Op.LINK, (b, p, end) => {
  need(end, p, Size.LINK_IN, 'LINK');
  return { oldnodeid: readU64(b, p), newname: cstr(b, p + 8, end, 'LINK')[0] };
});
D(Op.OPEN, openIn('OPEN'));
D(Op.OPENDIR, openIn('OPENDIR'));
D(Op.READ, (b, p, end) => readIn(b, p, end, 'READ'));
D(Op.READDIR, (b, p, end) => readIn(b, p, end, 'READDIR'));
D(Op.READDIRPLUS, (b, p, end) => readIn(b, p, end, 'READDIRPLUS'));
D(Op.WRITE, (b, p, end, n) => {
  const hdr = n.minor < 9 ? CompatSize.WRITE_IN : Size.WRITE_IN;
  need(end, p, hdr, 'WRITE');
  const size = b.readUInt32LE(p + 16);
  if (p + hdr + size > end) throw new DecodeError(`WRITE: data truncated (${end - p - hdr} < ${size} bytes)`);
  return {
    fh: readU64(b, p), offset: readU64(b, p + 8), size, writeFlags: b.readUInt32LE(p + 20),
    lockOwner: n.minor < 9 ? 0n : b.readBigUInt64LE(p + 24), flags: n.minor < 9 ? 0 : b.readUInt32LE(p + 32),
    data: b.subarray(p + hdr, p + hdr + size),
  };
});
D(Op.STATFS, empty);
D(Op.RELEASE, releaseIn('RELEASE'));
D(Op.RELEASEDIR, releaseIn('RELEASEDIR'));
D(Op.FSYNC, fsyncIn('FSYNC'));
D(Op.FSYNCDIR, fsyncIn('FSYNCDIR'));
D(Op.SETXATTR, (b, p, end, n) => {
  const ext = (n.flags & InitFlag.SETXATTR_EXT) !== 0n;
  const hdr = ext ? Size.SETXATTR_IN : CompatSize.SETXATTR_IN;
  need(end, p, hdr, 'SETXATTR');
  const size = b.readUInt32LE(p);
  const [name, q] = cstr(b, p + hdr, end, 'SETXATTR');
  if (q + size > end) throw new DecodeError(`SETXATTR: value truncated (${end - q} < ${size} bytes)`);
  return { size, flags: b.readUInt32LE(p + 4), setxattrFlags: ext ? b.readUInt32LE(p + 8) : 0, name, value: b.subarray(q, q + size) };
});
D(Op.GETXATTR, (b, p, end) => {
  need(end, p, Size.GETXATTR_IN, 'GETXATTR');
  return { size: b.readUInt32LE(p), name: cstr(b, p + 8, end, 'GETXATTR')[0] };
});
D(Op.LISTXATTR, (b, p, end) => { need(end, p, Size.GETXATTR_IN, 'LISTXATTR'); return { size: b.readUInt32LE(p) }; });
D(Op.REMOVEXATTR, nameOnly('REMOVEXATTR'));
D(Op.FLUSH, (b, p, end) => { need(end, p, Size.FLUSH_IN, 'FLUSH'); return { fh: readU64(b, p), lockOwner: b.readBigUInt64LE(p + 16) }; });
D(Op.INIT, (b, p, end) => {
  need(end, p, CompatSize.INIT_IN, 'INIT');
  const major = b.readUInt32LE(p), minor = b.readUInt32LE(p + 4);
  // a kernel of 7.36 or later always sends the 64-byte init_in
  if (major === 7 && minor >= 36) need(end, p, Size.INIT_IN, 'INIT');
  let flags = BigInt(b.readUInt32LE(p + 12));
  // flags2 exists only in the 64-byte init_in (7.36+) and only with INIT_EXT
  if ((flags & InitFlag.INIT_EXT) !== 0n && end - p >= Size.INIT_IN) flags |= BigInt(b.readUInt32LE(p + 16)) << 32n;
  return { major, minor, maxReadahead: b.readUInt32LE(p + 8), flags };
});
D(Op.GETLK, lkIn('GETLK'));
D(Op.SETLK, lkIn('SETLK'));
D(Op.SETLKW, lkIn('SETLKW'));
D(Op.ACCESS, (b, p, end) => { need(end, p, Size.ACCESS_IN, 'ACCESS'); return { mask: b.readUInt32LE(p) }; });
D(Op.CREATE, createIn('CREATE'));
D(Op.TMPFILE, createIn('TMPFILE'));
D(Op.INTERRUPT, (b, p, end) => { need(end, p, Size.INTERRUPT_IN, 'INTERRUPT'); return { unique: readU64(b, p) }; });
D(Op.BMAP, (b, p, end) => { need(end, p, Size.BMAP_IN, 'BMAP'); return { block: readU64(b, p), blocksize: b.readUInt32LE(p + 8) }; });
D(Op.DESTROY, empty);
D(Op.IOCTL, (b, p, end) => {
  need(end, p, Size.IOCTL_IN, 'IOCTL');
  const inSize = b.readUInt32LE(p + 24);
  need(end, p + Size.IOCTL_IN, inSize, 'IOCTL data');
  return {
    fh: readU64(b, p), flags: b.readUInt32LE(p + 8), cmd: b.readUInt32LE(p + 12), arg: b.readBigUInt64LE(p + 16),
    inSize, outSize: b.readUInt32LE(p + 28), data: b.subarray(p + Size.IOCTL_IN, p + Size.IOCTL_IN + inSize),
  };
});
D(Op.POLL, (b, p, end) => {
  need(end, p, Size.POLL_IN, 'POLL');
  return { fh: readU64(b, p), kh: readU64(b, p + 8), flags: b.readUInt32LE(p + 16), events: b.readUInt32LE(p + 20) };
});
D(Op.NOTIFY_REPLY, (b, p, end) => {
  need(end, p, Size.NOTIFY_RETRIEVE_IN, 'NOTIFY_REPLY');
  const size = b.readUInt32LE(p + 16);
  need(end, p + Size.NOTIFY_RETRIEVE_IN, size, 'NOTIFY_REPLY data');
  return { offset: readU64(b, p + 8), size, data: b.subarray(p + Size.NOTIFY_RETRIEVE_IN, p + Size.NOTIFY_RETRIEVE_IN + size) };
});
D(Op.BATCH_FORGET, (b, p, end) => {
  need(end, p, Size.BATCH_FORGET_IN, 'BATCH_FORGET');
  const count = b.readUInt32LE(p);
  need(end, p + Size.BATCH_FORGET_IN, count * Size.FORGET_ONE, 'BATCH_FORGET entries');
  const forgets = new Array<{ nodeid: number; nlookup: number }>(count);
  for (let i = 0, q = p + Size.BATCH_FORGET_IN; i < count; i++, q += Size.FORGET_ONE) {
    forgets[i] = { nodeid: readU64(b, q), nlookup: readU64(b, q + 8) };
  }
  return { forgets };
});
D(Op.FALLOCATE, (b, p, end) => {
  need(end, p, Size.FALLOCATE_IN, 'FALLOCATE');
  return { fh: readU64(b, p), offset: readU64(b, p + 8), length: readU64(b, p + 16), mode: b.readUInt32LE(p + 24) };
});
D(Op.LSEEK, (b, p, end) => {
  need(end, p, Size.LSEEK_IN, 'LSEEK');
  return { fh: readU64(b, p), offset: readU64(b, p + 8), whence: b.readUInt32LE(p + 16) };
});
D(Op.COPY_FILE_RANGE, copyRangeIn('COPY_FILE_RANGE'));
D(Op.COPY_FILE_RANGE_64, copyRangeIn('COPY_FILE_RANGE_64'));
D(Op.SETUPMAPPING, raw);
D(Op.REMOVEMAPPING, raw);
D(Op.SYNCFS, (b, p, end) => { need(end, p, Size.SYNCFS_IN, 'SYNCFS'); return {}; });
D(Op.STATX, (b, p, end) => {
  need(end, p, Size.STATX_IN, 'STATX');
  return { getattrFlags: b.readUInt32LE(p), fh: readU64(b, p + 8), sxFlags: b.readUInt32LE(p + 16), sxMask: b.readUInt32LE(p + 20) };
});
D(Op.CUSE_INIT, raw);

export function decodeHeader(b: Buffer, length: number): Header {
  if (length < Size.IN_HEADER) throw new DecodeError(`request truncated: ${length} bytes, header needs ${Size.IN_HEADER}`);
  if (length > b.length) throw new DecodeError(`request length ${length} exceeds the ${b.length}-byte buffer`);
  const len = b.readUInt32LE(0);
  if (len !== length) throw new DecodeError(`request length ${len} does not match the ${length} bytes read`);
  return {
    len, opcode: b.readUInt32LE(4), unique: readU64(b, 8), nodeid: readU64(b, 16),
    uid: b.readUInt32LE(24), gid: b.readUInt32LE(28), pid: b.readUInt32LE(32), totalExtlen: b.readUInt16LE(36),
  };
}

/**
 * Decodes one request (one read from /dev/fuse). Throws DecodeError for
 * anything malformed: the caller answers it with EIO or ignores it.
 * Buffers in the result (WRITE data, xattr values) are views of `b`.
 */
export function decodeRequest(b: Buffer, length: number, n: Negotiated): Request {
  const h = decodeHeader(b, length) as Header & { op: OpName; args: unknown; ext: Buffer | null; groups?: number[] };
  const name = OP_NAMES[h.opcode];
  const decoder = DECODERS[h.opcode];
  if (!decoder || !name) throw new DecodeError(`unknown opcode ${h.opcode}`);
  const extBytes = h.totalExtlen * 8;
  const end = length - extBytes;
  if (end < Size.IN_HEADER) throw new DecodeError(`${name}: extension length ${extBytes} exceeds the request`);
  h.op = name;
  h.args = decoder(b, Size.IN_HEADER, end, n);
  h.ext = extBytes ? b.subarray(end, length) : null;
  if (h.ext) h.groups = decodeGroups(h.ext);
  return h as Request;
}

/** Finds the FUSE_EXT_GROUPS extension among request extensions. */
function decodeGroups(ext: Buffer): number[] | undefined {
  for (let p = 0; p + 8 <= ext.length;) {
    const size = ext.readUInt32LE(p), type = ext.readUInt32LE(p + 4);
    if (size < 8 || p + size > ext.length) throw new DecodeError(`extension of size ${size} overruns the request`);
    if (type === EXT_GROUPS && size >= 12) {
      const nr = ext.readUInt32LE(p + 8);
      if (12 + nr * 4 > size) throw new DecodeError(`groups extension claims ${nr} groups in ${size} bytes`);
      const groups: number[] = [];
      for (let i = 0; i < nr; i++) groups.push(ext.readUInt32LE(p + 12 + i * 4));
      return groups;
    }
    p += size;
  }
  return undefined;
}

// ------------------------------------------------------------------- replies

/** A reply buffer with the out header filled in and `size` payload bytes after it. */
export function replyBuffer(unique: number, size: number): Buffer {
  const b = Buffer.allocUnsafe(Size.OUT_HEADER + size);
  b.writeUInt32LE(Size.OUT_HEADER + size, 0);
  b.writeInt32LE(0, 4);
  writeU64(b, 8, unique);
  return b;
}

/** Just the out header for a reply whose `size` payload bytes are written separately (writev). */
export function replyHeader(unique: number, size: number): Buffer {
  const b = Buffer.allocUnsafe(Size.OUT_HEADER);
  b.writeUInt32LE(Size.OUT_HEADER + size, 0);
  b.writeInt32LE(0, 4);
  writeU64(b, 8, unique);
  return b;
}

/** Largest errno the kernel accepts in a reply (fuse_dev_do_write refuses error <= -512 with EINVAL). */
const MAX_REPLY_ERRNO = 511;

/** An error reply: exactly 16 bytes, error = -errno (EIO for an errno the kernel would refuse). */
export function encodeError(unique: number, errno: number): Buffer {
  const b = Buffer.allocUnsafe(Size.OUT_HEADER);
  b.writeUInt32LE(Size.OUT_HEADER, 0);
  const e = Math.abs(errno | 0);
  b.writeInt32LE(-(e > MAX_REPLY_ERRNO ? Errno.EIO : e), 4);
  writeU64(b, 8, unique);
  return b;
}

export function encodeEmpty(unique: number): Buffer {
  return replyBuffer(unique, 0);
}

function validSplit(v: number): [number, number] {
  if (!(v > 0)) return [0, 0];
  const s = Math.floor(v);
  return [s, Math.min(999_999_999, Math.round((v - s) * 1e9))];
}

export function writeAttr(b: Buffer, p: number, a: Attr): void {
  writeU64(b, p, a.ino);
  writeU64(b, p + 8, a.size);
  writeU64(b, p + 16, a.blocks);
  writeU64(b, p + 24, a.atime);
  writeU64(b, p + 32, a.mtime);
  writeU64(b, p + 40, a.ctime);
  b.writeUInt32LE(a.atimensec >>> 0, p + 48);
  b.writeUInt32LE(a.mtimensec >>> 0, p + 52);
  b.writeUInt32LE(a.ctimensec >>> 0, p + 56);
  b.writeUInt32LE(a.mode >>> 0, p + 60);
  b.writeUInt32LE(a.nlink >>> 0, p + 64);
  b.writeUInt32LE(a.uid >>> 0, p + 68);
  b.writeUInt32LE(a.gid >>> 0, p + 72);
  b.writeUInt32LE(a.rdev >>> 0, p + 76);
  b.writeUInt32LE(a.blksize >>> 0, p + 80);
  b.writeUInt32LE((a.flags ?? 0) >>> 0, p + 84);
}

export function readAttr(b: Buffer, p: number): Attr {
  return {
    ino: readU64(b, p), size: readU64(b, p + 8), blocks: readU64(b, p + 16),
    atime: Number(b.readBigInt64LE(p + 24)), mtime: Number(b.readBigInt64LE(p + 32)), ctime: Number(b.readBigInt64LE(p + 40)),
    atimensec: b.readUInt32LE(p + 48), mtimensec: b.readUInt32LE(p + 52), ctimensec: b.readUInt32LE(p + 56),
    mode: b.readUInt32LE(p + 60), nlink: b.readUInt32LE(p + 64), uid: b.readUInt32LE(p + 68), gid: b.readUInt32LE(p + 72),
    rdev: b.readUInt32LE(p + 76), blksize: b.readUInt32LE(p + 80), flags: b.readUInt32LE(p + 84),
  };
}

/** Size of fuse_entry_out for the negotiated minor. */
export function entryOutSize(minor: number): number {
  return minor < 9 ? CompatSize.ENTRY_OUT : Size.ENTRY_OUT;
}

export function writeEntry(b: Buffer, p: number, e: Entry, minor: number): void {
  const [es, ens] = validSplit(e.entryValid);
  const [as, ans] = validSplit(e.attrValid);
  writeU64(b, p, e.nodeid);
  writeU64(b, p + 8, e.generation ?? 0);
  writeU64(b, p + 16, es);
  writeU64(b, p + 24, as);
  b.writeUInt32LE(ens, p + 32);
  b.writeUInt32LE(ans, p + 36);
  if (minor < 9) {
    const tmp = Buffer.allocUnsafe(Size.ATTR);
    writeAttr(tmp, 0, e.attr);
    tmp.copy(b, p + 40, 0, CompatSize.ENTRY_OUT - 40);
  } else {
    writeAttr(b, p + 40, e.attr);
  }
}

export function encodeEntry(unique: number, e: Entry, minor: number): Buffer {
  const size = entryOutSize(minor);
  const b = replyBuffer(unique, size);
  writeEntry(b, 16, e, minor);
  return b;
}

export function encodeAttr(unique: number, r: AttrReply, minor: number): Buffer {
  const size = minor < 9 ? CompatSize.ATTR_OUT : Size.ATTR_OUT;
  const b = replyBuffer(unique, size);
  const [s, ns] = validSplit(r.attrValid);
  writeU64(b, 16, s);
  b.writeUInt32LE(ns, 24);
  b.writeUInt32LE(0, 28);
  if (minor < 9) {
    const tmp = Buffer.allocUnsafe(Size.ATTR);
    writeAttr(tmp, 0, r.attr);
    tmp.copy(b, 32, 0, CompatSize.ATTR_OUT - 16);
  } else {
    writeAttr(b, 32, r.attr);
  }
  return b;
}

function writeOpen(b: Buffer, p: number, o: Open): void {
  writeU64(b, p, o.fh);
  b.writeUInt32LE((o.openFlags ?? 0) >>> 0, p + 8);
  b.writeInt32LE(o.backingId ?? 0, p + 12);
}

export function encodeOpen(unique: number, o: Open): Buffer {
  const b = replyBuffer(unique, Size.OPEN_OUT);
  writeOpen(b, 16, o);
  return b;
}

/** CREATE / TMPFILE: fuse_entry_out followed by fuse_open_out. */
export function encodeCreate(unique: number, e: Entry, o: Open, minor: number): Buffer {
  const es = entryOutSize(minor);
  const b = replyBuffer(unique, es + Size.OPEN_OUT);
  writeEntry(b, 16, e, minor);
  writeOpen(b, 16 + es, o);
  return b;
}

export function encodeWrite(unique: number, size: number): Buffer {
  const b = replyBuffer(unique, Size.WRITE_OUT);
  b.writeUInt32LE(size >>> 0, 16);
  b.writeUInt32LE(0, 20);
  return b;
}

export function encodeStatfs(unique: number, s: Statfs, minor: number): Buffer {
  const size = minor < 4 ? CompatSize.STATFS_OUT : Size.STATFS_OUT;
  const b = replyBuffer(unique, size);
  b.fill(0, 16);
  writeU64(b, 16, s.blocks);
  writeU64(b, 24, s.bfree);
  writeU64(b, 32, s.bavail);
  writeU64(b, 40, s.files);
  writeU64(b, 48, s.ffree);
  b.writeUInt32LE(s.bsize >>> 0, 56);
  b.writeUInt32LE(s.namelen >>> 0, 60);
  if (minor >= 4) b.writeUInt32LE(s.frsize >>> 0, 64);
  return b;
}

/** GETXATTR/LISTXATTR probe (size 0 in the request): the size the value needs. */
export function encodeXattrSize(unique: number, size: number): Buffer {
  const b = replyBuffer(unique, Size.GETXATTR_OUT);
  b.writeUInt32LE(size >>> 0, 16);
  b.writeUInt32LE(0, 20);
  return b;
}

/** Raw bytes: READ, READLINK, GETXATTR/LISTXATTR values, IOCTL-less data. */
export function encodeData(unique: number, data: Uint8Array): Buffer {
  const b = replyBuffer(unique, data.length);
  b.set(data, 16);
  return b;
}

export function encodeLock(unique: number, lk: FileLock): Buffer {
  const b = replyBuffer(unique, Size.LK_OUT);
  writeU64(b, 16, lk.start);
  writeU64(b, 24, lk.end);
  b.writeUInt32LE(lk.type >>> 0, 32);
  b.writeUInt32LE(lk.pid >>> 0, 36);
  return b;
}

export function encodeBmap(unique: number, block: number): Buffer {
  const b = replyBuffer(unique, Size.BMAP_OUT);
  writeU64(b, 16, block);
  return b;
}

export function encodeLseek(unique: number, offset: number): Buffer {
  const b = replyBuffer(unique, Size.LSEEK_OUT);
  writeU64(b, 16, offset);
  return b;
}

/** COPY_FILE_RANGE answers with write_out (u32); COPY_FILE_RANGE_64 with a u64. */
export function encodeCopyRange(unique: number, copied: number, wide: boolean): Buffer {
  if (!wide) return encodeWrite(unique, Math.min(copied, 0xffffffff));
  const b = replyBuffer(unique, Size.COPY_FILE_RANGE_OUT);
  writeU64(b, 16, copied);
  return b;
}

export function encodePoll(unique: number, revents: number): Buffer {
  const b = replyBuffer(unique, Size.POLL_OUT);
  b.writeUInt32LE(revents >>> 0, 16);
  b.writeUInt32LE(0, 20);
  return b;
}

export function encodeIoctl(unique: number, r: IoctlReply): Buffer {
  const data = r.data ?? Buffer.alloc(0);
  const b = replyBuffer(unique, Size.IOCTL_OUT + data.length);
  b.writeInt32LE(r.result | 0, 16);
  b.writeUInt32LE((r.flags ?? 0) >>> 0, 20);
  b.writeUInt32LE((r.inIovs ?? 0) >>> 0, 24);
  b.writeUInt32LE((r.outIovs ?? 0) >>> 0, 28);
  b.set(data, 32);
  return b;
}

function writeStatxTime(b: Buffer, p: number, t: { sec: number; nsec: number }): void {
  b.writeBigInt64LE(BigInt(Math.trunc(t.sec)), p);
  b.writeUInt32LE(t.nsec >>> 0, p + 8);
  b.writeInt32LE(0, p + 12);
}

export function encodeStatx(unique: number, r: StatxReply): Buffer {
  const b = replyBuffer(unique, Size.STATX_OUT);
  b.fill(0, 16);
  const [s, ns] = validSplit(r.attrValid);
  writeU64(b, 16, s);
  b.writeUInt32LE(ns, 24);
  b.writeUInt32LE((r.flags ?? 0) >>> 0, 28);
  const x = r.statx, p = 16 + 32;
  b.writeUInt32LE(x.mask >>> 0, p);
  b.writeUInt32LE(x.blksize >>> 0, p + 4);
  b.writeBigUInt64LE(x.attributes, p + 8);
  b.writeUInt32LE(x.nlink >>> 0, p + 16);
  b.writeUInt32LE(x.uid >>> 0, p + 20);
  b.writeUInt32LE(x.gid >>> 0, p + 24);
  b.writeUInt16LE(x.mode & 0xffff, p + 28);
  writeU64(b, p + 32, x.ino);
  writeU64(b, p + 40, x.size);
  writeU64(b, p + 48, x.blocks);
  b.writeBigUInt64LE(x.attributesMask, p + 56);
  writeStatxTime(b, p + 64, x.atime);
  writeStatxTime(b, p + 80, x.btime);
  writeStatxTime(b, p + 96, x.ctime);
  writeStatxTime(b, p + 112, x.mtime);
  b.writeUInt32LE(x.rdevMajor >>> 0, p + 128);
  b.writeUInt32LE(x.rdevMinor >>> 0, p + 132);
  b.writeUInt32LE(x.devMajor >>> 0, p + 136);
  b.writeUInt32LE(x.devMinor >>> 0, p + 140);
  return b;
}

const align8 = (n: number) => (n + 7) & ~7;

/** Bytes one READDIR record of this name takes. */
export function direntSize(nameBytes: number): number {
  return align8(Size.DIRENT_BASE + nameBytes);
}

export function direntPlusSize(nameBytes: number): number {
  return align8(Size.DIRENTPLUS_BASE + nameBytes);
}

/**
 * For filesystems answering READDIR(PLUS) from a listing: the index after the
 * last entry from `offset` whose records fit in `size` reply bytes.
 */
export function direntsThatFit(entries: readonly { name: string }[], offset: number, size: number, plus: boolean): number {
  let bytes = 0, i = offset;
  for (; i < entries.length; i++) {
    const n = Buffer.byteLength(entries[i].name);
    bytes += plus ? direntPlusSize(n) : direntSize(n);
    if (bytes > size) break;
  }
  return i;
}

/**
 * Packs READDIR records into at most `max` bytes. Returns the reply and how
 * many entries fitted (the rest must be offered again from their cookie).
 */
export function encodeDirents(unique: number, entries: readonly DirEntry[], max: number): { reply: Buffer; count: number } {
  let total = 0, count = 0;
  const names: Buffer[] = [];
  for (const e of entries) {
    const nb = Buffer.from(e.name, 'utf8');
    const sz = direntSize(nb.length);
    if (total + sz > max) break;
    names.push(nb);
    total += sz;
    count++;
  }
  const b = replyBuffer(unique, total);
  let p = 16;
  for (let i = 0; i < count; i++) {
    const e = entries[i], nb = names[i];
    p = writeDirent(b, p, e, nb);
  }
  return { reply: b, count };
}

function writeDirent(b: Buffer, p: number, e: DirEntry, nb: Buffer): number {
  writeU64(b, p, e.ino);
  writeU64(b, p + 8, e.off);
  b.writeUInt32LE(nb.length, p + 16);
  b.writeUInt32LE(e.type >>> 0, p + 20);
  nb.copy(b, p + 24);
  const end = p + direntSize(nb.length);
  b.fill(0, p + 24 + nb.length, end);
  return end;
}

export function encodeDirentsPlus(unique: number, entries: readonly DirEntryPlus[], max: number, minor: number): { reply: Buffer; count: number } {
  let total = 0, count = 0;
  const names: Buffer[] = [];
  for (const e of entries) {
    const nb = Buffer.from(e.name, 'utf8');
    const sz = direntPlusSize(nb.length);
    if (total + sz > max) break;
    names.push(nb);
    total += sz;
    count++;
  }
  const b = replyBuffer(unique, total);
  let p = 16;
  for (let i = 0; i < count; i++) {
    const e = entries[i];
    writeEntry(b, p, e.entry, Math.max(minor, 9));
    p = writeDirent(b, p + Size.ENTRY_OUT, e, names[i]);
  }
  return { reply: b, count };
}

export interface InitReply {
  major: number;
  minor: number;
  maxReadahead: number;
  flags: bigint;
  maxBackground: number;
  congestionThreshold: number;
  maxWrite: number;
  timeGran: number;
  maxPages: number;
  mapAlignment?: number;
  maxStackDepth: number;
  requestTimeout?: number;
}

/** INIT reply, in the size the negotiated minor expects. */
export function encodeInit(unique: number, r: InitReply): Buffer {
  const size = r.minor < 5 ? CompatSize.INIT_OUT_5 : r.minor < 23 ? CompatSize.INIT_OUT_22 : Size.INIT_OUT;
  const full = Buffer.alloc(Size.INIT_OUT);
  full.writeUInt32LE(r.major, 0);
  full.writeUInt32LE(r.minor, 4);
  full.writeUInt32LE(r.maxReadahead >>> 0, 8);
  full.writeUInt32LE(Number(r.flags & 0xffffffffn), 12);
  full.writeUInt16LE(r.maxBackground & 0xffff, 16);
  full.writeUInt16LE(r.congestionThreshold & 0xffff, 18);
  full.writeUInt32LE(r.maxWrite >>> 0, 20);
  full.writeUInt32LE(r.timeGran >>> 0, 24);
  full.writeUInt16LE(r.maxPages & 0xffff, 28);
  full.writeUInt16LE((r.mapAlignment ?? 0) & 0xffff, 30);
  full.writeUInt32LE(Number((r.flags >> 32n) & 0xffffffffn), 32);
  full.writeUInt32LE(r.maxStackDepth >>> 0, 36);
  full.writeUInt16LE((r.requestTimeout ?? 0) & 0xffff, 40);
  const b = replyBuffer(unique, size);
  full.copy(b, 16, 0, size);
  return b;
}

export function decodeInitReply(b: Buffer): InitReply {
  const p = 16, size = b.length - 16;
  const g = (off: number, n: 2 | 4) => (off + n <= size ? (n === 2 ? b.readUInt16LE(p + off) : b.readUInt32LE(p + off)) : 0);
  return {
    major: g(0, 4), minor: g(4, 4), maxReadahead: g(8, 4),
    flags: BigInt(g(12, 4)) | (BigInt(g(32, 4)) << 32n),
    maxBackground: g(16, 2), congestionThreshold: g(18, 2), maxWrite: g(20, 4), timeGran: g(24, 4),
    maxPages: g(28, 2), mapAlignment: g(30, 2), maxStackDepth: g(36, 4), requestTimeout: g(40, 2),
  };
}

// ------------------------------------------------------------- notifications

function notifyBuffer(code: number, size: number): Buffer {
  const b = Buffer.alloc(Size.OUT_HEADER + size);
  b.writeUInt32LE(Size.OUT_HEADER + size, 0);
  b.writeInt32LE(code, 4); // positive: a notification code, unique stays 0
  return b;
}

export function encodeNotifyInvalInode(ino: number, off: number, len: number): Buffer {
  const b = notifyBuffer(2, 24);
  writeU64(b, 16, ino);
  b.writeBigInt64LE(BigInt(off), 24);
  b.writeBigInt64LE(BigInt(len), 32);
  return b;
}

export function encodeNotifyInvalEntry(parent: number, name: string, flags = 0): Buffer {
  const nb = Buffer.from(name, 'utf8');
  const b = notifyBuffer(3, 16 + nb.length + 1);
  writeU64(b, 16, parent);
  b.writeUInt32LE(nb.length, 24);
  b.writeUInt32LE(flags >>> 0, 28);
  nb.copy(b, 32);
  return b;
}

export function encodeNotifyDelete(parent: number, child: number, name: string): Buffer {
  const nb = Buffer.from(name, 'utf8');
  const b = notifyBuffer(6, 24 + nb.length + 1);
  writeU64(b, 16, parent);
  writeU64(b, 24, child);
  b.writeUInt32LE(nb.length, 32);
  nb.copy(b, 40);
  return b;
}

export function encodeNotifyStore(nodeid: number, offset: number, data: Uint8Array): Buffer {
  const b = notifyBuffer(4, 24 + data.length);
  writeU64(b, 16, nodeid);
  writeU64(b, 24, offset);
  b.writeUInt32LE(data.length, 32);
  b.set(data, 40);
  return b;
}

export function encodeNotifyRetrieve(notifyUnique: number, nodeid: number, offset: number, size: number): Buffer {
  const b = notifyBuffer(5, 32);
  writeU64(b, 16, notifyUnique);
  writeU64(b, 24, nodeid);
  writeU64(b, 32, offset);
  b.writeUInt32LE(size >>> 0, 40);
  return b;
}

export function encodeNotifyPoll(kh: number): Buffer {
  const b = notifyBuffer(1, 8);
  writeU64(b, 16, kh);
  return b;
}

export function encodeNotifyPrune(nodeids: readonly number[]): Buffer {
  const b = notifyBuffer(9, 16 + nodeids.length * 8);
  b.writeUInt32LE(nodeids.length, 16);
  nodeids.forEach((id, i) => writeU64(b, 32 + i * 8, id));
  return b;
}

export function encodeNotifyBare(code: 7 | 8): Buffer {
  return notifyBuffer(code, 0);
}

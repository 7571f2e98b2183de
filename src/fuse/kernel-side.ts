/**
 * The kernel's half of the codec: typed request → bytes as the kernel
 * would send them on /dev/fuse, reply/notification bytes → typed values as
 * the kernel would read them. For round-trip tests of codec.ts and for
 * people writing FUSE conformance tests (feed `Session.handle()` requests,
 * parse what it writes back).
 *
 * Table-driven: each request struct is a field layout (name, type, offset);
 * names, data and extensions follow it. Struct sizes come from abi.ts and
 * compat sizes are chosen by the negotiated minor/flags exactly as
 * codec.ts's decodeRequest expects them. Readers and writers of shared
 * structs (fuse_attr, init_out, u64 helpers) are codec.ts's own.
 */
import {
  CompatSize, EXT_GROUPS, InitFlag, NAME_MAX, Notify, Op, OP_NAMES, Size, type OpName,
} from './abi.js';
import {
  decodeInitReply, direntPlusSize, direntSize, encodeAttr, encodeBmap, encodeCopyRange, encodeCreate, encodeData,
  encodeDirents, encodeDirentsPlus, encodeEmpty, encodeEntry, encodeError, encodeInit, encodeIoctl, encodeLock,
  encodeLseek, encodeOpen, encodePoll, encodeStatfs, encodeStatx, encodeWrite, encodeXattrSize, entryOutSize,
  readAttr, readU64, writeU64, type ArgsByOp, type InitReply, type Negotiated,
} from './codec.js';
import { DecodeError } from './errors.js';
import type {
  AttrReply, DirEntry, DirEntryPlus, Entry, FileLock, IoctlReply, Open, Statfs, Statx, StatxReply,
} from './types.js';

// ------------------------------------------------------------------ layouts

/**
 * u16/u32/i32: number; u64: number (readU64/writeU64); i64: signed number;
 * b64: bigint (lock owners, ioctl args, statx attribute masks).
 */
type FieldType = 'u16' | 'u32' | 'i32' | 'u64' | 'i64' | 'b64';
/** [property path (dots for nesting), type, offset] */
type Field = readonly [string, FieldType, number];
interface Layout { readonly size: number; readonly fields: readonly Field[] }

const L = (size: number, ...fields: Field[]): Layout => ({ size, fields });

function getPath(o: unknown, path: string): unknown {
  let v = o as Record<string, unknown> | undefined;
  for (const k of path.split('.')) v = v?.[k] as Record<string, unknown> | undefined;
  return v;
}

function setPath(o: Record<string, unknown>, path: string, v: unknown): void {
  const ks = path.split('.');
  let t = o;
  for (const k of ks.slice(0, -1)) t = (t[k] ??= {}) as Record<string, unknown>;
  t[ks[ks.length - 1]] = v;
}

function writeField(b: Buffer, p: number, t: FieldType, v: unknown): void {
  switch (t) {
    case 'u16': b.writeUInt16LE(Number(v ?? 0) & 0xffff, p); break;
    case 'u32': b.writeUInt32LE(Number(v ?? 0) >>> 0, p); break;
    case 'i32': b.writeInt32LE(Number(v ?? 0) | 0, p); break;
    case 'u64': case 'i64': writeU64(b, p, Number(v ?? 0)); break;
    case 'b64': b.writeBigUInt64LE(BigInt.asUintN(64, BigInt((v as bigint | number | undefined) ?? 0n)), p); break;
  }
}

function readField(b: Buffer, p: number, t: FieldType): number | bigint {
  switch (t) {
    case 'u16': return b.readUInt16LE(p);
    case 'u32': return b.readUInt32LE(p);
    case 'i32': return b.readInt32LE(p);
    case 'u64': return readU64(b, p);
    case 'i64': return Number(b.readBigInt64LE(p));
    case 'b64': return b.readBigUInt64LE(p);
  }
}

/** A zeroed struct with `v`'s fields written at their offsets. */
function pack(layout: Layout, v: unknown): Buffer {
  const b = Buffer.alloc(layout.size);
  for (const [path, t, off] of layout.fields) writeField(b, off, t, getPath(v, path));
  return b;
}

function unpack<T>(layout: Layout, b: Buffer, p: number): T {
  const o: Record<string, unknown> = {};
  for (const [path, t, off] of layout.fields) setPath(o, path, readField(b, p + off, t));
  return o as T;
}

const cstr = (s: string): Buffer => Buffer.from(s + '\0', 'utf8');

// -------------------------------------------------------- request structs

const In = {
  FORGET: L(Size.FORGET_IN, ['nlookup', 'u64', 0]),
  GETATTR: L(Size.GETATTR_IN, ['getattrFlags', 'u32', 0], ['fh', 'u64', 8]),
  SETATTR: L(Size.SETATTR_IN,
    ['valid', 'u32', 0], ['fh', 'u64', 8], ['size', 'u64', 16], ['lockOwner', 'b64', 24],
    ['atime', 'i64', 32], ['mtime', 'i64', 40], ['ctime', 'i64', 48],
    ['atimensec', 'u32', 56], ['mtimensec', 'u32', 60], ['ctimensec', 'u32', 64],
    ['mode', 'u32', 68], ['uid', 'u32', 76], ['gid', 'u32', 80]),
  MKNOD: L(Size.MKNOD_IN, ['mode', 'u32', 0], ['rdev', 'u32', 4], ['umask', 'u32', 8]),
  MKNOD_COMPAT: L(CompatSize.MKNOD_IN, ['mode', 'u32', 0], ['rdev', 'u32', 4]),
  MKDIR: L(Size.MKDIR_IN, ['mode', 'u32', 0], ['umask', 'u32', 4]),
  RENAME: L(Size.RENAME_IN, ['newdir', 'u64', 0]),
  RENAME2: L(Size.RENAME2_IN, ['newdir', 'u64', 0], ['flags', 'u32', 8]),
  LINK: L(Size.LINK_IN, ['oldnodeid', 'u64', 0]),
  OPEN: L(Size.OPEN_IN, ['flags', 'u32', 0], ['openFlags', 'u32', 4]),
  READ: L(Size.READ_IN,
    ['fh', 'u64', 0], ['offset', 'u64', 8], ['size', 'u32', 16], ['readFlags', 'u32', 20],
    ['lockOwner', 'b64', 24], ['flags', 'u32', 32]),
  WRITE: L(Size.WRITE_IN,
    ['fh', 'u64', 0], ['offset', 'u64', 8], ['size', 'u32', 16], ['writeFlags', 'u32', 20],
    ['lockOwner', 'b64', 24], ['flags', 'u32', 32]),
  WRITE_COMPAT: L(CompatSize.WRITE_IN, ['fh', 'u64', 0], ['offset', 'u64', 8], ['size', 'u32', 16], ['writeFlags', 'u32', 20]),
  RELEASE: L(Size.RELEASE_IN, ['fh', 'u64', 0], ['flags', 'u32', 8], ['releaseFlags', 'u32', 12], ['lockOwner', 'b64', 16]),
  FLUSH: L(Size.FLUSH_IN, ['fh', 'u64', 0], ['lockOwner', 'b64', 16]),
  FSYNC: L(Size.FSYNC_IN, ['fh', 'u64', 0], ['fsyncFlags', 'u32', 8]),
  SETXATTR: L(Size.SETXATTR_IN, ['size', 'u32', 0], ['flags', 'u32', 4], ['setxattrFlags', 'u32', 8]),
  SETXATTR_COMPAT: L(CompatSize.SETXATTR_IN, ['size', 'u32', 0], ['flags', 'u32', 4]),
  GETXATTR: L(Size.GETXATTR_IN, ['size', 'u32', 0]),
  INIT: L(Size.INIT_IN, ['major', 'u32', 0], ['minor', 'u32', 4], ['maxReadahead', 'u32', 8], ['flagsLo', 'u32', 12], ['flagsHi', 'u32', 16]),
  INIT_COMPAT: L(CompatSize.INIT_IN, ['major', 'u32', 0], ['minor', 'u32', 4], ['maxReadahead', 'u32', 8], ['flagsLo', 'u32', 12]),
  LK: L(Size.LK_IN,
    ['fh', 'u64', 0], ['owner', 'b64', 8], ['lk.start', 'u64', 16], ['lk.end', 'u64', 24],
    ['lk.type', 'u32', 32], ['lk.pid', 'u32', 36], ['lkFlags', 'u32', 40]),
  ACCESS: L(Size.ACCESS_IN, ['mask', 'u32', 0]),
  CREATE: L(Size.CREATE_IN, ['flags', 'u32', 0], ['mode', 'u32', 4], ['umask', 'u32', 8], ['openFlags', 'u32', 12]),
  CREATE_COMPAT: L(CompatSize.CREATE_IN, ['flags', 'u32', 0], ['mode', 'u32', 4]),
  INTERRUPT: L(Size.INTERRUPT_IN, ['unique', 'u64', 0]),
  BMAP: L(Size.BMAP_IN, ['block', 'u64', 0], ['blocksize', 'u32', 8]),
  IOCTL: L(Size.IOCTL_IN,
    ['fh', 'u64', 0], ['flags', 'u32', 8], ['cmd', 'u32', 12], ['arg', 'b64', 16], ['inSize', 'u32', 24], ['outSize', 'u32', 28]),
  POLL: L(Size.POLL_IN, ['fh', 'u64', 0], ['kh', 'u64', 8], ['flags', 'u32', 16], ['events', 'u32', 20]),
  NOTIFY_REPLY: L(Size.NOTIFY_RETRIEVE_IN, ['offset', 'u64', 8], ['size', 'u32', 16]),
  BATCH_FORGET: L(Size.BATCH_FORGET_IN, ['count', 'u32', 0]),
  FORGET_ONE: L(Size.FORGET_ONE, ['nodeid', 'u64', 0], ['nlookup', 'u64', 8]),
  FALLOCATE: L(Size.FALLOCATE_IN, ['fh', 'u64', 0], ['offset', 'u64', 8], ['length', 'u64', 16], ['mode', 'u32', 24]),
  LSEEK: L(Size.LSEEK_IN, ['fh', 'u64', 0], ['offset', 'u64', 8], ['whence', 'u32', 16]),
  COPY_FILE_RANGE: L(Size.COPY_FILE_RANGE_IN,
    ['fhIn', 'u64', 0], ['offIn', 'u64', 8], ['nodeidOut', 'u64', 16], ['fhOut', 'u64', 24],
    ['offOut', 'u64', 32], ['len', 'u64', 40], ['flags', 'u64', 48]),
  STATX: L(Size.STATX_IN, ['getattrFlags', 'u32', 0], ['fh', 'u64', 8], ['sxFlags', 'u32', 16], ['sxMask', 'u32', 20]),
  SYNCFS: L(Size.SYNCFS_IN),
} as const;

type ArgEncoder<K extends OpName> = (a: ArgsByOp[K], n: Negotiated) => Buffer[];

/** struct, then NUL-terminated strings taken from the named args */
const withNames = <K extends OpName>(layout: Layout | null, ...names: string[]): ArgEncoder<K> =>
  (a) => [...(layout ? [pack(layout, a)] : []), ...names.map((k) => cstr(String(getPath(a, k))))];
const nothing = (): Buffer[] => [];
const opaque = (a: { raw: Buffer }): Buffer[] => [a.raw];
const createLike: ArgEncoder<'CREATE' | 'TMPFILE'> = (a, n) => [pack(n.minor < 12 ? In.CREATE_COMPAT : In.CREATE, a), cstr(a.name)];

/** One encoder per opcode: the argument bytes after fuse_in_header (extensions excluded). */
const ENCODERS: { [K in OpName]: ArgEncoder<K> } = {
  LOOKUP: withNames(null, 'name'),
  FORGET: withNames(In.FORGET),
  GETATTR: (a, n) => (n.minor < 9 ? [] : [pack(In.GETATTR, a)]),
  SETATTR: withNames(In.SETATTR),
  READLINK: nothing,
  SYMLINK: withNames(null, 'name', 'target'),
  MKNOD: (a, n) => [pack(n.minor < 12 ? In.MKNOD_COMPAT : In.MKNOD, a), cstr(a.name)],
  MKDIR: withNames(In.MKDIR, 'name'),
  UNLINK: withNames(null, 'name'),
  RMDIR: withNames(null, 'name'),
  RENAME: withNames(In.RENAME, 'oldname', 'newname'),
  LINK: withNames(In.LINK, 'newname'),
  OPEN: withNames(In.OPEN),
  READ: withNames(In.READ),
  WRITE: (a, n) => [pack(n.minor < 9 ? In.WRITE_COMPAT : In.WRITE, a), a.data],
  STATFS: nothing,
  RELEASE: withNames(In.RELEASE),
  FSYNC: withNames(In.FSYNC),
  SETXATTR: (a, n) => [
    pack((n.flags & InitFlag.SETXATTR_EXT) !== 0n ? In.SETXATTR : In.SETXATTR_COMPAT, a), cstr(a.name), a.value,
  ],
  GETXATTR: withNames(In.GETXATTR, 'name'),
  LISTXATTR: withNames(In.GETXATTR),
  REMOVEXATTR: withNames(null, 'name'),
  FLUSH: withNames(In.FLUSH),
  // the struct a kernel of `minor` sends: 64 bytes (with flags2) from 7.36 on
  INIT: (a) => [pack(a.minor >= 36 ? In.INIT : In.INIT_COMPAT, {
    ...a, flagsLo: Number(a.flags & 0xffffffffn), flagsHi: Number((a.flags >> 32n) & 0xffffffffn),
  })],
  OPENDIR: withNames(In.OPEN),
  READDIR: withNames(In.READ),
  RELEASEDIR: withNames(In.RELEASE),
  FSYNCDIR: withNames(In.FSYNC),
  GETLK: withNames(In.LK),
  SETLK: withNames(In.LK),
  SETLKW: withNames(In.LK),
  ACCESS: withNames(In.ACCESS),
  CREATE: createLike,
  INTERRUPT: withNames(In.INTERRUPT),
  BMAP: withNames(In.BMAP),
  DESTROY: nothing,
  IOCTL: (a) => [pack(In.IOCTL, a), a.data],
  POLL: withNames(In.POLL),
  NOTIFY_REPLY: (a) => [pack(In.NOTIFY_REPLY, a), a.data],
  BATCH_FORGET: (a) => [pack(In.BATCH_FORGET, { count: a.forgets.length }), ...a.forgets.map((f) => pack(In.FORGET_ONE, f))],
  FALLOCATE: withNames(In.FALLOCATE),
  READDIRPLUS: withNames(In.READ),
  RENAME2: withNames(In.RENAME2, 'oldname', 'newname'),
  LSEEK: withNames(In.LSEEK),
  COPY_FILE_RANGE: withNames(In.COPY_FILE_RANGE),
  SETUPMAPPING: opaque,
  REMOVEMAPPING: opaque,
  SYNCFS: () => [pack(In.SYNCFS, {})],
  TMPFILE: createLike,
  STATX: withNames(In.STATX),
  COPY_FILE_RANGE_64: withNames(In.COPY_FILE_RANGE),
  CUSE_INIT: opaque,
};

/** What encodeRequest takes: a decoded Request, or the same fields built by hand. */
export type RequestInit<K extends OpName = OpName> = {
  [P in K]: {
    /** op name; may be left out when `opcode` is given */
    op?: P;
    opcode?: number;
    unique: number;
    nodeid: number;
    uid?: number;
    gid?: number;
    pid?: number;
    args: ArgsByOp[P];
    /** raw request extensions (a multiple of 8 bytes); wins over `groups` */
    ext?: Buffer | null;
    /** supplementary groups, sent as a FUSE_EXT_GROUPS extension */
    groups?: number[];
  };
}[K];

/** A FUSE_EXT_GROUPS extension: fuse_ext_header + fuse_supp_groups, padded to 8 bytes. */
export function encodeGroupsExt(groups: readonly number[]): Buffer {
  const size = (8 + 4 + groups.length * 4 + 7) & ~7;
  const b = Buffer.alloc(size);
  b.writeUInt32LE(size, 0);
  b.writeUInt32LE(EXT_GROUPS, 4);
  b.writeUInt32LE(groups.length, 8);
  groups.forEach((g, i) => b.writeUInt32LE(g >>> 0, 12 + i * 4));
  return b;
}

/** The bytes the kernel would write to /dev/fuse for this request (header, args, extensions). */
export function encodeRequest(req: RequestInit, neg: Negotiated): Buffer {
  const op: OpName | undefined = req.op ?? (req.opcode !== undefined ? OP_NAMES[req.opcode] : undefined);
  if (!op) throw new TypeError(`encodeRequest: unknown op ${req.op ?? req.opcode}`);
  const opcode = req.opcode ?? Op[op];
  const parts = (ENCODERS[op] as ArgEncoder<OpName>)(req.args as ArgsByOp[OpName], neg);
  const ext = req.ext ?? (req.groups ? encodeGroupsExt(req.groups) : null);
  if (ext && ext.length % 8 !== 0) throw new TypeError(`encodeRequest: extensions must be a multiple of 8 bytes, got ${ext.length}`);
  const hdr = Buffer.alloc(Size.IN_HEADER);
  const all = [hdr, ...parts, ...(ext ? [ext] : [])];
  const len = all.reduce((s, b) => s + b.length, 0);
  hdr.writeUInt32LE(len, 0);
  hdr.writeUInt32LE(opcode, 4);
  writeU64(hdr, 8, req.unique);
  writeU64(hdr, 16, req.nodeid);
  hdr.writeUInt32LE((req.uid ?? 0) >>> 0, 24);
  hdr.writeUInt32LE((req.gid ?? 0) >>> 0, 28);
  hdr.writeUInt32LE((req.pid ?? 0) >>> 0, 32);
  hdr.writeUInt16LE(ext ? ext.length / 8 : 0, 36);
  return Buffer.concat(all, len);
}

// ---------------------------------------------------------------- replies

/** How the kernel reads the reply to each op. */
export type ReplyKind =
  | 'none' | 'empty' | 'entry' | 'attr' | 'open' | 'create' | 'write' | 'statfs' | 'xattrSize' | 'data'
  | 'lock' | 'bmap' | 'lseek' | 'copyRange' | 'copyRange64' | 'poll' | 'ioctl' | 'statx' | 'dirents'
  | 'direntsPlus' | 'init';

/** The decoded payload of each reply kind (the inputs of codec.ts's encoders). */
export interface ReplyValues {
  none: never;
  empty: null;
  entry: Entry;
  attr: AttrReply;
  open: Required<Open>;
  create: { entry: Entry; open: Required<Open> };
  /** bytes written */
  write: number;
  statfs: Statfs;
  /** GETXATTR/LISTXATTR size probe: the size the value needs */
  xattrSize: number;
  data: Buffer;
  lock: FileLock;
  bmap: number;
  lseek: number;
  /** bytes copied (fuse_write_out) */
  copyRange: number;
  /** bytes copied (fuse_copy_file_range_out) */
  copyRange64: number;
  /** revents */
  poll: number;
  ioctl: Required<IoctlReply>;
  statx: StatxReply;
  dirents: DirEntry[];
  direntsPlus: DirEntryPlus[];
  init: InitReply;
}

export const REPLY_KIND: { readonly [K in OpName]: ReplyKind } = {
  LOOKUP: 'entry', FORGET: 'none', GETATTR: 'attr', SETATTR: 'attr', READLINK: 'data', SYMLINK: 'entry',
  MKNOD: 'entry', MKDIR: 'entry', UNLINK: 'empty', RMDIR: 'empty', RENAME: 'empty', LINK: 'entry',
  OPEN: 'open', READ: 'data', WRITE: 'write', STATFS: 'statfs', RELEASE: 'empty', FSYNC: 'empty',
  SETXATTR: 'empty', GETXATTR: 'data', LISTXATTR: 'data', REMOVEXATTR: 'empty', FLUSH: 'empty',
  INIT: 'init', OPENDIR: 'open', READDIR: 'dirents', RELEASEDIR: 'empty', FSYNCDIR: 'empty',
  GETLK: 'lock', SETLK: 'empty', SETLKW: 'empty', ACCESS: 'empty', CREATE: 'create', INTERRUPT: 'none',
  BMAP: 'bmap', DESTROY: 'empty', IOCTL: 'ioctl', POLL: 'poll', NOTIFY_REPLY: 'none', BATCH_FORGET: 'none',
  FALLOCATE: 'empty', READDIRPLUS: 'direntsPlus', RENAME2: 'empty', LSEEK: 'lseek',
  COPY_FILE_RANGE: 'copyRange', SETUPMAPPING: 'empty', REMOVEMAPPING: 'empty', SYNCFS: 'empty',
  TMPFILE: 'create', STATX: 'statx', COPY_FILE_RANGE_64: 'copyRange64', CUSE_INIT: 'data',
};

/** The reply kind of a request; GETXATTR/LISTXATTR with size 0 are size probes. */
export function replyKindOf(op: OpName, args?: unknown): ReplyKind {
  if ((op === 'GETXATTR' || op === 'LISTXATTR') && (args as { size?: number } | undefined)?.size === 0) return 'xattrSize';
  return REPLY_KIND[op];
}

export interface ReplyHeader { len: number; error: number; unique: number }

export type DecodedReply = ReplyHeader & (
  | { [K in ReplyKind]: { kind: K; value: ReplyValues[K] } }[ReplyKind]
  | { kind: 'error'; value: null }
);

/** fixed-size reply structs */
const Out = {
  OPEN: L(Size.OPEN_OUT, ['fh', 'u64', 0], ['openFlags', 'u32', 8], ['backingId', 'i32', 12]),
  U32: L(4, ['v', 'u32', 0]),
  U64: L(8, ['v', 'u64', 0]),
  STATFS: L(Size.STATFS_OUT,
    ['blocks', 'u64', 0], ['bfree', 'u64', 8], ['bavail', 'u64', 16], ['files', 'u64', 24], ['ffree', 'u64', 32],
    ['bsize', 'u32', 40], ['namelen', 'u32', 44], ['frsize', 'u32', 48]),
  LK: L(Size.LK_OUT, ['start', 'u64', 0], ['end', 'u64', 8], ['type', 'u32', 16], ['pid', 'u32', 20]),
  IOCTL: L(Size.IOCTL_OUT, ['result', 'i32', 0], ['flags', 'u32', 4], ['inIovs', 'u32', 8], ['outIovs', 'u32', 12]),
  STATX_HEAD: L(32, ['attrValid', 'u64', 0], ['attrValidNsec', 'u32', 8], ['flags', 'u32', 12]),
  STATX: L(Size.STATX,
    ['mask', 'u32', 0], ['blksize', 'u32', 4], ['attributes', 'b64', 8], ['nlink', 'u32', 16], ['uid', 'u32', 20],
    ['gid', 'u32', 24], ['mode', 'u16', 28], ['ino', 'u64', 32], ['size', 'u64', 40], ['blocks', 'u64', 48],
    ['attributesMask', 'b64', 56],
    ['atime.sec', 'i64', 64], ['atime.nsec', 'u32', 72], ['btime.sec', 'i64', 80], ['btime.nsec', 'u32', 88],
    ['ctime.sec', 'i64', 96], ['ctime.nsec', 'u32', 104], ['mtime.sec', 'i64', 112], ['mtime.nsec', 'u32', 120],
    ['rdevMajor', 'u32', 128], ['rdevMinor', 'u32', 132], ['devMajor', 'u32', 136], ['devMinor', 'u32', 140]),
  DIRENT: L(Size.DIRENT_BASE, ['ino', 'u64', 0], ['off', 'u64', 8], ['namelen', 'u32', 16], ['type', 'u32', 20]),
} as const;

/** seconds + nanoseconds → the fractional seconds the Entry/AttrReply types carry */
const secs = (s: number, ns: number): number => s + ns / 1e9;

/** fuse_entry_out at p (attr truncated to what fits for minor < 9) */
export function readEntry(b: Buffer, p: number, minor: number): Entry {
  let attrBytes = b;
  let ap = p + 40;
  if (minor < 9) { // compat entry_out: the attr's last 8 bytes are missing
    attrBytes = Buffer.alloc(Size.ATTR);
    b.copy(attrBytes, 0, p + 40, p + CompatSize.ENTRY_OUT);
    ap = 0;
  }
  return {
    nodeid: readU64(b, p), generation: readU64(b, p + 8),
    entryValid: secs(readU64(b, p + 16), b.readUInt32LE(p + 32)),
    attrValid: secs(readU64(b, p + 24), b.readUInt32LE(p + 36)),
    attr: readAttr(attrBytes, ap),
  };
}

function readOpen(b: Buffer, p: number): Required<Open> {
  return unpack<Required<Open>>(Out.OPEN, b, p);
}

type KindDecoder<K extends ReplyKind> = (body: Buffer, n: Negotiated, reqSize: number | undefined) => ReplyValues[K];

function exact(body: Buffer, size: number, what: string): void {
  if (body.length !== size) throw new DecodeError(`${what} reply: ${body.length} bytes, expected ${size}`);
}

function atMost(body: Buffer, max: number | undefined, what: string): void {
  if (max !== undefined && body.length > max) throw new DecodeError(`${what} reply: ${body.length} bytes, more than the ${max} asked for`);
}

const scalar = (layout: Layout, what: string) => (body: Buffer): number => {
  exact(body, layout.size, what);
  return unpack<{ v: number }>(layout, body, 0).v;
};

function readDirents<T>(body: Buffer, base: number, what: string, one: (p: number, d: DirEntry) => T): T[] {
  const out: T[] = [];
  for (let p = 0; p < body.length;) {
    if (p + base > body.length) throw new DecodeError(`${what}: record at ${p} truncated`);
    const q = p + base - Size.DIRENT_BASE;
    const { ino, off, namelen, type } = unpack<DirEntry & { namelen: number }>(Out.DIRENT, body, q);
    if (namelen === 0 || namelen > NAME_MAX) throw new DecodeError(`${what}: bad name length ${namelen} at ${p}`);
    const reclen = (base + namelen + 7) & ~7;
    if (p + reclen > body.length) throw new DecodeError(`${what}: record at ${p} overruns the reply`);
    const nameBytes = body.subarray(q + Size.DIRENT_BASE, q + Size.DIRENT_BASE + namelen);
    if (nameBytes.includes(0x2f) || nameBytes.includes(0)) throw new DecodeError(`${what}: name with '/' or NUL at ${p}`);
    out.push(one(p, { ino, off, type, name: nameBytes.toString('utf8') }));
    p += reclen;
  }
  return out;
}

const KIND_DECODERS: { [K in ReplyKind]: KindDecoder<K> } = {
  none: () => { throw new DecodeError('this op has no reply'); },
  empty: (body) => { exact(body, 0, 'empty'); return null; },
  entry: (body, n) => { exact(body, entryOutSize(n.minor), 'entry'); return readEntry(body, 0, n.minor); },
  attr: (body, n) => {
    const old = n.minor < 9;
    exact(body, old ? CompatSize.ATTR_OUT : Size.ATTR_OUT, 'attr');
    let a = body;
    if (old) { a = Buffer.alloc(Size.ATTR_OUT); body.copy(a); }
    return { attrValid: secs(readU64(a, 0), a.readUInt32LE(8)), attr: readAttr(a, 16) };
  },
  open: (body) => { exact(body, Size.OPEN_OUT, 'open'); return readOpen(body, 0); },
  create: (body, n) => {
    const es = entryOutSize(n.minor);
    exact(body, es + Size.OPEN_OUT, 'create');
    return { entry: readEntry(body, 0, n.minor), open: readOpen(body, es) };
  },
  write: scalar(L(Size.WRITE_OUT, ['v', 'u32', 0]), 'write'),
  statfs: (body, n) => {
    const old = n.minor < 4;
    exact(body, old ? CompatSize.STATFS_OUT : Size.STATFS_OUT, 'statfs');
    const s = unpack<Statfs>(Out.STATFS, old ? Buffer.concat([body, Buffer.alloc(Size.STATFS_OUT - body.length)]) : body, 0);
    return s;
  },
  xattrSize: scalar(L(Size.GETXATTR_OUT, ['v', 'u32', 0]), 'xattr size'),
  data: (body, _n, max) => { atMost(body, max, 'data'); return body; },
  lock: (body) => { exact(body, Size.LK_OUT, 'lock'); return unpack<FileLock>(Out.LK, body, 0); },
  bmap: scalar(L(Size.BMAP_OUT, ['v', 'u64', 0]), 'bmap'),
  lseek: scalar(L(Size.LSEEK_OUT, ['v', 'u64', 0]), 'lseek'),
  copyRange: scalar(L(Size.WRITE_OUT, ['v', 'u32', 0]), 'copy_file_range'),
  copyRange64: scalar(L(Size.COPY_FILE_RANGE_OUT, ['v', 'u64', 0]), 'copy_file_range_64'),
  poll: scalar(L(Size.POLL_OUT, ['v', 'u32', 0]), 'poll'),
  ioctl: (body) => {
    if (body.length < Size.IOCTL_OUT) throw new DecodeError(`ioctl reply: ${body.length} bytes, needs ${Size.IOCTL_OUT}`);
    return { ...unpack<Omit<Required<IoctlReply>, 'data'>>(Out.IOCTL, body, 0), data: body.subarray(Size.IOCTL_OUT) };
  },
  statx: (body) => {
    exact(body, Size.STATX_OUT, 'statx');
    const h = unpack<{ attrValid: number; attrValidNsec: number; flags: number }>(Out.STATX_HEAD, body, 0);
    return { attrValid: secs(h.attrValid, h.attrValidNsec), flags: h.flags, statx: unpack<Statx>(Out.STATX, body, 32) };
  },
  dirents: (body, _n, max) => {
    atMost(body, max, 'readdir');
    return readDirents(body, Size.DIRENT_BASE, 'readdir', (_p, d) => d);
  },
  direntsPlus: (body, _n, max) => {
    atMost(body, max, 'readdirplus');
    return readDirents(body, Size.DIRENTPLUS_BASE, 'readdirplus', (p, d) => ({ ...d, entry: readEntry(body, p, 9) }));
  },
  init: (body) => {
    if (body.length < CompatSize.INIT_OUT_5 || body.length > Size.INIT_OUT) {
      throw new DecodeError(`init reply: ${body.length} bytes, expected ${CompatSize.INIT_OUT_5}..${Size.INIT_OUT}`);
    }
    const b = Buffer.alloc(Size.OUT_HEADER + body.length);
    body.copy(b, Size.OUT_HEADER);
    return decodeInitReply(b);
  },
};

/** Reads and checks fuse_out_header the way the kernel does (fuse_dev_do_write). */
function readOutHeader(bytes: Buffer): ReplyHeader {
  if (bytes.length < Size.OUT_HEADER) throw new DecodeError(`reply truncated: ${bytes.length} bytes, header needs ${Size.OUT_HEADER}`);
  const h = { len: bytes.readUInt32LE(0), error: bytes.readInt32LE(4), unique: readU64(bytes, 8) };
  if (h.len !== bytes.length) throw new DecodeError(`reply length ${h.len} does not match the ${bytes.length} bytes written`);
  return h;
}

/**
 * Parses one reply as the kernel would for a request of `op` (or of an
 * explicit reply kind). Pass the request (decoded or RequestInit) when the
 * kind or the largest allowed size depends on it: GETXATTR/LISTXATTR with
 * size 0 expect a size probe answer; READ/READDIR/xattr data must fit the
 * size asked for. Throws DecodeError for anything the kernel would refuse
 * (EINVAL) or misread.
 */
export function decodeReply(op: OpName | ReplyKind, bytes: Buffer, neg: Negotiated, req?: { args: unknown }): DecodedReply {
  const h = readOutHeader(bytes);
  if (h.unique === 0) throw new DecodeError('unique 0: a notification, not a reply (use decodeNotification)');
  const kind: ReplyKind = Object.hasOwn(REPLY_KIND, op) ? replyKindOf(op as OpName, req?.args) : (op as ReplyKind);
  if (!Object.hasOwn(KIND_DECODERS, kind)) throw new TypeError(`decodeReply: unknown op or reply kind ${op}`);
  if (kind === 'none') throw new DecodeError(`${op} takes no reply`);
  if (h.error !== 0) {
    if (h.error > 0 || h.error <= -512) throw new DecodeError(`reply error ${h.error} out of range (-511..-1)`);
    if (h.len !== Size.OUT_HEADER) throw new DecodeError(`error reply with ${h.len - Size.OUT_HEADER} payload bytes`);
    return { ...h, kind: 'error', value: null };
  }
  const max = (req?.args as { size?: unknown } | undefined)?.size;
  const value = (KIND_DECODERS[kind] as KindDecoder<ReplyKind>)(
    bytes.subarray(Size.OUT_HEADER), neg, kind === 'data' || kind === 'dirents' || kind === 'direntsPlus' ? max as number | undefined : undefined,
  );
  return { ...h, kind, value } as DecodedReply;
}

/** The inverse of decodeReply, through codec.ts's reply encoders (what a daemon would write). */
export function encodeReply(r: DecodedReply, neg: Negotiated): Buffer {
  const u = r.unique;
  switch (r.kind) {
    case 'error': return encodeError(u, r.error);
    case 'none': throw new TypeError('no reply to encode');
    case 'empty': return encodeEmpty(u);
    case 'entry': return encodeEntry(u, r.value, neg.minor);
    case 'attr': return encodeAttr(u, r.value, neg.minor);
    case 'open': return encodeOpen(u, r.value);
    case 'create': return encodeCreate(u, r.value.entry, r.value.open, neg.minor);
    case 'write': return encodeWrite(u, r.value);
    case 'statfs': return encodeStatfs(u, r.value, neg.minor);
    case 'xattrSize': return encodeXattrSize(u, r.value);
    case 'data': return encodeData(u, r.value);
    case 'lock': return encodeLock(u, r.value);
    case 'bmap': return encodeBmap(u, r.value);
    case 'lseek': return encodeLseek(u, r.value);
    case 'copyRange': return encodeCopyRange(u, r.value, false);
    case 'copyRange64': return encodeCopyRange(u, r.value, true);
    case 'poll': return encodePoll(u, r.value);
    case 'ioctl': return encodeIoctl(u, r.value);
    case 'statx': return encodeStatx(u, r.value);
    case 'dirents': {
      const max = r.value.reduce((s, e) => s + direntSize(Buffer.byteLength(e.name)), 0);
      return encodeDirents(u, r.value, max).reply;
    }
    case 'direntsPlus': {
      const max = r.value.reduce((s, e) => s + direntPlusSize(Buffer.byteLength(e.name)), 0);
      return encodeDirentsPlus(u, r.value, max, neg.minor).reply;
    }
    case 'init': return encodeInit(u, r.value);
  }
}

// ---------------------------------------------------------- notifications

export type NotifyName = keyof typeof Notify;

export interface NotificationValues {
  POLL: { kh: number };
  /** off < 0: attributes only; len 0: to the end */
  INVAL_INODE: { ino: number; off: number; len: number };
  INVAL_ENTRY: { parent: number; flags: number; name: string };
  STORE: { nodeid: number; offset: number; data: Buffer };
  RETRIEVE: { notifyUnique: number; nodeid: number; offset: number; size: number };
  DELETE: { parent: number; child: number; name: string };
  RESEND: Record<string, never>;
  INC_EPOCH: Record<string, never>;
  PRUNE: { nodeids: number[] };
}

export type Notification = { [K in NotifyName]: { code: (typeof Notify)[K]; kind: K } & NotificationValues[K] }[NotifyName];

const NOTIFY_NAMES = Object.fromEntries(Object.entries(Notify).map(([k, v]) => [v, k])) as Record<number, NotifyName>;

/** A name of `namelen` bytes followed by a NUL, ending the notification exactly. */
function notifyName(body: Buffer, at: number, namelen: number, what: string): string {
  if (namelen > NAME_MAX) throw new DecodeError(`${what}: name length ${namelen} > ${NAME_MAX}`);
  if (body.length !== at + namelen + 1) throw new DecodeError(`${what}: ${body.length} bytes, expected ${at + namelen + 1}`);
  if (body[at + namelen] !== 0) throw new DecodeError(`${what}: name not NUL-terminated`);
  return body.toString('utf8', at, at + namelen);
}

const NOTIFY_DECODERS: { [K in NotifyName]: (body: Buffer) => NotificationValues[K] } = {
  POLL: (b) => { exact(b, 8, 'notify POLL'); return { kh: readU64(b, 0) }; },
  INVAL_INODE: (b) => {
    exact(b, 24, 'notify INVAL_INODE');
    return unpack(L(24, ['ino', 'u64', 0], ['off', 'i64', 8], ['len', 'i64', 16]), b, 0);
  },
  INVAL_ENTRY: (b) => {
    if (b.length < 16) throw new DecodeError(`notify INVAL_ENTRY: ${b.length} bytes, needs 16`);
    return { parent: readU64(b, 0), flags: b.readUInt32LE(12), name: notifyName(b, 16, b.readUInt32LE(8), 'notify INVAL_ENTRY') };
  },
  STORE: (b) => {
    if (b.length < 24) throw new DecodeError(`notify STORE: ${b.length} bytes, needs 24`);
    const size = b.readUInt32LE(16);
    if (b.length - 24 !== size) throw new DecodeError(`notify STORE: ${b.length - 24} data bytes, header says ${size}`);
    return { nodeid: readU64(b, 0), offset: readU64(b, 8), data: b.subarray(24) };
  },
  RETRIEVE: (b) => {
    exact(b, 32, 'notify RETRIEVE');
    return unpack(L(32, ['notifyUnique', 'u64', 0], ['nodeid', 'u64', 8], ['offset', 'u64', 16], ['size', 'u32', 24]), b, 0);
  },
  DELETE: (b) => {
    if (b.length < 24) throw new DecodeError(`notify DELETE: ${b.length} bytes, needs 24`);
    return { parent: readU64(b, 0), child: readU64(b, 8), name: notifyName(b, 24, b.readUInt32LE(16), 'notify DELETE') };
  },
  RESEND: (b) => { exact(b, 0, 'notify RESEND'); return {}; },
  INC_EPOCH: (b) => { exact(b, 0, 'notify INC_EPOCH'); return {}; },
  PRUNE: (b) => {
    if (b.length < 16) throw new DecodeError(`notify PRUNE: ${b.length} bytes, needs 16`);
    const count = b.readUInt32LE(0);
    if (b.length !== 16 + count * 8) throw new DecodeError(`notify PRUNE: ${b.length} bytes for ${count} node ids`);
    return { nodeids: Array.from({ length: count }, (_, i) => readU64(b, 16 + i * 8)) };
  },
};

/** Parses a notification (unique 0, error = positive notify code) as the kernel would. */
export function decodeNotification(bytes: Buffer): Notification {
  const h = readOutHeader(bytes);
  if (h.unique !== 0) throw new DecodeError(`unique ${h.unique}: a reply, not a notification`);
  const kind = NOTIFY_NAMES[h.error];
  if (!kind) throw new DecodeError(`unknown notification code ${h.error}`);
  const v = NOTIFY_DECODERS[kind](bytes.subarray(Size.OUT_HEADER));
  return { code: h.error, kind, ...v } as Notification;
}

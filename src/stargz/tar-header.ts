/**
 * Tar headers for the blobs we write: ustar, preceded by a pax header when
 * something does not fit (long names or link targets, large sizes or ids,
 * xattrs as SCHILY.xattr.*, with binary values kept). Deterministic: the
 * same entry always gives the same bytes.
 */

export type TarType = 'file' | 'directory' | 'symlink' | 'link' | 'character-device' | 'block-device' | 'fifo';

export interface TarMeta {
  /** path without a leading './' or '/'; directories without the trailing '/' */
  name: string;
  type: TarType;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** seconds since the epoch */
  mtime: number;
  linkname?: string;
  uname?: string;
  gname?: string;
  devmajor?: number;
  devminor?: number;
  xattrs?: Map<string, Buffer>;
}

const FLAG: Record<TarType, string> = {
  file: '0', link: '1', symlink: '2', 'character-device': '3', 'block-device': '4', directory: '5', fifo: '6',
};

const MAX_OCTAL_8 = 0o7777777, MAX_OCTAL_12 = 0o77777777777;

function field(b: Buffer, at: number, len: number, s: string | Buffer): void {
  const v = typeof s === 'string' ? Buffer.from(s) : s;
  v.copy(b, at, 0, Math.min(len, v.length));
}

function octal(b: Buffer, at: number, len: number, n: number): void {
  field(b, at, len, n.toString(8).padStart(len - 1, '0') + '\0');
}

/** One 512-byte ustar header (the caller made sure everything fits). */
function ustar(name: string, prefix: string, m: TarMeta, flag: string, size: number): Buffer {
  const b = Buffer.alloc(512);
  field(b, 0, 100, name);
  octal(b, 100, 8, m.mode & 0o7777);
  octal(b, 108, 8, Math.min(m.uid, MAX_OCTAL_8));
  octal(b, 116, 8, Math.min(m.gid, MAX_OCTAL_8));
  octal(b, 124, 12, Math.min(size, MAX_OCTAL_12));
  octal(b, 136, 12, Math.min(Math.max(0, m.mtime), MAX_OCTAL_12));
  b.fill(0x20, 148, 156);
  b.write(flag, 156, 'latin1');
  if (m.linkname && Buffer.byteLength(m.linkname) <= 100) field(b, 157, 100, m.linkname);
  b.write('ustar\0' + '00', 257, 'latin1');
  field(b, 265, 32, m.uname ?? '');
  field(b, 297, 32, m.gname ?? '');
  octal(b, 329, 8, m.devmajor ?? 0);
  octal(b, 337, 8, m.devminor ?? 0);
  field(b, 345, 155, prefix);
  let sum = 0;
  for (const x of b) sum += x;
  field(b, 148, 8, sum.toString(8).padStart(6, '0') + '\0 ');
  return b;
}

function paxRecord(key: string, value: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`), value, Buffer.from('\n')]);
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return Buffer.concat([Buffer.from(String(len)), body]);
}

/** Splits a long name into ustar prefix + name when it can. */
function split(full: string): [string, string] | undefined {
  if (Buffer.byteLength(full) <= 100) return ['', full];
  for (let i = full.indexOf('/'); i >= 0; i = full.indexOf('/', i + 1)) {
    const prefix = full.slice(0, i), name = full.slice(i + 1);
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(name) <= 100 && name) return [prefix, name];
  }
  return undefined;
}

const pad512 = (n: number) => (512 - (n % 512)) % 512;

/** The header bytes (pax + ustar) of an entry; its data follows, padded to 512. */
export function encodeHeader(m: TarMeta): Buffer {
  const full = m.type === 'directory' ? `${m.name}/` : m.name;
  const size = m.type === 'file' ? m.size : 0;
  const records: Buffer[] = [];
  const parts = split(full);
  if (!parts) records.push(paxRecord('path', Buffer.from(full)));
  if (m.linkname && Buffer.byteLength(m.linkname) > 100) records.push(paxRecord('linkpath', Buffer.from(m.linkname)));
  if (size > MAX_OCTAL_12) records.push(paxRecord('size', Buffer.from(String(size))));
  if (m.uid > MAX_OCTAL_8) records.push(paxRecord('uid', Buffer.from(String(m.uid))));
  if (m.gid > MAX_OCTAL_8) records.push(paxRecord('gid', Buffer.from(String(m.gid))));
  for (const [k, v] of [...(m.xattrs ?? [])].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) records.push(paxRecord(`SCHILY.xattr.${k}`, v));
  const [prefix, name] = parts ?? ['', full.slice(-100)];
  const main = ustar(name, prefix, m, FLAG[m.type], size);
  if (!records.length) return main;
  const pax = Buffer.concat(records);
  const base = full.replace(/\/$/, '').split('/').pop() ?? '';
  const paxHdr = ustar(`PaxHeaders.0/${base}`.slice(0, 100), '', { ...m, linkname: undefined }, 'x', pax.length);
  return Buffer.concat([paxHdr, pax, Buffer.alloc(pad512(pax.length)), main]);
}

export { pad512 };

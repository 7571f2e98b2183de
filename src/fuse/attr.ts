/** Helpers to build protocol attributes from Node's stats. */
import type { BigIntStats } from 'node:fs';
import type { Attr, Statx } from './types.js';

const NS = 1_000_000_000n;

function split(ns: bigint): [number, number] {
  let s = ns / NS, n = ns % NS;
  if (n < 0n) { n += NS; s -= 1n; }
  return [Number(s), Number(n)];
}

/** fuse_attr from bigint stats (nanosecond times kept exactly). */
export function attrFromStats(st: BigIntStats, ino = Number(st.ino)): Attr {
  const [atime, atimensec] = split(st.atimeNs);
  const [mtime, mtimensec] = split(st.mtimeNs);
  const [ctime, ctimensec] = split(st.ctimeNs);
  return {
    ino, size: Number(st.size), blocks: Number(st.blocks),
    atime, atimensec, mtime, mtimensec, ctime, ctimensec,
    mode: Number(st.mode), nlink: Number(st.nlink), uid: Number(st.uid), gid: Number(st.gid),
    rdev: Number(st.rdev), blksize: Number(st.blksize),
  };
}

/** The 32-bit dev_t the kernel's fuse_attr carries (new_encode_dev: 12-bit major, 20-bit minor). */
export function encodeDev(major: number, minor: number): number {
  return ((minor & 0xff) | ((major & 0xfff) << 8) | ((minor & ~0xff) << 12)) >>> 0;
}

export function devMajor(rdev: number): number {
  return (rdev & 0xfff00) >>> 8;
}

export function devMinor(rdev: number): number {
  return (rdev & 0xff) | ((rdev >>> 12) & 0xfff00);
}

const STATX_BASIC_STATS = 0x7ff;
const STATX_BTIME = 0x800;

/** statx reply fields from bigint stats (btime from birthtime). */
export function statxFromStats(st: BigIntStats, ino = Number(st.ino)): Statx {
  const t = (ns: bigint) => { const [sec, nsec] = split(ns); return { sec, nsec }; };
  const rdev = Number(st.rdev), dev = Number(st.dev);
  return {
    mask: STATX_BASIC_STATS | (st.birthtimeNs > 0n ? STATX_BTIME : 0), blksize: Number(st.blksize), attributes: 0n,
    nlink: Number(st.nlink), uid: Number(st.uid), gid: Number(st.gid), mode: Number(st.mode),
    ino, size: Number(st.size), blocks: Number(st.blocks), attributesMask: 0n,
    atime: t(st.atimeNs), btime: t(st.birthtimeNs), ctime: t(st.ctimeNs), mtime: t(st.mtimeNs),
    rdevMajor: devMajor(rdev), rdevMinor: devMinor(rdev), devMajor: devMajor(dev), devMinor: devMinor(dev),
  };
}

/** DT_* type from a mode. */
export function dtype(mode: number): number {
  return (mode & 0o170000) >>> 12;
}

/** Now as [seconds, nanoseconds]. */
export function nowTime(): [number, number] {
  const ms = Date.now();
  return [Math.floor(ms / 1000), (ms % 1000) * 1_000_000];
}

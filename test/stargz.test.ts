/**
 * Lazy layers from seekable blobs, on real mounts: blobs we build verify
 * with the upstream Go estargz reader and blobs it builds (gzip and
 * zstd:chunked) mount with ours; every file of a mounted blob equals the
 * source tree; TOC digests are checked; a corrupt chunk is EIO, never
 * wrong bytes; bad blobs and bad TOCs fail the mount with one line.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import * as zlib from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { isMounted, ROOT, sh, shr, tempDir, waitFor } from './helpers.js';
import { ovl, ovlFails } from './ovl-mount.js';

const TSFUSE = join(ROOT, 'bin/tsfuse');
const FIX = join(ROOT, 'test/fixtures');
const b64 = (p: string) => Buffer.from(p).toString('base64url');
const layerOf = (source: string) => `//stargz/${b64(source)}/`;
const work = tempDir('tsfuse-sgz-');
let GO = '';

beforeAll(() => {
  // the reference: stargz-snapshotter's estargz package (Debian), built in GOPATH mode
  GO = join(work, 'estargz-ref');
  sh(`cd ${FIX}/estargz-ref && GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE=${work}/gocache go build -o ${GO} .`);
}, 120_000);

function tsfuse(args: string[]): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [TSFUSE, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function build(input: string, out: string, extra: string[] = []): { blobDigest: string; tocDigest: string; diffID: string } {
  const r = tsfuse(['stargz', 'build', input, out, '--json', ...extra]);
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return JSON.parse(r.stdout);
}

/** A tree like a small root filesystem: sizes around chunk boundaries, links, xattrs, specials, a whiteout. */
function makeTree(dir: string): void {
  fs.mkdirSync(dir, { recursive: true });
  sh(`cd ${dir} && mkdir -p bin etc/ssl usr/lib/deep/er/still && echo root:x:0:0 > etc/passwd && printf '' > etc/empty &&
    head -c 65536 /dev/urandom > usr/lib/exact64k && head -c 65537 /dev/urandom > usr/lib/over64k && head -c 1000000 /dev/urandom > usr/lib/big &&
    cp /bin/busybox bin/busybox 2>/dev/null || head -c 900000 /dev/urandom > bin/busybox; ln -s busybox bin/sh && ln usr/lib/big usr/lib/big.hard &&
    setfattr -n user.purpose -v testing etc/passwd && mkfifo usr/fifo && chmod 4755 bin/busybox && chown 12:34 etc/ssl &&
    echo deep > usr/lib/deep/er/still/file && touch .wh.removed && ln -s /etc/passwd abs-link && touch -d '2010-10-10 10:10:10' etc/passwd`);
}

interface Snap { path: string; type: string; ino: number; [k: string]: unknown }
/** mode 'floor': whole seconds as tar and our builder keep them; 'round': as the Go estargz writer does (time.Round). */
function snapshot(dir: string, seconds: 'floor' | 'round' = 'floor'): Record<string, unknown>[] {
  const raw = JSON.parse(sh(`python3 ${FIX}/ovl_snap.py ${dir}`)) as Snap[];
  const groups = new Map<number, string>();
  return raw.map(({ ino, ...e }) => {
    // TOC times have whole seconds (RFC 3339 modtime); the layer root has none
    const ns = BigInt(String(e.mtime));
    const mtime = e.path === '.' ? '' : String(seconds === 'floor' ? ns / 1_000_000_000n : (ns + 500_000_000n) / 1_000_000_000n);
    if (e.type === 'd') return { ...e, link: '', mtime };
    if (!groups.has(ino)) groups.set(ino, e.path);
    return { ...e, mtime, link: groups.get(ino) };
  });
}

/** What the plain directory looks like through the overlay (the reference view). */
function plainView(dir: string, mnt: string): Record<string, unknown>[][] {
  const o = ovl(`lowerdir=${dir}`, mnt);
  const s = [snapshot(mnt), snapshot(mnt, 'round')];
  o.unmount();
  return s;
}

const src = join(work, 'src');
let want: Record<string, unknown>[] = [];
let wantRounded: Record<string, unknown>[] = [];
beforeAll(() => {
  makeTree(src);
  fs.mkdirSync(join(work, 'm'));
  [want, wantRounded] = plainView(src, join(work, 'm'));
}, 60_000);

function layout() {
  const base = tempDir('tsfuse-sgz-case-');
  const d = { base, m: join(base, 'm'), u: join(base, 'u'), w: join(base, 'w'), log: join(base, 'log') };
  for (const p of [d.m, d.u, d.w]) fs.mkdirSync(p);
  return d;
}

describe('eStargz we build', () => {
  it('is deterministic, verifies with the Go estargz reader, and mounts as exactly the source tree', () => {
    const d = layout();
    const a = build(src, join(d.base, 'a.esgz'), ['--chunk-size', '65536']);
    const b = build(src, join(d.base, 'b.esgz'), ['--chunk-size', '65536']);
    expect(b).toEqual(a);
    expect(fs.readFileSync(join(d.base, 'a.esgz')).equals(fs.readFileSync(join(d.base, 'b.esgz')))).toBe(true);
    // the blob digest is the file's sha256; the diffID that of the whole decompressed stream
    expect(a.blobDigest).toBe(`sha256:${sh(`sha256sum ${d.base}/a.esgz`).split(' ')[0]}`);
    expect(a.diffID).toBe(`sha256:${sh(`gzip -dc ${d.base}/a.esgz | sha256sum`).split(' ')[0]}`);
    const ref = JSON.parse(sh(`${GO} verify ${d.base}/a.esgz ${a.tocDigest}`)) as { files: number; chunks: number; bytes: number };
    expect(ref.files).toBeGreaterThanOrEqual(8);
    expect(ref.chunks).toBeGreaterThan(ref.files); // the big files were cut into 64 KiB chunks
    // any tar tool can still read it
    expect(sh(`gzip -dc ${d.base}/a.esgz | tar tf - | grep -c usr/lib/big`).trim()).toBe('2');
    const o = ovl(`plugins=stargz,lowerdir=${layerOf(`${d.base}/a.esgz?toc=${a.tocDigest}`)}`, d.m);
    expect(snapshot(d.m)).toEqual(want);
    o.unmount();
  });

  it('--zstd writes zstd:chunked that the Go reader verifies and that mounts as the source tree', () => {
    const d = layout();
    const r = build(src, join(d.base, 'z.blob'), ['--zstd', '--chunk-size', '65536']);
    expect(tsfuse(['stargz', 'inspect', join(d.base, 'z.blob')]).stdout).toMatch(/format\s+zstd:chunked/);
    expect(r.diffID).toBe(`sha256:${sh(`zstd -dc ${d.base}/z.blob | sha256sum`).split(' ')[0]}`);
    const ref = JSON.parse(sh(`${GO} verify ${d.base}/z.blob ${r.tocDigest}`)) as { chunks: number; files: number };
    expect(ref.chunks).toBeGreaterThan(ref.files);
    const o = ovl(`plugins=stargz,lowerdir=${layerOf(`${d.base}/z.blob?toc=${r.tocDigest}`)}`, d.m);
    expect(snapshot(d.m)).toEqual(want);
    o.unmount();
  });

  it('puts prioritized files first and prefetches them at mount (once: a warm disk cache fetches nothing)', () => {
    const d = layout();
    const r = build(src, join(d.base, 'p.esgz'), ['--prioritized', 'bin/sh,bin/busybox,etc/passwd']);
    const names = sh(`gzip -dc ${d.base}/p.esgz | tar tf -`).split('\n').filter(Boolean);
    expect(names.slice(0, 5)).toEqual(['bin/', 'bin/sh', 'bin/busybox', 'etc/', 'etc/passwd']);
    expect(names[5]).toBe('.prefetch.landmark');
    sh(`${GO} verify ${d.base}/p.esgz ${r.tocDigest}`);
    const o = ovl(`plugins=stargz,lowerdir=${layerOf(`${d.base}/p.esgz`)}`, d.m, { TSFUSE_DAEMON_LOG: d.log });
    expect(fs.readFileSync(join(d.m, 'etc/passwd'), 'utf8')).toBe('root:x:0:0\n');
    // landmarks are not part of the layer's contents
    expect(fs.existsSync(join(d.m, '.prefetch.landmark'))).toBe(false);
    // the prefetch runs in the background from the moment the layer is opened
    waitFor(() => fs.readFileSync(d.log, 'utf8').includes('prefetched'), 10_000, 'the prefetch');
    o.unmount();
    expect(fs.readFileSync(d.log, 'utf8')).toMatch(/prefetched 2 chunk\(s\), \d+ bytes/);
    // with a disk cache, a second mount finds the prioritized chunks there and fetches none of them again
    const cache = join(d.base, 'cache'), log1 = join(d.base, 'first.log'), log2 = join(d.base, 'second.log');
    const el = layerOf(`${d.base}/p.esgz?cache=${cache}`);
    const first = ovl(`plugins=stargz,lowerdir=${el}`, d.m, { TSFUSE_DAEMON_LOG: log1 });
    waitFor(() => fs.readFileSync(log1, 'utf8').includes('prefetched'), 10_000, 'the first prefetch');
    first.unmount();
    expect(fs.readFileSync(log1, 'utf8')).toMatch(/prefetched 2 chunk\(s\)/);
    const again = ovl(`plugins=stargz,lowerdir=${el}`, d.m, { TSFUSE_DAEMON_LOG: log2 });
    waitFor(() => fs.readFileSync(log2, 'utf8').includes('prefetched'), 10_000, 'the second prefetch');
    again.unmount();
    expect(fs.readFileSync(log2, 'utf8')).toMatch(/prefetched 0 chunk\(s\), 0 bytes/);
  });

  it('reads lazily: one small file of a large blob fetches a small share of it', () => {
    const d = layout();
    const big = join(d.base, 'bigtree');
    fs.mkdirSync(big);
    sh(`cd ${big} && for i in $(seq 1 40); do head -c 500000 /dev/urandom > f$i; done && echo small > small`);
    build(big, join(d.base, 'big.esgz'));
    const o = ovl(`plugins=stargz,lowerdir=${layerOf(`${d.base}/big.esgz`)}`, d.m, { TSFUSE_DAEMON_LOG: d.log });
    expect(fs.readFileSync(join(d.m, 'small'), 'utf8')).toBe('small\n');
    expect(fs.readdirSync(d.m)).toHaveLength(41);
    o.unmount();
    const m = /fetched (\d+) of (\d+) bytes/.exec(fs.readFileSync(d.log, 'utf8'));
    expect(m).not.toBeNull();
    expect(Number(m![1]) / Number(m![2])).toBeLessThan(0.05);
  });

  it('works under an upper: copy-up of a lazily served file, then modify', () => {
    const d = layout();
    build(src, join(d.base, 'u.esgz'), ['--chunk-size', '65536']);
    const o = ovl(`plugins=stargz,lowerdir=${layerOf(`${d.base}/u.esgz`)},upperdir=${d.u},workdir=${d.w}`, d.m);
    fs.appendFileSync(join(d.m, 'usr/lib/big'), 'tail');
    expect(fs.readFileSync(join(d.u, 'usr/lib/big')).equals(Buffer.concat([fs.readFileSync(join(src, 'usr/lib/big')), Buffer.from('tail')]))).toBe(true);
    fs.rmSync(join(d.m, 'etc/passwd'));
    expect(fs.statSync(join(d.u, 'etc/passwd')).isCharacterDevice()).toBe(true);
    o.unmount();
  });

  it('tsfuse mount --stargz mounts a blob by itself, read-only or with an upper', () => {
    const d = layout();
    const r = build(src, join(d.base, 'c.esgz'));
    const m = tsfuse(['mount', '--stargz', join(d.base, 'c.esgz'), d.m, '-o', `toc=${r.tocDigest},cache=${d.base}/cache`]);
    expect(m.stderr).toBe('');
    expect(m.status).toBe(0);
    try {
      expect(fs.readFileSync(join(d.m, 'usr/lib/deep/er/still/file'), 'utf8')).toBe('deep\n');
      expect(shr(`touch ${d.m}/x`).stderr).toMatch(/Read-only file system/);
    } finally {
      sh(`fusermount3 -u ${d.m}`);
    }
    // what was read is in the chunk cache, by digest
    expect(sh(`find ${d.base}/cache -type f -path '*/[0-9a-f][0-9a-f]/*' | wc -l`).trim()).not.toBe('0');
    // with an upper: writable
    fs.mkdirSync(join(d.base, 'up'));
    fs.mkdirSync(join(d.base, 'wk'));
    const w = tsfuse(['mount', '--stargz', join(d.base, 'c.esgz'), d.m, '-o', `upperdir=${d.base}/up,workdir=${d.base}/wk,cache=0`]);
    expect(w.status).toBe(0);
    try {
      fs.appendFileSync(join(d.m, 'etc/passwd'), 'more\n');
      expect(fs.readFileSync(join(d.base, 'up/etc/passwd'), 'utf8')).toBe('root:x:0:0\nmore\n');
    } finally {
      sh(`fusermount3 -u ${d.m}`);
    }
  });
});

describe('legacy stargz (47-byte footer)', () => {
  it('mounts: the same members under the older footer', () => {
    const d = layout();
    const r = build(src, join(d.base, 'e.esgz'), ['--chunk-size', '65536']);
    const b = fs.readFileSync(join(d.base, 'e.esgz'));
    const tocOffset = b.toString('latin1', b.length - 51 + 16, b.length - 51 + 32);
    // crfs' footer: gzip header with FEXTRA of 22 raw bytes "%016xSTARGZ", an empty stored block
    const legacy = Buffer.concat([Buffer.from([0x1f, 0x8b, 0x08, 0x04, 0, 0, 0, 0, 0, 0xff, 22, 0]), Buffer.from(`${tocOffset}STARGZ`, 'latin1'),
      Buffer.from([0x01, 0x00, 0x00, 0xff, 0xff]), Buffer.alloc(8)]);
    expect(legacy.length).toBe(47);
    fs.writeFileSync(join(d.base, 'legacy.stargz'), Buffer.concat([b.subarray(0, b.length - 51), legacy]));
    expect(tsfuse(['stargz', 'inspect', join(d.base, 'legacy.stargz')]).stdout).toMatch(/format\s+stargz\n/);
    const o = ovl(`plugins=stargz,lowerdir=${layerOf(`${d.base}/legacy.stargz?toc=${r.tocDigest}`)}`, d.m);
    expect(snapshot(d.m)).toEqual(want);
    o.unmount();
  });
});

describe('blobs the Go estargz package builds', () => {
  for (const codec of ['gzip', 'zstd']) {
    it(`${codec === 'gzip' ? 'eStargz' : 'zstd:chunked'}: mounts, verified, as exactly the source tree`, () => {
      const d = layout();
      sh(`tar --format=posix --xattrs --xattrs-include='*' -C ${src} -cf ${d.base}/src.tar .`);
      const r = JSON.parse(sh(`${GO} build ${d.base}/src.tar ${d.base}/go.blob 65536 ${codec} etc/passwd`)) as { tocDigest: string };
      const info = tsfuse(['stargz', 'inspect', `${d.base}/go.blob`]);
      expect(info.stdout).toMatch(codec === 'gzip' ? /format\s+estargz/ : /format\s+zstd:chunked/);
      expect(info.stdout).toContain(r.tocDigest);
      expect(tsfuse(['stargz', 'verify', `${d.base}/go.blob`, '--toc', r.tocDigest]).status).toBe(0);
      const o = ovl(`plugins=stargz,lowerdir=${layerOf(`${d.base}/go.blob?toc=${r.tocDigest}`)}`, d.m);
      expect(snapshot(d.m, 'round')).toEqual(wantRounded);
      o.unmount();
    });
  }
});

/** Rewrites an eStargz blob with a changed TOC (payload kept): for blobs that lie. */
function withToc(blob: string, out: string, edit: (toc: { entries: Record<string, unknown>[] }) => void): string {
  const b = fs.readFileSync(blob);
  const off = parseInt(b.toString('latin1', b.length - 51 + 16, b.length - 51 + 32), 16);
  const tar = zlib.gunzipSync(b.subarray(off, b.length - 51));
  const size = parseInt(tar.toString('latin1', 124, 136).replace(/\0.*/, ''), 8);
  const toc = JSON.parse(tar.subarray(512, 512 + size).toString());
  edit(toc);
  const json = Buffer.from(JSON.stringify(toc));
  const hdr = Buffer.from(tar.subarray(0, 512));
  hdr.write(json.length.toString(8).padStart(11, '0') + '\0', 124, 'latin1');
  hdr.fill(0x20, 148, 156);
  let sum = 0;
  for (const x of hdr) sum += x;
  hdr.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
  const member = zlib.gzipSync(Buffer.concat([hdr, json, Buffer.alloc((512 - (json.length % 512)) % 512 + 1024)]));
  const footer = Buffer.from(b.subarray(b.length - 51));
  footer.write(off.toString(16).padStart(16, '0'), 16, 'latin1');
  fs.writeFileSync(out, Buffer.concat([b.subarray(0, off), member, footer]));
  return out;
}

describe('bad blobs', () => {
  const d = layout();
  const good = join(d.base, 'good.esgz');
  beforeAll(() => { build(src, good, ['--chunk-size', '65536']); });

  it('a chunk whose bytes do not match its digest is EIO with a log line; the rest of the layer is served', () => {
    const bad = withToc(good, join(d.base, 'lying.esgz'), (t) => {
      const e = t.entries.find((x) => x.name === 'usr/lib/over64k' && x.type === 'reg')!;
      e.chunkDigest = `sha256:${'0'.repeat(64)}`;
    });
    const m = join(d.base, 'm1');
    fs.mkdirSync(m);
    const o = ovl(`plugins=stargz,lowerdir=${layerOf(bad)}`, m, { TSFUSE_DAEMON_LOG: d.log });
    expect(shr(`cat ${m}/usr/lib/over64k > /dev/null`).stderr).toMatch(/Input\/output error/);
    expect(fs.readFileSync(join(m, 'usr/lib/big')).equals(fs.readFileSync(join(src, 'usr/lib/big')))).toBe(true);
    o.unmount();
    expect(fs.readFileSync(d.log, 'utf8')).toMatch(/usr\/lib\/over64k at 0: chunk digest mismatch/);
  });

  it('corrupt compressed bytes are EIO, never wrong data', () => {
    const b = fs.readFileSync(good);
    const t = JSON.parse(sh(`${TSFUSE} stargz inspect --json ${good}`)) as { entries: { name: string; type: string; offset?: number }[] };
    const at = t.entries.find((e) => e.name === 'usr/lib/big' && e.type === 'reg')!.offset! + 200;
    b[at] ^= 0xff;
    const bad = join(d.base, 'flipped.esgz');
    fs.writeFileSync(bad, b);
    const m = join(d.base, 'm2');
    fs.mkdirSync(m);
    const o = ovl(`plugins=stargz,lowerdir=${layerOf(bad)}`, m);
    expect(shr(`head -c 1000 ${m}/usr/lib/big > /dev/null`).stderr).toMatch(/Input\/output error/);
    expect(fs.readFileSync(join(m, 'etc/passwd'), 'utf8')).toBe('root:x:0:0\n');
    o.unmount();
  });

  const cases: [string, () => string, RegExp][] = [
    ['a wrong TOC digest', () => `${good}?toc=sha256:${'1'.repeat(64)}`, /TOC digest mismatch: expected sha256:1{64}, the blob's is sha256:/],
    ['a plain tar.gz (no footer)', () => { sh(`tar -C ${src} -czf ${d.base}/plain.tgz .`); return `${d.base}/plain.tgz`; }, /no eStargz, stargz or zstd:chunked footer/],
    ['a truncated blob', () => { fs.writeFileSync(`${d.base}/cut.esgz`, fs.readFileSync(good).subarray(0, 5000)); return `${d.base}/cut.esgz`; }, /footer/],
    ['a TOC name that leaves the layer', () => withToc(good, `${d.base}/dotdot.esgz`, (t) => { t.entries[3].name = '../../etc/shadow'; }), /TOC entry "\.\.\/\.\.\/etc\/shadow": the name leaves the layer/],
    ['an offset past the payload', () => withToc(good, `${d.base}/far.esgz`, (t) => { t.entries.find((e) => e.type === 'reg' && e.offset)!.offset = 1e12; }), /offset 1000000000000 is past the payload/],
    ['chunks that do not tile their file', () => withToc(good, `${d.base}/gap.esgz`, (t) => { const c = t.entries.find((e) => e.type === 'chunk')!; c.chunkOffset = (c.chunkOffset as number) + 1; }), /chunks do not tile the file/],
    ['an impossible size', () => withToc(good, `${d.base}/huge.esgz`, (t) => { t.entries.find((e) => e.name === 'etc/passwd')!.size = -5; }), /impossible size -5/],
    ['a TOC without chunk digests, with a TOC digest to verify', () => {
      let digest = '';
      const f = withToc(good, `${d.base}/nodig.esgz`, (t) => { for (const e of t.entries) { delete e.chunkDigest; delete e.digest; } });
      digest = tsfuse(['stargz', 'inspect', f]).stdout.match(/TOC digest\s+(\S+)/)![1];
      return `${f}?toc=${digest}`;
    }, /has no chunk digest: a verified mount needs one for every chunk/],
    ['a missing blob', () => `${d.base}/nope.esgz`, /nope\.esgz: does not exist/],
  ];
  for (const [what, make, msg] of cases) {
    it(`${what}: the mount fails with one line naming it`, () => {
      const m = join(d.base, `m-${what.replace(/\W+/g, '-')}`);
      fs.mkdirSync(m);
      const r = ovlFails(`plugins=stargz,lowerdir=${layerOf(make())}`, m);
      expect(r.status).toBe(1);
      const lines = r.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^tsfuse-overlayfs: plugin stargz: cannot load layer /);
      expect(lines[0]).toMatch(msg);
      expect(isMounted(m)).toBe(false);
    });
  }

  it('a TOC tar header with a negative size is refused at once (no endless loop)', async () => {
    const { decodeToc } = await import('../dist/stargz/decompress.js');
    const hdr = Buffer.alloc(1024);
    hdr.write('PaxHeaders/x', 0, 'latin1');
    hdr.write('-0003326\0', 124, 'latin1');
    hdr.write('x', 156, 'latin1');
    const t0 = Date.now();
    expect(() => decodeToc('estargz', zlib.gzipSync(hdr))).toThrow(/not an octal number/);
    expect(Date.now() - t0).toBeLessThan(1000);
  });

  it('the builder refuses bad input with one line', () => {
    for (const [args, msg] of [
      [[join(d.base, 'missing'), join(d.base, 'x.esgz')], /missing does not exist/],
      [[src, join(d.base, 'x.esgz'), '--chunk-size', '0'], /--chunk-size 0: expected a positive whole number/],
      [[src, join(d.base, 'x.esgz'), '--prioritized', 'no/such/file'], /prioritized file no\/such\/file is not in the layer/],
    ] as [string[], RegExp][]) {
      const r = tsfuse(['stargz', 'build', ...args]);
      expect(r.status).toBe(1);
      expect(r.stderr.trim().split('\n')).toEqual([expect.stringMatching(msg)]);
    }
    expect(fs.existsSync(join(d.base, 'x.esgz'))).toBe(false);
  });
});

/**
 * Lazy layers over the network, all on 127.0.0.1: a real HTTP server (its
 * own process, test/fixtures/blob-server.mjs) with Range, multi-range and
 * fault injection (dropped connections, 500s, slow and short answers, 200
 * instead of 206, redirects, Bearer-token auth), and a real registry
 * (Debian's docker-registry) with and without htpasswd auth, filled through
 * the distribution API.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isMounted, pidAlive, ROOT, sh, shr, tempDir, waitFor } from './helpers.js';
import { ovl, ovlFails } from './ovl-mount.js';
import { pushLayer, startRegistry, type RegistryAuth } from './registry.js';

const TSFUSE = join(ROOT, 'bin/tsfuse');
const work = tempDir('tsfuse-sgz-http-');
const blobs = join(work, 'blobs');
const src = join(work, 'src');
const b64 = (p: string) => Buffer.from(p).toString('base64url');
const layerOf = (source: string) => `//stargz/${b64(source)}/`;
const children: ChildProcess[] = [];
let base = '';
let toc = '';

afterAll(() => {
  for (const c of children) if (c.pid && pidAlive(c.pid)) c.kill('SIGKILL');
});

async function control(body: unknown): Promise<void> {
  const r = await fetch(`${base}/_faults`, { method: 'POST', body: JSON.stringify(body) });
  expect(r.status).toBe(200);
}

async function requests(): Promise<{ path: string; range: string | null; status: number; bytes?: number; fault?: string; auth?: string | null }[]> {
  return (await fetch(`${base}/_log`)).json();
}

function build(input: string, out: string, extra: string[] = []): { blobDigest: string; tocDigest: string; diffID: string; size: number } {
  const r = spawnSync(process.execPath, [TSFUSE, 'stargz', 'build', input, out, '--json', ...extra], { encoding: 'utf8' });
  expect(r.stderr).toBe('');
  return JSON.parse(r.stdout);
}

function layout() {
  const d = tempDir('tsfuse-sgz-http-case-');
  const x = { base: d, m: join(d, 'm'), log: join(d, 'log') };
  fs.mkdirSync(x.m);
  return x;
}

const sha = (f: string) => createHash('sha256').update(fs.readFileSync(f)).digest('hex');

beforeAll(async () => {
  fs.mkdirSync(blobs);
  fs.mkdirSync(src);
  sh(`cd ${src} && mkdir -p a/b c && for i in 1 2 3 4 5 6; do head -c 300000 /dev/urandom > a/f$i; done && head -c 2000000 /dev/urandom > a/b/big &&
    echo hello > c/hello && ln -s ../c/hello a/link && setfattr -n user.x -v y c/hello`);
  toc = build(src, join(blobs, 'l.esgz'), ['--chunk-size', '65536']).tocDigest;
  const portFile = join(work, 'port');
  const c = spawn(process.execPath, [join(ROOT, 'test/fixtures/blob-server.mjs'), blobs, portFile], { stdio: 'ignore' });
  children.push(c);
  for (let i = 0; i < 200 && !fs.existsSync(portFile); i++) await new Promise((r) => setTimeout(r, 25));
  base = `http://127.0.0.1:${fs.readFileSync(portFile, 'utf8')}`;
}, 60_000);

/** Every file of the mount equals the source (sha256), plus the symlink and the xattr. */
function sameAsSource(m: string): void {
  const files = sh(`cd ${src} && find . -type f | sort`).trim().split('\n');
  for (const f of files) expect(sha(join(m, f)), f).toBe(sha(join(src, f)));
  expect(fs.readlinkSync(join(m, 'a/link'))).toBe('../c/hello');
  expect(sh(`getfattr --only-values -n user.x ${m}/c/hello`)).toBe('y');
}

describe('HTTP blob sources', () => {
  it('mounts a blob URL lazily with Range requests: content equals the source, only a small share fetched for one file', async () => {
    const d = layout();
    await control({});
    const o = ovl(`plugins=stargz,lowerdir=${layerOf(`${base}/blobs/l.esgz?toc=${toc}`)}`, d.m, { TSFUSE_DAEMON_LOG: d.log });
    expect(fs.readFileSync(join(d.m, 'c/hello'), 'utf8')).toBe('hello\n');
    const early = await requests();
    expect(early.every((r) => r.range !== null || r.status === 200)).toBe(true);
    const servedEarly = early.reduce((n, r) => n + (r.bytes ?? 0), 0);
    expect(servedEarly / fs.statSync(join(blobs, 'l.esgz')).size).toBeLessThan(0.1);
    sameAsSource(d.m);
    o.unmount();
    expect(fs.readFileSync(d.log, 'utf8')).toMatch(/chunks verified/);
  });

  for (const fault of ['drop', '500', 'short', 'slow:300', 'redirect']) {
    it(`survives a ${fault} answer (retried), serving the right bytes`, async () => {
      const d = layout();
      await control({});
      const o = ovl(`plugins=stargz,lowerdir=${layerOf(`${base}/blobs/l.esgz?toc=${toc}&prefetch=0`)}`, d.m, { TSFUSE_DAEMON_LOG: d.log });
      await control({ queue: [fault] });
      expect(sha(join(d.m, 'a/f3'))).toBe(sha(join(src, 'a/f3')));
      const log = await requests();
      expect(log[0].fault).toBe(fault);
      expect(log.length).toBeGreaterThanOrEqual(2);
      o.unmount();
    });
  }

  it('a server that keeps failing: the read fails with EIO within the deadline, the mount keeps working', async () => {
    const d = layout();
    await control({});
    const o = ovl(`plugins=stargz,lowerdir=${layerOf(`${base}/blobs/l.esgz?toc=${toc}&prefetch=0`)}`, d.m, { TSFUSE_DAEMON_LOG: d.log });
    await control({ queue: Array(50).fill('500') });
    const t0 = Date.now();
    const r = shr(`cat ${d.m}/a/f4 > /dev/null`);
    expect(r.stderr).toMatch(/Input\/output error/);
    expect(Date.now() - t0).toBeLessThan(30_000);
    await control({});
    expect(sha(join(d.m, 'a/f4'))).toBe(sha(join(src, 'a/f4')));
    expect(pidAlive(o.pid)).toBe(true);
    o.unmount();
    expect(fs.readFileSync(d.log, 'utf8')).toMatch(/HTTP 500 injected failure; retrying/);
  });

  it('a server that ignores Range (200 with the whole blob): downloaded once, then served from it', async () => {
    const d = layout();
    await control({ mode: { ignoreRange: true } });
    const o = ovl(`plugins=stargz,lowerdir=${layerOf(`${base}/blobs/l.esgz?toc=${toc}`)}`, d.m);
    sameAsSource(d.m);
    const log = await requests();
    expect(log.filter((r) => r.status === 200 && r.bytes === fs.statSync(join(blobs, 'l.esgz')).size)).toHaveLength(1);
    o.unmount();
    await control({});
  });

  it('several ranges go in one multi-range request; a server that refuses those is asked one range at a time', async () => {
    const { HttpBlob } = await import('../dist/stargz/http.js');
    const file = fs.readFileSync(join(blobs, 'l.esgz'));
    for (const nomulti of [false, true]) {
      await control({ mode: { nomulti } });
      const b = await HttpBlob.open(`${base}/blobs/l.esgz`);
      const ranges: [number, number][] = [[10, 100], [5000, 3000], [200_000, 70_000]];
      for (let round = 0; round < 2; round++) {
        const got = await b.readRanges(ranges);
        got.forEach((g, i) => expect(g.equals(file.subarray(ranges[i][0], ranges[i][0] + ranges[i][1]))).toBe(true));
      }
      const log = (await requests()).filter((r) => r.range);
      const multi = log.filter((r) => (r.range ?? '').includes(','));
      if (nomulti) {
        expect(multi.map((r) => r.status)).toEqual([400]); // refused once, never asked again
        expect(log.filter((r) => r.status === 206)).toHaveLength(6);
      } else {
        expect(multi.map((r) => r.status)).toEqual([206, 206]);
      }
      b.close();
    }
    await control({});
  });

  it('a read that needs chunks on both sides of a cached one fetches them with one multi-range request', async () => {
    const d = layout();
    const r = build(src, join(blobs, 'small-chunks.esgz'), ['--chunk-size', '16384']);
    await control({});
    const o = ovl(`plugins=stargz,lowerdir=${layerOf(`${base}/blobs/small-chunks.esgz?toc=${r.tocDigest}&prefetch=0`)}`, d.m);
    // one 16 KiB chunk in the middle (O_DIRECT: exactly that read), then the whole file through the page cache
    sh(`dd if=${d.m}/a/b/big of=/dev/null bs=16384 skip=10 count=1 iflag=direct status=none`);
    expect(sha(join(d.m, 'a/b/big'))).toBe(sha(join(src, 'a/b/big')));
    const multi = (await requests()).filter((x) => (x.range ?? '').includes(','));
    expect(multi.length).toBeGreaterThan(0);
    expect(multi.every((x) => x.status === 206)).toBe(true);
    o.unmount();
  });

  it('Bearer-token auth from a WWW-Authenticate challenge, with and without Basic credentials for the token', async () => {
    const d = layout();
    await control({});
    let o = ovl(`plugins=stargz,lowerdir=${layerOf(`${base}/auth/blobs/l.esgz?toc=${toc}`)}`, d.m);
    expect(fs.readFileSync(join(d.m, 'c/hello'), 'utf8')).toBe('hello\n');
    o.unmount();
    expect((await requests()).some((r) => r.path === '/token')).toBe(true);
    await control({ mode: { basicToken: true } });
    const bad = ovlFails(`plugins=stargz,lowerdir=${layerOf(`${base}/auth/blobs/l.esgz`)}`, d.m, { TSFUSE_REGISTRY_AUTH: 'user:wrong' });
    expect(bad.status).toBe(1);
    expect(bad.stderr.trim().split('\n')).toEqual([expect.stringMatching(/token from http:\/\/127\.0\.0\.1:\d+\/token: HTTP 401/)]);
    expect(isMounted(d.m)).toBe(false);
    o = ovl(`plugins=stargz,lowerdir=${layerOf(`${base}/auth/blobs/l.esgz?toc=${toc}`)}`, d.m, { TSFUSE_REGISTRY_AUTH: 'user:secret' });
    sameAsSource(d.m);
    o.unmount();
    // credentials in the URL win over the environment
    o = ovl(`plugins=stargz,lowerdir=${layerOf(`${base.replace('http://', 'http://user:secret@')}/auth/blobs/l.esgz?toc=${toc}`)}`, d.m, { TSFUSE_REGISTRY_AUTH: 'user:wrong' });
    expect(fs.readFileSync(join(d.m, 'c/hello'), 'utf8')).toBe('hello\n');
    o.unmount();
    await control({});
  });

  it('a registry reference (docker://): manifest, layer index, TOC digest from the layer annotation', async () => {
    const d = layout();
    const other = build(join(src, 'c'), join(blobs, 'other.esgz'));
    const main = { digest: `sha256:${sha(join(blobs, 'l.esgz'))}`, size: fs.statSync(join(blobs, 'l.esgz')).size };
    const manifest = (annot: string) => ({
      schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: other.blobDigest, size: 2 },
      layers: [
        { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: other.blobDigest, size: other.size, annotations: { 'containerd.io/snapshot/stargz/toc.digest': other.tocDigest } },
        { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...main, annotations: { 'containerd.io/snapshot/stargz/toc.digest': annot } },
      ],
    });
    fs.writeFileSync(join(blobs, 'registry.json'), JSON.stringify({
      manifests: { 'test/img:v1': manifest(toc), 'test/img:lying': manifest(`sha256:${'2'.repeat(64)}`), [`test/img:sha256:${'3'.repeat(64)}`]: manifest(toc) },
      blobs: { [main.digest]: 'l.esgz', [other.blobDigest]: 'other.esgz' },
    }));
    await control({});
    const host = base.replace('http://', '');
    let o = ovl(`plugins=stargz,lowerdir=${layerOf(`docker://${host}/test/img:v1`)}`, d.m, { TSFUSE_DAEMON_LOG: d.log });
    sameAsSource(d.m);
    o.unmount();
    expect(fs.readFileSync(d.log, 'utf8')).toContain(`layer 1 of 2, TOC digest ${toc} from the manifest`);
    o = ovl(`plugins=stargz,lowerdir=${layerOf(`docker://${host}/test/img:v1?layer=0`)}`, d.m);
    expect(fs.readdirSync(d.m)).toEqual(['hello']);
    o.unmount();
    for (const [ref, msg] of [
      [`docker://${host}/test/img:lying`, /TOC digest mismatch: expected sha256:2{64}/],
      [`docker://${host}/test/img:v1?layer=5`, /layer=5: the image has layers 0 to 1/],
      [`docker://${host}/test/img:nope`, /no such manifest/],
      // pinned by digest: a registry that answers with another manifest is caught
      [`docker://${host}/test/img@sha256:${'3'.repeat(64)}`, /the manifest for sha256:3{64} hashes to sha256:/],
    ] as [string, RegExp][]) {
      const r = ovlFails(`plugins=stargz,lowerdir=${layerOf(ref)}`, d.m);
      expect(r.status, ref).toBe(1);
      expect(r.stderr.trim().split('\n'), ref).toEqual([expect.stringMatching(msg)]);
    }
  });
});

describe('HTTPS', () => {
  it('a blob over HTTPS with a private CA (NODE_EXTRA_CA_CERTS); without it, one line about the certificate', async () => {
    const d = layout();
    const cert = join(d.base, 'cert.pem'), key = join(d.base, 'key.pem'), portFile = join(d.base, 'port');
    sh(`openssl req -x509 -newkey rsa:2048 -nodes -keyout ${key} -out ${cert} -days 1 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 2>/dev/null`);
    const c = spawn(process.execPath, [join(ROOT, 'test/fixtures/blob-server.mjs'), blobs, portFile, cert, key], { stdio: 'ignore' });
    children.push(c);
    for (let i = 0; i < 200 && !fs.existsSync(portFile); i++) await new Promise((r) => setTimeout(r, 25));
    const url = `https://127.0.0.1:${fs.readFileSync(portFile, 'utf8')}/blobs/l.esgz?toc=${toc}`;
    const bad = ovlFails(`plugins=stargz,lowerdir=${layerOf(url)}`, d.m);
    expect(bad.status).toBe(1);
    expect(bad.stderr.trim().split('\n')).toEqual([expect.stringMatching(/TLS: self[- ]signed certificate.*NODE_EXTRA_CA_CERTS/)]);
    const o = ovl(`plugins=stargz,lowerdir=${layerOf(url)}`, d.m, { NODE_EXTRA_CA_CERTS: cert });
    sameAsSource(d.m);
    o.unmount();
    c.kill('SIGTERM');
  });
});

describe('the chunk cache and background fetch', () => {
  const served = async () => (await requests()).filter((r) => r.path.startsWith('/blobs/')).reduce((n, r) => n + (r.bytes ?? 0), 0);

  it('is shared across mounts: a second mount reads from disk what the first fetched', async () => {
    const d = layout();
    const cache = join(d.base, 'cache');
    const el = layerOf(`${base}/blobs/l.esgz?toc=${toc}&prefetch=0&cache=${cache}`);
    await control({});
    let o = ovl(`plugins=stargz,lowerdir=${el}`, d.m);
    expect(sha(join(d.m, 'a/f1'))).toBe(sha(join(src, 'a/f1')));
    o.unmount();
    expect(await served()).toBeGreaterThan(250_000);
    await control({});
    o = ovl(`plugins=stargz,lowerdir=${el}`, d.m);
    expect(sha(join(d.m, 'a/f1'))).toBe(sha(join(src, 'a/f1')));
    o.unmount();
    expect(await served()).toBeLessThan(20_000); // the footer and the TOC only
  });

  it('a damaged cache file is dropped and fetched again; cache_max bounds the cache', async () => {
    const d = layout();
    const cache = join(d.base, 'cache');
    const el = (extra = '') => layerOf(`${base}/blobs/l.esgz?toc=${toc}&prefetch=0&cache=${cache}${extra}`);
    let o = ovl(`plugins=stargz,lowerdir=${el()}`, d.m);
    sha(join(d.m, 'c/hello'));
    o.unmount();
    const files = sh(`find ${cache} -type f -path '*/[0-9a-f][0-9a-f]/*'`).trim().split('\n');
    for (const f of files) fs.writeFileSync(f, 'garbage');
    o = ovl(`plugins=stargz,lowerdir=${el()}`, d.m, { TSFUSE_DAEMON_LOG: d.log });
    expect(fs.readFileSync(join(d.m, 'c/hello'), 'utf8')).toBe('hello\n');
    o.unmount();
    expect(fs.readFileSync(d.log, 'utf8')).toMatch(/chunk cache: [0-9a-f]{64} is damaged; dropped/);
    o = ovl(`plugins=stargz,lowerdir=${el('&cache_max=400000')}`, d.m);
    sameAsSource(d.m);
    o.unmount();
    const size = Number(sh(`find ${cache} -type f -path '*/[0-9a-f][0-9a-f]/*' -printf '%s\n' | awk '{s+=$1} END {print s+0}'`));
    expect(size).toBeGreaterThan(0);
    expect(size).toBeLessThanOrEqual(400_000);
  });

  it('the layers of one mount share one cache and its cap; temp files of writers that died are swept', async () => {
    const d = layout();
    const cache = join(d.base, 'cache');
    // a second blob with other paths, so both layers' files show in the merge
    const src2 = join(d.base, 'src2');
    sh(`mkdir -p ${src2}/z && for i in 1 2 3; do head -c 300000 /dev/urandom > ${src2}/z/g$i; done`);
    const toc2 = build(src2, join(blobs, 'm.esgz'), ['--chunk-size', '65536']).tocDigest;
    // a temp file of a process that is gone (a write cut short), and one of a live process (a write going on)
    fs.mkdirSync(join(cache, 'tmp'), { recursive: true });
    const dead = spawnSync('true').pid;
    fs.writeFileSync(join(cache, 'tmp', `${dead}-0`), 'half a chunk');
    fs.writeFileSync(join(cache, 'tmp', `${process.pid}-7`), 'being written');
    const cap = 3_000_000;
    const el = (blob: string, t: string) => layerOf(`${base}/blobs/${blob}?toc=${t}&prefetch=0&cache=${cache}&cache_max=${cap}`);
    const o = ovl(`plugins=stargz,lowerdir=${el('l.esgz', toc)}:${el('m.esgz', toc2)}`, d.m);
    sh(`cd ${d.m} && find . -type f -exec cat {} + > /dev/null`);
    expect(sha(join(d.m, 'z/g2'))).toBe(sha(join(src2, 'z/g2')));
    o.unmount();
    expect(fs.existsSync(join(cache, 'tmp', `${dead}-0`))).toBe(false);
    expect(fs.existsSync(join(cache, 'tmp', `${process.pid}-7`))).toBe(true);
    // 2.9 MB of l.esgz's chunks and 0.9 MB of m.esgz's went through one cache of 3 MB
    const size = Number(sh(`find ${cache} -type f -path '*/[0-9a-f][0-9a-f]/*' -printf '%s\n' | awk '{s+=$1} END {print s+0}'`));
    expect(size).toBeGreaterThan(1_000_000);
    expect(size).toBeLessThanOrEqual(cap);
  });

  it('bgfetch=1 fetches the whole blob into the cache while idle; afterwards reads need no network', async () => {
    const d = layout();
    const cache = join(d.base, 'cache');
    await control({});
    const o = ovl(`plugins=stargz,lowerdir=${layerOf(`${base}/blobs/l.esgz?toc=${toc}&prefetch=0&bgfetch=1&cache=${cache}`)}`, d.m, { TSFUSE_DAEMON_LOG: d.log });
    waitFor(() => fs.readFileSync(d.log, 'utf8').includes('background fetch: complete'), 30_000, 'the background fetch');
    await control({});
    sameAsSource(d.m);
    expect(await served()).toBe(0);
    o.unmount();
    expect(fs.readFileSync(d.log, 'utf8')).toMatch(/background fetch: \d+ % of/);
  });

  it('tsfuse stargz fetch fills the cache with a progress display; a second run fetches only the TOC', () => {
    const d = layout();
    const cache = join(d.base, 'cache');
    const run = () => spawnSync(process.execPath, [TSFUSE, 'stargz', 'fetch', `${base}/blobs/l.esgz`, '--cache', cache, '--toc', toc], { encoding: 'utf8' });
    const first = run();
    expect(first.status).toBe(0);
    expect(first.stderr).toMatch(/100 %/);
    const n1 = Number(/fetched (\d+) bytes/.exec(first.stdout)![1]);
    expect(n1).toBeGreaterThan(fs.statSync(join(src, 'a/b/big')).size);
    const second = run();
    expect(Number(/fetched (\d+) bytes/.exec(second.stdout)![1])).toBeLessThan(20_000);
  });
});

describe('a real registry (docker-registry) on 127.0.0.1', () => {
  const start = async (auth: RegistryAuth) => {
    const reg = await startRegistry(tempDir('tsfuse-registry-'), auth);
    children.push(...reg.procs);
    return reg;
  };

  it('anonymous: docker://127.0.0.1:PORT/repo:tag mounts lazily and verified', async () => {
    const reg = await start('none');
    await pushLayer(reg, 'tsfuse/lazy', 'v1', join(blobs, 'l.esgz'), toc);
    const d = layout();
    const o = ovl(`plugins=stargz,lowerdir=${layerOf(`docker://${reg.host}/tsfuse/lazy:v1`)}`, d.m, { TSFUSE_DAEMON_LOG: d.log });
    sameAsSource(d.m);
    o.unmount();
    expect(fs.readFileSync(d.log, 'utf8')).toMatch(/chunks verified/);
  });

  it('with htpasswd auth: credentials from TSFUSE_REGISTRY_AUTH or a docker config.json; none is a one-line 401', async () => {
    const reg = await start('basic');
    await pushLayer(reg, 'tsfuse/private', 'v1', join(blobs, 'l.esgz'), toc);
    const d = layout();
    const ref = `docker://${reg.host}/tsfuse/private:v1`;
    const none = ovlFails(`plugins=stargz,lowerdir=${layerOf(ref)}`, d.m, { HOME: d.base });
    expect(none.status).toBe(1);
    expect(none.stderr.trim().split('\n')).toEqual([expect.stringMatching(/HTTP 401 unauthorized \(no credentials/)]);
    let o = ovl(`plugins=stargz,lowerdir=${layerOf(ref)}`, d.m, { TSFUSE_REGISTRY_AUTH: 'tsfuse:s3cret' });
    sameAsSource(d.m);
    o.unmount();
    const cfg = join(d.base, 'docker');
    fs.mkdirSync(cfg);
    fs.writeFileSync(join(cfg, 'config.json'), JSON.stringify({ auths: { [reg.host]: { auth: Buffer.from('tsfuse:s3cret').toString('base64') } } }));
    o = ovl(`plugins=stargz,lowerdir=${layerOf(ref)}`, d.m, { DOCKER_CONFIG: cfg });
    expect(fs.readFileSync(join(d.m, 'c/hello'), 'utf8')).toBe('hello\n');
    o.unmount();
  });

  it('with token auth: tsfuse stargz push and a mount both get Bearer tokens from the registry\'s token service', async () => {
    const reg = await start('token');
    const ref = `docker://${reg.host}/tsfuse/tokens:v1`;
    const push = (env: NodeJS.ProcessEnv) => spawnSync(process.execPath, [TSFUSE, 'stargz', 'push', join(blobs, 'l.esgz'), ref],
      { encoding: 'utf8', env: { ...process.env, HOME: work, ...env } });
    // no credentials: the token service says no, in one line
    const refused = push({});
    expect(refused.status).toBe(1);
    expect(refused.stderr.trim().split('\n')).toEqual([expect.stringMatching(/token from http:\/\/127\.0\.0\.1:\d+\/token: HTTP 401/)]);
    const pushed = push({ TSFUSE_REGISTRY_AUTH: 'tsfuse:s3cret' });
    expect(pushed.stderr).toBe('');
    expect(pushed.stdout).toMatch(new RegExp(`TOC digest ${toc}`));
    // the registry took the blob: it hashes to the digest push printed
    const layer = /layer\s+(sha256:[0-9a-f]{64})/.exec(pushed.stdout)![1];
    expect(layer).toBe(`sha256:${sha(join(blobs, 'l.esgz'))}`);
    // a second push of the same blob sends no blob again, only the manifest
    const again = push({ TSFUSE_REGISTRY_AUTH: 'tsfuse:s3cret' });
    expect(again.stdout).toMatch(/sent 0 bytes/);
    const tokenLog = () => fs.readFileSync(reg.tokens!.log, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { scopes: string[]; status: number; user: string | null });
    expect(tokenLog().some((t) => t.status === 200 && t.scopes.includes('repository:tsfuse/tokens:pull,push'))).toBe(true);
    // the mount: lazily and verified, with a pull token
    const d = layout();
    const before = tokenLog().length;
    const o = ovl(`plugins=stargz,lowerdir=${layerOf(ref)}`, d.m, { TSFUSE_REGISTRY_AUTH: 'tsfuse:s3cret', TSFUSE_DAEMON_LOG: d.log });
    sameAsSource(d.m);
    o.unmount();
    expect(fs.readFileSync(d.log, 'utf8')).toMatch(/got a Bearer token from http:\/\/127\.0\.0\.1/);
    expect(tokenLog().slice(before).some((t) => t.status === 200 && t.user === 'tsfuse' && t.scopes.includes('repository:tsfuse/tokens:pull'))).toBe(true);
  });
});


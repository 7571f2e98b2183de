/**
 * OCI distribution: from a reference `docker://HOST[:PORT]/REPO[:TAG][@DIGEST]`
 * to one layer blob. The manifest (or an index, for linux/amd64) is fetched,
 * the layer picked (`layer=N`, default the last, the top of the image), and
 * its TOC digest taken from the layer annotations. Plain HTTP for
 * localhost/127.0.0.1 or with `insecure=1`, HTTPS otherwise. Credentials:
 * TSFUSE_REGISTRY_AUTH=user:password, else the `auths` entry for the host in
 * $REGISTRY_AUTH_FILE, $DOCKER_CONFIG/config.json or ~/.docker/config.json.
 */
import * as fs from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { BlobError } from './blob.js';
import { sha256, sha256File } from './digest.js';
import { HttpBlob, HttpClient, type Credentials, type HttpOptions, type RequestBody } from './http.js';

const DIGEST = /^sha256:[0-9a-f]{64}$/;
/** plain HTTP without asking: a registry on this machine */
const isLocalHost = (host: string) => /^(localhost|127\.0\.0\.1|\[::1\])(:\d+)?$/.test(host);

export const TOC_ANNOTATIONS = ['containerd.io/snapshot/stargz/toc.digest', 'io.github.containers.zstd-chunked.manifest-checksum', 'io.containers.zstd-chunked.manifest-checksum'];

const MANIFEST_TYPES = [
  'application/vnd.oci.image.manifest.v1+json', 'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.oci.image.index.v1+json', 'application/vnd.docker.distribution.manifest.list.v2+json',
];

export interface Reference { host: string; repo: string; tag?: string; digest?: string }

export function parseReference(ref: string): Reference {
  const m = /^docker:\/\/([^/]+)\/([a-z0-9._/-]+?)(?::([\w][\w.-]{0,127}))?(?:@(sha256:[0-9a-f]{64}))?$/.exec(ref);
  if (!m) throw new BlobError(`${ref}: not a registry reference (docker://HOST/REPO[:TAG][@sha256:DIGEST])`);
  return { host: m[1], repo: m[2], ...(m[3] ? { tag: m[3] } : {}), ...(m[4] ? { digest: m[4] } : {}) };
}

/** Basic credentials for a registry host, from the environment or a docker-style auth file. */
export function credentialsFor(host: string): Credentials | undefined {
  const env = process.env.TSFUSE_REGISTRY_AUTH;
  if (env) {
    const i = env.indexOf(':');
    if (i < 0) throw new BlobError('TSFUSE_REGISTRY_AUTH must be user:password');
    return { username: env.slice(0, i), password: env.slice(i + 1) };
  }
  const files = [process.env.REGISTRY_AUTH_FILE, process.env.DOCKER_CONFIG && join(process.env.DOCKER_CONFIG, 'config.json'), join(homedir(), '.docker/config.json')];
  for (const f of files) {
    if (!f || !fs.existsSync(f)) continue;
    let j: { auths?: Record<string, { auth?: string; username?: string; password?: string }> };
    try { j = JSON.parse(fs.readFileSync(f, 'utf8')); } catch { throw new BlobError(`${f}: not JSON`); }
    for (const [k, v] of Object.entries(j.auths ?? {})) {
      if (k.replace(/^https?:\/\//, '').replace(/\/.*$/, '') !== host) continue;
      if (v.username !== undefined) return { username: v.username, password: v.password ?? '' };
      if (v.auth) {
        const s = Buffer.from(v.auth, 'base64').toString('utf8');
        const i = s.indexOf(':');
        if (i > 0) return { username: s.slice(0, i), password: s.slice(i + 1) };
      }
    }
  }
  return undefined;
}

interface Descriptor { mediaType?: string; digest: string; size?: number; annotations?: Record<string, string>; platform?: { os?: string; architecture?: string } }

export interface ResolvedLayer { blob: HttpBlob; tocDigest?: string; layer: number; layers: number }

/** Resolves a reference to one layer's blob (opened) and its TOC digest annotation. */
export async function openRegistryLayer(ref: string, params: URLSearchParams, opts: HttpOptions): Promise<ResolvedLayer> {
  const r = parseReference(ref);
  const local = isLocalHost(r.host);
  const scheme = local || params.get('insecure') === '1' ? 'http' : 'https';
  const base = new URL(`${scheme}://${r.host}/v2/${r.repo}/`);
  const client = new HttpClient(base, { ...opts, credentials: opts.credentials ?? credentialsFor(r.host) });
  /** A manifest by tag or digest; one asked for by digest must hash to it (a registry cannot swap it). */
  const getJson = (reference: string) => client.withRetries(`${ref}: manifest`, async () => {
    const a = await client.request('GET', new URL(`manifests/${reference}`, base), { accept: MANIFEST_TYPES.join(', ') }, { maxBody: 16 << 20 });
    if (a.status === 404) return undefined;
    if (a.status !== 200) client.failFor(a, 'manifest');
    if (reference.startsWith('sha256:') && sha256(a.body) !== reference) throw new BlobError(`${ref}: the manifest for ${reference} hashes to ${sha256(a.body)}`);
    try { return JSON.parse(a.body.toString('utf8')) as { layers?: Descriptor[]; manifests?: Descriptor[] }; } catch { throw new BlobError(`${ref}: the manifest is not JSON`); }
  });
  let m = await getJson(r.digest ?? r.tag ?? 'latest');
  if (!m) {
    // a digest that is no manifest may name the layer blob itself
    if (r.digest) return { blob: await HttpBlob.open(new URL(`blobs/${r.digest}`, base).href, opts, client), layer: 0, layers: 1 };
    throw new BlobError(`${ref}: no such manifest`);
  }
  if (m.manifests) {
    const pick = m.manifests.find((d) => d.platform?.os === 'linux' && d.platform?.architecture === 'amd64') ?? m.manifests[0];
    if (!pick) throw new BlobError(`${ref}: the image index lists no manifests`);
    if (!DIGEST.test(pick.digest)) throw new BlobError(`${ref}: the index names a bad digest ${JSON.stringify(pick.digest)}`);
    m = await getJson(pick.digest);
    if (!m) throw new BlobError(`${ref}: manifest ${pick.digest} of the index is missing`);
  }
  const layers = m.layers ?? [];
  if (!layers.length) throw new BlobError(`${ref}: the manifest has no layers`);
  const n = params.has('layer') ? Number(params.get('layer')) : layers.length - 1;
  if (!Number.isInteger(n) || n < 0 || n >= layers.length) throw new BlobError(`${ref}: layer=${params.get('layer')}: the image has layers 0 to ${layers.length - 1}`);
  const d = layers[n];
  if (!DIGEST.test(d.digest)) throw new BlobError(`${ref}: layer ${n} has a bad digest ${JSON.stringify(d.digest)}`);
  const tocDigest = TOC_ANNOTATIONS.map((k) => d.annotations?.[k]).find(Boolean);
  const blob = await HttpBlob.open(new URL(`blobs/${d.digest}`, base).href, opts, client);
  if (d.size !== undefined && d.size !== blob.size) throw new BlobError(`${ref}: layer ${n} is ${blob.size} bytes, the manifest says ${d.size}`);
  return { blob, ...(tocDigest ? { tocDigest } : {}), layer: n, layers: layers.length };
}

/** the most a push may take, retries included (uploads are bounded by stalls, not by their length) */
const UPLOAD_LIMIT_MS = 24 * 3600_000;

/**
 * One blob into the repository at `base` (monolithic upload: POST, then one
 * PUT with the digest), unless the registry has it already. Returns whether
 * it was sent.
 */
async function putBlob(client: HttpClient, base: URL, digest: string, body: RequestBody): Promise<boolean> {
  return client.withRetries(`${base.href}: blob ${digest}`, async () => {
    const head = await client.request('HEAD', new URL(`blobs/${digest}`, base), {});
    if (head.status === 200) return false;
    const start = await client.request('POST', new URL('blobs/uploads/', base), {}, { maxBody: 1 << 16 });
    if (start.status !== 202) client.failFor(start, 'starting a blob upload');
    if (!start.headers.location) throw new BlobError(`${base.href}: the registry started an upload without a Location`);
    const loc = new URL(start.headers.location, base);
    loc.searchParams.set('digest', digest);
    // an upload may take as long as the link needs; it fails when the connection stalls for a minute
    const put = await client.request('PUT', loc, { 'content-type': 'application/octet-stream' }, { body, maxBody: 1 << 16, timeoutMs: UPLOAD_LIMIT_MS, idleMs: 60_000 });
    if (put.status !== 201) client.failFor(put, 'blob upload');
    return true;
  });
}

/**
 * Pushes a one-layer image: the blob file as its layer (streamed from disk,
 * with the TOC digest annotation, so mounts verify it) and a minimal config.
 * Blobs the registry has are not sent again. Auth as for pulling: a Bearer
 * token from the registry's challenge, or Basic, with the credentials of
 * credentialsFor(). Returns the layer and manifest digests.
 */
export async function pushLayer(ref: string, blobFile: string, tocDigest: string, opts: { insecure?: boolean; credentials?: Credentials; log?: (l: string) => void } = {}): Promise<{ layer: string; manifest: string; sent: number }> {
  const r = parseReference(ref);
  if (!r.tag || r.digest) throw new BlobError(`${ref}: push needs a tag (docker://HOST/REPO:TAG)`);
  const scheme = isLocalHost(r.host) || opts.insecure ? 'http' : 'https';
  const base = new URL(`${scheme}://${r.host}/v2/${r.repo}/`);
  const size = fs.statSync(blobFile).size;
  const client = new HttpClient(base, { credentials: opts.credentials ?? credentialsFor(r.host), log: opts.log, deadlineMs: UPLOAD_LIMIT_MS });
  const layer = await sha256File(blobFile);
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }));
  const configDigest = sha256(config);
  let sent = 0;
  if (await putBlob(client, base, layer, { length: size, open: () => fs.createReadStream(blobFile) })) sent += size;
  if (await putBlob(client, base, configDigest, { length: config.length, open: () => config })) sent += config.length;
  const m = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layer, size, annotations: { [TOC_ANNOTATIONS[0]]: tocDigest } }],
  }));
  await client.withRetries(`${ref}: manifest push`, async () => {
    const put = await client.request('PUT', new URL(`manifests/${r.tag}`, base), { 'content-type': 'application/vnd.oci.image.manifest.v1+json' }, { body: { length: m.length, open: () => m }, maxBody: 1 << 16 });
    if (put.status !== 201) client.failFor(put, 'manifest push');
  });
  return { layer, manifest: sha256(m), sent };
}

/**
 * Built-in plugin `stargz`: an eStargz / stargz / zstd:chunked blob served
 * lazily as a lower layer (src/stargz/).
 *
 *   -o plugins=stargz,lowerdir=//stargz/<base64url of SOURCE>/<work dir>
 *
 * SOURCE is a path, `file:///abs/layer.blob`, an `http(s)://` blob URL or a
 * registry reference `docker://HOST/REPO[:TAG][@DIGEST]`, with options as
 * query parameters: `toc=sha256:…` (the TOC digest: the TOC is checked and
 * every chunk verified; a registry layer's annotation gives it otherwise),
 * `prefetch=0` (no prefetch at mount), `layer=N` (which layer of an image,
 * default the last), `insecure=1` (plain HTTP to a registry), `cache=DIR`
 * (the on-disk chunk cache; default PATH/cache when PATH is given, `cache=0`
 * none), `cache_max=BYTES` (default 2 GiB), `bgfetch=1` (fetch the whole
 * blob into the cache while idle).
 */
import { isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { FileBlob, type BlobReader } from '../../stargz/blob.js';
import { ChunkCache } from '../../stargz/cache.js';
import { HttpBlob } from '../../stargz/http.js';
import { credentialsFor, openRegistryLayer } from '../../stargz/registry.js';
import { StargzLayer } from '../../stargz/reader.js';
import type { Plugin, PluginContext } from '../api.js';

export interface StargzSource { blob: BlobReader; tocDigest?: string; prefetch: boolean; params: URLSearchParams }

/** SOURCE with more of our query parameters (toc=, cache=, …) appended. */
export function withParams(source: string, params: Record<string, string> | URLSearchParams): string {
  const q = new URLSearchParams(params).toString();
  return q ? `${source}${source.includes('?') ? '&' : '?'}${q}` : source;
}

/** Query parameters that are ours, not the server's. */
const OUR_PARAMS = ['toc', 'prefetch', 'layer', 'insecure', 'cache', 'cache_max', 'bgfetch'];
const HAS_SCHEME = /^[a-z][a-z0-9+.-]*:\/\//i;

/**
 * SOURCE text → an opened blob reader and its options. A path (relative
 * ones against the current directory), `file://`, `http(s)://` (a blob URL,
 * registry blob URLs included) or `docker://HOST/REPO[:TAG][@DIGEST]`.
 */
export async function openSource(source: string, log: (l: string) => void = () => {}): Promise<StargzSource> {
  let url: URL;
  try {
    url = HAS_SCHEME.test(source) ? new URL(source) : pathToFileURL(resolve(source.replace(/\?.*$/, '')));
    if (!HAS_SCHEME.test(source) && source.includes('?')) url.search = source.slice(source.indexOf('?'));
  } catch {
    throw new Error(`source ${JSON.stringify(source)} is neither a path nor a URL`);
  }
  const params = new URLSearchParams(url.search);
  for (const k of OUR_PARAMS) url.searchParams.delete(k);
  const toc = params.get('toc') ?? undefined;
  if (toc !== undefined && !/^sha256:[0-9a-f]{64}$/.test(toc)) throw new Error(`toc=${toc}: not a sha256:<64 hex> digest`);
  const prefetch = params.get('prefetch') !== '0';
  // credentials in the URL win; else the environment or an auth file for the host
  const http = { log, credentials: url.protocol.startsWith('http') && !url.username ? credentialsFor(url.host) : undefined };
  if (url.protocol === 'file:') return { blob: new FileBlob(decodeURIComponent(url.pathname)), ...(toc ? { tocDigest: toc } : {}), prefetch, params };
  if (url.protocol === 'http:' || url.protocol === 'https:') return { blob: await HttpBlob.open(url.href, http), ...(toc ? { tocDigest: toc } : {}), prefetch, params };
  if (url.protocol === 'docker:') {
    const r = await openRegistryLayer(source.replace(/\?.*$/, ''), params, http);
    log(`${source}: layer ${r.layer} of ${r.layers}${r.tocDigest ? `, TOC digest ${r.tocDigest} from the manifest` : ', no TOC digest annotation'}`);
    return { blob: r.blob, ...(toc ?? r.tocDigest ? { tocDigest: toc ?? r.tocDigest } : {}), prefetch, params };
  }
  throw new Error(`source ${url.protocol}//…: expected a path, file://, http(s):// or docker://`);
}

/** The disk cache a source asks for: `cache=DIR` (or `cache=0`: none), else PATH/cache when the element has a PATH. */
export function cacheFor(params: URLSearchParams, path: string, log: (l: string) => void): ChunkCache | undefined {
  const dir = params.get('cache') ?? (path ? join(path, 'cache') : undefined);
  if (!dir || dir === '0') return undefined;
  if (!isAbsolute(dir)) throw new Error(`cache=${dir}: not an absolute path`);
  const max = params.get('cache_max');
  const cap = max === null ? undefined : Number(max);
  if (cap !== undefined && !(Number.isSafeInteger(cap) && cap > 0)) throw new Error(`cache_max=${max}: expected a positive number of bytes`);
  return ChunkCache.at(dir, cap, log);
}

const plugin: Plugin = {
  version: 1,
  name: 'stargz',
  // a read may wait for the network: longer than the HTTP deadline (30 s per read, retries included)
  timeout: 45,
  async load(data: string, path: string, ctx: PluginContext) {
    const text = Buffer.from(data, 'base64url').toString('utf8');
    if (!data || /[^A-Za-z0-9+_=-]/.test(data)) throw new Error(`DATA ${JSON.stringify(data)} is not base64url (DATA ends at the first '/')`);
    const src = await openSource(text, ctx.log);
    try {
      const cache = cacheFor(src.params, path, ctx.log);
      return await StargzLayer.open(src.blob, { tocDigest: src.tocDigest, prefetch: src.prefetch, log: ctx.log, cache, background: src.params.get('bgfetch') === '1' });
    } catch (e) {
      await src.blob.close();
      throw new Error(`${src.blob.name}: ${(e as Error).message}`);
    }
  },
};
export default plugin;

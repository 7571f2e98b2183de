/**
 * Built-in plugin `stargz`: an eStargz / stargz / zstd:chunked blob served
 * lazily as a lower layer (src/stargz/).
 *
 *   -o plugins=stargz,lowerdir=//stargz/<base64url of SOURCE>/<work dir>
 *
 * SOURCE is `file:///abs/layer.blob` or an absolute path, with options as
 * query parameters: `?toc=sha256:…` (the TOC digest annotation: the TOC is
 * checked and every chunk verified), `prefetch=0` (no prefetch at mount).
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { FileBlob, type BlobReader } from '../../stargz/blob.js';
import { StargzLayer } from '../../stargz/reader.js';
import type { Plugin, PluginContext } from '../api.js';

export interface StargzSource { blob: BlobReader; tocDigest?: string; prefetch: boolean }

/** SOURCE text → a blob reader and its options. */
export function openSource(source: string): StargzSource {
  let url: URL;
  try {
    // a path (relative ones from the command line: against the current directory), or a URL
    url = /^[a-z][a-z0-9+.-]*:\/\//i.test(source) ? new URL(source) : pathToFileURL(resolve(source.replace(/\?.*$/, '')));
    if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(source) && source.includes('?')) url.search = source.slice(source.indexOf('?'));
  } catch {
    throw new Error(`source ${JSON.stringify(source)} is neither a path nor a URL`);
  }
  const toc = url.searchParams.get('toc') ?? undefined;
  if (toc !== undefined && !/^sha256:[0-9a-f]{64}$/.test(toc)) throw new Error(`toc=${toc}: not a sha256:<64 hex> digest`);
  const prefetch = url.searchParams.get('prefetch') !== '0';
  if (url.protocol === 'file:') return { blob: new FileBlob(decodeURIComponent(url.pathname)), ...(toc ? { tocDigest: toc } : {}), prefetch };
  throw new Error(`source ${url.protocol}//…: only file:// sources are supported so far`);
}

const plugin: Plugin = {
  version: 1,
  name: 'stargz',
  async load(data: string, _path: string, ctx: PluginContext) {
    const text = Buffer.from(data, 'base64url').toString('utf8');
    if (!data || /[^A-Za-z0-9+_=-]/.test(data)) throw new Error(`DATA ${JSON.stringify(data)} is not base64url (DATA ends at the first '/')`);
    const src = openSource(text);
    try {
      return await StargzLayer.open(src.blob, { tocDigest: src.tocDigest, prefetch: src.prefetch, log: ctx.log });
    } catch (e) {
      await src.blob.close();
      throw new Error(`${src.blob.name}: ${(e as Error).message}`);
    }
  },
};
export default plugin;

/**
 * `tsfuse stargz build|inspect|verify`: make eStargz blobs, look inside a
 * blob, and check every chunk of one against its TOC.
 */
import type { Command } from 'commander';
import * as fs from 'node:fs';
import { resolve } from 'node:path';

/** The stargz modules, loaded when a stargz command runs (the rest of `tsfuse` starts without them). */
async function lib() {
  const [plugin, build, reader, registry] = await Promise.all([
    import('../plugins/builtin/stargz.js'), import('../stargz/build.js'), import('../stargz/reader.js'), import('../stargz/registry.js'),
  ]);
  return { ...plugin, ...build, ...reader, ...registry };
}

const SOURCE = 'blob path, file://, http(s):// or docker:// reference';

/** Opens a blob (checked against `toc` when given) without prefetching. */
async function openBlob(source: string, toc?: string, opts: { cache?: import('../stargz/cache.js').ChunkCache; cacheBytes?: number } = {}) {
  const { openSource, withParams, StargzLayer } = await lib();
  const src = await openSource(toc ? withParams(source, { toc }) : source);
  return { src, layer: await StargzLayer.open(src.blob, { tocDigest: src.tocDigest, prefetch: false, ...opts }) };
}

const PROG = 'tsfuse stargz';

function fail(e: unknown): never {
  process.stderr.write(`${PROG}: ${(e as Error).message.split('\n')[0]}\n`);
  process.exit(1);
}

function int(name: string, v: string): number {
  const n = Number(v.replace(/[kKmM]$/, ''));
  const mul = /[kK]$/.test(v) ? 1024 : /[mM]$/.test(v) ? 1 << 20 : 1;
  if (!Number.isInteger(n) || n <= 0) fail(new Error(`${name} ${v}: expected a positive whole number (k/M suffixes allowed)`));
  return n * mul;
}

export function stargzCommands(p: Command): void {
  const s = p.command('stargz').description('build, inspect, verify, fetch and push eStargz / stargz / zstd:chunked blobs');
  s.command('build')
    .description('write an eStargz (or with --zstd a zstd:chunked) blob from a directory, a .tar or a .tar.gz')
    .argument('<input>', 'directory, .tar or .tar.gz')
    .argument('<output>', 'the blob to write')
    .option('--chunk-size <bytes>', 'chunk size (default 4M)')
    .option('--prioritized <paths>', 'comma-separated files to put first (prefetched at mount)')
    .option('--prioritized-file <file>', 'the same, one path per line')
    .option('--level <n>', 'compression level (gzip 1-9, default 9; zstd 1-19, default 3)')
    .option('--zstd', 'write zstd:chunked (stargz-snapshotter form) instead of eStargz; needs the zstd program')
    .option('--json', 'print the result as JSON')
    .action(async (input: string, output: string, o: { chunkSize?: string; prioritized?: string; prioritizedFile?: string; level?: string; json?: boolean; zstd?: boolean }) => {
      try {
        const { buildEstargz } = await lib();
        const prioritized = [
          ...(o.prioritized ? o.prioritized.split(',').filter(Boolean) : []),
          ...(o.prioritizedFile ? fs.readFileSync(o.prioritizedFile, 'utf8').split('\n').map((l) => l.trim()).filter(Boolean) : []),
        ];
        const level = o.level === undefined ? undefined : int('--level', o.level);
        if (level !== undefined && level > (o.zstd ? 19 : 9)) throw new Error(`--level ${level}: expected 1 to ${o.zstd ? 19 : 9}`);
        const r = await buildEstargz(input, output, { chunkSize: o.chunkSize ? int('--chunk-size', o.chunkSize) : undefined, prioritized, level, zstd: o.zstd });
        if (o.json) process.stdout.write(JSON.stringify(r) + '\n');
        else {
          process.stdout.write(`blob digest   ${r.blobDigest}\nTOC digest    ${r.tocDigest}\ndiffID        ${r.diffID}\n` +
            `size          ${r.size} (uncompressed ${r.uncompressedSize})\nTOC entries   ${r.entries}\n`);
        }
      } catch (e) { fail(e); }
    });
  s.command('inspect')
    .description('print the format, TOC digest and contents of a blob')
    .argument('<source>', SOURCE)
    .option('--json', 'the TOC as JSON')
    .action(async (source: string, o: { json?: boolean }) => {
      try {
        const { src, layer } = await openBlob(source);
        const { footer, tocDigest, index, json } = layer.toc;
        if (o.json) { process.stdout.write(json.toString('utf8') + '\n'); return; }
        const chunks = index.files.reduce((n, f) => n + (f.node.chunks?.length ?? 0), 0);
        const bytes = index.files.reduce((n, f) => n + f.node.size, 0);
        process.stdout.write(`format        ${footer.format}\nblob size     ${src.blob.size}\nTOC           offset ${footer.tocOffset}, ${footer.tocLength} bytes compressed, ${json.length} bytes\n` +
          `TOC digest    ${tocDigest}\nentries       ${index.nodes.size} (${index.files.length} regular files, ${bytes} bytes, ${chunks} chunks)\n` +
          `prefetch      ${index.noPrefetch ? 'none (.no.prefetch.landmark)' : index.prefetchEnd ? `${index.prefetchEnd} bytes (.prefetch.landmark)` : 'no landmark'}\n`);
        await layer.close();
      } catch (e) { fail(e); }
    });
  s.command('fetch')
    .description('fetch a whole blob into the chunk cache (what bgfetch=1 does in the background), with progress')
    .argument('<source>', SOURCE)
    .requiredOption('--cache <dir>', 'the chunk cache directory')
    .option('--toc <digest>', 'expected TOC digest (sha256:…)')
    .action(async (source: string, o: { cache: string; toc?: string }) => {
      try {
        const { cacheFor } = await lib();
        const cache = cacheFor(new URLSearchParams({ cache: resolve(o.cache) }), '', () => {});
        const { src, layer } = await openBlob(source, o.toc, { cache });
        const tty = process.stderr.isTTY;
        let last = -1;
        const t0 = Date.now();
        const ok = await layer.fetchAll({
          onProgress: ({ done, total }) => {
            const pct = Math.floor((100 * done) / Math.max(1, total));
            if (tty) process.stderr.write(`\r${pct.toString().padStart(3)} %  ${(done / 2 ** 20).toFixed(1)} / ${(total / 2 ** 20).toFixed(1)} MiB`);
            else if (pct >= last + 10) { last = pct - (pct % 10); process.stderr.write(`${pct} %\n`); }
          },
        });
        if (tty) process.stderr.write('\n');
        await layer.close();
        if (!ok) throw new Error('the fetch did not complete (see the messages above)');
        process.stdout.write(`fetched ${src.blob.fetched} bytes in ${((Date.now() - t0) / 1000).toFixed(1)} s; cache ${resolve(o.cache)} holds ${cache!.size} bytes\n`);
      } catch (e) { fail(e); }
    });
  s.command('push')
    .description('push a blob as a one-layer image (TOC digest annotated) to a registry')
    .argument('<blob>', 'the blob file')
    .argument('<ref>', 'docker://HOST/REPO:TAG (plain HTTP for localhost and 127.0.0.1)')
    .option('--insecure', 'plain HTTP to another host')
    .action(async (blob: string, ref: string, o: { insecure?: boolean }) => {
      try {
        const { pushLayer } = await lib();
        const { layer } = await openBlob(blob);
        const tocDigest = layer.toc.tocDigest;
        await layer.close();
        const r = await pushLayer(ref, resolve(blob), tocDigest, { insecure: o.insecure });
        process.stdout.write(`pushed ${ref}\nlayer      ${r.layer}\nmanifest   ${r.manifest}\nTOC digest ${tocDigest}\nsent ${r.sent} bytes (blobs the registry had are not sent)\n`);
      } catch (e) { fail(e); }
    });
  s.command('verify')
    .description('read every chunk and check it against the TOC (and the TOC against --toc)')
    .argument('<source>', SOURCE)
    .option('--toc <digest>', 'expected TOC digest (sha256:…)')
    .action(async (source: string, o: { toc?: string }) => {
      try {
        const { layer } = await openBlob(source, o.toc, { cacheBytes: 0 });
        let files = 0, bytes = 0;
        for (const { path, node } of layer.index.files) {
          // chunk by chunk: a read window across a chunk edge would fetch and verify that chunk twice
          for (const c of node.chunks ?? []) {
            const b = await layer.read(path, c.fileOffset, c.size).catch((e: Error) => { throw new Error(`${path}: ${e.message}`); });
            bytes += b.length;
          }
          files++;
        }
        process.stdout.write(`ok: ${files} files, ${bytes} bytes, ${layer.stats.verified} chunks verified; TOC digest ${layer.toc.tocDigest}\n`);
        await layer.close();
      } catch (e) { fail(e); }
    });
}

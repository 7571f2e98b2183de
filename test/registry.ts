/**
 * A real OCI registry for tests and benchmarks: Debian's docker-registry on
 * 127.0.0.1 (optionally with htpasswd auth), and pushing one-layer images to
 * it through the distribution API.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { join } from 'node:path';
import { pushLayer as push } from '../dist/stargz/registry.js';

export interface Registry { url: string; host: string; headers: Record<string, string>; proc: ChildProcess; dir: string }

export function freePort(): Promise<number> {
  return new Promise((res) => { const s = net.createServer().listen(0, '127.0.0.1', () => { const p = (s.address() as net.AddressInfo).port; s.close(() => res(p)); }); });
}

/** Starts docker-registry in DIR (its storage and config); with auth: user tsfuse, password s3cret. */
export async function startRegistry(dir: string, auth: boolean): Promise<Registry> {
  const port = await freePort();
  const htpasswd = join(dir, 'htpasswd');
  if (auth) {
    const { execFileSync } = await import('node:child_process');
    fs.writeFileSync(htpasswd, execFileSync('htpasswd', ['-Bbn', 'tsfuse', 's3cret']));
  }
  fs.writeFileSync(join(dir, 'config.yml'), [
    'version: 0.1', 'log:', '  level: error', 'storage:', '  filesystem:', `    rootdirectory: ${dir}/data`,
    'http:', `  addr: 127.0.0.1:${port}`,
    ...(auth ? ['auth:', '  htpasswd:', '    realm: tsfuse-test', `    path: ${htpasswd}`] : []),
  ].join('\n') + '\n');
  const proc = spawn('docker-registry', ['serve', join(dir, 'config.yml')], { stdio: 'ignore' });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try { const r = await fetch(`${url}/v2/`); if (r.status === 200 || r.status === 401) break; } catch { /* not up yet */ }
    if (i > 200 || proc.exitCode !== null) throw new Error('docker-registry did not start');
    await new Promise((r) => setTimeout(r, 50));
  }
  return { url, host: `127.0.0.1:${port}`, headers: auth ? { authorization: `Basic ${Buffer.from('tsfuse:s3cret').toString('base64')}` } : {}, proc, dir };
}

/** Pushes an image of one layer (the blob file) with its TOC digest annotation; returns the layer digest. */
export async function pushLayer(reg: Registry, repo: string, tag: string, blob: string, tocDigest: string): Promise<string> {
  const creds = reg.headers.authorization ? { username: 'tsfuse', password: 's3cret' } : undefined;
  return (await push(`docker://${reg.host}/${repo}:${tag}`, fs.readFileSync(blob), tocDigest, creds ? { credentials: creds } : {})).layer;
}

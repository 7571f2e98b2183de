/**
 * A real OCI registry for tests and benchmarks: Debian's docker-registry on
 * 127.0.0.1, anonymous, with htpasswd (Basic) auth, or with token auth (a
 * token service in its own process, test/fixtures/token-server.mjs, whose
 * signing certificate the registry trusts), and pushing one-layer images to
 * it through the distribution API.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { join } from 'node:path';
import { pushLayer as push } from '../dist/stargz/registry.js';

export type RegistryAuth = 'none' | 'basic' | 'token';

export interface Registry {
  url: string; host: string; proc: ChildProcess; dir: string; auth: RegistryAuth;
  /** the token service (auth 'token') */
  tokens?: { proc: ChildProcess; url: string; log: string };
  /** every process it runs */
  procs: ChildProcess[];
}

/** The one user of a registry with auth. */
export const REGISTRY_USER = { username: 'tsfuse', password: 's3cret' };

async function portOf(file: string, proc: ChildProcess, what: string): Promise<number> {
  for (let i = 0; i < 200; i++) {
    if (fs.existsSync(file) && fs.readFileSync(file, 'utf8')) return Number(fs.readFileSync(file, 'utf8'));
    if (proc.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`${what} did not start`);
}

/** A token service for a registry in DIR: its key, certificate, port and request log. */
async function startTokens(dir: string, service: string, issuer: string): Promise<NonNullable<Registry['tokens']> & { cert: string }> {
  const { execFileSync } = await import('node:child_process');
  const key = join(dir, 'token.key'), cert = join(dir, 'token.crt'), portFile = join(dir, 'token.port'), log = join(dir, 'token.log');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert,
    '-days', '2', '-subj', '/CN=tsfuse test token issuer'], { stdio: 'ignore' });
  fs.writeFileSync(log, '');
  const proc = spawn(process.execPath, [join(import.meta.dirname, 'fixtures/token-server.mjs'), key, cert, portFile, log,
    `${REGISTRY_USER.username}:${REGISTRY_USER.password}`, service, issuer], { stdio: 'ignore' });
  const port = await portOf(portFile, proc, 'the token service');
  return { proc, url: `http://127.0.0.1:${port}/token`, log, cert };
}

export function freePort(): Promise<number> {
  return new Promise((res) => { const s = net.createServer().listen(0, '127.0.0.1', () => { const p = (s.address() as net.AddressInfo).port; s.close(() => res(p)); }); });
}

/** Starts docker-registry in DIR (its storage and config); with auth, the one user is REGISTRY_USER. */
export async function startRegistry(dir: string, auth: RegistryAuth): Promise<Registry> {
  const port = await freePort();
  const procs: ChildProcess[] = [];
  let authConfig: string[] = [];
  let tokens: Registry['tokens'];
  if (auth === 'basic') {
    const { execFileSync } = await import('node:child_process');
    const htpasswd = join(dir, 'htpasswd');
    fs.writeFileSync(htpasswd, execFileSync('htpasswd', ['-Bbn', REGISTRY_USER.username, REGISTRY_USER.password]));
    authConfig = ['auth:', '  htpasswd:', '    realm: tsfuse-test', `    path: ${htpasswd}`];
  } else if (auth === 'token') {
    const t = await startTokens(dir, 'tsfuse-registry', 'tsfuse-token-issuer');
    procs.push(t.proc);
    tokens = { proc: t.proc, url: t.url, log: t.log };
    authConfig = ['auth:', '  token:', `    realm: ${t.url}`, '    service: tsfuse-registry', '    issuer: tsfuse-token-issuer', `    rootcertbundle: ${t.cert}`];
  }
  fs.writeFileSync(join(dir, 'config.yml'), [
    'version: 0.1', 'log:', '  level: error', 'storage:', '  filesystem:', `    rootdirectory: ${dir}/data`,
    'http:', `  addr: 127.0.0.1:${port}`, ...authConfig,
  ].join('\n') + '\n');
  const proc = spawn('docker-registry', ['serve', join(dir, 'config.yml')], { stdio: 'ignore' });
  procs.push(proc);
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try { const r = await fetch(`${url}/v2/`); if (r.status === 200 || r.status === 401) break; } catch { /* not up yet */ }
    if (i > 200 || proc.exitCode !== null) {
      for (const p of procs) p.kill('SIGKILL');
      throw new Error('docker-registry did not start');
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { url, host: `127.0.0.1:${port}`, proc, dir, auth, procs, ...(tokens ? { tokens } : {}) };
}

/** Pushes an image of one layer (the blob file) with its TOC digest annotation; returns the layer digest. */
export async function pushLayer(reg: Registry, repo: string, tag: string, blob: string, tocDigest: string): Promise<string> {
  return (await push(`docker://${reg.host}/${repo}:${tag}`, blob, tocDigest, reg.auth === 'none' ? {} : { credentials: REGISTRY_USER })).layer;
}

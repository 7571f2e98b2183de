/**
 * Blobs over HTTP(S) with Range requests: keep-alive connections, redirects
 * (credentials never follow to another host), Bearer-token and Basic auth
 * from a 401 challenge, retries with exponential backoff and jitter on
 * network errors, 5xx, 429 and wrong answers, and a deadline per read after
 * which it fails (the filesystem answers EIO, never hangs). Several ranges
 * go in one multi-range request; a server that refuses those (400/416) is
 * asked one range at a time from then on, and one that ignores Range and
 * answers 200 with the whole blob has that body kept (in an unlinked temp
 * file) so it is downloaded once.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import { tmpdir } from 'node:os';
import { unlinkedTempFd } from '../layers/temp-file.js';
import { BlobError, type BlobReader } from './blob.js';

export interface Credentials { username: string; password: string }

export interface HttpOptions {
  /** Basic credentials (also used to obtain Bearer tokens) */
  credentials?: Credentials;
  /** one request's time limit, ms (default 10 s) */
  requestTimeoutMs?: number;
  /** a whole read's time limit, retries included, ms (default 30 s) */
  deadlineMs?: number;
  /** attempts per read (default 6) */
  attempts?: number;
  log?: (line: string) => void;
  /** extra request headers (not sent to redirect targets on other hosts) */
  headers?: Record<string, string>;
}

/** A request body: its length and how to read it (once per attempt). */
export interface RequestBody { length: number; open: () => Buffer | NodeJS.ReadableStream }

export interface RequestOptions {
  /** the most bytes of answer body kept */
  maxBody?: number;
  /** where a 200 answer's body goes instead of memory */
  spill?: Spill;
  body?: RequestBody;
  /** this request's time limit, ms (default: the client's requestTimeoutMs) */
  timeoutMs?: number;
  /** fail when the connection is silent this long, ms (an upload's bound: its length says little about its time) */
  idleMs?: number;
}

export interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  url: URL;
  /** bytes of a 200 body written to the spill fd instead of `body` */
  spilled?: number;
}

const agents = { http: new http.Agent({ keepAlive: true, maxSockets: 6 }), https: new https.Agent({ keepAlive: true, maxSockets: 6 }) };

class Retryable extends Error {}

/** Parses `Bearer realm="…",service="…",scope="…"` (or Basic realm=…). */
function parseChallenge(h: string | undefined): { scheme: string; params: Record<string, string> } | undefined {
  if (!h) return undefined;
  const m = /^\s*(\w+)\s*(.*)$/s.exec(h);
  if (!m) return undefined;
  const params: Record<string, string> = {};
  for (const p of m[2].matchAll(/(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g)) params[p[1].toLowerCase()] = p[2] ?? p[3];
  return { scheme: m[1].toLowerCase(), params };
}

/** Splits a multipart/byteranges body into [start, bytes] parts. */
function parseMultipart(body: Buffer, boundary: string): { start: number; end: number; data: Buffer }[] {
  const delim = Buffer.from(`--${boundary}`);
  const parts: { start: number; end: number; data: Buffer }[] = [];
  let at = body.indexOf(delim);
  while (at >= 0) {
    const next = body.indexOf(delim, at + delim.length);
    if (body.subarray(at + delim.length, at + delim.length + 2).toString() === '--') break;
    if (next < 0) throw new Retryable('multipart body cut short');
    const part = body.subarray(at + delim.length, next);
    const headEnd = part.indexOf('\r\n\r\n');
    if (headEnd < 0) throw new Retryable('multipart part without headers');
    const cr = /content-range:\s*bytes\s+(\d+)-(\d+)\/(\d+|\*)/i.exec(part.subarray(0, headEnd).toString('latin1'));
    if (!cr) throw new Retryable('multipart part without Content-Range');
    let data = part.subarray(headEnd + 4);
    if (data.subarray(-2).toString() === '\r\n') data = data.subarray(0, -2);
    parts.push({ start: Number(cr[1]), end: Number(cr[2]), data });
    at = next;
  }
  return parts;
}

/** Requests to one origin: redirects, auth challenges (the token is kept), retries, deadlines. */
export class HttpClient {
  private token: string | undefined;
  readonly log: (l: string) => void;

  constructor(readonly origin: URL, readonly opts: HttpOptions) {
    this.log = opts.log ?? (() => {});
  }

  failFor(a: Answer, what: string): never {
    const msg = `${a.url.href}: ${what}: HTTP ${a.status}${a.body.length && a.body.length < 300 ? ` ${a.body.toString('utf8').trim().split('\n')[0]}` : ''}`;
    if ((a.status >= 500 && a.status !== 501) || a.status === 429 || a.status === 408) throw new Retryable(msg);
    throw new BlobError(msg);
  }

  /**
   * One HTTP exchange (redirects and auth challenges followed); the answer's
   * body is read whole, up to maxBody. A request body is sent again for
   * each hop, so it is given as a way to open it.
   */
  async request(method: string, target: URL, headers: Record<string, string>, o: RequestOptions = {}): Promise<Answer> {
    const { maxBody = 0, spill, body } = o;
    const deadline = Date.now() + (o.timeoutMs ?? this.opts.requestTimeoutMs ?? 10_000);
    let url = target;
    let authTried = false;
    for (let hop = 0; hop < 6; hop++) {
      // credentials and tokens go only to the origin we were given (same scheme, host and port: never https → http)
      const sameHost = url.origin === this.origin.origin;
      const h: Record<string, string> = { 'accept-encoding': 'identity', ...headers };
      if (sameHost) {
        Object.assign(h, this.opts.headers);
        if (this.token) h.authorization = `Bearer ${this.token}`;
        else if (this.opts.credentials && authTried) h.authorization = basic(this.opts.credentials);
      }
      const a = await exchange(method, url, h, maxBody, deadline, spill, body, o.idleMs);
      if ([301, 302, 303, 307, 308].includes(a.status) && a.headers.location) {
        url = new URL(a.headers.location, url);
        continue;
      }
      if (a.status === 401 && sameHost && !authTried) {
        authTried = true;
        const ch = parseChallenge(String(a.headers['www-authenticate'] ?? ''));
        if (ch?.scheme === 'bearer' && ch.params.realm) {
          this.token = await this.fetchToken(ch.params, deadline);
          continue;
        }
        if (ch?.scheme === 'basic' && this.opts.credentials) continue;
        throw new BlobError(`${url.href}: HTTP 401 unauthorized${this.opts.credentials ? ' (credentials refused)' : ' (no credentials: set TSFUSE_REGISTRY_AUTH or a docker config.json)'}`);
      }
      if (a.status === 401 && authTried) {
        this.token = undefined;
        throw new BlobError(`${url.href}: HTTP 401 unauthorized (credentials refused)`);
      }
      return a;
    }
    throw new BlobError(`${target.href}: too many redirects`);
  }

  /** The registry token flow: GET realm?service=…&scope=… (Basic credentials when we have them). */
  private async fetchToken(p: Record<string, string>, deadline: number): Promise<string> {
    const u = new URL(p.realm);
    if (p.service) u.searchParams.set('service', p.service);
    if (p.scope) u.searchParams.set('scope', p.scope);
    const h: Record<string, string> = this.opts.credentials ? { authorization: basic(this.opts.credentials) } : {};
    const a = await exchange('GET', u, h, 1 << 20, deadline);
    if (a.status !== 200) throw new BlobError(`token from ${u.origin}${u.pathname}: HTTP ${a.status}`);
    let j: { token?: string; access_token?: string };
    try { j = JSON.parse(a.body.toString('utf8')); } catch { throw new BlobError(`token from ${u.origin}${u.pathname}: the answer is not JSON`); }
    const t = j.token ?? j.access_token;
    if (!t) throw new BlobError(`token from ${u.origin}${u.pathname}: the answer has no token`);
    this.log(`got a Bearer token from ${u.origin}`);
    return t;
  }

  /** Runs an attempt until it works, a non-retryable error, the attempts run out, or the deadline passes. */
  async withRetries<T>(what: string, attempt: () => Promise<T>): Promise<T> {
    const deadline = Date.now() + (this.opts.deadlineMs ?? 30_000);
    const max = this.opts.attempts ?? 6;
    for (let i = 1; ; i++) {
      try {
        return await attempt();
      } catch (e) {
        if (e instanceof BlobError) throw e;
        const wait = Math.min(2000, 50 * 2 ** (i - 1)) * (0.5 + Math.random() / 2);
        if (i >= max || Date.now() + wait >= deadline) {
          throw new BlobError(`${what}: ${(e as Error).message} (gave up after ${i} attempt${i > 1 ? 's' : ''})`);
        }
        this.log(`${what}: ${(e as Error).message}; retrying in ${Math.round(wait)} ms`);
        await new Promise((r) => setTimeout(r, wait));
      }
    }
  }
}

export class HttpBlob implements BlobReader {
  readonly name: string;
  size = 0;
  fetched = 0;
  /** the server answered a multi-range request badly: one range per request from now on */
  private singleRange = false;
  /** the server ignores Range: the whole blob, kept once */
  private whole: { fd: number } | undefined;

  private constructor(private readonly url: URL, private readonly http: HttpClient) {
    this.name = url.href;
  }

  /** Opens a blob URL (with a client shared with the manifest requests, or a new one): finds its size. */
  static async open(url: string, opts: HttpOptions = {}, client?: HttpClient): Promise<HttpBlob> {
    const u = new URL(url);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new BlobError(`${url}: not an http(s) URL`);
    if (u.username && !opts.credentials) opts = { ...opts, credentials: { username: decodeURIComponent(u.username), password: decodeURIComponent(u.password) } };
    u.username = u.password = '';
    const b = new HttpBlob(u, client ?? new HttpClient(u, opts));
    await b.http.withRetries(`${b.name}: size`, async () => {
      const head = await b.http.request('HEAD', u, {});
      const len = Number(head.headers['content-length']);
      if (head.status === 200 && Number.isSafeInteger(len) && len > 0) { b.size = len; return; }
      const spill = new Spill(MAX_WHOLE);
      let probe: Answer;
      try {
        probe = await b.http.request('GET', u, { range: 'bytes=0-0' }, { maxBody: 1 << 20, spill });
      } catch (e) {
        spill.close();
        throw e;
      }
      const total = /\/(\d+)$/.exec(String(probe.headers['content-range'] ?? ''));
      if (probe.status === 200) { b.size = probe.spilled ?? 0; b.keepWhole(spill.take()); return; }
      spill.close();
      if (probe.status === 206 && total) { b.size = Number(total[1]); return; }
      b.http.failFor(probe, 'size');
    });
    return b;
  }

  /** The server sent the whole blob (into `fd`): serve everything from there from now on. */
  private keepWhole(fd: number): void {
    if (this.whole) { fs.closeSync(fd); return; } // a concurrent read got there first
    this.whole = { fd };
    this.http.log(`${this.name}: the server ignores Range; the whole blob (${this.size} bytes) is kept`);
  }

  read(offset: number, length: number): Promise<Buffer> {
    return this.readRanges([[offset, length]]).then((b) => b[0]);
  }

  /** Several [offset, length] ranges: one multi-range request where the server allows it. */
  async readRanges(ranges: [number, number][]): Promise<Buffer[]> {
    for (const [o, l] of ranges) if (o < 0 || l <= 0 || o + l > this.size) throw new BlobError(`${this.name}: range ${o}+${l} outside the ${this.size}-byte blob`);
    if (this.whole) return ranges.map(([o, l]) => { const b = Buffer.allocUnsafe(l); fs.readSync(this.whole!.fd, b, 0, l, o); return b; });
    if (ranges.length > 1 && this.singleRange) return Promise.all(ranges.map(([o, l]) => this.read(o, l)));
    return this.http.withRetries(`${this.name}: read ${ranges.map(([o, l]) => `${o}+${l}`).join(',')}`, async () => {
      if (this.whole) return this.readRanges(ranges);
      const want = ranges.reduce((n, [, l]) => n + l, 0);
      // a server that ignores Range answers 200 with the whole blob: that goes to a file, not to memory
      const spill = new Spill(this.size);
      let a: Answer;
      try {
        a = await this.http.request('GET', this.url, { range: `bytes=${ranges.map(([o, l]) => `${o}-${o + l - 1}`).join(',')}` }, { maxBody: want + 4096 * ranges.length, spill });
      } catch (e) {
        spill.close();
        throw e;
      }
      if (a.status === 200) {
        if (a.spilled !== this.size) { spill.close(); throw new Retryable(`200 with ${a.spilled} bytes, the blob has ${this.size}`); }
        this.fetched += a.spilled;
        this.keepWhole(spill.take());
        return this.readRanges(ranges);
      }
      if ((a.status === 400 || a.status === 416) && ranges.length > 1) {
        this.http.log(`${this.name}: multi-range refused (HTTP ${a.status}); one range per request from now on`);
        this.singleRange = true;
        return Promise.all(ranges.map(([o, l]) => this.read(o, l)));
      }
      if (a.status !== 206) this.http.failFor(a, 'range read');
      const type = String(a.headers['content-type'] ?? '');
      const boundary = /multipart\/byteranges;\s*boundary="?([^";]+)"?/i.exec(type)?.[1];
      const parts = boundary ? parseMultipart(a.body, boundary) : [];
      if (!boundary) {
        const cr = /bytes\s+(\d+)-(\d+)\//.exec(String(a.headers['content-range'] ?? ''));
        if (!cr) throw new Retryable('206 without Content-Range');
        parts.push({ start: Number(cr[1]), end: Number(cr[2]), data: a.body });
      }
      this.fetched += a.body.length;
      return ranges.map(([o, l]) => {
        // the part that holds the range (servers may merge or reorder ranges)
        const p = parts.find((x) => x.start <= o && x.end >= o + l - 1);
        if (!p) throw new Retryable(`the answer lacks bytes ${o}-${o + l - 1}`);
        if (p.data.length !== p.end - p.start + 1) throw new Retryable(`a part of ${p.data.length} bytes for ${p.end - p.start + 1}`);
        return Buffer.from(p.data.subarray(o - p.start, o - p.start + l));
      });
    });
  }

  close(): void {
    if (this.whole) { try { fs.closeSync(this.whole.fd); } catch { /* closed */ } this.whole = undefined; }
  }
}

/** The most a server that ignores Range may send us as a whole blob (kept on disk). */
const MAX_WHOLE = 64 * 2 ** 30;

/** An unlinked temp file (gone with the process, whatever happens). */
/**
 * Where a 200 answer's body goes instead of memory (a server that ignores
 * Range sends the whole blob): an unlinked temp file, made only when such an
 * answer arrives, never for the 206s of a normal server.
 */
export class Spill {
  private fd = -1;
  constructor(readonly max: number) {}

  write(c: Buffer, at: number): void {
    if (this.fd < 0) this.fd = unlinkedTempFd(tmpdir(), 'blob');
    fs.writeSync(this.fd, c, 0, c.length, at);
  }

  /** The file, now the caller's to close. */
  take(): number {
    const fd = this.fd;
    this.fd = -1;
    return fd;
  }

  close(): void {
    if (this.fd >= 0) fs.closeSync(this.fd);
    this.fd = -1;
  }
}

function basic(c: Credentials): string {
  return `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;
}

/** One request/response, bounded by the deadline and maxBody. Network trouble is Retryable. */
function exchange(method: string, url: URL, headers: Record<string, string>, maxBody: number, deadline: number, spillTo?: Spill, body?: RequestBody, idleMs?: number): Promise<Answer> {
  const mod = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const left = deadline - Date.now();
    if (left <= 0) { reject(new Retryable('timed out')); return; }
    const h = body ? { ...headers, 'content-length': String(body.length) } : headers;
    const req = mod.request(url, { method, headers: h, agent: url.protocol === 'https:' ? agents.https : agents.http });
    const timer = setTimeout(() => req.destroy(new Retryable(`no answer within ${left} ms`)), left);
    if (idleMs) req.setTimeout(idleMs, () => req.destroy(new Retryable(`the connection was silent for ${idleMs} ms`)));
    req.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      // a certificate that does not verify will not verify on the next attempt either
      if (e.code && (/CERT|SELF_SIGNED|ALTNAME|UNABLE_TO_VERIFY/.test(e.code))) reject(new BlobError(`${url.origin}: TLS: ${e.message} (a private CA: NODE_EXTRA_CA_CERTS=ca.pem)`));
      else reject(e instanceof Retryable || e instanceof BlobError ? e : new Retryable(e.message));
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      let n = 0;
      const spill = res.statusCode === 200 && spillTo !== undefined ? spillTo : undefined;
      res.on('data', (c: Buffer) => {
        if (spill) {
          if (n + c.length > spill.max) { req.destroy(new Retryable(`a 200 answer longer than the ${spill.max}-byte blob`)); return; }
          try {
            spill.write(c, n);
          } catch (e) {
            req.destroy(new BlobError(`keeping the whole blob: ${(e as Error).message}`));
            return;
          }
          n += c.length;
          return;
        }
        n += c.length;
        if (n > maxBody && method !== 'HEAD') { req.destroy(new Retryable(`the answer is larger than the ${maxBody} bytes asked for`)); return; }
        chunks.push(c);
      });
      res.on('end', () => {
        clearTimeout(timer);
        const body = spill ? Buffer.alloc(0) : Buffer.concat(chunks, n);
        const cl = res.headers['content-length'];
        if (method !== 'HEAD' && cl !== undefined && Number(cl) !== n) { reject(new Retryable(`body of ${n} bytes, Content-Length ${cl}`)); return; }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, url, ...(spill ? { spilled: n } : {}) });
      });
      res.on('error', (e) => { clearTimeout(timer); reject(new Retryable(e.message)); });
      res.on('aborted', () => { clearTimeout(timer); reject(new Retryable('connection dropped mid-answer')); });
    });
    const data = body?.open();
    if (data === undefined || Buffer.isBuffer(data)) { req.end(data); return; }
    // a server may answer (401, 413) before it has read the whole body: the rest is dropped, not an error;
    // however the request ends, the source goes with it (a file stream holds an fd)
    data.on('error', (e: Error) => req.destroy(new BlobError(`reading the body to send: ${e.message}`)));
    req.on('close', () => (data as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.());
    data.pipe(req);
  });
}

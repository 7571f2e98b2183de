/**
 * The session: the /dev/fuse read loop, INIT negotiation, dispatch of each
 * decoded request to the FileSystem, replies, interrupts and notifications.
 *
 * Loop shape (measured, see spec/protocol.md): the fd is non-blocking and
 * watched on the libuv loop (uv_poll through the shim). When it is readable
 * the main thread reads requests until EAGAIN, starts each handler, and
 * writes each reply with one write(2) as soon as the handler is done. No
 * thread hop per request; many requests in flight; a handler that awaits
 * never blocks the others.
 */
import * as fs from 'node:fs';
import { InitFlag, KERNEL_MINOR_VERSION, KERNEL_VERSION, MAX_PAGES_LIMIT, MIN_READ_BUFFER, Op, OP_NAMES, PAGE_SIZE, OLDEST_MINOR } from './abi.js';
import {
  decodeHeader, decodeRequest, encodeAttr, encodeBmap, encodeCopyRange, encodeCreate, encodeData, encodeDirents,
  encodeDirentsPlus, encodeEmpty, encodeEntry, encodeError, encodeInit, encodeIoctl, encodeLock, encodeLseek,
  encodeNotifyBare, encodeNotifyDelete, encodeNotifyInvalEntry, encodeNotifyInvalInode, encodeNotifyPoll,
  encodeNotifyPrune, encodeNotifyRetrieve, encodeNotifyStore, encodeOpen, encodePoll, encodeStatfs, encodeStatx,
  encodeWrite, encodeXattrSize, replyHeader, type ArgsByOp, type Negotiated, type Request,
} from './codec.js';
import type { ConnectionInfo, FileSystem, RawHook, Reply } from './api.js';
import { Errno, errnoName, errnoOf, FuseError } from './errors.js';
import { shim } from './native.js';
import type { Context, DirEntryPlus } from './types.js';

const { ENOSYS, EIO, EAGAIN, ENODEV, ECONNABORTED, ENOENT, ERANGE, EPROTO, EINTR } = Errno;

export interface SessionOptions {
  /** largest WRITE payload (bytes); up to 1 MiB (max_pages 256). Default 1 MiB. */
  maxWrite?: number;
  maxReadahead?: number;
  /** READDIRPLUS: 'auto' (kernel decides per readdir), 'on', 'off'. Default 'auto' when the fs has readdirplus. */
  readdirplus?: 'auto' | 'on' | 'off';
  writebackCache?: boolean;
  /** FUSE passthrough (needs root; excludes writeback cache) */
  passthrough?: boolean;
  /** max_stack_depth for passthrough (1 or 2) */
  maxStackDepth?: number;
  asyncRead?: boolean;
  parallelDirops?: boolean;
  cacheSymlinks?: boolean;
  posixAcl?: boolean;
  /** extra INIT flags to ask for (masked by what the kernel offers) */
  extraFlags?: bigint;
  /** INIT flags never to ask for */
  denyFlags?: bigint;
  /** negotiate at most this minor (to exercise older struct sizes) */
  maxMinor?: number;
  maxBackground?: number;
  congestionThreshold?: number;
  timeGran?: number;
  /** extra non-blocking reads after the queue ran dry, before sleeping (busy-poll). Default 0. */
  spin?: number;
  /** requests handled at once before the session stops reading. Default 128. */
  maxInFlight?: number;
  rawHook?: RawHook;
  /** log line sink (one line per call); default: none */
  log?: (line: string) => void;
  /** log every request and reply */
  debug?: boolean;
  /** sees the raw bytes of every request read and every reply/notification written (capture, conformance tests) */
  trace?: (dir: 'in' | 'out', bytes: Buffer) => void;
}

type Handler = (s: Session, q: any, ctx: RequestContext) => Out | Promise<Out>;
/** what a handler produces: a reply, several buffers for one writev, or nothing */
type Out = Buffer | Buffer[] | null;

/** Context of one request, handed to the FileSystem. */
class RequestContext implements Context {
  interrupted = false;
  onInterrupt: (() => void) | undefined = undefined;
  constructor(
    readonly uid: number, readonly gid: number, readonly pid: number, readonly unique: number,
    readonly groups: number[] | undefined,
  ) {}
}

const NO_REPLY = new Set<number>([Op.FORGET, Op.BATCH_FORGET, Op.NOTIFY_REPLY, Op.INTERRUPT]);
/** ops whose decoded args keep views into the read buffer */
const HOLDS_BUFFER = new Set<number>([Op.WRITE, Op.SETXATTR, Op.IOCTL, Op.NOTIFY_REPLY]);

export class Session {
  readonly fd: number;
  readonly fs: FileSystem;
  readonly opts: SessionOptions;
  /** negotiated minor and flags; minor 0 until INIT */
  readonly neg: Negotiated = { minor: 0, flags: 0n };
  conn: ConnectionInfo | undefined;
  private readonly bufSize: number;
  private readonly pool: Buffer[] = [];
  private watchHandle: object | undefined;
  private paused = false;
  private inFlight = new Map<number, RequestContext>();
  private pending = 0;
  private ended = false;
  private notifyChain: Promise<unknown> = Promise.resolve();
  private notifyUnique = 1;
  private retrieves = new Map<number, (data: { offset: number; data: Buffer }) => void>();
  private readyResolve!: (c: ConnectionInfo) => void;
  private readyReject!: (e: Error) => void;
  private closedResolve!: () => void;
  /** resolves once INIT is answered */
  readonly ready: Promise<ConnectionInfo>;
  /** resolves when the session ended (unmount, abort, close()) */
  readonly closed: Promise<void>;
  private readonly log: (line: string) => void;
  private readonly maxInFlight: number;
  private readonly spin: number;

  constructor(fd: number, fs: FileSystem, opts: SessionOptions = {}) {
    this.fd = fd;
    this.fs = fs;
    this.opts = opts;
    const maxWrite = Math.min(opts.maxWrite ?? MAX_PAGES_LIMIT * PAGE_SIZE, MAX_PAGES_LIMIT * PAGE_SIZE);
    this.bufSize = Math.max(MIN_READ_BUFFER, maxWrite + PAGE_SIZE);
    this.log = opts.log ?? (() => {});
    this.maxInFlight = opts.maxInFlight ?? 128;
    this.spin = opts.spin ?? Number(process.env.TSFUSE_SPIN ?? 0);
    this.ready = new Promise((res, rej) => { this.readyResolve = res; this.readyReject = rej; });
    this.ready.catch(() => {});
    this.closed = new Promise((res) => { this.closedResolve = res; });
  }

  /** Starts serving. The fd must be mounted (or mounting) and non-blocking. */
  start(): this {
    const s = shim();
    this.watchHandle = s.watch(this.fd, (status) => this.onReadable(status));
    return this;
  }

  /** Stops serving and closes the fd (the kernel aborts the connection if still mounted). */
  close(): void {
    this.end('closed');
  }

  get isEnded(): boolean {
    return this.ended;
  }

  /** why the session ended ('unmounted' when the kernel let go), once it has */
  endReason: string | undefined;

  private end(why: string): void {
    if (this.ended) return;
    this.ended = true;
    this.endReason = why;
    if (this.watchHandle) shim().unwatch(this.watchHandle);
    this.watchHandle = undefined;
    this.readyReject(new Error(`session ended before INIT: ${why}`));
    for (const ctx of this.inFlight.values()) { ctx.interrupted = true; ctx.onInterrupt?.(); }
    try { fs.closeSync(this.fd); } catch { /* already closed */ }
    const done = () => this.closedResolve();
    try {
      const r = this.fs.destroy?.();
      if (r instanceof Promise) r.then(done, done); else done();
    } catch { done(); }
    this.log(`session ended: ${why}`);
  }

  // ------------------------------------------------------------------ reading

  private onReadable(status: number): void {
    if (this.ended) return;
    if (status === -ENODEV) { this.drainOnDisconnect(); return; }
    const s = shim();
    let spins = this.spin;
    for (let i = 0; i < 256; i++) {
      if (this.pending >= this.maxInFlight) { this.pause(); return; }
      const buf = this.pool.pop() ?? Buffer.allocUnsafe(this.bufSize);
      const n = s.read(this.fd, buf);
      if (n < 0) {
        this.release(buf);
        if (n === -EAGAIN) {
          // the next request of a caller in a loop usually arrives within
          // microseconds: look again briefly before sleeping in epoll
          if (spins-- > 0 && this.pending === 0) { i--; continue; }
          return;
        }
        if (n === -EINTR) continue;
        if (n === -ENODEV || n === -ECONNABORTED) { this.end('unmounted'); return; }
        this.log(`read /dev/fuse: ${errnoName(n)}`);
        this.end(`read error ${errnoName(n)}`);
        return;
      }
      if (this.opts.trace) this.opts.trace('in', Buffer.from(buf.subarray(0, n)));
      this.handle(buf, n);
      if (this.ended) return;
    }
  }

  /** On disconnect, requests may still be queued; read until the kernel says ENODEV. */
  private drainOnDisconnect(): void {
    this.onReadable(0);
    if (!this.ended) this.end('disconnected');
  }

  /** Gives a read buffer back; a few are kept for reuse, the rest left to the GC (1 MiB each). */
  private release(buf: Buffer): void {
    if (this.pool.length < 8) this.pool.push(buf);
  }

  private pause(): void {
    if (!this.paused && this.watchHandle) { this.paused = true; shim().pause(this.watchHandle); }
  }

  private resume(): void {
    if (this.paused && this.watchHandle && !this.ended) {
      this.paused = false;
      shim().resume(this.watchHandle);
    }
  }

  // ---------------------------------------------------------------- dispatch

  /** Handles one request read into `buf` (n bytes). Exposed for tests that feed bytes directly. */
  handle(buf: Buffer, n: number): void {
    let req: Request;
    try {
      req = decodeRequest(buf, n, this.neg);
    } catch (e) {
      this.release(buf);
      this.onBadRequest(buf, n, e as Error);
      return;
    }
    const holds = HOLDS_BUFFER.has(req.opcode);
    if (!holds) this.release(buf);
    if (this.opts.debug) this.log(`<- ${req.op} unique=${req.unique} nodeid=${req.nodeid} ${debugArgs(req)}`);
    const ctx = new RequestContext(req.uid, req.gid, req.pid, req.unique, req.groups);
    const hook = this.opts.rawHook;
    if (hook) {
      const reply = new ReplyImpl(this, req.unique);
      let taken: boolean | void | Promise<boolean | void>;
      try {
        taken = hook(req, reply);
      } catch (e) {
        this.log(`raw hook threw on ${req.op}: ${(e as Error).stack ?? e}`);
        taken = false;
      }
      if (taken instanceof Promise) {
        this.pending++;
        taken.then((t) => this.afterHook(t === true, req, ctx, holds ? buf : null, true),
          (e) => { this.log(`raw hook failed on ${req.op}: ${e}`); this.afterHook(false, req, ctx, holds ? buf : null, true); });
        return;
      }
      if (taken === true) { if (holds) this.release(buf); return; }
    }
    this.dispatch(req, ctx, holds ? buf : null);
  }

  private afterHook(taken: boolean, req: Request, ctx: RequestContext, held: Buffer | null, counted: boolean): void {
    if (counted) { this.pending--; this.resume(); }
    if (taken) { if (held) this.release(held); return; }
    this.dispatch(req, ctx, held);
  }

  private dispatch(req: Request, ctx: RequestContext, held: Buffer | null): void {
    const h = HANDLERS[req.opcode];
    let out: Out | Promise<Out>;
    try {
      if (!h) throw new FuseError(ENOSYS);
      out = h(this, req, ctx);
    } catch (e) {
      if (held) this.release(held);
      this.fail(req, e);
      return;
    }
    if (out instanceof Promise) {
      this.pending++;
      this.inFlight.set(req.unique, ctx);
      out.then(
        (o) => { this.settle(req, held); this.send(o, req); },
        (e) => { this.settle(req, held); this.fail(req, e); },
      );
      return;
    }
    if (held) this.release(held);
    this.send(out, req);
  }

  private settle(req: Request, held: Buffer | null): void {
    this.inFlight.delete(req.unique);
    this.pending--;
    if (held) this.release(held);
    this.resume();
  }

  private fail(req: Request, e: unknown): void {
    if (NO_REPLY.has(req.opcode)) {
      this.log(`${req.op} handler failed: ${(e as Error)?.message ?? e}`);
      return;
    }
    let errno = errnoOf(e);
    if (!errno) {
      errno = EIO;
      this.log(`bug: ${req.op} (nodeid ${req.nodeid}) threw ${(e as Error)?.stack ?? e}; answered EIO`);
    }
    this.write(encodeError(req.unique, errno), req);
  }

  private onBadRequest(buf: Buffer, n: number, e: Error): void {
    this.log(`bad request: ${e.message}`);
    try {
      const h = decodeHeader(buf, n);
      if (!NO_REPLY.has(h.opcode)) this.write(encodeError(h.unique, OP_NAMES[h.opcode] ? EIO : ENOSYS), null);
    } catch { /* header unreadable: nothing to answer */ }
  }

  /** Writes a handler's output (reply bytes, or several buffers as one reply). */
  private send(out: Out, req: Request | null): void {
    if (out === null) return;
    this.write(out, req);
  }

  /** One write = one reply. Errors the kernel reports for stale requests are expected. */
  write(out: Buffer | Buffer[], req: Request | null): void {
    if (this.ended) return;
    if (this.opts.debug && req) this.log(`-> ${req.op} unique=${req.unique} ${describeReply(out)}`);
    if (this.opts.trace) this.opts.trace('out', Array.isArray(out) ? Buffer.concat(out) : Buffer.from(out));
    try {
      if (Array.isArray(out)) fs.writevSync(this.fd, out);
      else fs.writeSync(this.fd, out);
    } catch (e) {
      const errno = errnoOf(e);
      if (errno === ENOENT) return; // the request was interrupted and already ended
      if (errno === ENODEV || errno === ECONNABORTED) return; // unmounted: the read loop ends the session
      this.log(`reply to ${req?.op ?? 'request'} ${req?.unique ?? ''} refused by the kernel: ${errnoName(errno)}`);
      // never leave the caller hanging: answer EIO instead of the malformed reply
      if (req && !(out instanceof Buffer && out.length === 16)) this.write(encodeError(req.unique, EIO), null);
    }
  }

  // ------------------------------------------------------------------- INIT

  /** INIT negotiation: min(kernel minor, ours), flags = wanted & offered. */
  negotiate(args: ArgsByOp['INIT'], unique: number): Buffer | Promise<Buffer> {
    const o = this.opts;
    if (args.major !== KERNEL_VERSION) {
      if (args.major > KERNEL_VERSION) {
        // tell the kernel our major; it sends a new INIT
        return encodeInit(unique, {
          major: KERNEL_VERSION, minor: KERNEL_MINOR_VERSION, maxReadahead: 0, flags: 0n, maxBackground: 0,
          congestionThreshold: 0, maxWrite: 0, timeGran: 0, maxPages: 0, maxStackDepth: 0,
        });
      }
      this.log(`kernel protocol ${args.major}.${args.minor} unsupported`);
      return encodeError(unique, EPROTO);
    }
    const minor = Math.min(args.minor, o.maxMinor ?? KERNEL_MINOR_VERSION, KERNEL_MINOR_VERSION);
    if (minor < OLDEST_MINOR) {
      this.log(`kernel protocol 7.${args.minor} is older than 7.${OLDEST_MINOR}`);
      return encodeError(unique, EPROTO);
    }
    const want = this.wantedFlags();
    let flags = want & args.flags;
    if ((flags & InitFlag.PASSTHROUGH) !== 0n) flags &= ~InitFlag.WRITEBACK_CACHE;
    if (flags > 0xffffffffn) flags |= InitFlag.INIT_EXT & args.flags;
    const maxWrite = this.bufSize - PAGE_SIZE;
    const maxPages = Math.min(MAX_PAGES_LIMIT, Math.ceil(maxWrite / PAGE_SIZE));
    this.neg.minor = minor;
    this.neg.flags = flags;
    const passthrough = (flags & InitFlag.PASSTHROUGH) !== 0n;
    this.conn = {
      minor, flags, kernelFlags: args.flags, maxWrite, devFd: this.fd, passthrough,
      maxReadahead: Math.min(args.maxReadahead, o.maxReadahead ?? args.maxReadahead),
    };
    const reply = encodeInit(unique, {
      major: KERNEL_VERSION, minor, maxReadahead: this.conn.maxReadahead, flags,
      maxBackground: o.maxBackground ?? 64, congestionThreshold: o.congestionThreshold ?? 48,
      maxWrite, timeGran: o.timeGran ?? 1, maxPages, maxStackDepth: passthrough ? (o.maxStackDepth ?? 1) : 0,
    });
    this.log(`INIT: kernel 7.${args.minor}, using 7.${minor}, max_write ${maxWrite}, flags 0x${flags.toString(16)}`);
    const conn = this.conn;
    const done = () => { this.readyResolve(conn); return reply; };
    const r = this.fs.init?.(conn);
    return r instanceof Promise ? r.then(done) : done();
  }

  /** The INIT flags this session asks for, given its options and what the fs implements. */
  wantedFlags(): bigint {
    const o = this.opts, f = this.fs, F = InitFlag;
    let w = F.BIG_WRITES | F.MAX_PAGES | F.INIT_EXT | F.AUTO_INVAL_DATA | F.ASYNC_DIO | F.HAS_EXPIRE_ONLY |
      F.SETXATTR_EXT | F.HAS_IOCTL_DIR | F.DO_READDIRPLUS | F.READDIRPLUS_AUTO;
    if (o.asyncRead !== false) w |= F.ASYNC_READ;
    if (o.parallelDirops !== false) w |= F.PARALLEL_DIROPS;
    if (f.open) w |= F.ATOMIC_O_TRUNC;
    if (!f.open) w |= F.NO_OPEN_SUPPORT;
    if (!f.opendir) w |= F.NO_OPENDIR_SUPPORT;
    const rdp = f.readdirplus ? (o.readdirplus ?? 'auto') : 'off';
    if (rdp === 'off') w &= ~(F.DO_READDIRPLUS | F.READDIRPLUS_AUTO);
    else if (rdp === 'on') w &= ~F.READDIRPLUS_AUTO;
    if (o.writebackCache) w |= F.WRITEBACK_CACHE;
    if (o.passthrough) w |= F.PASSTHROUGH;
    if (o.cacheSymlinks) w |= F.CACHE_SYMLINKS;
    if (o.posixAcl) w |= F.POSIX_ACL | F.DONT_MASK;
    if (f.getlk && f.setlk) w |= F.POSIX_LOCKS | F.FLOCK_LOCKS;
    if (o.extraFlags) w |= o.extraFlags;
    if (o.denyFlags) w &= ~o.denyFlags;
    return w;
  }

  // -------------------------------------------------------------- interrupts

  interrupt(unique: number): void {
    const ctx = this.inFlight.get(unique);
    if (!ctx) return; // already answered
    ctx.interrupted = true;
    ctx.onInterrupt?.();
  }

  // ----------------------------------------------------------- notifications

  /**
   * Queues a notification. It is written after the current reply and never
   * on the serving thread's critical path (the kernel may hold locks that a
   * reply we have not sent yet would release), through an async write.
   * Resolves true when the kernel took it, false when it had nothing cached
   * (ENOENT), rejects on other errors.
   */
  notify(bytes: Buffer): Promise<boolean> {
    const run = () => new Promise<boolean>((resolve, reject) => {
      if (this.ended) { resolve(false); return; }
      if (this.opts.trace) this.opts.trace('out', Buffer.from(bytes));
      setImmediate(() => fs.write(this.fd, bytes, 0, bytes.length, null, (err) => {
        if (!err) resolve(true);
        else if (errnoOf(err) === ENOENT) resolve(false);
        else reject(new FuseError(errnoOf(err) || EIO, 'notification refused'));
      }));
    });
    const p = this.notifyChain.then(run, run);
    this.notifyChain = p.catch(() => false);
    return p;
  }

  notifyInvalInode(ino: number, off = 0, len = 0): Promise<boolean> {
    return this.notify(encodeNotifyInvalInode(ino, off, len));
  }

  notifyInvalEntry(parent: number, name: string, expireOnly = false): Promise<boolean> {
    return this.notify(encodeNotifyInvalEntry(parent, name, expireOnly ? 1 : 0));
  }

  notifyDelete(parent: number, child: number, name: string): Promise<boolean> {
    return this.notify(encodeNotifyDelete(parent, child, name));
  }

  notifyStore(nodeid: number, offset: number, data: Uint8Array): Promise<boolean> {
    return this.notify(encodeNotifyStore(nodeid, offset, data));
  }

  notifyPoll(kh: number): Promise<boolean> {
    return this.notify(encodeNotifyPoll(kh));
  }

  notifyPrune(nodeids: number[]): Promise<boolean> {
    return this.notify(encodeNotifyPrune(nodeids));
  }

  notifyResend(): Promise<boolean> {
    return this.notify(encodeNotifyBare(7));
  }

  notifyIncEpoch(): Promise<boolean> {
    return this.notify(encodeNotifyBare(8));
  }

  /** Asks the kernel for cached page data; resolves with what it sends back (NOTIFY_REPLY). */
  async notifyRetrieve(nodeid: number, offset: number, size: number): Promise<{ offset: number; data: Buffer }> {
    const id = this.notifyUnique++;
    const got = new Promise<{ offset: number; data: Buffer }>((res) => this.retrieves.set(id, res));
    const ok = await this.notify(encodeNotifyRetrieve(id, nodeid, offset, size));
    if (!ok) { this.retrieves.delete(id); return { offset, data: Buffer.alloc(0) }; }
    return got;
  }

  /** NOTIFY_REPLY from the kernel, matched by the unique we chose. */
  retrieved(unique: number, offset: number, data: Buffer): void {
    const r = this.retrieves.get(unique);
    if (!r) return;
    this.retrieves.delete(unique);
    r({ offset, data: Buffer.from(data) });
  }
}

/** The Reply handed to the raw hook. */
class ReplyImpl implements Reply {
  constructor(private readonly s: Session, readonly unique: number) {}
  private get minor() { return this.s.neg.minor || 45; }
  error(errno: number) { this.s.write(errno ? encodeError(this.unique, errno) : encodeEmpty(this.unique), null); }
  raw(bytes: Uint8Array) { this.s.write(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), null); }
  payload(bytes: Uint8Array) { this.s.write(encodeData(this.unique, bytes), null); }
  entry(e: Parameters<Reply['entry']>[0]) { this.s.write(encodeEntry(this.unique, e, this.minor), null); }
  attr(a: Parameters<Reply['attr']>[0]) { this.s.write(encodeAttr(this.unique, a, this.minor), null); }
  open(o: Parameters<Reply['open']>[0]) { this.s.write(encodeOpen(this.unique, o), null); }
  create(e: Parameters<Reply['create']>[0], o: Parameters<Reply['create']>[1]) { this.s.write(encodeCreate(this.unique, e, o, this.minor), null); }
  write(size: number) { this.s.write(encodeWrite(this.unique, size), null); }
  statfs(st: Parameters<Reply['statfs']>[0]) { this.s.write(encodeStatfs(this.unique, st, this.minor), null); }
  data(bytes: Uint8Array) { this.payload(bytes); }
  none() { /* deliberately unanswered */ }
}

// ------------------------------------------------------------------ handlers

const ENOSYS_ERR = () => new FuseError(ENOSYS);

/** value-or-promise → encode */
function then<T>(v: T | Promise<T>, enc: (x: T) => Out): Out | Promise<Out> {
  return v instanceof Promise ? v.then(enc) : enc(v);
}

const empty = (unique: number) => () => encodeEmpty(unique);

const HANDLERS: (Handler | undefined)[] = [];
function on<K extends keyof ArgsByOp>(op: K, h: (s: Session, q: Request<K>, ctx: RequestContext) => Out | Promise<Out>) {
  HANDLERS[Op[op as keyof typeof Op]] = h as Handler;
}

on('INIT', (s, q) => s.negotiate(q.args, q.unique));
on('DESTROY', (s, q) => {
  const r = s.fs.destroy?.();
  return then(r, () => encodeEmpty(q.unique));
});
on('LOOKUP', (s, q, c) => {
  if (!s.fs.lookup) throw ENOSYS_ERR();
  return then(s.fs.lookup(c, q.nodeid, q.args.name), (e) => encodeEntry(q.unique, e, s.neg.minor));
});
on('FORGET', (s, q) => { s.fs.forget?.(q.nodeid, q.args.nlookup); return null; });
on('BATCH_FORGET', (s, q) => {
  const f = s.fs.forget;
  if (f) for (const x of q.args.forgets) f.call(s.fs, x.nodeid, x.nlookup);
  return null;
});
on('INTERRUPT', (s, q) => { s.interrupt(q.args.unique); return null; });
on('NOTIFY_REPLY', (s, q) => { s.retrieved(q.unique, q.args.offset, q.args.data); return null; });
on('GETATTR', (s, q, c) => {
  if (!s.fs.getattr) throw ENOSYS_ERR();
  const fh = q.args.getattrFlags & 1 ? q.args.fh : undefined;
  return then(s.fs.getattr(c, q.nodeid, fh), (a) => encodeAttr(q.unique, a, s.neg.minor));
});
on('SETATTR', (s, q, c) => {
  if (!s.fs.setattr) throw ENOSYS_ERR();
  return then(s.fs.setattr(c, q.nodeid, q.args), (a) => encodeAttr(q.unique, a, s.neg.minor));
});
on('READLINK', (s, q, c) => {
  if (!s.fs.readlink) throw ENOSYS_ERR();
  return then(s.fs.readlink(c, q.nodeid), (t) => encodeData(q.unique, typeof t === 'string' ? Buffer.from(t) : t));
});
on('SYMLINK', (s, q, c) => {
  if (!s.fs.symlink) throw ENOSYS_ERR();
  return then(s.fs.symlink(c, q.nodeid, q.args.name, q.args.target), (e) => encodeEntry(q.unique, e, s.neg.minor));
});
on('MKNOD', (s, q, c) => {
  if (!s.fs.mknod) throw ENOSYS_ERR();
  const a = q.args;
  return then(s.fs.mknod(c, q.nodeid, a.name, a.mode, a.rdev, a.umask), (e) => encodeEntry(q.unique, e, s.neg.minor));
});
on('MKDIR', (s, q, c) => {
  if (!s.fs.mkdir) throw ENOSYS_ERR();
  return then(s.fs.mkdir(c, q.nodeid, q.args.name, q.args.mode, q.args.umask), (e) => encodeEntry(q.unique, e, s.neg.minor));
});
on('UNLINK', (s, q, c) => {
  if (!s.fs.unlink) throw ENOSYS_ERR();
  return then(s.fs.unlink(c, q.nodeid, q.args.name), empty(q.unique));
});
on('RMDIR', (s, q, c) => {
  if (!s.fs.rmdir) throw ENOSYS_ERR();
  return then(s.fs.rmdir(c, q.nodeid, q.args.name), empty(q.unique));
});
const rename = (s: Session, q: Request<'RENAME' | 'RENAME2'>, c: RequestContext) => {
  if (!s.fs.rename) throw ENOSYS_ERR();
  const a = q.args;
  return then(s.fs.rename(c, q.nodeid, a.oldname, a.newdir, a.newname, a.flags), empty(q.unique));
};
on('RENAME', rename);
on('RENAME2', rename);
on('LINK', (s, q, c) => {
  if (!s.fs.link) throw ENOSYS_ERR();
  return then(s.fs.link(c, q.args.oldnodeid, q.nodeid, q.args.newname), (e) => encodeEntry(q.unique, e, s.neg.minor));
});
on('OPEN', (s, q, c) => {
  if (!s.fs.open) throw ENOSYS_ERR();
  return then(s.fs.open(c, q.nodeid, q.args.flags), (o) => encodeOpen(q.unique, o));
});
on('READ', (s, q, c) => {
  if (!s.fs.read) throw ENOSYS_ERR();
  const a = q.args;
  return then(s.fs.read(c, q.nodeid, a.fh, a.offset, a.size), (d) => dataReply(q.unique, d, a.size));
});
on('WRITE', (s, q, c) => {
  if (!s.fs.write) throw ENOSYS_ERR();
  const a = q.args;
  return then(s.fs.write(c, q.nodeid, a.fh, a.offset, a.data, a.writeFlags), (n) => encodeWrite(q.unique, n));
});
on('FLUSH', (s, q, c) => {
  if (!s.fs.flush) throw ENOSYS_ERR();
  return then(s.fs.flush(c, q.nodeid, q.args.fh, q.args.lockOwner), empty(q.unique));
});
on('RELEASE', (s, q, c) => {
  if (!s.fs.release) return encodeEmpty(q.unique);
  return then(s.fs.release(c, q.nodeid, q.args.fh, q.args.flags), empty(q.unique));
});
on('FSYNC', (s, q, c) => {
  if (!s.fs.fsync) throw ENOSYS_ERR();
  return then(s.fs.fsync(c, q.nodeid, q.args.fh, (q.args.fsyncFlags & 1) !== 0), empty(q.unique));
});
on('OPENDIR', (s, q, c) => {
  if (!s.fs.opendir) throw ENOSYS_ERR();
  return then(s.fs.opendir(c, q.nodeid, q.args.flags), (o) => encodeOpen(q.unique, o));
});
on('READDIR', (s, q, c) => {
  if (!s.fs.readdir) throw ENOSYS_ERR();
  const a = q.args;
  return then(s.fs.readdir(c, q.nodeid, a.fh, a.offset, a.size), (ents) => encodeDirents(q.unique, ents, a.size).reply);
});
on('READDIRPLUS', (s, q, c) => {
  if (!s.fs.readdirplus) throw ENOSYS_ERR();
  const a = q.args;
  return then(s.fs.readdirplus(c, q.nodeid, a.fh, a.offset, a.size), (ents) => {
    const { reply, count } = encodeDirentsPlus(q.unique, ents, a.size, s.neg.minor);
    if (count < ents.length) forgetUnsent(s, ents, count);
    return reply;
  });
});
on('RELEASEDIR', (s, q, c) => {
  if (!s.fs.releasedir) return encodeEmpty(q.unique);
  return then(s.fs.releasedir(c, q.nodeid, q.args.fh, q.args.flags), empty(q.unique));
});
on('FSYNCDIR', (s, q, c) => {
  if (!s.fs.fsyncdir) throw ENOSYS_ERR();
  return then(s.fs.fsyncdir(c, q.nodeid, q.args.fh, (q.args.fsyncFlags & 1) !== 0), empty(q.unique));
});
on('STATFS', (s, q, c) => {
  if (!s.fs.statfs) {
    // like libfuse: a filesystem without statfs still answers df
    return encodeStatfs(q.unique, { blocks: 0, bfree: 0, bavail: 0, files: 0, ffree: 0, bsize: 512, namelen: 255, frsize: 512 }, s.neg.minor);
  }
  return then(s.fs.statfs(c, q.nodeid), (st) => encodeStatfs(q.unique, st, s.neg.minor));
});
on('SETXATTR', (s, q, c) => {
  if (!s.fs.setxattr) throw ENOSYS_ERR();
  return then(s.fs.setxattr(c, q.nodeid, q.args.name, q.args.value, q.args.flags), empty(q.unique));
});
on('GETXATTR', (s, q, c) => {
  if (!s.fs.getxattr) throw ENOSYS_ERR();
  return then(s.fs.getxattr(c, q.nodeid, q.args.name), (v) => sized(q.unique, v, q.args.size));
});
on('LISTXATTR', (s, q, c) => {
  if (!s.fs.listxattr) throw ENOSYS_ERR();
  return then(s.fs.listxattr(c, q.nodeid), (names) => {
    const v = Buffer.from(names.map((n) => n + '\0').join(''), 'utf8');
    return sized(q.unique, v, q.args.size);
  });
});
on('REMOVEXATTR', (s, q, c) => {
  if (!s.fs.removexattr) throw ENOSYS_ERR();
  return then(s.fs.removexattr(c, q.nodeid, q.args.name), empty(q.unique));
});
on('ACCESS', (s, q, c) => {
  if (!s.fs.access) throw ENOSYS_ERR();
  return then(s.fs.access(c, q.nodeid, q.args.mask), empty(q.unique));
});
on('CREATE', (s, q, c) => {
  if (!s.fs.create) throw ENOSYS_ERR();
  const a = q.args;
  return then(s.fs.create(c, q.nodeid, a.name, a.mode, a.flags, a.umask), (r) => encodeCreate(q.unique, r.entry, r.open, s.neg.minor));
});
on('TMPFILE', (s, q, c) => {
  if (!s.fs.tmpfile) throw ENOSYS_ERR();
  const a = q.args;
  return then(s.fs.tmpfile(c, q.nodeid, a.mode, a.flags, a.umask), (r) => encodeCreate(q.unique, r.entry, r.open, s.neg.minor));
});
on('GETLK', (s, q, c) => {
  if (!s.fs.getlk) throw ENOSYS_ERR();
  return then(s.fs.getlk(c, q.nodeid, q.args.fh, q.args.owner, q.args.lk), (l) => encodeLock(q.unique, l));
});
const setlk = (sleep: boolean) => (s: Session, q: Request<'SETLK' | 'SETLKW'>, c: RequestContext) => {
  if (!s.fs.setlk) throw ENOSYS_ERR();
  const a = q.args;
  return then(s.fs.setlk(c, q.nodeid, a.fh, a.owner, a.lk, sleep, (a.lkFlags & 1) !== 0), empty(q.unique));
};
on('SETLK', setlk(false));
on('SETLKW', setlk(true));
on('BMAP', (s, q, c) => {
  if (!s.fs.bmap) throw ENOSYS_ERR();
  return then(s.fs.bmap(c, q.nodeid, q.args.blocksize, q.args.block), (b) => encodeBmap(q.unique, b));
});
on('IOCTL', (s, q, c) => {
  if (!s.fs.ioctl) throw ENOSYS_ERR();
  return then(s.fs.ioctl(c, q.nodeid, q.args), (r) => encodeIoctl(q.unique, r));
});
on('POLL', (s, q, c) => {
  if (!s.fs.poll) throw ENOSYS_ERR();
  return then(s.fs.poll(c, q.nodeid, q.args), (r) => encodePoll(q.unique, r));
});
on('FALLOCATE', (s, q, c) => {
  if (!s.fs.fallocate) throw ENOSYS_ERR();
  const a = q.args;
  return then(s.fs.fallocate(c, q.nodeid, a.fh, a.offset, a.length, a.mode), empty(q.unique));
});
on('LSEEK', (s, q, c) => {
  if (!s.fs.lseek) throw ENOSYS_ERR();
  return then(s.fs.lseek(c, q.nodeid, q.args.fh, q.args.offset, q.args.whence), (o) => encodeLseek(q.unique, o));
});
const copyRange = (wide: boolean) => (s: Session, q: Request<'COPY_FILE_RANGE' | 'COPY_FILE_RANGE_64'>, c: RequestContext) => {
  if (!s.fs.copyFileRange) throw ENOSYS_ERR();
  return then(s.fs.copyFileRange(c, q.nodeid, q.args), (n) => encodeCopyRange(q.unique, n, wide));
};
on('COPY_FILE_RANGE', copyRange(false));
on('COPY_FILE_RANGE_64', copyRange(true));
on('STATX', (s, q, c) => {
  if (!s.fs.statx) throw ENOSYS_ERR();
  return then(s.fs.statx(c, q.nodeid, q.args), (r) => encodeStatx(q.unique, r));
});
on('SYNCFS', (s, q, c) => {
  if (!s.fs.syncfs) throw ENOSYS_ERR();
  return then(s.fs.syncfs(c, q.nodeid), empty(q.unique));
});

/** READ reply: header + data in one writev, without copying the data. */
function dataReply(unique: number, d: Uint8Array, max: number): Out {
  const data = d.length > max ? d.subarray(0, max) : d;
  const hdr = replyHeader(unique, data.length);
  if (data.length === 0) return hdr;
  return [hdr, Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength)];
}

/** GETXATTR/LISTXATTR: size 0 probes the length; a short buffer is ERANGE. */
function sized(unique: number, v: Uint8Array, size: number): Out {
  if (size === 0) return encodeXattrSize(unique, v.length);
  if (v.length > size) throw new FuseError(ERANGE);
  return encodeData(unique, v);
}

function forgetUnsent(s: Session, ents: DirEntryPlus[], from: number): void {
  const f = s.fs.forget;
  if (!f) return;
  for (let i = from; i < ents.length; i++) {
    const e = ents[i];
    if (e.entry.nodeid !== 0 && e.name !== '.' && e.name !== '..') f.call(s.fs, e.entry.nodeid, 1);
  }
}

function debugArgs(req: Request): string {
  const a = req.args as Record<string, unknown>;
  const parts: string[] = [];
  for (const [k, v] of Object.entries(a)) {
    if (Buffer.isBuffer(v)) parts.push(`${k}=<${v.length} bytes>`);
    else if (Array.isArray(v)) parts.push(`${k}=[${v.length}]`);
    else parts.push(`${k}=${typeof v === 'bigint' ? '0x' + v.toString(16) : JSON.stringify(v)}`);
  }
  return parts.join(' ');
}

function describeReply(out: Buffer | Buffer[]): string {
  const first = Array.isArray(out) ? out[0] : out;
  const err = first.readInt32LE(4);
  const len = first.readUInt32LE(0);
  return err ? `error=${errnoName(err)}` : `len=${len}`;
}

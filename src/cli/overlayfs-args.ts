/**
 * fuse-overlayfs' command line, parsed into what the overlay, the mount and
 * the session need (see /work/shared/research/overlay.md §1):
 *
 *   tsfuse-overlayfs [-f] [-d|--debug] [-o OPTS]... [SOURCE] MOUNTPOINT
 *
 * Options and positionals may come in any order; `-oOPTS` works too; every
 * non-option argument overwrites the mountpoint (so `prog SRC MNT -o …`, what
 * mount.fuse3 runs, works and SRC is ignored). Several -o are merged, later
 * wins. Unknown options are never fatal: they become warnings
 * (`unknown argument ignored: X`) the program prints on stderr — this is
 * what happens to the `c2"` left over when an SELinux
 * `context="…:s0:c1,c2"` is split at its comma, and to `metacopy=on` from
 * older containers-storage.
 *
 * Escapes, two levels like libfuse + fuse-overlayfs:
 *  1. splitting -o (all values): `\,` is a comma, `\\` a backslash, `\NNN`
 *     an octal byte, `\X` is X — except that `\:` is kept for level 2;
 *  2. path lists (lowerdir=, plugins=) and paths (upperdir=, workdir=):
 *     `\:` is a literal colon, `\\` a backslash; an unescaped `:` separates.
 * So `lowerdir=/a\:b:/c\,d` gives [`/a:b`, `/c,d`], and fuse-overlayfs'
 * own double form `lower\\:1` gives `lower:1` too. (In fuse-overlayfs a
 * single `\:` would be a separator; nobody means that.)
 *
 * The mount is named fsname "tsfuse-overlayfs", type "fuse.tsfuse-overlayfs"
 * (fsname=/subtype= override it). Deliberately not "fuse-overlayfs": tools
 * can tell the two apart in /proc/mounts, and containers-storage only checks
 * the FUSE statfs magic, never the name.
 */
import type { MountOptions } from '../fuse/mount.js';
import type { SessionOptions } from '../fuse/session.js';
import type { IdMapping, OverlayOptions } from '../overlay/options.js';
import { DAEMON_FLAG } from './daemon.js';
import { nonNegativeNumber, OptionError, positiveInt, splitOptions } from './options.js';

export const OVERLAY_PROG = 'tsfuse-overlayfs';

/** A parsed mount command line. */
export interface OverlayMountArgs {
  action: 'mount';
  /** -f, or implied by -d / -o debug */
  foreground: boolean;
  /** -d, --debug, -o debug: log every request */
  debug: boolean;
  /** the last non-option argument, as given (not resolved) */
  mountpoint: string;
  /** a non-option argument before the mountpoint (mount.fuse3's SOURCE); ignored */
  source?: string;
  overlay: OverlayOptions;
  mount: MountOptions;
  /** session tweaks from the command line: maxWrite (max_write=), writebackCache (writeback=1), debug */
  session: SessionOptions;
  /** lines for stderr, without the program prefix ("unknown argument ignored: X", …) */
  warnings: string[];
}

export type OverlayArgs = { action: 'help' } | { action: 'version' } | OverlayMountArgs;

export interface ParseContext {
  /** as root fuse-overlayfs adds allow_other,suid (default: the current euid) */
  root?: boolean;
}

/** FUSE/mount flag words passed through to MountOptions.flags; each group keeps its last word. */
const FLAG_GROUPS: Record<string, string> = {
  suid: 'suid', nosuid: 'suid',
  dev: 'dev', nodev: 'dev',
  exec: 'exec', noexec: 'exec',
  atime: 'atime', noatime: 'atime',
  diratime: 'diratime', nodiratime: 'diratime',
  sync: 'sync', async: 'sync',
  dirsync: 'dirsync', relatime: 'relatime', strictatime: 'strictatime', lazytime: 'lazytime',
};

/** mount(2) already does these by default; mount.ts does not know the word "diratime". */
const NOT_EMITTED = new Set(['diratime']);

/** Accepted and ignored without a word (libfuse tuning fuse-overlayfs forwards, or overlay knobs we do not need). */
const IGNORED = new Set(['kernel_cache', 'splice_read', 'splice_write', 'splice_move', 'context', 'threaded', 'fast_ino', 'xino', 'fscontext', 'defcontext', 'rootcontext']);

/**
 * Parses fuse-overlayfs' argv (without the program name, i.e.
 * process.argv.slice(2)). Throws OptionError with a one-line message.
 */
export function parseOverlayArgs(args: string[], ctx: ParseContext = {}): OverlayArgs {
  const root = ctx.root ?? process.geteuid?.() === 0;
  const optionValues: string[] = [];
  const positionals: string[] = [];
  let foreground = false, debug = false;
  let endOfOptions = false;
  const warnings: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (endOfOptions || a === '-' || !a.startsWith('-')) { positionals.push(a); continue; }
    if (a === '--') { endOfOptions = true; continue; }
    if (a === '-h' || a === '--help') return { action: 'help' };
    if (a === '-V' || a === '--version') return { action: 'version' };
    if (a === '-f') foreground = true;
    else if (a === '-d' || a === '--debug') debug = true;
    else if (a === '-s') { /* libfuse single-threaded: we always are */ }
    else if (a === DAEMON_FLAG) { /* internal: the daemonized child */ }
    else if (a === '-o') {
      if (i + 1 >= args.length) throw new OptionError('missing argument after -o');
      optionValues.push(args[++i]);
    } else if (a.startsWith('-o')) optionValues.push(a.slice(2));
    else warnings.push(`unknown argument ignored: ${a}`);
  }

  // fuse-overlayfs' get_new_args(): its defaults go first, so the user's options override them
  const defaults = root ? 'default_permissions,allow_other,suid,noatime' : 'default_permissions,noatime';
  const overlay: OverlayOptions = { lowerdirs: [], writeback: false };
  const mount: MountOptions = { fsname: OVERLAY_PROG, subtype: OVERLAY_PROG };
  const session: SessionOptions = {};
  const flags = new Map<string, string>();
  let lowerdirSeen = false;

  for (const raw of [defaults, ...optionValues].flatMap(splitOptions)) {
    const eq = raw.indexOf('=');
    const key = eq < 0 ? raw : raw.slice(0, eq);
    const hasValue = eq >= 0;
    const rawValue = hasValue ? raw.slice(eq + 1) : '';
    const value = unescapeOption(rawValue);
    const unknown = () => warnings.push(`unknown argument ignored: ${raw}`);
    const needValue = () => { if (!hasValue) throw new OptionError(`option ${key} needs a value (${key}=…)`); };
    /** 0|1 options; bare means 1 */
    const bit = (): boolean => {
      if (!hasValue) return true;
      if (value === '0' || value === '1') return value === '1';
      throw new OptionError(`option ${key}=${value}: expected 0 or 1`);
    };
    /** flags without a value; `=0`/`=1` tolerated */
    const flag = (): boolean | undefined => {
      if (!hasValue || value === '1') return true;
      if (value === '0') return false;
      unknown();
      return undefined;
    };

    if (key in FLAG_GROUPS && !hasValue) {
      flags.delete(FLAG_GROUPS[key]);
      flags.set(FLAG_GROUPS[key], key);
      continue;
    }
    switch (key) {
      // ---- the overlay
      case 'lowerdir':
        needValue();
        overlay.lowerdirs = splitPathList(value);
        lowerdirSeen = true;
        break;
      case 'upperdir':
        needValue();
        overlay.upperdir = unescapePath(value) || undefined;
        break;
      case 'workdir':
        needValue();
        overlay.workdir = unescapePath(value) || undefined;
        break;
      case 'uidmapping':
      case 'gidmapping': {
        needValue();
        const m = parseMappings(key, value);
        if (key === 'uidmapping') overlay.uidMappings = m; else overlay.gidMappings = m;
        break;
      }
      case 'squash_to_root': { const f = flag(); if (f !== undefined) overlay.squashToRoot = f; break; }
      case 'squash_to_uid': needValue(); overlay.squashToUid = parseId(key, value); break;
      case 'squash_to_gid': needValue(); overlay.squashToGid = parseId(key, value); break;
      case 'static_nlink': { const f = flag(); if (f !== undefined) overlay.staticNlink = f; break; }
      case 'noacl': { const f = flag(); if (f !== undefined) overlay.noacl = f; break; }
      case 'xattr_permissions':
        needValue();
        if (value !== '0' && value !== '1' && value !== '2') throw new OptionError(`option xattr_permissions=${value}: expected 0, 1 or 2`);
        overlay.xattrPermissions = Number(value) as 0 | 1 | 2;
        break;
      case 'volatile': { const f = flag(); if (f !== undefined) overlay.noFsync = f; break; }
      case 'fsync':
        overlay.noFsync = !bit();
        break;
      case 'sync':
        // bare `sync` is the mount flag (handled above); sync=0|1 is fuse-overlayfs' (Rust) alias of fsync=
        overlay.noFsync = !bit();
        break;
      case 'timeout':
        needValue();
        overlay.timeout = nonNegativeNumber('timeout', value);
        break;
      case 'writeback':
        overlay.writeback = bit();
        break;
      case 'noxattrs':
        overlay.noxattrs = bit();
        break;
      case 'redirect_dir':
        if (value !== 'off') throw new OptionError(`${OVERLAY_PROG} only supports redirect_dir=off`);
        break;
      case 'plugins':
        needValue();
        overlay.plugins = splitPathList(value);
        break;
      case 'plugin_timeout': {
        needValue();
        const t = nonNegativeNumber('plugin_timeout', value);
        if (!t) throw new OptionError('plugin_timeout must be a positive number of seconds');
        overlay.pluginTimeout = t;
        break;
      }
      case 'debug':
        if (flag()) debug = true;
        break;

      // ---- FUSE mount options
      case 'allow_other': if (flag()) mount.allowOther = true; break;
      case 'default_permissions': if (flag()) mount.defaultPermissions = true; break;
      case 'allow_root':
        warnings.push('allow_root is not supported, ignored (use allow_other)');
        break;
      case 'auto_unmount': if (flag()) mount.autoUnmount = true; break;
      case 'ro':
      case 'rw':
        if (hasValue) unknown(); else mount.ro = key === 'ro';
        break;
      case 'fsname':
        needValue();
        mount.fsname = value;
        break;
      case 'subtype':
        needValue();
        mount.subtype = value;
        break;
      case 'max_read':
        needValue();
        mount.maxRead = positiveInt('max_read', value);
        break;
      case 'max_write':
        needValue();
        session.maxWrite = positiveInt('max_write', value);
        break;

      default:
        if (!IGNORED.has(key)) unknown();
    }
  }

  if (positionals.length === 0) throw new OptionError('no mountpoint specified');
  if (!lowerdirSeen || overlay.lowerdirs.length === 0) throw new OptionError('no lowerdir specified');
  if (overlay.upperdir !== undefined && overlay.workdir === undefined) throw new OptionError('workdir not specified');
  // workdir without upperdir: a read-only overlay, the workdir is unused
  if (overlay.upperdir === undefined) delete overlay.workdir;

  if (debug) foreground = true;
  overlay.debug = debug;
  if (overlay.writeback) session.writebackCache = true;
  session.debug = debug;
  mount.flags = [...flags.values()].filter((f) => !NOT_EMITTED.has(f));

  const mountpoint = positionals[positionals.length - 1];
  const res: OverlayMountArgs = { action: 'mount', foreground, debug, mountpoint, overlay, mount, session, warnings };
  if (positionals.length > 1) res.source = positionals[positionals.length - 2];
  return res;
}

/**
 * Level 1 (libfuse's option splitting) on one value whose commas were
 * already split by splitOptions: `\NNN` octal → that byte, `\X` → X, but
 * `\:` stays `\:` for the path-list level.
 */
export function unescapeOption(s: string): string {
  if (!s.includes('\\')) return s;
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const ch = s[i];
    if (ch !== '\\' || i + 1 >= s.length) { out += ch; continue; }
    const n = s[i + 1];
    if (n === ':') { out += '\\:'; i++; continue; }
    if (/^[0-3][0-7][0-7]$/.test(s.slice(i + 1, i + 4))) {
      out += String.fromCharCode(parseInt(s.slice(i + 1, i + 4), 8));
      i += 3;
      continue;
    }
    out += n;
    i++;
  }
  return out;
}

/**
 * Level 2: splits a colon list (lowerdir=, plugins=) on unescaped colons;
 * `\:` is a colon, `\\` a backslash, any other backslash stays. Empty
 * elements are skipped (like fuse-overlayfs; no kernel `::` data-only layers).
 */
export function splitPathList(s: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < s.length; i++) {
    const ch = s[i];
    if (ch === '\\' && (s[i + 1] === ':' || s[i + 1] === '\\')) { cur += s[++i]; continue; }
    if (ch === ':') { if (cur) out.push(cur); cur = ''; continue; }
    cur += ch;
  }
  if (cur) out.push(cur);
  return out;
}

/** Level 2 for a single path (upperdir=, workdir=): `\:` a colon, `\\` a backslash. */
export function unescapePath(s: string): string {
  return s.replace(/\\([:\\])/g, '$1');
}

const MAX_ID = 0xffffffff;

function parseId(name: string, v: string): number {
  if (!/^\d+$/.test(v) || Number(v) >= MAX_ID) throw new OptionError(`option ${name}=${v}: expected a numeric id`);
  return Number(v);
}

/**
 * uidmapping= / gidmapping=: LAYERID:MOUNTID:LEN triples, all colon
 * separated (`0:1:65536`, `0:1:1:1:100000:65535`). Empty fields are
 * skipped like fuse-overlayfs' strtok(":"), so containers-storage's
 * occasional leading colon (`:0:100000:65536`) is fine.
 */
export function parseMappings(name: string, v: string): IdMapping[] {
  const bad = (why: string) => new OptionError(`option ${name}=${v}: ${why} (expected LAYERID:MOUNTID:LEN[:LAYERID:MOUNTID:LEN...])`);
  const fields = v.split(':').filter((f) => f !== '');
  if (fields.length === 0) throw bad('empty mapping');
  if (fields.length % 3 !== 0) throw bad(`${fields.length} numbers is not a whole number of triples`);
  const out: IdMapping[] = [];
  for (let i = 0; i < fields.length; i += 3) {
    const [layer, mount, len] = fields.slice(i, i + 3).map((f) => {
      if (!/^\d+$/.test(f)) throw bad(`"${f}" is not a number`);
      const n = Number(f);
      if (n > MAX_ID) throw bad(`${f} is out of range`);
      return n;
    });
    if (len === 0) throw bad('a mapping of length 0');
    if (layer + len > MAX_ID + 1 || mount + len > MAX_ID + 1) throw bad(`${layer}:${mount}:${len} goes past 4294967295`);
    out.push({ layer, mount, len });
  }
  return out;
}

export const OVERLAY_USAGE = `usage: ${OVERLAY_PROG} [-f] [-d|--debug] [-o OPTS]... [SOURCE] MOUNTPOINT

An overlay filesystem in pure TypeScript, a drop-in peer of fuse-overlayfs.
Daemonizes: returns 0 once the mount is live, or 1 with a one-line reason.
Unmount with fusermount3 -u MOUNTPOINT (or umount, or SIGTERM to the daemon).

  -f                 stay in the foreground
  -d, --debug        log every request to stderr (implies -f)
  -o OPTS            comma-separated options (repeatable; later ones win;
                     \\, is a comma, \\: a colon inside lowerdir paths)
  -h, --help         this help
  -V, --version      print the version

overlay options:
  lowerdir=A:B:...       lower layers, leftmost on top (required)
  upperdir=DIR           writable layer (needs workdir=)
  workdir=DIR            work directory on the upper layer's filesystem
  uidmapping=L:M:N[:...] gidmapping=L:M:N[:...]
                         layer id L shown as M, N ids each
  squash_to_root         squash_to_uid=N   squash_to_gid=N
  static_nlink           directories report st_nlink 1
  noacl                  no POSIX ACLs
  xattr_permissions=0|1|2  store owner and mode in an xattr (1: security., 2: user.)
  volatile, fsync=0|1    volatile / fsync=0: fsync does not sync
  timeout=SECS           entry and attribute validity
  writeback=0|1          writeback cache (default 0)
  noxattrs=0|1           xattr calls answer ENOSYS
  redirect_dir=off       (only off)
  plugins=A:B            plugin modules (paths, or built-in names: tar, fetch-on-lookup, stargz);
                         plugin layers are lowerdir elements //NAME/DATA/PATH
  plugin_timeout=SECS    a plugin callback that takes longer fails with EIO (default: the plugin's, else 5)
  context=, threaded=, fast_ino=, xino=   accepted, ignored

FUSE options:
  allow_other default_permissions ro rw suid nosuid dev nodev exec noexec
  atime noatime diratime nodiratime max_write=N fsname=NAME subtype=NAME
  (as root: default_permissions,allow_other,suid,noatime by default)
`;

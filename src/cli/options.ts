/**
 * `-o a,b=c` option lists: splitting (with `\,` escapes), and turning the
 * FUSE mount options into MountOptions. Shared by every CLI program.
 */
import type { MountOptions } from '../fuse/mount.js';

export type OptionMap = Map<string, string | true>;

/** Splits one -o value on unescaped commas; `\,` stays a literal comma. */
export function splitOptions(s: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < s.length; i++) {
    const ch = s[i];
    if (ch === '\\' && i + 1 < s.length) { cur += ch + s[++i]; continue; }
    if (ch === ',') { if (cur) out.push(cur); cur = ''; continue; }
    cur += ch;
  }
  if (cur) out.push(cur);
  return out;
}

/** Several -o values merged in order; later ones win. */
export function parseOptions(values: string[]): OptionMap {
  const m: OptionMap = new Map();
  for (const v of values) {
    for (const item of splitOptions(v)) {
      const eq = item.indexOf('=');
      if (eq < 0) m.set(item, true);
      else m.set(item.slice(0, eq), item.slice(eq + 1));
    }
  }
  return m;
}

export class OptionError extends Error {}

/** The options fusermount3 and the kernel understand. */
const FLAG_OPTIONS = ['nosuid', 'suid', 'nodev', 'dev', 'noexec', 'exec', 'async', 'sync', 'atime', 'noatime', 'dirsync', 'nodiratime', 'relatime', 'strictatime', 'rw'];

/** Takes the FUSE mount options out of `m` (what is left is the filesystem's). */
export function takeMountOptions(m: OptionMap): MountOptions {
  const o: MountOptions = { flags: [] };
  const str = (k: string) => { const v = m.get(k); m.delete(k); if (v === true) throw new OptionError(`option ${k} needs a value (${k}=…)`); return v; };
  const bool = (k: string) => { const v = m.get(k); m.delete(k); if (v !== undefined && v !== true) throw new OptionError(`option ${k} takes no value`); return v === true; };
  o.fsname = str('fsname');
  o.subtype = str('subtype');
  o.allowOther = bool('allow_other');
  o.defaultPermissions = bool('default_permissions');
  o.ro = bool('ro');
  o.autoUnmount = bool('auto_unmount');
  const mr = str('max_read');
  if (mr !== undefined) o.maxRead = positiveInt('max_read', mr);
  for (const f of FLAG_OPTIONS) if (m.has(f)) { m.delete(f); o.flags!.push(f); }
  return o;
}

export function positiveInt(name: string, v: string): number {
  if (!/^\d+$/.test(v) || Number(v) <= 0) throw new OptionError(`option ${name}=${v}: expected a positive whole number`);
  return Number(v);
}

export function nonNegativeNumber(name: string, v: string | true | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (v === true || !/^\d+(\.\d+)?$/.test(v)) throw new OptionError(`option ${name}: expected a number of seconds, got ${v === true ? 'nothing' : v}`);
  return Number(v);
}

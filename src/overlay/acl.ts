/**
 * POSIX ACLs for new objects. With FUSE_POSIX_ACL the kernel leaves the
 * umask and default-ACL inheritance to the filesystem (the server gets the
 * umask): a new object under a directory with a default ACL gets that ACL,
 * masked by the requested mode (what posix_acl_create does for disk
 * filesystems); elsewhere the umask applies. The xattr format is the
 * kernel's: a version-2 header and {tag u16, perm u16, id u32} entries.
 */

export const ACL_ACCESS = 'system.posix_acl_access';
export const ACL_DEFAULT = 'system.posix_acl_default';

const VERSION = 2;
const USER_OBJ = 0x01, GROUP_OBJ = 0x04, MASK = 0x10, OTHER = 0x20;

interface AclEntry { tag: number; perm: number; id: number }

function parse(b: Buffer): AclEntry[] | undefined {
  if (b.length < 4 || (b.length - 4) % 8 !== 0 || b.readUInt32LE(0) !== VERSION) return undefined;
  const out: AclEntry[] = [];
  for (let at = 4; at < b.length; at += 8) out.push({ tag: b.readUInt16LE(at), perm: b.readUInt16LE(at + 2), id: b.readUInt32LE(at + 4) });
  return out;
}

function serialize(entries: AclEntry[]): Buffer {
  const b = Buffer.alloc(4 + entries.length * 8);
  b.writeUInt32LE(VERSION, 0);
  entries.forEach((e, i) => {
    b.writeUInt16LE(e.tag, 4 + i * 8);
    b.writeUInt16LE(e.perm, 6 + i * 8);
    b.writeUInt32LE(e.id, 8 + i * 8);
  });
  return b;
}

export interface NewObjectAcl {
  /** the permission bits the object gets */
  mode: number;
  /** xattrs to set on it (an access ACL when it is more than the mode says, the default ACL for directories) */
  xattrs: [string, Buffer][];
}

/**
 * Mode and ACLs of an object created with `mode` under a directory whose
 * default ACL is `dflt` (null: none, the umask applies).
 */
export function newObjectAcl(mode: number, umask: number, isDir: boolean, dflt: Buffer | null): NewObjectAcl {
  const entries = dflt ? parse(dflt) : undefined;
  if (!entries || !entries.length) return { mode: mode & ~umask & 0o7777, xattrs: [] };
  const acl = entries.map((e) => ({ ...e }));
  let user = 7, group = 7, other = 7;
  let groupObj: AclEntry | undefined, mask: AclEntry | undefined;
  for (const e of acl) {
    if (e.tag === USER_OBJ) { e.perm &= (mode >> 6) & 7; user = e.perm; }
    else if (e.tag === OTHER) { e.perm &= mode & 7; other = e.perm; }
    else if (e.tag === GROUP_OBJ) groupObj = e;
    else if (e.tag === MASK) mask = e;
  }
  const g = mask ?? groupObj;
  if (g) { g.perm &= (mode >> 3) & 7; group = g.perm; }
  const xattrs: [string, Buffer][] = [];
  // an ACL of only the three owner/group/other entries is the mode itself
  if (acl.length > 3) xattrs.push([ACL_ACCESS, serialize(acl)]);
  if (isDir) xattrs.push([ACL_DEFAULT, dflt!]);
  return { mode: (mode & 0o7000) | (user << 6) | (group << 3) | other, xattrs };
}

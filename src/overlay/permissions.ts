/**
 * Where owner and mode live. Normally on the files themselves (chown,
 * chmod). With xattr_permissions=1|2 (containers-storage's force_mask, for
 * stores that cannot hold foreign owners, e.g. rootless on NFS) they live
 * in an xattr instead, in fuse-overlayfs' format "UID:GID:MODE[:TYPE]"
 * (mode in octal): 1 → security.fuseoverlayfs.override_stat,
 * 2 → user.containers.override_stat (user.fuseoverlayfs.override_stat is
 * read too). The files themselves stay owned by the daemon.
 */
import { S_IFMT } from '../fuse/abi.js';
import { Errno, errnoOf } from '../fuse/errors.js';
import { shim } from '../fuse/native.js';
import type { Layer, LayerStat, UpperLayer } from '../layers/types.js';

const NAMES: Record<1 | 2, string[]> = {
  1: ['security.fuseoverlayfs.override_stat'],
  2: ['user.containers.override_stat', 'user.fuseoverlayfs.override_stat'],
};

const TYPES: Record<string, number> = { dir: 0o040000, file: 0o100000, symlink: 0o120000, pipe: 0o010000, socket: 0o140000 };

export function isOverrideXattr(name: string): boolean {
  return name.endsWith('.override_stat') && (name.startsWith('user.containers.') || name.includes('fuseoverlayfs.'));
}

export class Ownership {
  constructor(private readonly mode: 0 | 1 | 2) {}

  get inXattrs(): boolean {
    return this.mode !== 0;
  }

  /** The stat with owner/mode taken from the override xattr when there is one. */
  async apply(layer: Layer, path: string, st: LayerStat): Promise<LayerStat> {
    if (this.mode === 0) return st;
    for (const name of NAMES[this.mode]) {
      const v = await layer.getxattr(path, name);
      if (!v) continue;
      const [uid, gid, mode, type] = v.toString().split(':');
      const out = { ...st, uid: Number(uid), gid: Number(gid), mode: (st.mode & S_IFMT) | (parseInt(mode, 8) & 0o7777) };
      if (type) {
        const m = /^(block|char)-(\d+)-(\d+)$/.exec(type);
        if (m) { out.mode = (m[1] === 'block' ? 0o060000 : 0o020000) | (out.mode & 0o7777); out.rdev = shim().makedev(Number(m[2]), Number(m[3])); }
        else if (TYPES[type]) out.mode = TYPES[type] | (out.mode & 0o7777);
      }
      return out;
    }
    return st;
  }

  /**
   * Sets owner and/or mode of an upper object at `host` (current values in
   * `st` fill what is not changed). Real chown/chmod, or the xattr.
   */
  set(upper: UpperLayer, path: string, st: Pick<LayerStat, 'uid' | 'gid' | 'mode'>, change: { uid?: number; gid?: number; mode?: number }, ignoreEperm = false): void {
    const isLink = (st.mode & S_IFMT) === 0o120000;
    if (this.mode === 0) {
      if (change.uid !== undefined || change.gid !== undefined) {
        try { upper.lchown(path, change.uid ?? -1, change.gid ?? -1); } catch (e) {
          if (!(ignoreEperm && errnoOf(e) === Errno.EPERM)) throw e;
        }
      }
      if (change.mode !== undefined && !isLink) upper.chmod(path, change.mode);
      return;
    }
    const uid = change.uid ?? st.uid, gid = change.gid ?? st.gid, mode = (change.mode ?? st.mode) & 0o7777;
    const value = Buffer.from(`${uid}:${gid}:${mode.toString(8)}`);
    // user.* xattrs cannot live on symlinks: they show the daemon's owner
    if (isLink) { try { upper.setxattr(path, NAMES[this.mode][0], value, 0); } catch { /* refused */ } return; }
    upper.setxattr(path, NAMES[this.mode][0], value, 0);
    // the daemon must keep access to what it stores for others
    upper.chmod(path, mode | 0o700);
  }
}

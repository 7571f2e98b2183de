/**
 * Whiteouts and opaque directories, in every on-disk form in use:
 *   whiteout: a char device 0/0 (kernel overlayfs, fuse-overlayfs), a
 *             `.wh.NAME` file (AUFS form, what containers-storage extracts
 *             layers with), or a file carrying the overlay whiteout xattr;
 *   opaque:   `trusted.overlay.opaque`, `user.overlay.opaque`,
 *             `user.fuseoverlayfs.opaque` = "y", or a `.wh..wh..opq` file.
 * Created like fuse-overlayfs: char 0/0 where mknod works, else `.wh.NAME`;
 * opaque dirs get `trusted.overlay.opaque=y` (or `user.fuseoverlayfs.opaque`
 * when trusted.* is refused) plus a `.wh..wh..opq` file.
 */
import { S_IFCHR, S_IFMT, S_IFREG } from '../fuse/abi.js';
import { Errno, errnoOf } from '../fuse/errors.js';

const { EPERM, ENOENT } = Errno;
import type { Layer, LayerDirent, LayerStat, UpperLayer } from '../layers/types.js';

export const WH_PREFIX = '.wh.';
export const OPAQUE_MARKER = '.wh..wh..opq';
const OPAQUE_XATTRS = ['trusted.overlay.opaque', 'user.overlay.opaque', 'user.fuseoverlayfs.opaque'];
const WHITEOUT_XATTRS = ['trusted.overlay.whiteout', 'user.overlay.whiteout'];
const XWHITEOUT_DIR_XATTRS = ['trusted.overlay.opaque', 'user.overlay.opaque'];

/** xattr names the overlay keeps to itself: hidden from listxattr, ENODATA on get, EPERM on set. */
export function isPrivateXattr(name: string): boolean {
  return name.startsWith('trusted.overlay.') || name.startsWith('user.overlay.') || name.startsWith('user.fuseoverlayfs.');
}

export function join2(dir: string, name: string): string {
  return dir ? `${dir}/${name}` : name;
}

/**
 * Is this stat (of `path` in `layer`) a whiteout? `xattrForm`: its directory
 * may hold the kernel's xattr whiteouts (see hasXattrWhiteouts).
 */
export async function isWhiteoutStat(layer: Layer, path: string, st: LayerStat, xattrForm = false): Promise<boolean> {
  const fmt = st.mode & S_IFMT;
  if (fmt === S_IFCHR) return st.rdev === 0;
  if (xattrForm && fmt === S_IFREG && st.size === 0) {
    for (const x of WHITEOUT_XATTRS) if (await layer.getxattr(path, x)) return true;
  }
  return false;
}

/**
 * Whiteouts as zero-size files with an overlay.whiteout xattr: the kernel
 * hides them from listings only in a directory whose overlay.opaque xattr
 * is "x" (its rule for nested overlays), while its lookups treat them as
 * whiteouts anywhere (elsewhere they are listed, and their lookup is ENOENT).
 */
export async function hasXattrWhiteouts(layer: Layer, dir: string): Promise<boolean> {
  for (const x of XWHITEOUT_DIR_XATTRS) {
    const v = await layer.getxattr(dir, x);
    if (v && v.toString() === 'x') return true;
  }
  return false;
}

/** Does PATH exist in the layer? (probes of markers: no stat needed where the layer can say it cheaper) */
export async function layerHas(layer: Layer, path: string): Promise<boolean> {
  return layer.exists ? layer.exists(path) : (await layer.stat(path)) !== null;
}

/** No names (shared: most directories hold no `.wh.` files). */
export const NO_NAMES: ReadonlySet<string> = new Set();

/** The names a directory listing's `.wh.NAME` files hide (the opaque marker is no whiteout). */
export function aufsNames(list: readonly LayerDirent[]): ReadonlySet<string> {
  let names: Set<string> | undefined;
  for (const e of list) {
    if (e.name.startsWith(WH_PREFIX) && e.name !== OPAQUE_MARKER) (names ??= new Set()).add(e.name.slice(WH_PREFIX.length));
  }
  return names ?? NO_NAMES;
}

/** Is NAME in DIR whited out by a `.wh.NAME` file in this layer? */
export function hasAufsWhiteout(layer: Layer, dir: string, name: string): Promise<boolean> {
  return layerHas(layer, join2(dir, WH_PREFIX + name));
}

export async function isOpaque(layer: Layer, dir: string): Promise<boolean> {
  for (const x of OPAQUE_XATTRS) {
    const v = await layer.getxattr(dir, x);
    if (v && v.toString() === 'y') return true;
  }
  return layerHas(layer, join2(dir, OPAQUE_MARKER));
}

/** Creates a whiteout for `dir/name` in the upper layer; says which form ('aufs': a `.wh.NAME` file). */
export function createWhiteout(upper: UpperLayer, dir: string, name: string): 'char' | 'aufs' {
  if (upper.canMknod) {
    try {
      upper.mknod(join2(dir, name), S_IFCHR, 0);
      return 'char';
    } catch (e) {
      if (errnoOf(e) !== EPERM) throw e;
    }
  }
  upper.createEmpty(join2(dir, WH_PREFIX + name), 0o000);
  return 'aufs';
}

/**
 * Removes whatever whiteout of `dir/name` the upper has (before creating
 * the name there). `aufs`: whether a `.wh.NAME` file is there, when the
 * caller knows (else it is probed).
 */
export async function removeWhiteout(upper: UpperLayer, dir: string, name: string, aufs?: boolean): Promise<boolean> {
  let removed = false;
  const p = join2(dir, name);
  const st = await upper.stat(p);
  if (st && (await isWhiteoutStat(upper, p, st))) { upper.unlink(p); removed = true; }
  const wh = join2(dir, WH_PREFIX + name);
  if (aufs === true) {
    // known to be there: unlinked without a probe (gone already is as good)
    try { upper.unlink(wh); removed = true; } catch (e) { if (errnoOf(e) !== ENOENT) throw e; }
  } else if (aufs === undefined && (await upper.stat(wh)) !== null) { upper.unlink(wh); removed = true; }
  return removed;
}

/** Marks an upper directory (or a workdir temp dir) opaque: lower contents under the same path are hidden. */
export function makeOpaque(upper: UpperLayer, dir: string): void {
  const y = Buffer.from('y');
  try {
    upper.setxattr(dir, 'trusted.overlay.opaque', y, 0);
  } catch {
    upper.setxattr(dir, 'user.fuseoverlayfs.opaque', y, 0); // trusted.* needs privilege
  }
  upper.createEmpty(join2(dir, OPAQUE_MARKER), 0o000);
}

/**
 * What an overlay mount is made of, after the command line was parsed
 * (src/cli/overlayfs-args.ts turns fuse-overlayfs' argv into this).
 */

/** One LAYERID:MOUNTID:LEN triple of uidmapping= / gidmapping=. */
export interface IdMapping {
  /** id inside the layer (on disk) */
  layer: number;
  /** id shown in the mount */
  mount: number;
  len: number;
}

export interface OverlayOptions {
  /** lower layers, top first (lowerdir=A:B → [A, B]); plain directories or `//NAME/DATA/PATH` plugin specs */
  lowerdirs: string[];
  upperdir?: string;
  workdir?: string;
  uidMappings?: IdMapping[];
  gidMappings?: IdMapping[];
  squashToRoot?: boolean;
  squashToUid?: number;
  squashToGid?: number;
  staticNlink?: boolean;
  noacl?: boolean;
  xattrPermissions?: 0 | 1 | 2;
  /** fsync=0 / volatile: fsync and fsyncdir succeed without syncing */
  noFsync?: boolean;
  /** entry/attribute validity, seconds (fuse-overlayfs default: effectively forever) */
  timeout?: number;
  writeback?: boolean;
  noxattrs?: boolean;
  /** plugin modules (plugins=a:b): paths, or names of built-in plugins; absent = the default plugin directory */
  plugins?: string[];
  /** seconds a plugin callback may take before its operation fails with EIO (default 5) */
  pluginTimeout?: number;
  debug?: boolean;
}

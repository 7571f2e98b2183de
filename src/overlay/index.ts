/** The overlay: build one from parsed options (opens every layer now). */
import type { FileSystem } from '../fuse/api.js';
import { DirectoryLayer, DirectoryUpperLayer } from '../layers/directory.js';
import type { Layer } from '../layers/types.js';
import type { OverlayOptions } from './options.js';
import { OverlayFS } from './overlayfs.js';

export type { OverlayOptions, IdMapping } from './options.js';
export { OverlayFS } from './overlayfs.js';

/**
 * Opens every layer (so later detaching of id-mapped lower mounts does not
 * matter) and returns the filesystem. Throws a one-line error naming the
 * bad layer.
 */
export async function createOverlay(opts: OverlayOptions, log: (line: string) => void = () => {}): Promise<FileSystem> {
  if (!opts.lowerdirs.length) throw new Error('no lowerdir given');
  const lowers: Layer[] = [];
  for (const spec of opts.lowerdirs) {
    if (spec.startsWith('//')) throw new Error(`plugin layer ${spec}: plugins are not supported yet`);
    lowers.push(new DirectoryLayer(spec));
  }
  let upper: DirectoryUpperLayer | undefined;
  if (opts.upperdir) {
    if (opts.upperdir.startsWith('//')) throw new Error(`upperdir ${opts.upperdir}: plugins are supported only in lower layers`);
    if (!opts.workdir) throw new Error('workdir not specified');
    upper = new DirectoryUpperLayer(opts.upperdir, opts.workdir);
  }
  return new OverlayFS(opts, upper, lowers, log);
}

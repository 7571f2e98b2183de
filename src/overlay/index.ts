/** The overlay: build one from parsed options (opens every layer now). */
import type { FileSystem } from '../fuse/api.js';
import { DirectoryLayer, DirectoryUpperLayer } from '../layers/directory.js';
import type { Layer } from '../layers/types.js';
import { loadPlugins, openPluginLayers, releasePlugins } from '../plugins/loader.js';
import type { OverlayOptions } from './options.js';
import { OverlayFS } from './overlayfs.js';

export type { OverlayOptions, IdMapping } from './options.js';
export { OverlayFS } from './overlayfs.js';

const isPluginElement = (spec: string) => spec.startsWith('//');

/**
 * Opens every layer (so later detaching of id-mapped lower mounts does not
 * matter) and returns the filesystem. Throws a one-line error naming the
 * bad layer or plugin. Plugins load only when a lower element is a plugin
 * layer; `//NAME/DATA/PATH` elements may expand to several layers.
 */
export async function createOverlay(opts: OverlayOptions, log: (line: string) => void = () => {}): Promise<FileSystem> {
  if (!opts.lowerdirs.length) throw new Error('no lowerdir given');
  if (opts.upperdir?.startsWith('//')) throw new Error(`upperdir ${opts.upperdir}: plugins are supported only in lower layers`);
  const plugins = opts.lowerdirs.some(isPluginElement) || opts.plugins ? await loadPlugins(opts.plugins) : new Map();
  const lowers: Layer[] = [];
  try {
    for (const spec of opts.lowerdirs) {
      if (isPluginElement(spec)) lowers.push(...(await openPluginLayers(spec, plugins, opts.pluginTimeout, log)));
      else lowers.push(new DirectoryLayer(spec));
    }
    let upper: DirectoryUpperLayer | undefined;
    if (opts.upperdir) {
      if (!opts.workdir) throw new Error('workdir not specified');
      upper = new DirectoryUpperLayer(opts.upperdir, opts.workdir);
    }
    const fsys = new OverlayFS(opts, upper, lowers, log);
    if (plugins.size) fsys.atDestroy.push(() => releasePlugins(plugins, log));
    return fsys;
  } catch (e) {
    for (const l of lowers) await Promise.resolve(l.close?.()).catch(() => {});
    await releasePlugins(plugins, log);
    throw e;
  }
}

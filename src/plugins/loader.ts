/**
 * Loading plugins and opening plugin layers.
 *
 * `plugins=A:B`: each element is a module path (.js/.mjs/.cjs, or
 * .ts/.mts/.cts through tsx) or the bare name of a built-in plugin
 * (src/plugins/builtin/). Without `plugins=`, every module file in the
 * default plugin directory is loaded — TSFUSE_PLUGIN_DIR, else
 * /usr/libexec/tsfuse-overlayfs — but only when some lowerdir element is a
 * plugin layer. Every failure is one line naming the plugin and the reason.
 */
import * as fs from 'node:fs';
import { extname, isAbsolute, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { DirectoryLayer } from '../layers/directory.js';
import type { Layer } from '../layers/types.js';
import { PLUGIN_API_VERSION, type DataSource, type Plugin, type PluginContext } from './api.js';
import { Guard, MAX_TIMER, PluginLayer } from './plugin-layer.js';

export const BUILTIN_PLUGINS = ['tar', 'fetch-on-lookup', 'stargz'] as const;
export const DEFAULT_PLUGIN_DIR = '/usr/libexec/tsfuse-overlayfs';
export const DEFAULT_PLUGIN_TIMEOUT = 5;
const JS_EXT = new Set(['.js', '.mjs', '.cjs']);
const TS_EXT = new Set(['.ts', '.mts', '.cts']);

export class PluginError extends Error {}

function firstLine(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  return (m.split('\n').find((l) => l.trim()) ?? 'unknown error').trim();
}

/** A `//NAME/DATA/PATH` lowerdir element: NAME and DATA end at the next '/', PATH is the rest (maybe empty). */
export interface PluginSpec { name: string; data: string; path: string; element: string }

export function parsePluginSpec(element: string): PluginSpec {
  const rest = element.slice(2);
  const a = rest.indexOf('/');
  const name = a < 0 ? rest : rest.slice(0, a);
  if (!name) throw new PluginError(`lowerdir element ${element}: no plugin name (expected //NAME/DATA/PATH)`);
  if (a < 0) throw new PluginError(`lowerdir element ${element}: no DATA/PATH after the plugin name (expected //NAME/DATA/PATH)`);
  const b = rest.indexOf('/', a + 1);
  return b < 0
    ? { name, data: rest.slice(a + 1), path: '', element }
    : { name, data: rest.slice(a + 1, b), path: rest.slice(b + 1), element };
}

export interface LoadedPlugin { plugin: Plugin; from: string }

async function importModule(from: string): Promise<unknown> {
  if (TS_EXT.has(extname(from))) {
    const { tsImport } = await import('tsx/esm/api');
    return tsImport(pathToFileURL(from).href, import.meta.url);
  }
  return import(pathToFileURL(from).href);
}

/** Checks a module's default export against the contract. */
function asPlugin(mod: unknown, from: string): Plugin {
  const m = mod as { default?: unknown };
  let p = (m && typeof m === 'object' && 'default' in m ? m.default : m) as (Partial<Plugin> & { default?: unknown }) | undefined;
  // a TypeScript/CommonJS module compiled with interop: module.exports.default is the plugin
  if (p && typeof p === 'object' && !('version' in p) && p.default && typeof p.default === 'object') p = p.default as Partial<Plugin>;
  if (!p || typeof p !== 'object') throw new PluginError(`plugin ${from}: the module has no default export (a Plugin object)`);
  if (p.version !== PLUGIN_API_VERSION) throw new PluginError(`plugin ${from}: unsupported plugin API version ${JSON.stringify(p.version)} (this tsfuse speaks version ${PLUGIN_API_VERSION})`);
  if (typeof p.name !== 'string' || !p.name || p.name.includes('/') || p.name.includes(':')) throw new PluginError(`plugin ${from}: invalid name ${JSON.stringify(p.name)}`);
  if (typeof p.load !== 'function') throw new PluginError(`plugin ${from}: load is not a function`);
  if (p.release !== undefined && typeof p.release !== 'function') throw new PluginError(`plugin ${from}: release is not a function`);
  if (p.timeout !== undefined && !(typeof p.timeout === 'number' && p.timeout > 0)) throw new PluginError(`plugin ${from}: timeout must be a positive number of seconds`);
  return p as Plugin;
}

function builtinPath(name: string): string {
  // compiled (dist/) or run from source (tsx): the sibling builtin/ directory either way
  const here = fileURLToPath(new URL('.', import.meta.url));
  for (const ext of ['.js', '.ts']) {
    const p = join(here, 'builtin', name + ext);
    if (fs.existsSync(p)) return p;
  }
  throw new PluginError(`plugin ${name}: built-in plugin missing from ${join(here, 'builtin')}`);
}

/** Where each plugins= element (or the default directory's files) comes from. */
function pluginSources(list: string[] | undefined): string[] {
  if (list) {
    return list.map((s) => {
      if (s.includes('/') || extname(s)) {
        if (!isAbsolute(s)) throw new PluginError(`plugin ${s}: not an absolute path (or a built-in name: ${BUILTIN_PLUGINS.join(', ')})`);
        return s;
      }
      if (!(BUILTIN_PLUGINS as readonly string[]).includes(s)) throw new PluginError(`plugin ${s}: no built-in plugin of that name (built-in: ${BUILTIN_PLUGINS.join(', ')})`);
      return builtinPath(s);
    });
  }
  const dir = process.env.TSFUSE_PLUGIN_DIR || DEFAULT_PLUGIN_DIR;
  let names: string[];
  try { names = fs.readdirSync(dir); } catch { return []; }
  return names.filter((n) => JS_EXT.has(extname(n)) || TS_EXT.has(extname(n))).sort().map((n) => join(dir, n))
    .filter((p) => { try { return fs.statSync(p).isFile(); } catch { return false; } });
}

/** Loads the plugins of plugins= (or the default directory); one-line PluginError on any problem. */
export async function loadPlugins(list: string[] | undefined): Promise<Map<string, LoadedPlugin>> {
  const out = new Map<string, LoadedPlugin>();
  for (const from of pluginSources(list)) {
    if (extname(from) === '.so') throw new PluginError(`plugin ${from}: native .so plugins are not supported (tsfuse plugins are JavaScript or TypeScript modules)`);
    if (!fs.existsSync(from)) throw new PluginError(`plugin ${from}: no such file`);
    let mod: unknown;
    try {
      mod = await importModule(from);
    } catch (e) {
      if (e instanceof PluginError) throw e;
      throw new PluginError(`plugin ${from}: cannot load: ${e instanceof Error ? e.name + ': ' : ''}${firstLine(e)}`);
    }
    const p = asPlugin(mod, from);
    const dup = out.get(p.name);
    if (dup) throw new PluginError(`plugin ${p.name} added twice (${dup.from} and ${from})`);
    out.set(p.name, { plugin: p, from });
  }
  return out;
}

function isDataSource(d: unknown): d is DataSource {
  const s = d as DataSource | null;
  return !!s && typeof s === 'object' && typeof s.stat === 'function' && typeof s.readdir === 'function' && typeof s.readlink === 'function';
}

/**
 * Opens the layers of one `//NAME/DATA/PATH` element. `load` may take a
 * while (indexing a tar) but not forever: 12 × plugin_timeout, at least 60 s.
 */
export async function openPluginLayers(element: string, plugins: Map<string, LoadedPlugin>, optionTimeoutS: number | undefined,
  log: (line: string) => void): Promise<Layer[]> {
  const spec = parsePluginSpec(element);
  const lp = plugins.get(spec.name);
  if (!lp) {
    const have = [...plugins.keys()];
    throw new PluginError(`lowerdir element ${element}: no plugin named ${spec.name} is loaded (${have.length ? `loaded: ${have.join(', ')}` : 'none loaded'}; add -o plugins=…)`);
  }
  // plugin_timeout= wins; else the plugin's own default (a network source needs longer); else 5 s
  const timeoutS = optionTimeoutS ?? lp.plugin.timeout ?? DEFAULT_PLUGIN_TIMEOUT;
  const ctx: PluginContext = {
    log: (l) => log(`plugin ${spec.name}: ${l}`),
    directory: (p) => new DirectoryLayer(p),
    element,
  };
  const loadMs = Math.min(MAX_TIMER, Math.max(60_000, timeoutS * 12_000));
  let timer: NodeJS.Timeout | undefined;
  let timedOut = false;
  let got: unknown;
  const loading = Promise.resolve().then(() => lp.plugin.load(spec.data, spec.path, ctx));
  // data sources that arrive after we gave up are closed: nobody else will (fds, temp files)
  loading.then((v) => { if (timedOut) for (const s of [v].flat()) void Promise.resolve((s as DataSource | undefined)?.close?.()).catch(() => {}); }, () => {});
  try {
    got = await Promise.race([
      loading,
      new Promise((_, rej) => { timer = setTimeout(() => { timedOut = true; rej(new Error(`load did not finish within ${loadMs / 1000} s`)); }, loadMs); }),
    ]);
  } catch (e) {
    throw new PluginError(`plugin ${spec.name}: cannot load layer ${element}: ${firstLine(e)}`);
  } finally {
    clearTimeout(timer);
  }
  const sources = Array.isArray(got) ? got : [got];
  if (!sources.length || !sources.every(isDataSource)) {
    throw new PluginError(`plugin ${spec.name}: load of ${element} returned no data source (an object with stat, readdir and readlink)`);
  }
  const guard = new Guard(spec.name, timeoutS * 1000, log);
  return sources.map((s, i) => new PluginLayer(s, element, sources.length > 1 ? i + 1 : 0, guard));
}

/** Calls every plugin's release() (at unmount); errors are logged, never thrown. */
export async function releasePlugins(plugins: Map<string, LoadedPlugin>, log: (line: string) => void): Promise<void> {
  for (const { plugin } of plugins.values()) {
    try { await plugin.release?.(); } catch (e) { log(`plugin ${plugin.name}: release failed: ${firstLine(e)}`); }
  }
}

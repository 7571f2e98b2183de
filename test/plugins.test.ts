/**
 * Plugins on real mounts: the built-in tar and fetch-on-lookup plugins
 * alone and under a plain upper, compared with the same tree as a plain
 * directory layer; hooks (observing, awaited, refusing); TypeScript
 * plugins, one element expanding to several layers, the default plugin
 * directory; bad plugins at mount time and bad callbacks at run time.
 * The differential harness runs the tar plugin too (tsfuse-tar in
 * test/overlay-diff.test.ts).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isMounted, pidAlive, ROOT, sh, shr, tempDir, waitFor } from './helpers.js';
import { daemonPid, ovl, ovlFails } from './ovl-mount.js';

const FIX = join(ROOT, 'test/fixtures');
const b64 = (p: string) => Buffer.from(p).toString('base64url');
const tarLayer = (tarFile: string, work = '') => `//tar/${b64(tarFile)}/${work}`;

interface Snap { path: string; type: string; mode: string; uid: number; gid: number; nlink: number; size: number; mtime: string; ino: number; target?: string; sha256?: string; xattrs?: Record<string, string> }

/** Every entry of a tree (python: lstat, sha256, xattrs), inode numbers replaced by hard-link groups. */
function snapshot(dir: string): Record<string, unknown>[] {
  const raw = JSON.parse(sh(`python3 ${join(FIX, 'ovl_snap.py')} ${dir}`)) as Snap[];
  const groups = new Map<number, string>();
  return raw.map(({ ino, ...e }) => {
    if (e.type === 'd') return { ...e, link: '' };
    if (!groups.has(ino)) groups.set(ino, e.path);
    return { ...e, link: groups.get(ino) };
  });
}

/** A tree with what a container layer holds: sizes, modes, owners, times, links, xattrs, a fifo. */
function makeTree(dir: string): void {
  fs.mkdirSync(dir, { recursive: true });
  sh(`cd ${dir} && mkdir -p a/b/c empty && printf '' > zero && echo hello > a/hello && head -c 4097 /dev/urandom > a/b/odd &&
    head -c 3000000 /dev/urandom > a/b/c/big && ln a/hello a/hardlink && ln -s hello a/rel && ln -s /nonexistent/x dangling &&
    echo x > exec && chmod 4755 exec && echo s > secret && chmod 600 secret && chown 1234:5678 secret &&
    setfattr -n user.note -v layered a/hello && setfattr -n user.dir -v yes a/b && mkfifo pipe &&
    touch -d '2001-02-03 04:05:06.123456789' a/b/odd && touch -h -d '2002-01-01' a/rel`);
}

function tarOf(dir: string, out: string): string {
  sh(`tar --format=posix --xattrs --xattrs-include='*' -C ${dir} -cf ${out} .`);
  return out;
}

function layout() {
  const base = tempDir('tsfuse-plug-');
  const d = { base, src: join(base, 'src'), u: join(base, 'u'), w: join(base, 'w'), m: join(base, 'm'), m2: join(base, 'm2'), work: join(base, 'work') };
  for (const p of [d.u, d.w, d.m, d.m2]) fs.mkdirSync(p);
  makeTree(d.src);
  return d;
}

describe('tar plugin', () => {
  it('serves a .tar and a .tar.gz exactly like the same tree as a plain directory layer', () => {
    const d = layout();
    const tar = tarOf(d.src, join(d.base, 'l.tar'));
    sh(`gzip -k ${tar}`);
    const plain = ovl(`lowerdir=${d.src}`, d.m);
    const want = snapshot(d.m);
    plain.unmount();
    expect(want.length).toBe(15);
    for (const [file, work] of [[tar, ''], [`${tar}.gz`, d.work]]) {
      const o = ovl(`plugins=tar,lowerdir=${tarLayer(file, work)}`, d.m);
      expect(snapshot(d.m)).toEqual(want);
      expect(sh(`cmp ${d.src}/a/b/c/big ${d.m}/a/b/c/big && echo same`).trim()).toBe('same');
      // a hard link is one inode; reads at odd offsets
      expect(fs.statSync(join(d.m, 'a/hello')).ino).toBe(fs.statSync(join(d.m, 'a/hardlink')).ino);
      expect(sh(`dd if=${d.m}/a/b/c/big bs=1 skip=1234567 count=100 status=none | sha256sum`)).toBe(sh(`dd if=${d.src}/a/b/c/big bs=1 skip=1234567 count=100 status=none | sha256sum`));
      o.unmount();
    }
    // the gzip archive was decompressed into an unlinked file: nothing left in the work dir
    expect(fs.readdirSync(d.work)).toEqual([]);
  });

  it('honours whiteouts and opaque dirs inside the archive, in every form', () => {
    const d = layout();
    const top = join(d.base, 'top');
    fs.mkdirSync(top);
    // the base (a plain dir) has everything; the archive hides parts of it
    sh(`cd ${d.src} && mkdir opq opq2 opq3 && touch opq/old opq2/old opq3/old gone gone2 gone3 keep`);
    sh(`cd ${top} && mkdir opq opq2 opq3 && touch opq/.wh..wh..opq opq/new opq2/new opq3/new && setfattr -n trusted.overlay.opaque -v y opq2 &&
      setfattr -n user.fuseoverlayfs.opaque -v y opq3 && touch .wh.gone && mknod gone2 c 0 0 && touch gone3 && setfattr -n user.overlay.whiteout -v y gone3`);
    const plain = ovl(`lowerdir=${top}:${d.src}`, d.m);
    const want = snapshot(d.m);
    plain.unmount();
    const o = ovl(`plugins=tar,lowerdir=${tarLayer(tarOf(top, join(d.base, 'top.tar')))}:${d.src}`, d.m);
    const names = fs.readdirSync(d.m);
    expect(names).toContain('keep');
    for (const hidden of ['gone', 'gone2', '.wh.gone']) expect(names).not.toContain(hidden);
    // an xattr whiteout outside an "x" directory: listed, but its lookup fails (the kernel's rules)
    expect(names).toContain('gone3');
    expect(fs.existsSync(join(d.m, 'gone3'))).toBe(false);
    for (const dir of ['opq', 'opq2', 'opq3']) expect(fs.readdirSync(join(d.m, dir))).toEqual(['new']);
    expect(snapshot(d.m)).toEqual(want);
    o.unmount();
  });

  it('under a plain upper: copy-up of archive files, then modify, delete, rename; the upper is what fuse-overlayfs writes', () => {
    const d = layout();
    const tar = tarOf(d.src, join(d.base, 'l.tar'));
    const script = (m: string) => sh(`cd ${m} && echo more >> a/hello && chmod 640 a/b/odd && rm a/b/c/big && mv secret moved &&
      mkdir a/b/new && echo n > a/b/new/f && ln -s x a/newlink && setfattr -n user.added -v 1 zero && rmdir empty && cat a/hardlink`);
    const results: Record<string, unknown>[][] = [];
    // what the script creates or changes has a time of the run: "now"
    const start = BigInt(Date.now()) * 1_000_000n;
    const norm = (list: Record<string, unknown>[]) => list.map((e) => (e.type === 'd' || BigInt(e.mtime as string) >= start ? { ...e, mtime: 'now' } : e));
    for (const lower of [d.src, tarLayer(tar)]) {
      for (const p of [d.u, d.w]) { fs.rmSync(p, { recursive: true }); fs.mkdirSync(p); }
      const o = ovl(`plugins=tar,lowerdir=${lower},upperdir=${d.u},workdir=${d.w}`, d.m);
      expect(script(d.m)).toBe('hello\nmore\n'); // the other name of the hard link sees the write
      expect(fs.readFileSync(join(d.m, 'moved'), 'utf8')).toBe('s\n');
      expect(fs.existsSync(join(d.m, 'a/b/c/big'))).toBe(false);
      const merged = snapshot(d.m);
      o.unmount();
      // on disk: copied-up data whole, whiteouts for removed lower entries
      expect(fs.readFileSync(join(d.u, 'a/hello'), 'utf8')).toBe('hello\nmore\n');
      expect(fs.statSync(join(d.u, 'a/b/c/big')).isCharacterDevice()).toBe(true);
      expect(fs.statSync(join(d.u, 'secret')).isCharacterDevice()).toBe(true);
      expect(fs.statSync(join(d.u, 'moved')).uid).toBe(1234);
      expect(sh(`getfattr --only-values -n user.fuseoverlayfs.origin ${d.u}/a/hello`)).toBe('a/hello');
      const upper = norm(snapshot(d.u));
      // and the same on a remount
      const again = ovl(`plugins=tar,lowerdir=${lower},upperdir=${d.u},workdir=${d.w}`, d.m);
      expect(fs.readFileSync(join(d.m, 'a/hello'), 'utf8')).toBe('hello\nmore\n');
      again.unmount();
      results.push(norm(merged), upper);
    }
    expect(results[2]).toEqual(results[0]);
    expect(results[3]).toEqual(results[1]);
  });

  it('inode numbers and st_dev are stable for the life of the mount (also after the kernel forgot them)', () => {
    const d = layout();
    const o = ovl(`plugins=tar,lowerdir=${tarLayer(tarOf(d.src, join(d.base, 'l.tar')))}`, d.m);
    const ids = () => sh(`cd ${d.m} && find . -exec stat -c '%n %i %d' {} + | sort`);
    const first = ids();
    sh('sync && echo 2 > /proc/sys/vm/drop_caches');
    expect(ids()).toBe(first);
    const inos = first.trim().split('\n').map((l) => l.split(' ')[1]);
    expect(new Set(inos).size).toBe(inos.length - 1); // all distinct but the hard link
    expect(new Set(first.trim().split('\n').map((l) => l.split(' ')[2])).size).toBe(1);
    o.unmount();
  });

  it('refuses archives that reach outside the layer or claim data they do not have', () => {
    const d = layout();
    const evil = join(d.base, 'evil.tar');
    sh(`cd ${d.base} && python3 -c "
import tarfile, io
t = tarfile.open('${evil}', 'w')
i = tarfile.TarInfo('../outside'); i.size = 2
t.addfile(i, io.BytesIO(b'hi'))
t.close()"`);
    const r = ovlFails(`plugins=tar,lowerdir=${tarLayer(evil)}`, d.m);
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n')).toEqual([expect.stringMatching(/plugin tar: cannot load layer .*: .*entry "\.\.\/outside" leaves the layer/)]);
    const cut = join(d.base, 'cut.tar');
    fs.writeFileSync(cut, fs.readFileSync(tarOf(d.src, join(d.base, 'l.tar'))).subarray(0, 100_000));
    const r2 = ovlFails(`plugins=tar,lowerdir=${tarLayer(cut)}`, d.m);
    expect(r2.status).toBe(1);
    expect(r2.stderr).toMatch(/^tsfuse-overlayfs: plugin tar: cannot load layer .*cut\.tar/);
    expect(isMounted(d.m)).toBe(false);
  });
});

describe('fetch-on-lookup plugin (hooks that make the data available before the core reads it)', () => {
  it('materializes each entry the first time it is looked up, and serves the same tree as the source', () => {
    const d = layout();
    const el = `//fetch-on-lookup/${b64(d.src)}/${d.work}`;
    const o = ovl(`plugins=fetch-on-lookup,lowerdir=${el}`, d.m);
    const local = join(d.work, 'root');
    expect(fs.readdirSync(local)).toEqual([]);
    expect(fs.readFileSync(join(d.m, 'a/b/c/big')).equals(fs.readFileSync(join(d.src, 'a/b/c/big')))).toBe(true);
    // only the chain that was looked up
    expect(fs.readdirSync(local)).toEqual(['a']);
    expect(fs.readdirSync(join(local, 'a/b'))).toEqual(['c']);
    expect(fs.existsSync(join(local, 'a/hello'))).toBe(false);
    o.unmount();
    const plain = ovl(`lowerdir=${d.src}`, d.m2);
    const want = snapshot(d.m2);
    plain.unmount();
    const o2 = ovl(`plugins=fetch-on-lookup,lowerdir=${el}`, d.m);
    expect(snapshot(d.m)).toEqual(want);
    o2.unmount();
    // everything has been fetched now: the local tree is the source
    const diff = shr(`diff -r --no-dereference ${d.src} ${local}`);
    expect(diff.stdout.trim()).toBe(`File ${d.src}/pipe is a fifo while file ${local}/pipe is a fifo`); // diff's way of saying "both fifos"
    expect(snapshot(local).map(({ link: _l, ...e }) => e)).toEqual(snapshot(d.src).map(({ link: _l, ...e }) => e));
  });

  it('works under an upper (copy-up from the materialized tree)', () => {
    const d = layout();
    const o = ovl(`plugins=fetch-on-lookup,lowerdir=//fetch-on-lookup/${b64(d.src)}/${d.work},upperdir=${d.u},workdir=${d.w}`, d.m);
    sh(`echo more >> ${d.m}/a/b/odd && rm ${d.m}/zero`);
    expect(fs.readFileSync(join(d.u, 'a/b/odd')).length).toBe(4097 + 5);
    expect(fs.statSync(join(d.u, 'zero')).isCharacterDevice()).toBe(true);
    expect(fs.existsSync(join(d.src, 'zero'))).toBe(true);
    o.unmount();
  });
});

describe('hooks, TypeScript plugins, several layers from one element, the default plugin directory', () => {
  it('hooks see lookups, listings, opens and reads; an async hook is awaited; a hook can refuse with an errno', () => {
    const d = layout();
    sh(`cd ${d.src} && echo f > forbidden && echo s > slow`);
    const log = join(d.base, 'trace.log');
    const o = ovl(`plugins=${FIX}/plugins/trace.mjs,lowerdir=//trace/${b64(d.src)}/${log}`, d.m);
    fs.writeFileSync(log, '');
    expect(fs.readFileSync(join(d.m, 'a/hello'), 'utf8')).toBe('hello\n');
    fs.readdirSync(join(d.m, 'a/b'));
    const events = fs.readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { op: string; path: string; offset?: number });
    expect(events).toContainEqual({ op: 'lookup', path: 'a' });
    expect(events).toContainEqual({ op: 'lookup', path: 'a/hello' });
    expect(events).toContainEqual(expect.objectContaining({ op: 'open', path: 'a/hello' }));
    expect(events).toContainEqual(expect.objectContaining({ op: 'read', path: 'a/hello', offset: 0 }));
    expect(events).toContainEqual({ op: 'readdir', path: 'a/b' });
    const t0 = Date.now();
    expect(fs.readFileSync(join(d.m, 'slow'), 'utf8')).toBe('s\n');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(190);
    expect(() => fs.statSync(join(d.m, 'forbidden'))).toThrow(/EACCES/);
    o.unmount();
  });

  it('loads a TypeScript plugin whose element expands to two layers', () => {
    const d = layout();
    const o = ovl(`plugins=${FIX}/plugins/layers.ts,lowerdir=//layers//`, d.m);
    expect(fs.readdirSync(d.m).sort()).toEqual(['d', 'only', 'same']);
    expect(fs.readFileSync(join(d.m, 'same'), 'utf8')).toBe('top\n');
    expect(fs.readdirSync(join(d.m, 'd')).sort()).toEqual(['b', 't']);
    expect(fs.readFileSync(join(d.m, 'd/b'), 'utf8')).toBe('bottom d\n');
    // the two layers have distinct st_dev-derived inode ranges: no collisions
    const inos = ['d/b', 'd/t', 'only', 'same'].map((p) => fs.statSync(join(d.m, p)).ino);
    expect(new Set(inos).size).toBe(4);
    o.unmount();
  });

  it('without plugins=, loads every module of the default directory (TSFUSE_PLUGIN_DIR), only when a layer needs one', () => {
    const d = layout();
    const dir = join(d.base, 'plugins');
    fs.mkdirSync(dir);
    fs.copyFileSync(join(FIX, 'plugins/trace.mjs'), join(dir, 'trace.mjs'));
    fs.writeFileSync(join(dir, 'README'), 'not a module');
    const o = ovl(`lowerdir=//trace/${b64(d.src)}/${join(d.base, 'log')}`, d.m, { TSFUSE_PLUGIN_DIR: dir });
    expect(fs.readFileSync(join(d.m, 'a/hello'), 'utf8')).toBe('hello\n');
    o.unmount();
    // a broken module in the directory does not matter to a mount without plugin layers
    fs.writeFileSync(join(dir, 'broken.mjs'), 'export default {');
    const plain = ovl(`lowerdir=${d.src}`, d.m, { TSFUSE_PLUGIN_DIR: dir });
    plain.unmount();
  });
});

describe('bad plugins', () => {
  const d = layout();
  const p = join(d.base, 'p');
  fs.mkdirSync(p);
  fs.writeFileSync(join(p, 'syntax.mjs'), 'export default { version: 1, name: "x", load( { }');
  fs.writeFileSync(join(p, 'v2.mjs'), 'export default { version: 2, name: "v2", load() {} }');
  fs.writeFileSync(join(p, 'dup.mjs'), 'export default { version: 1, name: "tar", load() {} }');
  fs.writeFileSync(join(p, 'boom.mjs'), 'export default { version: 1, name: "boom", load() { throw new Error("no such blob") } }');
  fs.writeFileSync(join(p, 'nods.mjs'), 'export default { version: 1, name: "nods", load() { return 42 } }');
  fs.writeFileSync(join(p, 'noexport.mjs'), 'export const x = 1;');
  fs.writeFileSync(join(p, 'badtimeout.mjs'), 'export default { version: 1, name: "bt", timeout: "soon", load() {} }');
  const tar = tarOf(d.src, join(d.base, 'l.tar'));
  const cases: [string, string, RegExp][] = [
    ['a missing module', `plugins=${p}/missing.mjs,lowerdir=//x/a/b`, /plugin .*missing\.mjs: no such file/],
    ['a syntax error', `plugins=${p}/syntax.mjs,lowerdir=//x/a/b`, /plugin .*syntax\.mjs: cannot load: SyntaxError: /],
    ['a wrong version', `plugins=${p}/v2.mjs,lowerdir=//v2/a/b`, /plugin .*v2\.mjs: unsupported plugin API version 2/],
    ['a duplicate name', `plugins=tar:${p}/dup.mjs,lowerdir=${tarLayer(tar)}`, /plugin tar added twice/],
    ['a load that throws', `plugins=${p}/boom.mjs,lowerdir=//boom/a/b`, /plugin boom: cannot load layer \/\/boom\/a\/b: no such blob/],
    ['a load that returns no data source', `plugins=${p}/nods.mjs,lowerdir=//nods/a/b`, /plugin nods: load of \/\/nods\/a\/b returned no data source/],
    ['a module without a plugin', `plugins=${p}/noexport.mjs,lowerdir=//x/a/b`, /plugin .*noexport\.mjs: unsupported plugin API version undefined/],
    ['a bad default timeout', `plugins=${p}/badtimeout.mjs,lowerdir=//bt/a/b`, /plugin .*badtimeout\.mjs: timeout must be a positive number of seconds/],
    ['a C plugin', `plugins=${p}/crfs.so,lowerdir=//crfs/a/b`, /plugin .*crfs\.so: native \.so plugins are not supported/],
    ['an unknown built-in', `plugins=nosuch,lowerdir=//nosuch/a/b`, /plugin nosuch: no built-in plugin of that name \(built-in: tar, fetch-on-lookup, stargz\)/],
    ['a layer of a plugin not loaded', `plugins=tar,lowerdir=//crfs/a/b`, /lowerdir element \/\/crfs\/a\/b: no plugin named crfs is loaded \(loaded: tar/],
    ['DATA that is not base64url of a path', `plugins=tar,lowerdir=//tar/@@/x`, /plugin tar: cannot load layer .*DATA "@@" is not the base64url of an absolute path/],
    ['a missing archive', `plugins=tar,lowerdir=${tarLayer('/nonexistent.tar')}`, /plugin tar: cannot load layer .*\/nonexistent\.tar does not exist/],
    ['a plugin in upperdir', `plugins=tar,lowerdir=${d.src},upperdir=${tarLayer(tar)},workdir=${d.w}`, /upperdir \/\/tar\/.*: plugins are supported only in lower layers/],
    ['an element without DATA/PATH', `plugins=tar,lowerdir=//tar`, /lowerdir element \/\/tar: no DATA\/PATH after the plugin name/],
  ];
  for (const [what, opts, msg] of cases) {
    it(`${what}: one line naming it, non-zero, nothing mounted`, () => {
      const r = ovlFails(opts, d.m);
      expect(r.status).toBe(1);
      const lines = r.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^tsfuse-overlayfs: /);
      expect(lines[0]).toMatch(msg);
      expect(isMounted(d.m)).toBe(false);
      expect(() => daemonPid(d.m)).toThrow(/no daemon/);
    });
  }

  it('callbacks that throw, hang or answer nonsense fail that operation with EIO and a log line; everything else keeps working', () => {
    const log = join(d.base, 'daemon.log');
    const o = ovl(`plugins=${FIX}/plugins/bad.mjs,plugin_timeout=0.5,lowerdir=//bad/x/`, d.m, { TSFUSE_DAEMON_LOG: log });
    const cat = (f: string) => shr(`timeout 10 cat ${d.m}/${f}`);
    expect(cat('ok')).toMatchObject({ status: 0, stdout: 'hello' });
    for (const [f, err] of [['throw', 'Input/output error'], ['hang', 'Input/output error'], ['perm', 'Permission denied'],
      ['nonsense', 'Input/output error'], ['readthrow', 'Input/output error'], ['readhang', 'Input/output error']]) {
      const t0 = Date.now();
      const r = cat(f);
      expect(r.status, f).toBe(1);
      expect(r.stderr, f).toContain(err);
      expect(Date.now() - t0, f).toBeLessThan(5000);
    }
    // the listing still works (entries the plugin cannot stat are listed; their lookup reports the error)
    expect(fs.readdirSync(d.m).sort()).toEqual(['hang', 'nonsense', 'ok', 'perm', 'readhang', 'readthrow', 'throw']);
    expect(cat('ok')).toMatchObject({ status: 0, stdout: 'hello' });
    expect(pidAlive(o.pid)).toBe(true);
    o.unmount();
    const text = fs.readFileSync(log, 'utf8');
    expect(text).toMatch(/plugin bad: stat throw failed: TypeError: oops/);
    expect(text).toMatch(/plugin bad: stat hang did not answer within 500 ms/);
    expect(text).toMatch(/plugin bad: read readthrow failed: RangeError: bad offset/);
    // without plugin_timeout= the plugin's own default (1 s) bounds it
    const log2 = join(d.base, 'daemon2.log');
    const o2 = ovl(`plugins=${FIX}/plugins/bad.mjs,lowerdir=//bad/x/`, d.m, { TSFUSE_DAEMON_LOG: log2 });
    expect(cat('hang').stderr).toContain('Input/output error');
    o2.unmount();
    expect(fs.readFileSync(log2, 'utf8')).toMatch(/plugin bad: stat hang did not answer within 1000 ms/);
  });
});

describe('a streamed listing that outlives the timeout', () => {
  it('is stopped (its iterator returns) once the readdir has failed, not read on for nobody', () => {
    const d = layout();
    const marks = join(d.base, 'marks');
    fs.mkdirSync(marks);
    const plugin = join(d.base, 'slowlist.mjs');
    fs.writeFileSync(plugin, `import * as fs from 'node:fs';
export default { version: 1, name: 'slowlist', load(_data, path) {
  return {
    stat(p) { return p === '' ? { mode: 0o40755 } : null; },
    readlink() { return ''; },
    async *readdir() {
      let i = 0;
      try {
        for (;;) { await new Promise((r) => setTimeout(r, 20)); fs.writeFileSync(path + '/count', String(i)); yield { name: 'e' + i++, type: 8 }; }
      } finally { fs.writeFileSync(path + '/stopped', String(i)); }
    },
  };
} };
`);
    const o = ovl(`plugins=${plugin},plugin_timeout=0.5,lowerdir=//slowlist/x${marks}`, d.m);
    const r = shr(`timeout 10 ls ${d.m}`);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('Input/output error');
    waitFor(() => fs.existsSync(join(marks, 'stopped')), 3000, 'the listing to stop');
    const stoppedAt = Number(fs.readFileSync(join(marks, 'stopped'), 'utf8'));
    sh('sleep 0.3');
    // nothing was read after it stopped
    expect(Number(fs.readFileSync(join(marks, 'count'), 'utf8'))).toBeLessThanOrEqual(stoppedAt);
    o.unmount();
  });
});

describe('spec/plugin-api.md', () => {
  it('its complete example works as written', () => {
    const spec = fs.readFileSync(join(ROOT, 'spec/plugin-api.md'), 'utf8');
    const code = /```js\n(\/\/ \/opt\/json-layer\.mjs[\s\S]*?)```/.exec(spec)?.[1];
    expect(code).toBeDefined();
    const d = layout();
    const mod = join(d.base, 'json-layer.mjs'), json = join(d.base, 'tree.json'), log = join(d.base, 'log');
    fs.writeFileSync(mod, code!);
    fs.writeFileSync(json, JSON.stringify({ etc: { motd: 'hi\n' }, README: 'x' }));
    const o = ovl(`plugins=${mod},lowerdir=//json/${b64(json)}/,upperdir=${d.u},workdir=${d.w}`, d.m, { TSFUSE_DAEMON_LOG: log });
    expect(fs.readdirSync(d.m).sort()).toEqual(['README', 'etc']);
    expect(fs.readFileSync(join(d.m, 'etc/motd'), 'utf8')).toBe('hi\n');
    fs.appendFileSync(join(d.m, 'etc/motd'), 'there\n');
    expect(fs.readFileSync(join(d.u, 'etc/motd'), 'utf8')).toBe('hi\nthere\n');
    o.unmount();
    expect(fs.readFileSync(log, 'utf8')).toMatch(/plugin json: open etc\/motd/);
  });
});

/**
 * tsfuse-overlayfs' command line: the parser (every fuse-overlayfs rule,
 * the exact argv containers-storage and mount.fuse3 use) and the program's
 * exits that happen before anything is mounted (--version, --help, errors).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { OptionError } from '../src/cli/options.js';
import {
  parseMappings, parseOverlayArgs, splitPathList, unescapeOption, type OverlayArgs, type OverlayMountArgs,
} from '../src/cli/overlayfs-args.js';
import { isMounted, ROOT, tempDir } from './helpers.js';

const PROG = '/usr/bin/tsfuse-overlayfs';

/** Parses a full argv (argv[0] = the program), as root unless told otherwise. */
function parse(argv: string[], root = true): OverlayMountArgs {
  const r: OverlayArgs = parseOverlayArgs(argv.slice(1), { root });
  if (r.action !== 'mount') throw new Error(`expected a mount, got ${r.action}`);
  return r;
}

/** The one-line error a parse fails with. */
function parseError(argv: string[]): string {
  try {
    parseOverlayArgs(argv.slice(1), { root: true });
  } catch (e) {
    expect(e).toBeInstanceOf(OptionError);
    const msg = (e as Error).message;
    expect(msg).not.toContain('\n');
    return msg;
  }
  throw new Error('expected the parse to fail');
}

const o = (opts: string, mnt = '/m') => parse([PROG, '-o', opts, mnt]);

describe('containers-storage argv', () => {
  it('read-write layer: lowerdir, upperdir, workdir, volatile, SELinux context, id mappings', () => {
    const argv = [PROG, '-o',
      'lowerdir=/s/l/AAA:/s/l/BBB,upperdir=/s/x/diff,workdir=/s/x/work,volatile,context="system_u:object_r:container_file_t:s0:c1,c2",uidmapping=0:1:65536,gidmapping=0:1:65536',
      '/s/x/merged'];
    const a = parse(argv);
    expect(a.mountpoint).toBe('/s/x/merged');
    expect(a.source).toBeUndefined();
    expect(a.foreground).toBe(false);
    expect(a.debug).toBe(false);
    expect(a.overlay).toEqual({
      lowerdirs: ['/s/l/AAA', '/s/l/BBB'],
      upperdir: '/s/x/diff',
      workdir: '/s/x/work',
      noFsync: true,
      uidMappings: [{ layer: 0, mount: 1, len: 65536 }],
      gidMappings: [{ layer: 0, mount: 1, len: 65536 }],
      writeback: false,
      debug: false,
    });
    // the context's tail, split off at its comma, is only a warning
    expect(a.warnings).toEqual(['unknown argument ignored: c2"']);
    // fuse-overlayfs' root defaults: default_permissions,allow_other,suid,noatime
    expect(a.mount).toEqual({
      fsname: 'tsfuse-overlayfs', subtype: 'tsfuse-overlayfs', allowOther: true, defaultPermissions: true, flags: ['suid', 'noatime'],
    });
    expect(a.session).toEqual({ debug: false });
  });

  it('read-only form: lowerdir only', () => {
    const a = parse([PROG, '-o', 'lowerdir=/s/x/diff:/s/l/AAA:/s/l/BBB', '/s/x/merged']);
    expect(a.overlay.lowerdirs).toEqual(['/s/x/diff', '/s/l/AAA', '/s/l/BBB']);
    expect(a.overlay.upperdir).toBeUndefined();
    expect(a.overlay.workdir).toBeUndefined();
    expect(a.warnings).toEqual([]);
  });

  it('squash_to_uid/gid (single-id maps) and xattr_permissions=2 (force_mask)', () => {
    const a = o('lowerdir=/l,upperdir=/u,workdir=/w,squash_to_uid=1000,squash_to_gid=1001,xattr_permissions=2');
    expect(a.overlay).toMatchObject({ squashToUid: 1000, squashToGid: 1001, xattrPermissions: 2 });
    expect(a.warnings).toEqual([]);
  });

  it('mappings with a leading colon and several triples (podman #7061)', () => {
    const a = o('lowerdir=/l,uidmapping=:0:100000:65536,gidmapping=0:1:33857:33857:0:1:33858:33858:31679');
    expect(a.overlay.uidMappings).toEqual([{ layer: 0, mount: 100000, len: 65536 }]);
    expect(a.overlay.gidMappings).toEqual([
      { layer: 0, mount: 1, len: 33857 }, { layer: 33857, mount: 0, len: 1 }, { layer: 33858, mount: 33858, len: 31679 },
    ]);
  });

  it('old storage passing metacopy=on: a warning, not an error', () => {
    const a = parse([PROG, '-o', 'metacopy=on,lowerdir=/l,upperdir=/u,workdir=/w', '/m']);
    expect(a.warnings).toEqual(['unknown argument ignored: metacopy=on']);
    expect(a.overlay.upperdir).toBe('/u');
  });
});

describe('argv shape', () => {
  it("mount.fuse3's shape: SOURCE MOUNTPOINT -o rw,...,dev,suid", () => {
    const a = parse([PROG, 'myovl', '/mnt/x', '-o', 'rw,lowerdir=/l1:/l2,upperdir=/u,workdir=/w,dev,suid']);
    expect(a.source).toBe('myovl');
    expect(a.mountpoint).toBe('/mnt/x');
    expect(a.overlay.lowerdirs).toEqual(['/l1', '/l2']);
    expect(a.mount.ro).toBe(false);
    expect(a.mount.flags).toEqual(expect.arrayContaining(['dev', 'suid', 'noatime']));
    expect(a.warnings).toEqual([]);
  });

  it('options before or after the positionals; -oOPTS attached; the last non-option is the mountpoint', () => {
    expect(parse([PROG, '/m', '-o', 'lowerdir=/l']).mountpoint).toBe('/m');
    expect(parse([PROG, '-olowerdir=/l', '/m']).overlay.lowerdirs).toEqual(['/l']);
    const a = parse([PROG, 'src1', '-olowerdir=/l', 'src2', '/m']);
    expect(a.mountpoint).toBe('/m');
    expect(a.source).toBe('src2');
    expect(parse([PROG, '-o', 'lowerdir=/l', '--', '-weird']).mountpoint).toBe('-weird');
  });

  it('several -o merge, later wins', () => {
    const a = parse([PROG, '-o', 'lowerdir=/a,upperdir=/u,workdir=/w', '-o', 'lowerdir=/b:/c', '-oworkdir=/w2', '/m']);
    expect(a.overlay.lowerdirs).toEqual(['/b', '/c']);
    expect(a.overlay.upperdir).toBe('/u');
    expect(a.overlay.workdir).toBe('/w2');
    expect(parse([PROG, '-o', 'lowerdir=/l,ro', '-o', 'rw', '/m']).mount.ro).toBe(false);
    expect(parse([PROG, '-o', 'lowerdir=/l,rw', '-o', 'ro', '/m']).mount.ro).toBe(true);
    expect(parse([PROG, '-o', 'lowerdir=/l,fsync=0', '-o', 'fsync=1', '/m']).overlay.noFsync).toBe(false);
  });

  it('-f, -d, --debug, -o debug; debug implies foreground and session debug', () => {
    expect(parse([PROG, '-f', '-o', 'lowerdir=/l', '/m'])).toMatchObject({ foreground: true, debug: false });
    for (const d of [['-d'], ['--debug'], ['-o', 'debug']]) {
      const a = parse([PROG, ...d, '-o', 'lowerdir=/l', '/m']);
      expect(a).toMatchObject({ foreground: true, debug: true, session: { debug: true }, overlay: { debug: true } });
    }
  });

  it('-h/--help and -V/--version win over everything else', () => {
    expect(parseOverlayArgs(['-h']).action).toBe('help');
    expect(parseOverlayArgs(['-o', 'lowerdir=/l', '/m', '--help']).action).toBe('help');
    expect(parseOverlayArgs(['-V']).action).toBe('version');
    expect(parseOverlayArgs(['--version', '-o', 'redirect_dir=on']).action).toBe('version');
  });

  it('unknown options and flags are warnings, never fatal', () => {
    const a = parse([PROG, '-x', '-o', 'lowerdir=/l,bogus,userxattr,static_nlink=maybe', '/m']);
    expect(a.warnings).toEqual([
      'unknown argument ignored: -x',
      'unknown argument ignored: bogus',
      'unknown argument ignored: userxattr',
      'unknown argument ignored: static_nlink=maybe',
    ]);
    expect(a.overlay.staticNlink).toBeUndefined();
  });

  it('the daemon flag and -s are accepted silently', () => {
    expect(parse([PROG, '-s', '-o', 'lowerdir=/l', '/m', '--tsfuse-daemon-child']).warnings).toEqual([]);
  });
});

describe('escapes', () => {
  it('\\: is a colon and \\, a comma inside lowerdir paths', () => {
    expect(o('lowerdir=/a\\:b:/c\\,d').overlay.lowerdirs).toEqual(['/a:b', '/c,d']);
  });

  it("fuse-overlayfs' double form \\\\: is a colon too", () => {
    const a = o('lowerdir=lower\\\\:1,upperdir=upper\\\\:2,workdir=workdir\\\\:3');
    expect(a.overlay.lowerdirs).toEqual(['lower:1']);
    expect(a.overlay.upperdir).toBe('upper:2');
    expect(a.overlay.workdir).toBe('workdir:3');
  });

  it('\\\\\\\\ is a backslash; a lone backslash before another character stays', () => {
    expect(o('lowerdir=/a\\\\\\\\b:/c').overlay.lowerdirs).toEqual(['/a\\b', '/c']);
    expect(o('lowerdir=/a\\\\b').overlay.lowerdirs).toEqual(['/a\\b']);
  });

  it('octal \\NNN (libfuse) and an escaped comma elsewhere', () => {
    expect(o('lowerdir=/a\\054b').overlay.lowerdirs).toEqual(['/a,b']);
    expect(o('lowerdir=/l,fsname=my\\,fs').mount.fsname).toBe('my,fs');
    expect(o('lowerdir=/l,upperdir=/u\\:x\\,y,workdir=/w').overlay.upperdir).toBe('/u:x,y');
  });

  it('empty lowerdir elements are skipped', () => {
    expect(o('lowerdir=::/a::/b:').overlay.lowerdirs).toEqual(['/a', '/b']);
  });

  it('plugin specs and plugins= lists', () => {
    const a = o('lowerdir=//crfs/abc/def:/l,plugins=/p/a.so:/p/b.so');
    expect(a.overlay.lowerdirs).toEqual(['//crfs/abc/def', '/l']);
    expect(a.overlay.plugins).toEqual(['/p/a.so', '/p/b.so']);
  });

  it('the helpers one by one', () => {
    expect(unescapeOption('a\\:b\\\\c\\,d\\054')).toBe('a\\:b\\c,d,');
    expect(splitPathList('a\\:b:c\\\\:d')).toEqual(['a:b', 'c\\', 'd']);
    expect(parseMappings('uidmapping', '0:0:1:1:100000:65535')).toEqual([{ layer: 0, mount: 0, len: 1 }, { layer: 1, mount: 100000, len: 65535 }]);
  });
});

describe('overlay options', () => {
  it('upperdir needs workdir; workdir alone is accepted and ignored', () => {
    expect(parseError([PROG, '-o', 'lowerdir=/l,upperdir=/u', '/m'])).toBe('workdir not specified');
    const a = o('lowerdir=/l,workdir=/w');
    expect(a.overlay.workdir).toBeUndefined();
    expect(a.overlay.upperdir).toBeUndefined();
    expect(a.warnings).toEqual([]);
  });

  it('flags and numbers', () => {
    const a = o('lowerdir=/l,squash_to_root,static_nlink,noacl,xattr_permissions=1,timeout=2.5,noxattrs=1,fsync=0');
    expect(a.overlay).toMatchObject({ squashToRoot: true, staticNlink: true, noacl: true, xattrPermissions: 1, timeout: 2.5, noxattrs: true, noFsync: true });
    expect(o('lowerdir=/l,xattr_permissions=0').overlay.xattrPermissions).toBe(0);
    expect(o('lowerdir=/l,timeout=0').overlay.timeout).toBe(0);
    expect(o('lowerdir=/l,noxattrs=0').overlay.noxattrs).toBe(false);
    expect(o('lowerdir=/l,noxattrs').overlay.noxattrs).toBe(true);
  });

  it('fsync=, sync= (alias), volatile; bare sync is the mount flag', () => {
    expect(o('lowerdir=/l').overlay.noFsync).toBeUndefined();
    expect(o('lowerdir=/l,volatile').overlay.noFsync).toBe(true);
    expect(o('lowerdir=/l,fsync=0').overlay.noFsync).toBe(true);
    expect(o('lowerdir=/l,fsync=1').overlay.noFsync).toBe(false);
    expect(o('lowerdir=/l,sync=0').overlay.noFsync).toBe(true);
    const s = o('lowerdir=/l,sync');
    expect(s.overlay.noFsync).toBeUndefined();
    expect(s.mount.flags).toContain('sync');
  });

  it('writeback: off unless asked (it excludes FUSE passthrough); writeback=1 asks the session for it', () => {
    const d = o('lowerdir=/l');
    expect(d.overlay.writeback).toBe(false);
    expect(d.session.writebackCache).toBeUndefined();
    const w = o('lowerdir=/l,writeback=1');
    expect(w.overlay.writeback).toBe(true);
    expect(w.session.writebackCache).toBe(true);
    expect(o('lowerdir=/l,writeback=0').overlay.writeback).toBe(false);
  });

  it('redirect_dir=off, context=, threaded=, fast_ino=, xino= are accepted without a word', () => {
    const a = o('lowerdir=/l,redirect_dir=off,context=system_u:object_r:container_file_t:s0,threaded=1,fast_ino=1,xino=auto');
    expect(a.warnings).toEqual([]);
  });
});

describe('FUSE options', () => {
  it('root defaults: allow_other, default_permissions, suid, noatime', () => {
    const a = parse([PROG, '-o', 'lowerdir=/l', '/m'], true);
    expect(a.mount).toMatchObject({ allowOther: true, defaultPermissions: true, flags: ['suid', 'noatime'] });
  });

  it('rootless defaults: default_permissions, noatime', () => {
    const a = parse([PROG, '-o', 'lowerdir=/l', '/m'], false);
    expect(a.mount.allowOther).toBeUndefined();
    expect(a.mount.defaultPermissions).toBe(true);
    expect(a.mount.flags).toEqual(['noatime']);
  });

  it('user flags override the defaults, each pair keeps its last word', () => {
    const a = o('lowerdir=/l,atime,nosuid,nodev,noexec,exec,nodiratime,diratime,allow_other,default_permissions');
    expect(a.mount.flags!.sort()).toEqual(['atime', 'exec', 'nodev', 'nosuid']);
    const b = o('lowerdir=/l,dev,suid,noexec,nodiratime,noatime');
    expect(b.mount.flags!.sort()).toEqual(['dev', 'noatime', 'nodiratime', 'noexec', 'suid']);
    expect(a.warnings).toEqual([]);
  });

  it('ro, rw, max_write (session), fsname, subtype', () => {
    const a = o('lowerdir=/l,ro,max_write=131072,fsname=ovl,subtype=myovl');
    expect(a.mount).toMatchObject({ ro: true, fsname: 'ovl', subtype: 'myovl' });
    expect(a.session.maxWrite).toBe(131072);
    expect(o('lowerdir=/l').mount).toMatchObject({ fsname: 'tsfuse-overlayfs', subtype: 'tsfuse-overlayfs' });
    expect(o('lowerdir=/l').mount.ro).toBeUndefined();
  });

  it('kernel_cache and splice_* are accepted silently; allow_root warns and is ignored', () => {
    expect(o('lowerdir=/l,kernel_cache,splice_read,splice_write,splice_move').warnings).toEqual([]);
    const r = parse([PROG, '-o', 'lowerdir=/l,allow_root', '/m'], false);
    expect(r.warnings).toEqual(['allow_root is not supported, ignored (use allow_other)']);
    expect(r.mount.allowOther).toBeUndefined();
  });
});

describe('errors: one line each', () => {
  it.each([
    [[PROG, '-o', 'upperdir=/u,workdir=/w', '/m'], 'no lowerdir specified'],
    [[PROG, '-o', 'lowerdir=', '/m'], 'no lowerdir specified'],
    [[PROG, '-o', 'lowerdir=::', '/m'], 'no lowerdir specified'],
    [[PROG, '/m'], 'no lowerdir specified'],
    [[PROG, '-o', 'lowerdir=/l'], 'no mountpoint specified'],
    [[PROG], 'no mountpoint specified'],
    [[PROG, '/m', '-o'], 'missing argument after -o'],
    [[PROG, '-o', 'lowerdir=/l,upperdir=/u', '/m'], 'workdir not specified'],
    [[PROG, '-o', 'lowerdir=/l,redirect_dir=on', '/m'], 'tsfuse-overlayfs only supports redirect_dir=off'],
    [[PROG, '-o', 'lowerdir=/l,redirect_dir=follow', '/m'], 'tsfuse-overlayfs only supports redirect_dir=off'],
    [[PROG, '-o', 'lowerdir=/l,uidmapping=0:1', '/m'],
      'option uidmapping=0:1: 2 numbers is not a whole number of triples (expected LAYERID:MOUNTID:LEN[:LAYERID:MOUNTID:LEN...])'],
    [[PROG, '-o', 'lowerdir=/l,gidmapping=0:x:5', '/m'],
      'option gidmapping=0:x:5: "x" is not a number (expected LAYERID:MOUNTID:LEN[:LAYERID:MOUNTID:LEN...])'],
    [[PROG, '-o', 'lowerdir=/l,uidmapping=', '/m'],
      'option uidmapping=: empty mapping (expected LAYERID:MOUNTID:LEN[:LAYERID:MOUNTID:LEN...])'],
    [[PROG, '-o', 'lowerdir=/l,uidmapping=0:1:0', '/m'],
      'option uidmapping=0:1:0: a mapping of length 0 (expected LAYERID:MOUNTID:LEN[:LAYERID:MOUNTID:LEN...])'],
    [[PROG, '-o', 'lowerdir=/l,uidmapping=0:4294967295:2', '/m'],
      'option uidmapping=0:4294967295:2: 0:4294967295:2 goes past 4294967295 (expected LAYERID:MOUNTID:LEN[:LAYERID:MOUNTID:LEN...])'],
    [[PROG, '-o', 'lowerdir=/l,uidmapping', '/m'], 'option uidmapping needs a value (uidmapping=…)'],
    [[PROG, '-o', 'lowerdir=/l,xattr_permissions=3', '/m'], 'option xattr_permissions=3: expected 0, 1 or 2'],
    [[PROG, '-o', 'lowerdir=/l,fsync=2', '/m'], 'option fsync=2: expected 0 or 1'],
    [[PROG, '-o', 'lowerdir=/l,writeback=yes', '/m'], 'option writeback=yes: expected 0 or 1'],
    [[PROG, '-o', 'lowerdir=/l,squash_to_uid=root', '/m'], 'option squash_to_uid=root: expected a numeric id'],
    [[PROG, '-o', 'lowerdir=/l,timeout=soon', '/m'], 'option timeout: expected a number of seconds, got soon'],
    [[PROG, '-o', 'lowerdir=/l,max_write=0', '/m'], 'option max_write=0: expected a positive whole number'],
  ])('%j → %s', (argv, msg) => {
    expect(parseError(argv)).toBe(msg);
  });
});

// ------------------------------------------------------------------ the program

const BIN = join(ROOT, 'bin/tsfuse-overlayfs');

function run(args: string[]) {
  const r = spawnSync(BIN, [...args], { encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('tsfuse-overlayfs program', () => {
  it('--version / -V: version and FUSE lines, exit 0', () => {
    for (const f of ['--version', '-V']) {
      const r = run([f]);
      expect(r.status).toBe(0);
      const lines = r.stdout.trim().split('\n');
      expect(lines[0]).toMatch(/^tsfuse-overlayfs: version \d+\.\d+\.\d+$/);
      expect(lines.slice(1).join('\n')).toMatch(/FUSE/);
      expect(r.stderr).toBe('');
    }
  });

  it('--help / -h: usage, exit 0', () => {
    for (const f of ['--help', '-h']) {
      const r = run([f]);
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(/^usage: tsfuse-overlayfs \[-f\] \[-d\|--debug\] \[-o OPTS\]\.\.\. \[SOURCE\] MOUNTPOINT/);
      expect(r.stdout).toContain('lowerdir=');
    }
  });

  it('option errors: exit 1, one line on stderr, nothing mounted', () => {
    const mnt = tempDir('tsfuse-ovl-args-');
    const cases: [string[], string][] = [
      [[], 'tsfuse-overlayfs: no mountpoint specified'],
      [[mnt], 'tsfuse-overlayfs: no lowerdir specified'],
      [['-o', `lowerdir=${mnt},upperdir=${mnt}`, mnt], 'tsfuse-overlayfs: workdir not specified'],
      [['-o', `lowerdir=${mnt},redirect_dir=on`, mnt], 'tsfuse-overlayfs: tsfuse-overlayfs only supports redirect_dir=off'],
      [['-o', `lowerdir=${mnt},uidmapping=0:1`, mnt],
        'tsfuse-overlayfs: option uidmapping=0:1: 2 numbers is not a whole number of triples (expected LAYERID:MOUNTID:LEN[:LAYERID:MOUNTID:LEN...])'],
    ];
    for (const [args, line] of cases) {
      const r = run(args);
      expect(r.status, args.join(' ')).toBe(1);
      expect(r.stderr).toBe(line + '\n');
    }
    expect(isMounted(mnt)).toBe(false);
  });

  it('bad mountpoint, upperdir or workdir: exit 1, one line, nothing mounted', () => {
    const base = tempDir('tsfuse-ovl-args-');
    const low = join(base, 'low'), up = join(base, 'up'), work = join(base, 'work'), mnt = join(base, 'mnt'), file = join(base, 'file');
    for (const d of [low, up, work, mnt]) fs.mkdirSync(d);
    fs.writeFileSync(file, '');
    const cases: [string[], string][] = [
      [['-o', `lowerdir=${low}`, join(base, 'missing')], `tsfuse-overlayfs: mountpoint ${join(base, 'missing')} does not exist`],
      [['-o', `lowerdir=${low}`, file], `tsfuse-overlayfs: mountpoint ${file} is not a directory`],
      [['-o', `lowerdir=${low},upperdir=${join(base, 'nou')},workdir=${work}`, mnt], `tsfuse-overlayfs: upperdir ${join(base, 'nou')} does not exist`],
      [['-o', `lowerdir=${low},upperdir=${up},workdir=${join(base, 'now')}`, mnt], `tsfuse-overlayfs: workdir ${join(base, 'now')} does not exist`],
      [['-o', `lowerdir=${low},upperdir=${file},workdir=${work}`, mnt], `tsfuse-overlayfs: upperdir ${file} is not a directory`],
    ];
    for (const [args, line] of cases) {
      const r = run(args);
      expect(r.status, args.join(' ')).toBe(1);
      expect(r.stderr).toBe(line + '\n');
    }
    expect(isMounted(mnt)).toBe(false);
  });

  it('a relative mountpoint is resolved before it is checked', () => {
    const base = tempDir('tsfuse-ovl-args-');
    const r = spawnSync(BIN, ['-o', 'lowerdir=low', 'missing'], { cwd: base, encoding: 'utf8', timeout: 30_000 });
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(`tsfuse-overlayfs: mountpoint ${join(fs.realpathSync(base), 'missing')} does not exist\n`);
  });

  it('warnings go to stderr before the error', () => {
    const r = run(['-o', 'lowerdir=/nonexistent,bogus', '/nonexistent-mnt']);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe('tsfuse-overlayfs: unknown argument ignored: bogus\ntsfuse-overlayfs: mountpoint /nonexistent-mnt does not exist\n');
  });
});

/**
 * tsfuse-overlayfs on real mounts: what the differential harness does not
 * compare — read-only overlays, every whiteout/opaque form in the layers,
 * the on-disk format written, inode stability, private xattrs, id
 * mapping, remount, lifecycle through the drop-in command line.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { forceUnmount, isMounted, mountType, pidAlive, ROOT, sh, shr, tempDir, waitFor } from './helpers.js';
import { BIN, daemonPid, ovl } from './ovl-mount.js';

function layers() {
  const base = tempDir('tsfuse-ovl-');
  const d = { base, l1: join(base, 'l1'), l2: join(base, 'l2'), u: join(base, 'u'), w: join(base, 'w'), m: join(base, 'm') };
  for (const p of [d.l1, d.l2, d.u, d.w, d.m]) fs.mkdirSync(p);
  return d;
}

const rw = (d: ReturnType<typeof layers>) => `lowerdir=${d.l1}:${d.l2},upperdir=${d.u},workdir=${d.w}`;

describe('tsfuse-overlayfs', () => {
  it('mounts as fuse.tsfuse-overlayfs with the root defaults, and unmounts with fusermount3 -u', () => {
    const d = layers();
    fs.writeFileSync(join(d.l1, 'f'), 'x');
    const o = ovl(rw(d), d.m);
    expect(mountType(d.m)).toBe('fuse.tsfuse-overlayfs');
    const line = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').find((l) => l.split(' ')[4] === d.m)!;
    expect(line).toContain('allow_other');
    expect(line).toContain('default_permissions');
    expect(fs.readFileSync(join(d.m, 'f'), 'utf8')).toBe('x');
    o.unmount();
    expect(isMounted(d.m)).toBe(false);
  });

  it('without upperdir it is read-only: every write is EROFS', () => {
    const d = layers();
    fs.writeFileSync(join(d.l1, 'f'), 'x');
    ovl(`lowerdir=${d.l1}:${d.l2}`, d.m);
    for (const cmd of [`echo y > ${d.m}/f`, `touch ${d.m}/new`, `mkdir ${d.m}/d`, `rm ${d.m}/f`, `chmod 600 ${d.m}/f`, `setfattr -n user.a -v b ${d.m}/f`]) {
      const r = shr(cmd);
      expect(r.status, cmd).not.toBe(0);
      expect(r.stderr, cmd).toMatch(/Read-only file system/);
    }
    expect(fs.readFileSync(join(d.m, 'f'), 'utf8')).toBe('x');
  });

  // the shim reads xattrs with getxattrat & co; TSFUSE_NO_XATTRAT makes it take its fallback (paths through /proc/self/fd)
  const XATTR_PATHS: [string, NodeJS.ProcessEnv | undefined][] = [['*xattrat calls', undefined], ['the /proc fallback', { TSFUSE_NO_XATTRAT: '1' }]];

  it.each(XATTR_PATHS)('reads every whiteout and opaque form found in lower layers (%s)', (_how, env) => {
    const d = layers();
    // l2 (bottom) has everything; l1 hides parts of it in each form
    for (const n of ['aufs', 'chardev', 'xattr', 'keep']) fs.writeFileSync(join(d.l2, n), n);
    for (const dir of ['opq-trusted', 'opq-user', 'opq-fuse', 'opq-marker', 'merged']) {
      fs.mkdirSync(join(d.l2, dir));
      fs.writeFileSync(join(d.l2, dir, 'from-l2'), '');
      fs.mkdirSync(join(d.l1, dir));
      fs.writeFileSync(join(d.l1, dir, 'from-l1'), '');
    }
    fs.writeFileSync(join(d.l1, '.wh.aufs'), '');
    sh(`mknod ${d.l1}/chardev c 0 0`);
    fs.writeFileSync(join(d.l1, 'xattr'), '');
    sh(`setfattr -n trusted.overlay.whiteout -v y ${d.l1}/xattr`);
    // the kernel's xattr whiteouts: hidden from listings only in a directory with overlay.opaque = "x"
    fs.mkdirSync(join(d.l2, 'xdir'));
    fs.mkdirSync(join(d.l1, 'xdir'));
    fs.writeFileSync(join(d.l2, 'xdir', 'gone'), 'gone');
    fs.writeFileSync(join(d.l2, 'xdir', 'keep'), 'keep');
    fs.writeFileSync(join(d.l1, 'xdir', 'gone'), '');
    sh(`setfattr -n trusted.overlay.whiteout -v y ${d.l1}/xdir/gone && setfattr -n trusted.overlay.opaque -v x ${d.l1}/xdir`);
    sh(`setfattr -n trusted.overlay.opaque -v y ${d.l1}/opq-trusted`);
    sh(`setfattr -n user.overlay.opaque -v y ${d.l1}/opq-user`);
    sh(`setfattr -n user.fuseoverlayfs.opaque -v y ${d.l1}/opq-fuse`);
    fs.writeFileSync(join(d.l1, 'opq-marker', '.wh..wh..opq'), '');
    ovl(`lowerdir=${d.l1}:${d.l2}`, d.m, env);
    // outside an "x" directory the kernel lists an xattr whiteout but its lookup fails: so do we
    expect(fs.readdirSync(d.m).sort()).toEqual(['keep', 'merged', 'opq-fuse', 'opq-marker', 'opq-trusted', 'opq-user', 'xattr', 'xdir']);
    expect(fs.readdirSync(join(d.m, 'xdir'))).toEqual(['keep']);
    expect(fs.existsSync(join(d.m, 'xdir/gone'))).toBe(false);
    for (const dir of ['opq-trusted', 'opq-user', 'opq-fuse', 'opq-marker']) expect(fs.readdirSync(join(d.m, dir)), dir).toEqual(['from-l1']);
    expect(fs.readdirSync(join(d.m, 'merged')).sort()).toEqual(['from-l1', 'from-l2']);
    for (const n of ['aufs', 'chardev', 'xattr', '.wh.aufs']) expect(fs.existsSync(join(d.m, n)), n).toBe(false);
  });

  it('honours .wh.NAME files an earlier session left in the upper, before and after the directory was listed, and removes one when NAME is made', () => {
    // a rootless fuse-overlayfs that could not mknod writes its whiteouts as empty .wh.NAME files
    const d = layers();
    for (const dir of ['', 'sub']) {
      if (dir) { fs.mkdirSync(join(d.l1, dir)); fs.mkdirSync(join(d.u, dir)); }
      for (const n of ['a', 'b', 'c', 'keep']) fs.writeFileSync(join(d.l1, dir, n), n);
      for (const n of ['a', 'b', 'c']) fs.writeFileSync(join(d.u, dir, `.wh.${n}`), '');
    }
    ovl(rw(d), d.m);
    // looked up before any listing (the names are learned from the first probe), then listed
    expect(['a', 'b', 'keep'].map((n) => fs.existsSync(join(d.m, 'sub', n)))).toEqual([false, false, true]);
    expect(fs.readdirSync(join(d.m, 'sub'))).toEqual(['keep']);
    expect(fs.readdirSync(d.m).sort()).toEqual(['keep', 'sub']);
    expect(fs.existsSync(join(d.m, 'c'))).toBe(false);
    for (const dir of [d.m, join(d.m, 'sub')]) {
      // making a whited-out name removes its .wh. file; the other whiteouts keep working
      fs.writeFileSync(join(dir, 'a'), 'new a');
      sh(`mkdir ${dir}/b`);
      expect(fs.readFileSync(join(dir, 'a'), 'utf8')).toBe('new a');
      expect(fs.statSync(join(dir, 'b')).isDirectory()).toBe(true);
      expect(fs.readdirSync(join(dir, 'b'))).toEqual([]); // a new dir over a whited-out name hides nothing
      expect(fs.existsSync(join(dir, 'c'))).toBe(false);
      // removed again: a whiteout again
      fs.rmSync(join(dir, 'a'));
      expect(fs.existsSync(join(dir, 'a'))).toBe(false);
    }
    for (const dir of [d.u, join(d.u, 'sub')]) {
      expect(fs.existsSync(join(dir, '.wh.a')), dir).toBe(false);
      expect(fs.existsSync(join(dir, '.wh.b')), dir).toBe(false);
      expect(fs.existsSync(join(dir, '.wh.c')), dir).toBe(true);
      expect(fs.lstatSync(join(dir, 'a')).isCharacterDevice(), dir).toBe(true);
    }
  });

  it.each(XATTR_PATHS)('writes the on-disk format of fuse-overlayfs: char 0/0 whiteouts, opaque xattr + marker, origin xattr (%s)', (_how, env) => {
    const d = layers();
    fs.writeFileSync(join(d.l1, 'gone'), 'g');
    fs.writeFileSync(join(d.l1, 'edit'), 'e');
    fs.mkdirSync(join(d.l1, 'dir'));
    fs.writeFileSync(join(d.l1, 'dir', 'old'), 'o');
    ovl(rw(d), d.m, env);
    sh(`cd ${d.m} && rm gone && echo more >> edit && rm -r dir && mkdir dir && touch dir/new`);
    const wh = fs.lstatSync(join(d.u, 'gone'));
    expect(wh.isCharacterDevice()).toBe(true);
    expect(wh.rdev).toBe(0);
    expect(fs.readFileSync(join(d.u, 'edit'), 'utf8')).toBe('emore\n');
    expect(sh(`getfattr --only-values -n user.fuseoverlayfs.origin ${d.u}/edit`)).toBe('edit');
    expect(sh(`getfattr --only-values -n trusted.overlay.opaque ${d.u}/dir`)).toBe('y');
    expect(fs.readdirSync(join(d.u, 'dir')).sort()).toEqual(['.wh..wh..opq', 'new']);
    expect(fs.readdirSync(join(d.m, 'dir'))).toEqual(['new']);
    // nothing half-made is left in the workdir
    expect(fs.readdirSync(join(d.w, 'work'))).toEqual([]);
  });

  it('keeps inode numbers across copy-up and across a remount; one st_dev for everything', () => {
    const d = layers();
    fs.writeFileSync(join(d.l2, 'f'), 'x');
    fs.mkdirSync(join(d.l2, 'dir'));
    const lowerIno = fs.statSync(join(d.l2, 'f')).ino;
    let o = ovl(rw(d), d.m);
    const before = fs.statSync(join(d.m, 'f'));
    expect(before.ino).toBe(lowerIno);
    fs.appendFileSync(join(d.m, 'f'), 'y');
    const after = fs.statSync(join(d.m, 'f'));
    expect(after.ino).toBe(before.ino);
    expect(fs.statSync(join(d.m, 'dir')).dev).toBe(after.dev);
    expect(fs.statSync(d.m).dev).toBe(after.dev);
    o.unmount();
    o = ovl(rw(d), d.m);
    expect(fs.statSync(join(d.m, 'f')).ino).toBe(lowerIno);
    expect(fs.readFileSync(join(d.m, 'f'), 'utf8')).toBe('xy');
    // readdir reports the same inode number stat does
    const listed = sh(`ls -i ${d.m} | awk '$2=="f"{print $1}'`).trim();
    expect(Number(listed)).toBe(lowerIno);
    o.unmount();
  });

  it('lower hard links stay one inode within the mount, also after copy-up of one name', () => {
    const d = layers();
    fs.writeFileSync(join(d.l1, 'a'), 'shared');
    fs.linkSync(join(d.l1, 'a'), join(d.l1, 'b'));
    ovl(rw(d), d.m);
    const [ia, ib] = [fs.statSync(join(d.m, 'a')).ino, fs.statSync(join(d.m, 'b')).ino];
    expect(ia).toBe(ib);
    fs.appendFileSync(join(d.m, 'a'), '+');
    expect(fs.readFileSync(join(d.m, 'b'), 'utf8')).toBe('shared+');
    // the lower file is untouched
    expect(fs.readFileSync(join(d.l1, 'a'), 'utf8')).toBe('shared');
  });

  it('hides the overlay-private xattrs and refuses to set them', () => {
    const d = layers();
    fs.writeFileSync(join(d.l1, 'f'), 'x');
    sh(`setfattr -n user.visible -v 1 ${d.l1}/f && setfattr -n user.fuseoverlayfs.origin -v zzz ${d.l1}/f && setfattr -n trusted.overlay.origin -v q ${d.l1}/f`);
    ovl(rw(d), d.m);
    expect(sh(`getfattr -d -m - ${d.m}/f`)).toContain('user.visible="1"');
    expect(sh(`getfattr -d -m - ${d.m}/f`)).not.toMatch(/overlay|fuseoverlayfs/);
    expect(shr(`getfattr -n trusted.overlay.origin ${d.m}/f`).stderr).toMatch(/No such attribute/);
    expect(shr(`setfattr -n user.fuseoverlayfs.x -v 1 ${d.m}/f`).stderr).toMatch(/Operation not permitted/);
  });

  it('.wh. names are never visible and cannot be created', () => {
    const d = layers();
    fs.writeFileSync(join(d.l1, '.wh.x'), '');
    ovl(rw(d), d.m);
    expect(fs.readdirSync(d.m)).toEqual([]);
    expect(shr(`touch ${d.m}/.wh.y`).status).not.toBe(0);
    expect(fs.readdirSync(d.u)).toEqual([]);
  });

  it('uidmapping/gidmapping map ids both ways; squash_to_root shows everything as root', () => {
    const d = layers();
    fs.writeFileSync(join(d.l1, 'f'), 'x');
    // LAYERID:MOUNTID:LEN — ids on disk (container ids, as containers-storage stores layers) → ids shown
    fs.chownSync(join(d.l1, 'f'), 5, 7);
    ovl(`${rw(d)},uidmapping=0:100000:65536,gidmapping=0:100000:65536`, d.m);
    const st = fs.statSync(join(d.m, 'f'));
    expect([st.uid, st.gid]).toEqual([100005, 100007]);
    fs.chownSync(join(d.m, 'f'), 100010, 100011);
    const up = fs.statSync(join(d.u, 'f'));
    expect([up.uid, up.gid]).toEqual([10, 11]);
    // files created through the mount by (mapped) root land as layer root
    fs.writeFileSync(join(d.m, 'new'), '');
    expect(fs.statSync(join(d.u, 'new')).uid).toBe(65534); // caller uid 0 is outside the mapping: overflow id on disk

    const d2 = layers();
    fs.writeFileSync(join(d2.l1, 'g'), 'x');
    fs.chownSync(join(d2.l1, 'g'), 1234, 5678);
    ovl(`lowerdir=${d2.l1},squash_to_root`, d2.m);
    const s2 = fs.statSync(join(d2.m, 'g'));
    expect([s2.uid, s2.gid]).toEqual([0, 0]);
  });

  it('xattr_permissions=2 keeps owner and mode in user.containers.override_stat, files stay the daemon\'s', () => {
    const d = layers();
    fs.writeFileSync(join(d.l1, 'f'), 'x');
    sh(`setfattr -n user.containers.override_stat -v 1000:1001:640 ${d.l1}/f`);
    ovl(`${rw(d)},xattr_permissions=2`, d.m);
    const st = fs.statSync(join(d.m, 'f'));
    expect([st.uid, st.gid, st.mode & 0o7777]).toEqual([1000, 1001, 0o640]);
    fs.chownSync(join(d.m, 'f'), 2000, 2001);
    fs.chmodSync(join(d.m, 'f'), 0o600);
    const after = fs.statSync(join(d.m, 'f'));
    expect([after.uid, after.gid, after.mode & 0o7777]).toEqual([2000, 2001, 0o600]);
    expect(sh(`getfattr --only-values -n user.containers.override_stat ${d.u}/f`)).toBe('2000:2001:600');
    expect(fs.statSync(join(d.u, 'f')).uid).toBe(0);
    fs.mkdirSync(join(d.m, 'nd'), 0o750);
    expect(sh(`getfattr --only-values -n user.containers.override_stat ${d.u}/nd`)).toBe('0:0:750');
    // a new file shows the mode its override holds, from the create reply on (the daemon keeps u+rwx on disk)
    fs.writeFileSync(join(d.m, 'nf'), '', { mode: 0o640 });
    expect(fs.statSync(join(d.m, 'nf')).mode & 0o7777).toBe(0o640);
    expect(fs.statSync(join(d.u, 'nf')).mode & 0o7777).toBe(0o740);
    // the override is private: not listed, not settable
    expect(sh(`getfattr -d -m - ${d.m}/f`)).not.toContain('override_stat');
  });

  it('POSIX ACLs: default-ACL inheritance, umask, setfacl, chmod give what the kernel overlayfs gives, in the mount and on disk', () => {
    const d = layers();
    fs.chmodSync(d.base, 0o755); // other users must reach the mount
    sh(`cd ${d.l1} && mkdir acl plain && setfacl -d -m u:1234:rwx,g::r-x,o::--- acl && setfacl -m u:4321:rx acl && echo hi > plain/old && setfacl -m u:77:rw plain/old`);
    const k = { u: join(d.base, 'ku'), w: join(d.base, 'kw'), m: join(d.base, 'km') };
    for (const p of Object.values(k)) fs.mkdirSync(p);
    // getfacl -R walks in readdir order, which differs: one sorted block per file
    const facls = 'getfacl -n -p -R . 2>&1 | awk -v RS= \'{gsub(/\\n/, "|"); print}\' | sort';
    const script = `umask 022 && mkdir acl/sub plain/sub && touch acl/f plain/f && (umask 077; touch plain/g; mkdir acl/sub2) && mknod acl/fifo p &&
      setfacl -m u:99:r plain/f && chmod 640 plain/f && chmod 600 plain/old && ${facls} && stat -c '%a %n' acl/* plain/*`;
    sh(`mount -t overlay overlay -o lowerdir=${d.l1},upperdir=${k.u},workdir=${k.w} ${k.m}`);
    let kernel: string;
    try {
      kernel = sh(script, k.m);
    } finally {
      sh(`umount ${k.m}`);
    }
    const upperK = sh(facls, k.u);
    const o = ovl(`lowerdir=${d.l1},upperdir=${d.u},workdir=${d.w}`, d.m);
    const ours = sh(script, d.m);
    // the kernel enforces the ACLs: a named user with no entry is refused, one with an entry is let in
    expect(shr(`setpriv --reuid=1234 --regid=1234 --clear-groups ls ${d.m}/acl/sub`).status).toBe(0);
    expect(shr(`setpriv --reuid=99 --regid=99 --clear-groups cat ${d.m}/plain/f`).status).toBe(0);
    expect(shr(`setpriv --reuid=98 --regid=98 --clear-groups cat ${d.m}/plain/f`).stderr).toMatch(/Permission denied/);
    o.unmount();
    expect(ours).toBe(kernel);
    expect(ours).toContain('default:user:1234:rwx');
    // the upper holds the same ACLs (whiteouts, markers and origin xattrs aside)
    expect(sh(facls, d.u)).toBe(upperK);
    // a default ACL set through the mount applies to what is created next (the daemon's copy is renewed)
    const o2 = ovl(`lowerdir=${d.l1},upperdir=${d.u},workdir=${d.w}`, d.m);
    sh(`touch ${d.m}/plain/before && setfacl -d -m u:555:rwx ${d.m}/plain && touch ${d.m}/plain/after`);
    expect(sh(`getfacl -n -p ${d.m}/plain/before`)).not.toContain('user:555');
    expect(sh(`getfacl -n -p ${d.m}/plain/after`)).toMatch(/user:555:rwx[^]*mask::rw-/);
    o2.unmount();
    // noacl: no FUSE ACLs; the kernel applies the umask and the new file gets exactly the mode asked for
    // (spec/overlay-semantics.md: fuse-overlayfs lets the host's default ACL mask it)
    const u3 = join(d.base, 'u3'), w3 = join(d.base, 'w3');
    fs.mkdirSync(u3);
    fs.mkdirSync(w3);
    const n = ovl(`lowerdir=${d.l1},upperdir=${u3},workdir=${w3},noacl`, d.m);
    sh(`umask 022 && touch ${d.m}/acl/new`);
    expect(sh(`stat -c %a ${d.m}/acl/new`).trim()).toBe('644');
    expect(sh(`getfacl -n -p ${d.m}/acl`)).toContain('user:4321:r-x');
    n.unmount();
  });

  it('SIGTERM with a relative mountpoint unmounts cleanly', () => {
    const d = layers();
    const r = spawnSync(BIN, ['-o', rw(d), 'm'], { cwd: d.base, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const pid = daemonPid(d.m, 'm');
    process.kill(pid, 'SIGTERM');
    waitFor(() => !pidAlive(pid), 10_000, 'daemon exit');
    // the unmount itself may still be settling when a busy machine reaps the daemon
    waitFor(() => !isMounted(d.m), 10_000, `unmount of ${d.m}`);
    expect(isMounted(d.m)).toBe(false);
  });

  it('a bad layer fails the mount with one line and leaves nothing mounted', () => {
    const d = layers();
    const r = spawnSync(BIN, ['-o', `lowerdir=${d.base}/missing,upperdir=${d.u},workdir=${d.w}`, d.m], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(`${d.base}/missing`);
    expect(isMounted(d.m)).toBe(false);
  });

  it('the launcher: a background mount is one daemon in its own session, holding none of the caller\'s pipes; warnings still reach stderr', () => {
    const d = layers();
    // spawnSync returns only once every holder of its stdout/stderr pipes closed them (as Go's cmd.Output() does)
    const r = spawnSync(BIN, ['-o', `${rw(d)},bogus_opt`, d.m], { encoding: 'utf8', timeout: 20_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toBe('tsfuse-overlayfs: unknown argument ignored: bogus_opt\n');
    const pid = daemonPid(d.m);
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      const [, , pgrp, sid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ').map(Number);
      expect([sid, pgrp]).toEqual([pid, pid]);
      for (const fd of ['0', '1', '2']) expect(fs.readlinkSync(`/proc/${pid}/fd/${fd}`)).toBe('/dev/null');
      // one Node process for the mount: no other process names this mountpoint
      const others = fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p) && Number(p) !== pid).filter((p) => {
        try { return fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0').includes(d.m); } catch { return false; }
      });
      expect(others).toEqual([]);
    } finally {
      forceUnmount(d.m);
    }
    waitFor(() => !pidAlive(pid), 10_000, 'daemon exit');
  });

  it('V8\'s helper threads run at nice 19 once the mount is live; the main thread and libuv\'s pool keep nice 0 (TSFUSE_HELPER_NICE= leaves all)', () => {
    const d = layers();
    /** nice value of each thread of the daemon */
    const nices = (pid: number) => fs.readdirSync(`/proc/${pid}/task`).map((t) => {
      const st = fs.readFileSync(`/proc/${pid}/task/${t}/stat`, 'utf8');
      return { tid: Number(t), nice: Number(st.slice(st.lastIndexOf(')') + 2).split(' ')[16]) };
    });
    for (const [env, want] of [[{}, 19], [{ TSFUSE_HELPER_NICE: '' }, 0]] as const) {
      const o = ovl(rw(d), d.m, env);
      try {
        // the pool probe holds each pool thread for 30 ms before the priorities change
        if (want) waitFor(() => nices(o.pid).some((t) => t.nice === want), 5_000, 'helper threads at nice 19');
        else sh('sleep 0.3');
        const ts = nices(o.pid);
        expect(ts.find((t) => t.tid === o.pid)?.nice).toBe(0);
        // V8's platform workers (4 by default) at the new value, libuv's pool (4) untouched
        expect(ts.filter((t) => t.nice === want).length, JSON.stringify(ts)).toBeGreaterThanOrEqual(4);
        expect(ts.filter((t) => t.nice === 0).length, JSON.stringify(ts)).toBeGreaterThanOrEqual(want ? 5 : ts.length);
        // and it still serves
        fs.writeFileSync(join(d.m, 'after'), 'x');
        expect(fs.readFileSync(join(d.m, 'after'), 'utf8')).toBe('x');
      } finally {
        o.unmount();
      }
    }
  });

  it("the launcher takes mount.fuse3's argv shape (SOURCE MOUNTPOINT -oOPTS) and an unknown dash option goes the foreground way", () => {
    const d = layers();
    fs.writeFileSync(join(d.l1, 'f'), 'x');
    const r = spawnSync(BIN, ['tsfuse-overlayfs', d.m, `-o${rw(d)},rw,dev,suid`], { encoding: 'utf8', timeout: 20_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(fs.readFileSync(join(d.m, 'f'), 'utf8')).toBe('x');
    const pid = daemonPid(d.m);
    forceUnmount(d.m);
    waitFor(() => !pidAlive(pid), 10_000, 'daemon exit');
    // -s (single-threaded, fuse-overlayfs accepts it) is not for the sh fast path: Node parses it and daemonizes itself
    const s = spawnSync(BIN, ['-s', '-o', rw(d), d.m], { encoding: 'utf8', timeout: 20_000 });
    expect(s.status, s.stderr).toBe(0);
    expect(fs.readFileSync(join(d.m, 'f'), 'utf8')).toBe('x');
    const pid2 = daemonPid(d.m);
    forceUnmount(d.m);
    waitFor(() => !pidAlive(pid2), 10_000, 'daemon exit');
  });

  it('the launcher: a daemon that dies before its verdict is one line and exit 1, and nothing is left mounted', () => {
    const d = layers();
    // a "node" that exits at once without a word, as a daemon killed while starting would
    const fake = join(d.base, 'fake-node');
    fs.writeFileSync(fake, '#!/bin/sh\nexit 3\n', { mode: 0o755 });
    const r = spawnSync(BIN, ['-o', rw(d), d.m], { encoding: 'utf8', timeout: 20_000, env: { ...process.env, TSFUSE_NODE: fake } });
    expect(r.status).toBe(1);
    expect(r.stderr).toBe('tsfuse-overlayfs: the daemon exited before the mount was ready\n');
    expect(isMounted(d.m)).toBe(false);
    // no node at all: said so, not the daemon's silence
    const n = spawnSync(BIN, ['-o', rw(d), d.m], { encoding: 'utf8', timeout: 20_000, env: { ...process.env, TSFUSE_NODE: join(d.base, 'no-such-node') } });
    expect(n.status).toBe(1);
    expect(n.stderr).toBe(`tsfuse-overlayfs: cannot run ${join(d.base, 'no-such-node')} (install Node.js 20+ or set TSFUSE_NODE)\n`);
  });

  it('the launcher hands -o debug to the foreground: the process started is the daemon, logging to its stderr', () => {
    const d = layers();
    const logFile = join(d.base, 'debug.log');
    const log = fs.openSync(logFile, 'w');
    const child = spawn(BIN, ['-o', `${rw(d)},debug`, d.m], { stdio: ['ignore', 'ignore', log] });
    fs.closeSync(log);
    try {
      waitFor(() => isMounted(d.m), 20_000, 'foreground mount');
      // the sh launcher exec'd Node in its place: the pid we started serves the mount
      const argv = fs.readFileSync(`/proc/${child.pid}/cmdline`, 'utf8').split('\0');
      expect(argv).toContain(d.m);
      expect(argv.some((a) => a.endsWith('cli/overlayfs.js'))).toBe(true);
      expect(argv).not.toContain('--tsfuse-daemon-child');
      fs.readdirSync(d.m);
      waitFor(() => /\bREADDIR/.test(fs.readFileSync(logFile, 'utf8')), 10_000, 'debug lines');
    } finally {
      forceUnmount(d.m);
    }
    waitFor(() => !pidAlive(child.pid!), 10_000, 'foreground daemon exit');
  });
});

describe('tsfuse-overlayfs bad input: one line, non-zero, nothing mounted, layers untouched', () => {
  function fails(opts: string, mnt: string, re: RegExp, stillMounted = false): void {
    const r = spawnSync(BIN, ['-o', opts, mnt], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n'), r.stderr).toHaveLength(1);
    expect(r.stderr).toMatch(re);
    expect(isMounted(mnt)).toBe(stillMounted);
  }

  it('missing lower, upper, workdir; upper without workdir; malformed mappings', () => {
    const d = layers();
    fails(`lowerdir=${d.base}/nope`, d.m, /nope/);
    fails(`lowerdir=${d.l1},upperdir=${d.base}/nope,workdir=${d.w}`, d.m, /upperdir .*nope does not exist/);
    fails(`lowerdir=${d.l1},upperdir=${d.u},workdir=${d.base}/nope`, d.m, /workdir .*nope does not exist/);
    fails(`lowerdir=${d.l1},upperdir=${d.u}`, d.m, /workdir not specified/);
    fails(`lowerdir=${d.l1},uidmapping=0:1`, d.m, /uidmapping/);
    fails(`lowerdir=${d.l1}`, join(d.base, 'nomnt'), /does not exist/);
    expect(fs.readdirSync(d.u)).toEqual([]);
    expect(fs.readdirSync(d.w)).toEqual([]);
  });

  it('a lowerdir that contains the mountpoint', () => {
    const d = layers();
    fs.mkdirSync(join(d.l1, 'inside'));
    fails(`lowerdir=${d.l1}`, join(d.l1, 'inside'), /lowerdir .* contains the mountpoint/);
  });

  it('a workdir on another filesystem than the upperdir', () => {
    const d = layers();
    const shm = fs.mkdtempSync('/dev/shm/tsfuse-w-');
    try {
      expect(fs.statSync(shm).dev).not.toBe(fs.statSync(d.u).dev);
      fails(`lowerdir=${d.l1},upperdir=${d.u},workdir=${shm}`, d.m, /must be on the same filesystem/);
      expect(fs.readdirSync(shm)).toEqual([]);
    } finally {
      fs.rmSync(shm, { recursive: true, force: true });
    }
  });

  it('a mount over an existing mount', () => {
    const d = layers();
    fs.writeFileSync(join(d.l1, 'first'), '1');
    ovl(`lowerdir=${d.l1}`, d.m);
    fails(`lowerdir=${d.l2}`, d.m, /busy/, true);
    expect(fs.readdirSync(d.m)).toEqual(['first']);
  });
});

// cleanup: unmount whatever a failing test left behind (daemons exit by themselves)

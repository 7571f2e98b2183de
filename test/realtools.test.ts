/**
 * Real tools and syscalls on real mounts (memfs and loopback, each served by
 * a tsfuse daemon), compared with the same operations on a plain directory:
 * every script runs once in a fresh directory under a plain tmp dir and
 * once under the mountpoint, and the outputs (or tree snapshots) must match.
 * Where a filesystem legitimately differs (memfs allocation accounting,
 * memfs birth time) the test asserts what is right for that filesystem.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { type CliMount, mountCli, mountType, ROOT, sh, tempDir } from './helpers.js';

const FIX = join(ROOT, 'test/fixtures');
const MKTREE = `python3 ${FIX}/mktree.py`;
const SNAP = `python3 ${FIX}/snap.py`;
const GEN = `python3 ${FIX}/gen.py`;
/** git without any user or system configuration, with fixed identities and dates (so commit ids are comparable) */
const GIT_ENV = [
  'export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null HOME=/nonexistent',
  'export GIT_AUTHOR_NAME=Tester GIT_AUTHOR_EMAIL=t@example.com GIT_COMMITTER_NAME=Tester GIT_COMMITTER_EMAIL=t@example.com',
  "export GIT_AUTHOR_DATE='2001-02-03T04:05:06Z' GIT_COMMITTER_DATE='2001-02-03T04:05:06Z'",
].join('\n');

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const snapLines = (out: string) => out.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
/** snapshot of `dir` (see fixtures/snap.py), parsed */
const snap = (dir: string, flags = '') => snapLines(sh(`${SNAP} ${JSON.stringify(dir)} ${flags}`));
const strip = (entries: Record<string, unknown>[], ...keys: string[]) =>
  entries.map((e) => Object.fromEntries(Object.entries(e).filter(([k]) => !keys.includes(k))));

// scripts shared by several mount variants (run in a fresh dir, compared with a plain dir)
const DD_SCRIPT = `
      ${GEN} 100000 3 > src
      dd if=/dev/zero of=f bs=1k count=64 status=none
      printf ABCDEFGH | dd of=f bs=1 seek=1000 conv=notrunc status=none
      dd if=src of=f bs=4096 seek=3 count=2 conv=notrunc status=none
      dd if=src of=f bs=1000 skip=50 seek=70 count=3 conv=notrunc status=none
      stat -c %s f; sha256sum f; od -An -c -j 998 -N 12 f
      dd if=f of=g bs=512 skip=2 count=5 status=none; stat -c %s g; sha256sum g
      dd if=src of=h bs=1000 seek=7 count=2 status=none; stat -c %s h; sha256sum h
      cp src t; dd if=/dev/zero of=t bs=1000 seek=5 count=1 status=none; stat -c %s t
      dd if=src of=f bs=100 count=3 oflag=append conv=notrunc status=none; stat -c %s f; sha256sum f
      dd if=src of=big bs=64k seek=100 count=1 status=none; stat -c %s big; sha256sum big
      dd if=src bs=777 skip=13 status=none | sha256sum
      dd if=src of=direct bs=4096 count=10 oflag=direct status=none 2>/dev/null || cp src direct; head -c 40960 direct | sha256sum
    `;
const MMAP_SCRIPT = `python3 - <<'EOF'
import hashlib, mmap, os
fd = os.open('f', os.O_RDWR | os.O_CREAT, 0o644)
os.ftruncate(fd, 3 * 4096 + 100)
m = mmap.mmap(fd, 0)
m[0:5] = b'hello'
m[2 * 4096 + 50:2 * 4096 + 60] = b'0123456789'
m[-1:] = b'Z'
m.flush()
m.close()
os.close(fd)
with open('f', 'rb') as f:
    d = f.read()
print(len(d), d[:5], d[8242:8252], d[-1:], hashlib.sha256(d).hexdigest())
# write() is seen through a mapping made before it
fd = os.open('f', os.O_RDWR)
m = mmap.mmap(fd, 0)
os.pwrite(fd, b'WRITTEN', 100)
print(m[100:107])
# a private mapping's writes do not reach the file
p = mmap.mmap(fd, 0, flags=mmap.MAP_PRIVATE)
p[0:5] = b'PRIVA'
print(p[0:5], os.pread(fd, 5, 0))
p.close(); m.close()
# grow the file, map the new part, write it, read back
os.ftruncate(fd, 1 << 20)
m = mmap.mmap(fd, 1 << 20)
for i in range(0, 1 << 20, 4096):
    m[i:i + 8] = i.to_bytes(8, 'little')
m.flush(); m.close(); os.close(fd)
with open('f', 'rb') as f:
    d = f.read()
print(len(d), all(int.from_bytes(d[i:i + 8], 'little') == i for i in range(0, 1 << 20, 4096)), hashlib.sha256(d).hexdigest())
EOF`;
const APPEND_SCRIPT = `
      echo first > f; echo second >> f; printf third >> f; cat f; stat -c %s f
      { echo a; echo b; } >> f
      python3 - <<'EOF'
import os
a = os.open('f', os.O_WRONLY | os.O_APPEND)
b = os.open('f', os.O_WRONLY | os.O_APPEND)
for i in range(50):
    os.write(a if i % 2 else b, b'%d,' % i)
os.pwrite(a, b'<pwrite>', 0)  # Linux: O_APPEND wins over the offset
c = os.open('f', os.O_WRONLY)
os.pwrite(c, b'@', 0)  # without O_APPEND the offset counts
os.write(a, b'END')
for fd in (a, b, c): os.close(fd)
print(open('f', 'rb').read())
fd = os.open('g', os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
for i in range(1000): os.write(fd, b'%04d\\n' % i)
os.close(fd)
print(os.stat('g').st_size)
EOF
      sha256sum g
    `;
const OPEN_UNLINK_SCRIPT = `python3 - <<'EOF'
import os
fd = os.open('f', os.O_RDWR | os.O_CREAT, 0o644)
os.write(fd, b'x' * 10000)
os.unlink('f')
st = os.fstat(fd)
print(os.path.exists('f'), st.st_nlink, st.st_size)
os.pwrite(fd, b'tail', 10000)
d = os.pread(fd, 20000, 0); print(len(d), d[-6:])
os.ftruncate(fd, 50); print(os.fstat(fd).st_size)
os.fchmod(fd, 0o600); print(oct(os.fstat(fd).st_mode))
os.utime(fd, ns=(1, 2_000_000_001)); print(os.fstat(fd).st_mtime_ns)
with open(f'/proc/self/fd/{fd}', 'rb') as again: print(again.read(8))
os.close(fd)
# renamed over while open
open('a', 'w').write('old contents')
open('b', 'w').write('new')
fd = os.open('a', os.O_RDONLY)
os.rename('b', 'a')
st = os.fstat(fd)
print(st.st_nlink, st.st_size, os.pread(fd, 100, 0), open('a').read())
os.close(fd)
# one of two hard links removed while open: the other name still works
open('h1', 'w').write('linked')
os.link('h1', 'h2')
print(os.stat('h2').st_nlink)
fd = os.open('h2', os.O_RDONLY)
os.unlink('h2')
print(os.fstat(fd).st_nlink, os.pread(fd, 100, 0), open('h1').read(), os.stat('h1').st_nlink)
os.chmod('h1', 0o640); print(oct(os.stat('h1').st_mode))
os.close(fd)
print(sorted(os.listdir('.')))
EOF
    echo appended >> h1; cat h1`;

/**
 * Runs `script` (bash, `set -euo pipefail`, $T = the tools dir) in a new
 * directory `name` under the plain dir and under the mount; returns both
 * outputs (the plain one must not be empty).
 */
function runBoth(plain: string, mnt: string, name: string, script: string): { plain: string; fuse: string; pdir: string; mdir: string } {
  const pdir = join(plain, name), mdir = join(mnt, name);
  fs.mkdirSync(pdir);
  fs.mkdirSync(mdir);
  const full = `set -euo pipefail\nT=${TOOLS}\n${script}`;
  const p = sh(full, pdir);
  const f = sh(full, mdir);
  expect(p.trim().length).toBeGreaterThan(0);
  return { plain: p, fuse: f, pdir, mdir };
}

/** Mounts through the CLI (cleanup registered by the helpers) and checks the mount type. */
function mount(kind: 'memfs' | 'loopback', args: string[], mnt: string, options: string[] = []): CliMount {
  const m = mountCli(kind, args, mnt, options);
  expect(mountType(mnt)).toBe(`fuse.${kind}`);
  return m;
}

const INODE_SCRIPT = `
  mkdir -p d/sub; echo x > d/a; ln d/a d/hard; ln -s a d/sym; mkfifo d/fifo; for i in $(seq 1 300); do : > d/n$i; done
  python3 - <<'EOF'
import os
bad = [e.name for e in os.scandir('d') if e.inode() != os.lstat(e.path).st_ino]
print('d_ino != st_ino:', len(bad), bad[:5])
print('hard link shares d_ino:', len({e.inode() for e in os.scandir('d') if e.name in ('a', 'hard')}) == 1)
EOF
  find d -inum "$(stat -c %i d/a)" | sort
  find d -samefile d/hard | sort
  [ "$(ls -i d | awk '$2 == "a" {print $1}')" = "$(stat -c %i d/a)" ] && echo "ls -i matches stat"
`;

let TOOLS: string; // compiled helpers (renameat2)
let BIG: string; // 64 MiB of random data on a plain fs
let BIG_SHA: string;

beforeAll(() => {
  TOOLS = tempDir('tsfuse-rt-tools-');
  sh(`gcc -O -Wall -o ${TOOLS}/renameat2 ${FIX}/renameat2.c`);
  BIG = join(TOOLS, 'big');
  sh(`head -c ${64 << 20} /dev/urandom > ${BIG}`);
  BIG_SHA = sha256(fs.readFileSync(BIG));
});

interface Subject { name: string; kind: 'memfs' | 'loopback'; options?: string[] }
const SUBJECTS: Subject[] = [
  { name: 'memfs', kind: 'memfs' },
  { name: 'loopback', kind: 'loopback' },
];
// extra mount variants for exploration: TSFUSE_RT_EXTRA=1
if (process.env.TSFUSE_RT_EXTRA) {
  SUBJECTS.push(
    { name: 'loopback-passthrough', kind: 'loopback', options: ['passthrough'] },
    { name: 'memfs-writeback', kind: 'memfs', options: ['writeback'] },
    { name: 'loopback-writeback', kind: 'loopback', options: ['writeback'] },
  );
}

describe.each(SUBJECTS)('$name compared with a plain directory', ({ kind, options }) => {
  let plain: string, mnt: string, backing: string;

  beforeAll(() => {
    const base = tempDir('tsfuse-rt-');
    plain = join(base, 'plain');
    mnt = join(base, 'mnt');
    backing = join(base, 'backing');
    for (const d of [plain, mnt, backing]) fs.mkdirSync(d);
    mount(kind, kind === 'loopback' ? [backing] : [], mnt, options ?? []);
  });

  const both = (name: string, script: string) => runBoth(plain, mnt, name, script);

  /** On the loopback, what the mount shows under `name` must be what the backing dir holds. */
  function backingMatches(name: string, flags = ''): void {
    if (kind !== 'loopback') return;
    // with the writeback cache, the kernel owns mtime and hands it to the host when it sees fit
    const keep = (e: Record<string, unknown>[]) => (options?.includes('writeback') ? strip(e, 'mtime') : e);
    expect(keep(snap(join(mnt, name), flags))).toEqual(keep(snap(join(backing, name), flags)));
  }

  it('builds the same tree (files, dirs, links, fifo, device, modes, owners, xattrs, ns times)', () => {
    const r = both('tree', `${MKTREE} src >/dev/null; ${SNAP} src --atime`);
    expect(snapLines(r.plain).length).toBeGreaterThan(40);
    expect(snapLines(r.fuse)).toEqual(snapLines(r.plain));
    backingMatches('tree/src', '--atime');
  });

  it('cp -a copies a tree exactly (within the mount, into it and out of it)', () => {
    const r = both('cpa', `${MKTREE} src >/dev/null; cp -a src dst; ${SNAP} dst --atime`);
    const want = snapLines(r.plain);
    expect(snapLines(r.fuse)).toEqual(want);
    // the copy is the source (minus atimes, which the copy's reads moved on the plain fs)
    expect(strip(want, 'atime')).toEqual(strip(snap(join(r.pdir, 'src')), 'atime'));
    // hard links survived as hard links
    expect(want.filter((e) => e.hardlink_group === 'a/b/hard1').map((e) => e.path).sort()).toEqual(['a/b/hard1', 'a/size_4097', 'deep/1/hard2']);
    // plain → mount and mount → plain
    sh(`cp -a ${r.pdir}/src ${r.mdir}/in && cp -a ${r.mdir}/src ${r.pdir}/out`);
    expect(strip(snap(join(r.mdir, 'in')), 'atime')).toEqual(strip(want, 'atime'));
    expect(strip(snap(join(r.pdir, 'out')), 'atime')).toEqual(strip(want, 'atime'));
    backingMatches('cpa/dst');
  });

  it('tar c gives the same archive and listing; tar x restores the same tree', () => {
    const r = both('tar', `
      ${MKTREE} src >/dev/null
      tar -C src --sort=name --format=gnu -cf gnu.tar .
      sha256sum gnu.tar
      tar tvf gnu.tar
    `);
    expect(r.plain).toMatch(/hard1 link to|link to/);
    expect(r.fuse).toBe(r.plain);
    // one posix archive with xattrs and ns mtimes, made on the plain fs, extracted in both places
    const archive = join(TOOLS, `${kind}-posix.tar`);
    sh(`tar -C ${r.pdir}/src --sort=name --format=posix --xattrs --xattrs-include='user.*' -cf ${archive} .`);
    const x = both('tarx', `
      mkdir x && tar -C x --xattrs --xattrs-include='user.*' -xf ${archive}
      tar -C x --xattrs -df ${archive} && echo "tar d: no differences"
      ${SNAP} x
    `);
    expect(x.plain).toContain('tar d: no differences');
    expect(x.fuse).toBe(x.plain);
    expect(strip(snapLines(x.fuse.slice(x.fuse.indexOf('\n') + 1)), 'atime'))
      .toEqual(strip(snap(join(r.pdir, 'src')), 'atime'));
    backingMatches('tarx/x');
  });

  it('find sees the same names, types, sizes, links and times', () => {
    const r = both('find', `
      ${MKTREE} src >/dev/null; cd src
      find . ! -type d -printf '%y %s %n %m %U:%G %T@ %p -> %l\\n' | sort
      find . -type d -printf '%y %n %m %T@ %p\\n' | sort
      echo newer; find . -newer a/size_0 | sort
      echo big; find . -type f -size +4k | sort
      echo links3; find . -links 3 ! -type d | sort
      echo dangling; { find . -xtype l 2>&1 || true; } | sort
      echo empty; find . -empty | sort
      echo perm; find . -perm -4000 | sort
      echo user; find . -user 1234 -o -group 8765 | sort
    `);
    expect(r.plain.split('\n').length).toBeGreaterThan(60);
    expect(r.fuse).toBe(r.plain);
  });

  it('mv renames files over files, directories, across directories, keeping inodes', () => {
    const r = both('mv', `
      echo one > a; echo two > b; mkdir d1 d2 e; echo inner > d1/f; mkdir -p d1/sub/deep; echo deep > d1/sub/deep/x
      ino=$(stat -c %i a)
      mv a b
      [ "$(stat -c %i b)" = "$ino" ] && echo "b is a's inode"
      cat b; ls
      mv d1 d3; cat d3/sub/deep/x
      mv d3 d2/; cat d2/d3/f
      mv d2/d3/sub .; cat sub/deep/x
      mv -T e d2/d3 2>&1 | sed 's/^mv: //' || true
      mkdir empty; mv -T e empty; [ -d empty ] && [ ! -e e ] && echo "dir replaced empty dir"
      mv b sub/deep/; mv sub/deep/b sub/deep/c; cat sub/deep/c
      mv -T sub/deep/c d2 2>&1 | sed 's/^mv: //' || true
      mv d2 d2/d3/inside 2>&1 | sed 's/^mv: //' || true
      touch -d @1000000000.5 sub/deep/c; mv sub/deep/c c; stat -c '%n %.9Y %h' c
      find . -printf '%y %n %p\\n' | sort
    `);
    expect(r.plain).toContain("b is a's inode");
    expect(r.plain).toMatch(/Directory not empty/);
    expect(r.fuse).toBe(r.plain);
    backingMatches('mv');
  });

  it('ln and ln -s: link counts, readlink, link semantics', () => {
    const r = both('ln', `
      echo data > f; ln f g; ln g h; mkdir d; ln f d/i
      stat -c '%n %h %s' f g h d/i
      [ f -ef d/i ] && echo "f and d/i are one file"
      ln -s f s; ln -s ../nowhere/x dang; ln -s d sd; ln -s "$(printf 'y%.0s' {1..300})" longt
      readlink s dang sd; readlink longt | wc -c
      stat -c '%n %h %s %F' s dang
      cat s; ls sd
      ln -sf g s; readlink s
      readlink -f s | sed "s|^$PWD/||"; readlink -e dang || echo "readlink -e: dangling"
      rm f; stat -c '%n %h' g h d/i; cat h
      ln g d 2>&1 | sed 's/^ln: //' || true
      ln d dd 2>&1 | sed 's/^ln: //' || true
      ln missing x 2>&1 | sed 's/^ln: //' || true
      ln -s f s 2>&1 | sed 's/^ln: //' || true
      echo more >> h; cat g d/i
      rm g h; stat -c '%n %h' d/i
      ls -l s | awk '{print $1, $2}'
    `);
    expect(r.plain).toContain('f 4 5');
    expect(r.plain).toMatch(/hard link not allowed for directory/);
    expect(r.fuse).toBe(r.plain);
  });

  it('chmod: every permission bit, symbolic modes, through symlinks, recursively', () => {
    const r = both('chmod', `
      touch f; mkdir -p d/e; touch d/e/x; ln -s f s
      for m in 0 1 7 70 700 444 640 755 777 1777 2755 4755 6711 7777 4000; do chmod $m f; stat -c "$m %a %A" f; done
      chmod 644 f; chmod u+x,g+w,o-r f; stat -c '%a' f
      chmod a=r,u+s f; stat -c '%a %A' f
      chmod 600 s; stat -c '%a' f; stat -c '%a' s
      chmod -R go-rwx,u+rwX d; find d -printf '%m %p\\n' | sort
      chmod g+s d; stat -c '%a' d; chmod +t d; stat -c '%a %A' d
      chmod 000 d/e/x; cat d/e/x && echo "root reads mode 000"
      python3 -c "import os; fd = os.open('f', os.O_RDONLY); os.fchmod(fd, 0o4711); print(oct(os.fstat(fd).st_mode))"
    `);
    expect(r.plain).toContain('6711 6711 -rws--s--x');
    expect(r.fuse).toBe(r.plain);
  });

  it('chown (root): owner, group, symlinks with -h, recursive, setuid cleared', () => {
    const r = both('chown', `
      touch f; mkdir -p d/e; touch d/e/x; ln -s f s
      chown 1:2 f; stat -c '%u:%g' f
      chown :7 f; stat -c '%u:%g' f
      chown 8 f; stat -c '%u:%g' f
      chown -h 3:4 s; stat -c '%u:%g' s f
      chown 5:6 s; stat -c '%u:%g' s f
      chown -R 10:20 d; find d -printf '%U:%G %p\\n' | sort
      chmod 6755 f; chown 11 f; stat -c '%a %u:%g' f
      chmod 6755 f; chown :12 f; stat -c '%a %u:%g' f
      chmod 2745 f; chown 13 f; stat -c '%a %u:%g' f
      chmod 4755 d; chown 14 d; stat -c '%a %u:%g' d
      python3 -c "import os; fd = os.open('f', os.O_RDONLY); os.fchown(fd, 99, 98); st = os.fstat(fd); print(st.st_uid, st.st_gid)"
    `);
    expect(r.plain).toContain('3:4\n5:6');
    expect(r.fuse).toBe(r.plain);
  });

  it('truncate grows with zeros and shrinks, by path and by fd', () => {
    const r = both('truncate', `
      ${GEN} 10000 > f
      truncate -s 100000 f; stat -c %s f; sha256sum f
      od -An -tx1 -j 9995 -N 10 f
      truncate -s 5000 f; stat -c %s f; sha256sum f
      truncate -s 20000 f; stat -c %s f; sha256sum f; od -An -tx1 -j 4995 -N 10 f
      truncate -s +100 f; truncate -s -50 f; truncate -s %4096 f; stat -c %s f
      truncate -s 0 f; stat -c '%s %b' f; truncate -s 1 f; od -An -tx1 f
      truncate -s 3000 new; stat -c %s new
      truncate -c -s 10 absent; [ ! -e absent ] && echo "no file with -c"
      python3 - <<'EOF'
import os
fd = os.open('g', os.O_RDWR | os.O_CREAT, 0o644)
os.write(fd, b'x' * 50000)
os.ftruncate(fd, 123); print(os.fstat(fd).st_size, len(os.pread(fd, 100000, 0)))
os.ftruncate(fd, 70000); d = os.pread(fd, 100000, 0); print(len(d), d[:123] == b'x' * 123, d[123:] == bytes(len(d) - 123))
os.close(fd)
EOF
    `);
    expect(r.plain).toContain('100000');
    expect(r.fuse).toBe(r.plain);
  });

  it('dd with seek/skip/count, conv=notrunc, oflag=append', () => {
    const r = both('dd', DD_SCRIPT);
    expect(r.plain).toMatch(/A +B +C +D +E +F +G +H/);
    expect(r.fuse).toBe(r.plain);
  });

  it('xattrs with setfattr/getfattr (user.*): set, replace, binary, large, remove, errors', () => {
    const r = both('xattr', `
      touch f; mkdir d; ln -s f s
      setfattr -n user.a -v hello f
      setfattr -n user.b -v 0x00ff10 f
      setfattr -n user.empty f
      setfattr -n user.long -v "$(printf 'x%.0s' {1..2000})" f
      setfattr -n user.a -v replaced f
      setfattr -n user.dir -v onadir d
      getfattr -d -e hex f | sed 's/^user.long=.*/user.long=(2000 x)/'
      getfattr -n user.a --only-values f; echo
      getfattr -n user.long --only-values f | wc -c
      getfattr -d d
      getfattr -n user.nope f 2>&1 || echo "exit $?"
      setfattr -x user.b f; getfattr -d -e text f | grep -v user.long
      setfattr -x user.b f 2>&1 || echo "exit $?"
      setfattr -h -n user.x -v 1 s 2>&1 || echo "exit $?"
      getfattr -n user.a --only-values s; echo " (followed)"
      cp --preserve=xattr f g; getfattr -d g | grep -v user.long
      python3 - <<'EOF'
import os
for fl, name in ((os.XATTR_CREATE, 'user.a'), (os.XATTR_REPLACE, 'user.none'), (os.XATTR_CREATE, 'user.new')):
    try:
        os.setxattr('f', name, b'v', fl); print(name, 'ok')
    except OSError as e:
        print(name, e.strerror)
print(sorted(os.listxattr('f')))
os.setxattr('f', 'user.big', b'b' * 1000); print(len(os.getxattr('f', 'user.big')))
EOF
    `);
    expect(r.plain).toContain('No such attribute');
    expect(r.fuse).toBe(r.plain);
    backingMatches('xattr');
    if (kind === 'memfs') {
      // values up to the VFS limit (64 KiB) fit in memfs (ext4 stops at a block, so no plain comparison)
      const v = sh(`python3 -c "import os; v = os.urandom(65536); os.setxattr('f', 'user.huge', v); print(os.getxattr('f', 'user.huge') == v, len(os.listxattr('f')))"`, r.mdir);
      expect(v.trim()).toBe('True 6');
    }
  });

  it('mmap: shared writes + msync reach read(); write() reaches a mapping; private maps stay private', () => {
    const r = both('mmap', MMAP_SCRIPT);
    expect(r.plain).toContain("b'WRITTEN'");
    expect(r.fuse).toBe(r.plain);
    backingMatches('mmap');
  });

  it('O_APPEND: >> and python appends, pwrite on an O_APPEND fd appends', () => {
    const r = both('append', APPEND_SCRIPT);
    expect(r.plain).toContain('<pwrite>END');
    expect(r.fuse).toBe(r.plain);
  });

  it('fallocate: sizes and contents match; blocks are right for the filesystem', () => {
    const script = `
      fallocate -l 1M f; stat -c %s f; sha256sum f
      printf 'data at start' | dd of=f conv=notrunc status=none
      fallocate -n -o 1M -l 1M f; stat -c %s f
      fallocate -o 2M -l 4096 f; stat -c %s f
      ${GEN} 20000 5 | dd of=f conv=notrunc status=none
      fallocate -p -o 4096 -l 8192 f; stat -c %s f
      fallocate -z -o 16000 -l 100 f; stat -c %s f
      fallocate -z -o 3M -l 10 f; stat -c %s f
      sha256sum f; od -An -tx1 -j 4094 -N 4 f; od -An -tx1 -j 12286 -N 4 f
      touch g; fallocate -n -l 64k g; stat -c %s g
    `;
    const r = both('fallocate', script);
    expect(r.plain).toContain(String(1 << 20));
    expect(r.fuse).toBe(r.plain);
    const blocks = (dir: string, f: string) => sh(`stat -c '%s %b' ${f}`, dir).trim().split(' ').map(Number);
    if (kind === 'loopback') {
      // allocation is the host's: the mount reports exactly the backing file's
      for (const f of ['f', 'g']) expect(blocks(r.mdir, f)).toEqual(blocks(join(backing, 'fallocate'), f));
      // KEEP_SIZE preallocation is real on the host (blocks beyond the size)
      expect(blocks(r.mdir, 'g')[1]).toBeGreaterThan(0);
    } else {
      // memfs has no allocation of its own: st_blocks is the size in 512-byte units, whatever was preallocated
      for (const f of ['f', 'g']) {
        const [size, b] = blocks(r.mdir, f);
        expect(b).toBe(Math.ceil(size / 512));
      }
    }
  });

  it('SEEK_DATA/SEEK_HOLE and copy_file_range', () => {
    const r = both('seek', `python3 - <<'EOF'
import errno, os
fd = os.open('sp', os.O_RDWR | os.O_CREAT, 0o644)
os.ftruncate(fd, 10 << 20)
os.pwrite(fd, b'D' * 8192, 5 << 20)
size = os.fstat(fd).st_size
res = {}
for name, wh in (('data', os.SEEK_DATA), ('hole', os.SEEK_HOLE)):
    for off in (0, (5 << 20) + 100, (10 << 20) - 1, 10 << 20, 11 << 20):
        try:
            res[(name, off)] = os.lseek(fd, off, wh)
        except OSError as e:
            res[(name, off)] = errno.errorcode[e.errno]
for k, v in res.items(): print(k[0], k[1], v)
print('--')
# copy_file_range
src = os.open('src', os.O_RDWR | os.O_CREAT, 0o644)
os.write(src, bytes(range(256)) * 400)
dst = os.open('dst', os.O_RDWR | os.O_CREAT, 0o644)
print('cfr', os.copy_file_range(src, dst, 1000, 10, 5000))
print('cfr past eof', os.copy_file_range(src, dst, 100000, 102000, 0))
print('cfr at eof', os.copy_file_range(src, dst, 10, 102400, 0))
print('cfr with file offsets', os.copy_file_range(src, dst, 300))
d = os.pread(dst, 1 << 20, 0)
import hashlib; print(len(d), hashlib.sha256(d).hexdigest())
try:
    os.copy_file_range(src, src, 100, 0, 50)
except OSError as e: print('overlap', errno.errorcode[e.errno])
EOF`);
    const [seekPlain, cfrPlain] = r.plain.split('--\n'), [seekFuse, cfrFuse] = r.fuse.split('--\n');
    expect(cfrPlain).toMatch(/cfr 1000\ncfr past eof 400\n/);
    expect(cfrFuse).toBe(cfrPlain);
    if (kind === 'loopback') {
      // the host's holes, through FUSE_LSEEK (with the writeback cache the kernel
      // asks before writing back its dirty pages, so the host sees none of them yet)
      if (!options?.includes('writeback')) expect(seekFuse).toBe(seekPlain);
    } else {
      // memfs keeps no holes: all data up to the size, the only hole at the end (allowed by POSIX)
      const size = 10 << 20;
      for (const line of seekFuse.trim().split('\n')) {
        const [what, off, got] = line.split(' ');
        const o = Number(off);
        expect(got, line).toBe(o >= size ? 'ENXIO' : String(what === 'data' ? o : size));
      }
    }
  });

  it('statx: basic fields and nanosecond times; birth time is right for the filesystem', () => {
    const t0 = Math.floor(Date.now() / 1000);
    const r = both('statx', `
      ${GEN} 5000 > f; mkdir d; ln -s f s; ln f h
      touch -m -d @1234567890.123456789 f; touch -a -d @1111111111.987654321 f
      touch -h -d @1000000001.000000001 s
      stat -c '%n %s %h %a %F %u %g %.9X %.9Y' f h s
      stat -L -c '%n %s %F %.9Y' s
      python3 -c "import os; st = os.stat('f'); print(st.st_size, st.st_nlink, oct(st.st_mode), st.st_mtime_ns, st.st_atime_ns)"
    `);
    expect(r.plain).toContain('1234567890.123456789');
    expect(r.fuse).toBe(r.plain);
    if (kind === 'loopback') {
      // with the writeback cache the kernel keeps ctime itself
      const fields = options?.includes('writeback') ? "'%i %s %b %h %f %u %g %.9X %.9Y %.9W'" : "'%i %s %b %h %f %u %g %.9X %.9Y %.9Z %.9W'";
      for (const f of ['f', 'd', 's']) {
        const viaMount = sh(`stat -c ${fields} ${f}`, r.mdir), onHost = sh(`stat -c ${fields} ${f}`, join(backing, 'statx'));
        expect(viaMount).toBe(onHost);
        expect(Number(viaMount.trim().split(' ').at(-1))).toBeGreaterThan(0); // a real birth time
      }
    } else {
      // memfs does not answer STATX today: the kernel falls back to GETATTR, which carries
      // no birth time (0). Should it learn to, the birth time must be when f was made.
      const w = Number(sh("stat -c '%W' f", r.mdir).trim());
      if (w !== 0) expect(w).toBeGreaterThanOrEqual(t0);
      expect(w).toBeLessThanOrEqual(Math.ceil(Date.now() / 1000));
    }
  });

  it('readdir of 10k entries: ls, ls -f, find and scandir see exactly the set created', () => {
    const names: string[] = [];
    for (let i = 0; i < 10_000; i++) names.push(i % 97 === 0 ? `f${i}_${'n'.repeat(180)}` : `f${i}`);
    const list = join(TOOLS, `${kind}-names`);
    fs.writeFileSync(list, names.join('\n') + '\n');
    const r = both('many', `
      python3 -c "
import os
for n in open('${list}').read().split():
    os.close(os.open(n, os.O_CREAT | os.O_WRONLY, 0o644))
os.mkdir('sub'); os.symlink('f1', 'lnk')
"
      ls | wc -l; ls -f | wc -l; ls -A | sort | sha256sum
      find . -mindepth 1 | sort | sha256sum
      python3 -c "
import os
es = list(os.scandir('.'))
print(len(es), sum(e.is_file(follow_symlinks=False) for e in es), sum(e.is_dir(follow_symlinks=False) for e in es), sum(e.is_symlink() for e in es))
"
      find . -name 'f*' -newer sub | wc -l
      for i in $(seq 0 3 9999); do echo f$i; done | xargs rm -f
      ls | wc -l; ls | sort | sha256sum
    `);
    expect(r.fuse).toBe(r.plain);
    const lines = r.fuse.trim().split('\n');
    expect(lines[0].trim()).toBe('10002');
    expect(lines[1].trim()).toBe('10004');
    const listed = sh('ls -A', r.mdir).trim().split('\n').sort();
    const kept = names.filter((n, i) => i % 3 !== 0 || n.includes('_')).concat(['lnk', 'sub']).sort();
    expect(listed).toEqual(kept);
  });

  it('readdir d_ino is the inode stat reports (scandir, find -inum, ls -i)', () => {
    const r = both('dino', INODE_SCRIPT);
    expect(r.plain).toContain('d_ino != st_ino: 0');
    expect(r.fuse).toBe(r.plain);
  });

  it('readdir while the directory changes: every entry present throughout is listed exactly once', () => {
    // POSIX: names neither removed nor added since opendir come back exactly once;
    // names added meanwhile may or may not (so those are not compared)
    const r = both('readdir-churn', `python3 - <<'EOF'
import collections, os
names = ['f%d' % i for i in range(3000)]
for n in names: open(n, 'w').close()
seen = collections.Counter()
gone = set()
with os.scandir('.') as it:
    for i, e in enumerate(it):
        seen[e.name] += 1
        if e.name.startswith('f') and e.name not in gone:
            os.unlink(e.name)
        if i % 10 == 0:
            open('new%d' % i, 'w').close()
        if i == 100:
            gone = set(names[-50:])  # removed before being reached: may or may not be listed
            for n in gone:
                if os.path.exists(n): os.unlink(n)
print('originals seen once:', all(seen[n] == 1 for n in names[:-50]))
print('seen twice:', sorted(n for n, c in seen.items() if c > 1))
left = sorted(n for n in os.listdir('.') if n.startswith('f'))
print('left:', len(left), left[:5])
EOF`);
    expect(r.plain).toContain('originals seen once: True');
    expect(r.fuse).toBe(r.plain);
  });

  it('renameat2 RENAME_NOREPLACE and RENAME_EXCHANGE', () => {
    const r = both('renameat2', `
      R=$T/renameat2
      echo A > a; echo B > b; mkdir d; echo D > d/x; mkdir e; echo E > e/y
      $R noreplace a b; cat a b
      $R noreplace a c; ls; cat c
      $R noreplace c c
      $R exchange c b; cat b c
      $R exchange b d; cat b/x d
      $R exchange b nope; $R exchange nope b
      $R exchange,noreplace b d
      $R exchange b/x e/y; cat b/x e/y
      mkdir b/sub; $R exchange b b/sub; $R noreplace b b/sub/into
      mkdir p1 p2; mkdir p1/dd; echo F > p2/ff
      stat -c '%n %h' p1 p2
      $R exchange p1/dd p2/ff; stat -c '%n %h %F' p1 p2 p1/dd p2/ff; cat p1/dd; ls p2/ff
      $R exchange p1 p2; ls p1 p2; cat p2/dd
      $R 0 p1 p2; ls
      find . -printf '%y %n %p\\n' | sort
    `);
    expect(r.plain).toContain('EEXIST');
    expect(r.plain).toMatch(/ENOENT\nENOENT\nEINVAL/);
    expect(r.fuse).toBe(r.plain);
    backingMatches('renameat2');
  });

  it('unlinked or renamed-over files stay usable through open fds', () => {
    const r = both('openunlink', OPEN_UNLINK_SCRIPT);
    expect(r.plain).toContain("False 0 10000");
    expect(r.fuse).toBe(r.plain);
  });

  it('a removed directory still works as a cwd (stat after the attr timeout, empty listing)', () => {
    const r = both('deadcwd', `
      mkdir -p x/y; echo keep > x/k
      cd x/y; rmdir ../y
      stat -c '%h %F %a' .; sleep 1.2; stat -c '%h %F %a' .
      ls -a | wc -l
      touch f 2>&1 | sed 's/^touch: //' || true
      mkdir z 2>&1 | sed 's/^mkdir: //' || true
      cat ../k; cd ..; ls
    `);
    expect(r.plain).toMatch(/^0 directory 755\n0 directory 755\n0\n/);
    expect(r.fuse).toBe(r.plain);
  });

  it('hard link counts follow link, unlink, rename, mkdir and rmdir', () => {
    const r = both('nlink', `
      touch f; for i in 1 2 3 4 5; do ln f l$i; done; stat -c '%n %h' f
      rm l1 l2; stat -c '%n %h' f l3
      mv l3 l33; stat -c '%n %h' l33 f
      mkdir o; ln f o/x; mv l4 o/y; stat -c '%n %h' f o/x o/y
      python3 -c "
import os
fd = os.open('l5', os.O_RDONLY)
for n in ('f', 'l33', 'l5', 'o/x'):
    print(n, os.fstat(fd).st_nlink); os.unlink(n)
print('none left', os.fstat(fd).st_nlink)
"
      mkdir d; stat -c '%n %h' d .
      mkdir d/s1 d/s2 d/s3; stat -c '%n %h' d
      rmdir d/s1; stat -c '%n %h' d
      mv d/s2 .; stat -c '%n %h' d . s2
      mv s2 d/s3/; stat -c '%n %h' d d/s3 .
      rm -r d; stat -c '%n %h' .
      touch s1; ln s1 s2; python3 -c "import os; os.rename('s1', 's2')"; ls s1 s2; stat -c '%n %h' s2  # same inode: a no-op
      echo still > s1; rm s2; cat s1; stat -c '%n %h' s1
    `);
    expect(r.plain).toContain('f 6');
    expect(r.fuse).toBe(r.plain);
  });

  it('16 parallel writers creating, linking and renaming; a unix socket', () => {
    const r = both('parallel', `
      seq 1 200 | xargs -P 16 -I{} sh -c 'yes {} | head -c $((({} * 7919) % 200000)) > f{}; mkdir -p d{}/e; ln f{} d{}/e/l; mv f{} d{}/m'
      find . -printf '%y %n %s %p\\n' | sort | sha256sum
      find . -type f | wc -l
      cat $(find . -type f | sort) | sha256sum
      python3 -c "
import socket, os
s = socket.socket(socket.AF_UNIX); s.bind('sock'); print(oct(os.lstat('sock').st_mode)); s.listen()
c = socket.socket(socket.AF_UNIX); c.connect('sock'); c.send(b'hi'); a, _ = s.accept(); print(a.recv(2))
"
    `);
    expect(r.plain).toContain("b'hi'");
    expect(r.fuse).toBe(r.plain);
  });

  it('git: init, add, commit, log, status, branches, gc, fsck, local clone', () => {
    const r = both('git', `
      ${GIT_ENV}
      git init -q -b main repo; cd repo
      mkdir -p src/lib docs
      for i in $(seq 1 40); do ${GEN} $((i * 97)) $i > src/lib/file$i.bin; echo "line $i" > docs/d$i.txt; done
      printf '#!/bin/sh\\necho run\\n' > run.sh; chmod +x run.sh; ln -s docs/d1.txt link
      git add -A; git commit -q -m first; git rev-parse HEAD
      echo changed >> docs/d3.txt; rm src/lib/file5.bin; echo new > new.txt
      git status --porcelain
      git diff --stat | tail -1
      git add -A; git commit -q -m second
      git mv docs/d4.txt docs/moved.txt; git rm -q src/lib/file6.bin; git commit -q -m third
      git log --format='%H %s' --stat
      git checkout -q -b side HEAD~1; echo side > side.txt; git add side.txt; git commit -q -m side
      git checkout -q main; git merge -q --no-edit side; git log --format='%H %P %s' -n 1
      git status --porcelain; git status --short | wc -l
      git gc -q --prune=now; git fsck --strict 2>&1; git count-objects | cut -d' ' -f1
      ls .git/objects/pack | sed 's/pack-[0-9a-f]*/pack-X/' | sort
      cd ..; git clone -q repo clone; git -C clone log --format=%H -n 3; git -C clone status --porcelain
      git -C clone ls-files -s | sha256sum
    `);
    expect(r.plain).toMatch(/^[0-9a-f]{40}\n/);
    expect(r.fuse).toBe(r.plain);
  });

  it('a 64 MiB random file round-trips (cp, cat, dd, random preads)', () => {
    const d = join(mnt, 'large');
    fs.mkdirSync(d);
    sh(`cp ${BIG} ${d}/big`);
    expect(fs.statSync(join(d, 'big')).size).toBe(64 << 20);
    expect(sh(`sha256sum < ${d}/big`).split(' ')[0]).toBe(BIG_SHA);
    const back = join(TOOLS, `${kind}-back`);
    sh(`cat ${d}/big > ${back} && cmp ${BIG} ${back}`);
    // rewrite it in 1 MiB blocks in reverse order through dd, then compare
    sh(`for i in $(seq 63 -1 0); do dd if=${BIG} of=${d}/rev bs=1M skip=$i seek=$i count=1 conv=notrunc status=none; done`);
    expect(sh(`sha256sum < ${d}/rev`).split(' ')[0]).toBe(BIG_SHA);
    const out = sh(`python3 - <<'EOF'
import os, random
a = os.open('${BIG}', os.O_RDONLY); b = os.open('${d}/rev', os.O_RDONLY)
rng = random.Random(7); bad = 0
for _ in range(300):
    off = rng.randrange(0, 64 << 20); n = rng.randrange(1, 300000)
    if os.pread(a, n, off) != os.pread(b, n, off): bad += 1
print('mismatches', bad)
EOF`);
    expect(out.trim()).toBe('mismatches 0');
    if (kind === 'loopback') expect(sha256(fs.readFileSync(join(backing, 'large/big')))).toBe(BIG_SHA);
  });
});

describe('loopback with the writeback cache (kernel-side offsets and page merging)', () => {
  let plain: string, mnt: string, backing: string;

  beforeAll(() => {
    const base = tempDir('tsfuse-rt-wb-');
    plain = join(base, 'plain');
    mnt = join(base, 'mnt');
    backing = join(base, 'backing');
    for (const d of [plain, mnt, backing]) fs.mkdirSync(d);
    mount('loopback', [backing], mnt, ['writeback']);
  });

  it('appends through write-only O_APPEND fds land where they would on a plain fs', () => {
    const r = runBoth(plain, mnt, 'append', APPEND_SCRIPT);
    expect(r.plain).toContain('<pwrite>END');
    expect(r.fuse).toBe(r.plain);
    expect(fs.readFileSync(join(backing, 'append/f'))).toEqual(fs.readFileSync(join(r.pdir, 'f')));
  });

  it('partial-page writes on write-only fds (dd conv=notrunc)', () => {
    const r = runBoth(plain, mnt, 'dd', DD_SCRIPT);
    expect(r.fuse).toBe(r.plain);
  });

  it('mmap, and unlinked files through open fds', () => {
    const a = runBoth(plain, mnt, 'mmap', MMAP_SCRIPT);
    expect(a.fuse).toBe(a.plain);
    const b = runBoth(plain, mnt, 'openunlink', OPEN_UNLINK_SCRIPT);
    expect(b.fuse).toBe(b.plain);
  });
});

describe.each(['memfs', 'loopback'] as const)('%s with readdirplus=off (plain READDIR only)', (kind) => {
  let plain: string, mnt: string;

  beforeAll(() => {
    const base = tempDir('tsfuse-rt-nordp-');
    plain = join(base, 'plain');
    mnt = join(base, 'mnt');
    const backing = join(base, 'backing');
    for (const d of [plain, mnt, backing]) fs.mkdirSync(d);
    mount(kind, kind === 'loopback' ? [backing] : [], mnt, ['readdirplus=off']);
  });

  it('readdir d_ino is the inode stat reports', () => {
    const r = runBoth(plain, mnt, 'dino', INODE_SCRIPT);
    expect(r.plain).toContain('d_ino != st_ino: 0');
    expect(r.fuse).toBe(r.plain);
  });

  it('find and cp -a over a tree', () => {
    const r = runBoth(plain, mnt, 'tree', `${MKTREE} src >/dev/null; cp -a src dst; ${SNAP} dst --atime; cd src; find . ! -type d -printf '%y %s %n %m %p\\n' | sort`);
    expect(r.plain.split('\n').length).toBeGreaterThan(80);
    expect(r.fuse).toBe(r.plain);
  });
});

describe('loopback with timeout=0: the mount and the backing dir stay in step', () => {
  let mnt: string, src: string;

  beforeAll(() => {
    const base = tempDir('tsfuse-rt-sync-');
    mnt = join(base, 'mnt');
    src = join(base, 'src');
    fs.mkdirSync(mnt);
    fs.mkdirSync(src);
    mount('loopback', [src], mnt, ['timeout=0']);
  });

  it('changes made through the mount appear in the backing dir', () => {
    sh(`
      set -e; cd ${mnt}
      mkdir -p a/b; echo hello > a/b/f; chmod 751 a; ln a/b/f a/hl; ln -s b/f a/sl
      setfattr -n user.k -v v a/b/f; touch -d @1000000000.123456789 a/b/f
      mv a/hl a/hl2; echo x > gone; rm gone
    `);
    expect(fs.readFileSync(join(src, 'a/b/f'), 'utf8')).toBe('hello\n');
    expect(fs.statSync(join(src, 'a')).mode & 0o7777).toBe(0o751);
    expect(fs.statSync(join(src, 'a/hl2')).nlink).toBe(2);
    expect(fs.readlinkSync(join(src, 'a/sl'))).toBe('b/f');
    expect(fs.existsSync(join(src, 'a/hl'))).toBe(false);
    expect(fs.existsSync(join(src, 'gone'))).toBe(false);
    expect(sh(`getfattr -n user.k --only-values ${src}/a/b/f`)).toBe('v');
    expect(fs.statSync(join(src, 'a/b/f'), { bigint: true }).mtimeNs).toBe(1000000000123456789n);
    expect(snap(join(mnt, 'a'), '--atime')).toEqual(snap(join(src, 'a'), '--atime'));
  });

  it('changes made in the backing dir are seen through the mount at once', () => {
    fs.mkdirSync(join(src, 'h'));
    const f = join(src, 'h/f'), m = join(mnt, 'h/f');
    fs.writeFileSync(f, 'v1');
    expect(fs.readFileSync(m, 'utf8')).toBe('v1');
    // content and size change behind the mount's back (appended, rewritten)
    fs.appendFileSync(f, '+more');
    expect(fs.readFileSync(m, 'utf8')).toBe('v1+more');
    fs.writeFileSync(f, 'replaced entirely, and longer than before');
    expect(fs.statSync(m).size).toBe(fs.statSync(f).size);
    expect(fs.readFileSync(m, 'utf8')).toBe('replaced entirely, and longer than before');
    // metadata
    fs.chmodSync(f, 0o604);
    fs.chownSync(f, 4242, 4343);
    fs.utimesSync(f, 1000, 2000);
    const st = fs.statSync(m);
    expect([st.mode & 0o7777, st.uid, st.gid, st.mtimeMs]).toEqual([0o604, 4242, 4343, 2_000_000]);
    sh(`setfattr -n user.from -v backing ${f}`);
    expect(sh(`getfattr -n user.from --only-values ${m}`)).toBe('backing');
    // names: create, rename, link, remove
    fs.writeFileSync(join(src, 'h/new'), 'n');
    expect(fs.readdirSync(join(mnt, 'h')).sort()).toEqual(['f', 'new']);
    fs.renameSync(join(src, 'h/new'), join(src, 'h/renamed'));
    expect(fs.readdirSync(join(mnt, 'h')).sort()).toEqual(['f', 'renamed']);
    expect(fs.existsSync(join(mnt, 'h/new'))).toBe(false);
    expect(fs.readFileSync(join(mnt, 'h/renamed'), 'utf8')).toBe('n');
    fs.linkSync(f, join(src, 'h/f2'));
    expect(fs.statSync(m).nlink).toBe(2);
    fs.rmSync(join(src, 'h/renamed'));
    expect(fs.existsSync(join(mnt, 'h/renamed'))).toBe(false);
    // a file replaced by rename in the backing dir: the mount shows the new one
    fs.writeFileSync(join(src, 'h/tmp'), 'swapped in');
    fs.renameSync(join(src, 'h/tmp'), f);
    expect(fs.readFileSync(m, 'utf8')).toBe('swapped in');
    expect(fs.statSync(m).ino).toBe(fs.statSync(f).ino);
    fs.rmSync(join(src, 'h'), { recursive: true });
    expect(fs.existsSync(join(mnt, 'h'))).toBe(false);
  });

  it('appends from both sides interleave like on one filesystem', () => {
    const f = join(src, 'log'), m = join(mnt, 'log');
    for (let i = 0; i < 20; i++) fs.appendFileSync(i % 2 ? f : m, `${i};`);
    const want = Array.from({ length: 20 }, (_, i) => `${i};`).join('');
    expect(fs.readFileSync(f, 'utf8')).toBe(want);
    expect(fs.readFileSync(m, 'utf8')).toBe(want);
  });
});

/**
 * podman --uidmap, as containers-storage does it: each lower dir is an
 * id-mapped bind mount (test/fixtures/idmap-mount.py: open_tree,
 * mount_setattr MOUNT_ATTR_IDMAP, move_mount), handed to the mount program,
 * and detached (umount -l) as soon as the program returns. The overlay must
 * keep working through the layer fds it opened before returning: lookups of
 * names it never saw, reads, xattrs, copy-up with the mapped owners. The
 * same scenario runs under fuse-overlayfs (Debian's), the reference, and
 * the two must agree on what the mount shows and on what lands in the upper.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { forceUnmount, isMounted, ROOT, sh, tempDir } from './helpers.js';
import { ovl } from './ovl-mount.js';

const IDMAP = join(ROOT, 'test/fixtures/idmap-mount.py');
const cleanup: string[] = [];
afterAll(() => { for (const m of cleanup.reverse()) forceUnmount(m); });

interface Seen { merged: string; upper: string; deep: string; xattr: string; notes: string }

/** The scenario under one mount program; returns what the mount showed and what the upper holds. */
function scenario(kind: 'tsfuse' | 'fuse-overlayfs'): Seen {
  const d = tempDir(`tsfuse-idmap-${kind}-`);
  const l = join(d, 'l'), v = join(d, 'v'), up = join(d, 'up'), wk = join(d, 'wk'), m = join(d, 'm');
  for (const p of [l, v, up, wk, m]) fs.mkdirSync(p);
  sh(`cd ${l} && mkdir -p etc home/u/deep/a/b/c bin && echo root:x:0:0 > etc/passwd && echo notes > home/u/notes && chmod 600 home/u/notes &&
    echo deep > home/u/deep/a/b/c/file && printf '#!/bin/sh\\n' > bin/tool && chmod 755 bin/tool && setfattr -n user.k -v v bin/tool &&
    ln -s ../etc/passwd bin/link && chown -R 1000:1000 home/u && chown 1000:1000 home/u/deep/a/b/c/file`);
  // the id-mapped view: on-disk 0 shows as 100000, 1000 as 101000
  const idm = spawnSync('python3', [IDMAP, l, v, '0:100000:65536'], { encoding: 'utf8' });
  expect(idm.stderr).toBe('');
  expect(idm.status).toBe(0);
  cleanup.push(v);
  expect(sh(`stat -c %u:%g ${v}/home/u/notes`).trim()).toBe('101000:101000');
  const opts = `lowerdir=${v},upperdir=${up},workdir=${wk}`;
  let stop: () => void;
  if (kind === 'tsfuse') {
    const o = ovl(opts, m);
    stop = () => o.unmount();
  } else {
    const r = spawnSync('fuse-overlayfs', ['-o', opts, m], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    cleanup.push(m);
    stop = () => { expect(spawnSync('fusermount3', ['-u', m]).status).toBe(0); };
  }
  // what containers-storage does once the mount program has returned
  sh(`umount -l ${v}`);
  expect(isMounted(v)).toBe(false);
  expect(fs.readdirSync(v)).toEqual([]);
  try {
    const seen: Seen = {
      // never looked up before the detach: found through the layer's fd
      deep: fs.readFileSync(join(m, 'home/u/deep/a/b/c/file'), 'utf8'),
      xattr: sh(`getfattr --only-values -n user.k ${m}/bin/tool`),
      merged: '', upper: '', notes: '',
    };
    // copy-ups from the mapped lower, a new file, a deletion
    sh(`chmod 640 ${m}/etc/passwd && echo more >> ${m}/home/u/notes && echo new > ${m}/new && rm ${m}/bin/tool`);
    seen.notes = fs.readFileSync(join(m, 'home/u/notes'), 'utf8');
    seen.merged = sh(`cd ${m} && find . -printf '%p %U:%G %m %y\\n' | sort`);
    seen.upper = sh(`cd ${up} && find . -printf '%p %U:%G %m %y\\n' | sort`);
    return seen;
  } finally {
    stop();
  }
}

describe('id-mapped lower dirs detached right after the mount (podman --uidmap)', () => {
  it('tsfuse-overlayfs serves them through its layer fds and agrees with fuse-overlayfs', () => {
    const ours = scenario('tsfuse');
    expect(ours.deep).toBe('deep\n');
    expect(ours.xattr).toBe('v');
    expect(ours.notes).toBe('notes\nmore\n');
    // the owners the id-mapped lower shows, through the overlay and on the upper's disk
    expect(ours.merged).toContain('./home/u/notes 101000:101000 600 f');
    expect(ours.merged).toContain('./etc/passwd 100000:100000 640 f');
    expect(ours.merged).toContain('./new 0:0 644 f');
    expect(ours.merged).not.toContain('./bin/tool ');
    expect(ours.upper).toContain('./home/u/notes 101000:101000 600 f');
    expect(ours.upper).toContain('./home/u 101000:101000 755 d');
    expect(ours.upper).toMatch(/\.\/bin\/tool 0:0 0 c/);
    const ref = scenario('fuse-overlayfs');
    expect(ours.merged).toBe(ref.merged);
    expect(ours.upper).toBe(ref.upper);
    expect(ours.deep).toBe(ref.deep);
    expect(ours.xattr).toBe(ref.xattr);
  });
});

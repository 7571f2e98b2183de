/**
 * Rootless podman, the way fuse-overlayfs is used most: a plain user
 * (tsfuse-podman, with subordinate ids in /etc/subuid and /etc/subgid, made
 * by .ci/setup) runs podman 4.3, which enters its own user namespace
 * (newuidmap) and calls the mount program there. The mount program is
 * `$PODMAN_MOUNT_PROGRAM` (default: a copy of this package's
 * bin/tsfuse-overlayfs the user can read), e.g.
 *   PODMAN_MOUNT_PROGRAM=/usr/bin/fuse-overlayfs npx vitest run test/podman-rootless.test.ts
 *
 * Everything lives in one temp dir owned by the user (its HOME, so the
 * rootless graph root, its XDG_RUNTIME_DIR, configs: test/podman/setup-env.sh).
 * Cleanup, also on failure: podman rm/rmi/system reset as the user, then
 * SIGKILL of that user's processes that belong to this run (the pause
 * process named in the run's pause.pid, and any whose command line names the
 * temp dir). The container's mounts live in podman's mount namespace and go
 * with it.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installForUsers, pidAlive, ROOT, tempDir, waitFor } from './helpers.js';
import { BASE_DATA, FUSE_TYPE, inListOrder, LIST, ROOT_FSTYPE } from './podman/container-scripts.js';

const USER = 'tsfuse-podman';
const FIX = join(ROOT, 'test/podman');
const BASE = 'localhost/tsfuse-bb:base';

describe('rootless podman (a plain user in its own user namespace) with a FUSE mount_program', () => {
  let D = '';
  let env: NodeJS.ProcessEnv = {};
  let uid = -1, gid = -1;
  let subuid = -1, subgid = -1;
  let program = '';

  /** podman ARGS as the user, in the test's environment */
  function podman(args: string[], opts: { allowFail?: boolean; timeout?: number } = {}) {
    const r = spawnSync('runuser', ['-u', USER, '--', 'env', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), 'podman', ...args],
      { encoding: 'utf8', timeout: opts.timeout ?? 60_000, cwd: '/', maxBuffer: 16 << 20 });
    const out = { status: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
    if (out.status !== 0 && !opts.allowFail) throw new Error(`podman ${args.join(' ')} failed (${out.status}):\n${out.stderr}${out.stdout}`);
    return out;
  }
  const lines = (s: string) => s.split('\n').filter(Boolean);
  const stat = (p: string) => execFileSync('stat', ['-c', '%u:%g %F', p], { encoding: 'utf8' }).trim();

  /** the user's processes that belong to this run */
  function ourProcesses(): number[] {
    const pids: number[] = [];
    const pauseFile = join(D, 'tmp/pause.pid');
    const pause = fs.existsSync(pauseFile) ? Number(fs.readFileSync(pauseFile, 'utf8')) : -1;
    for (const e of fs.readdirSync('/proc')) {
      if (!/^\d+$/.test(e)) continue;
      try {
        if (fs.statSync(`/proc/${e}`).uid !== uid) continue;
        if (Number(e) === pause || fs.readFileSync(`/proc/${e}/cmdline`, 'utf8').includes(D + '/')) pids.push(Number(e));
      } catch { /* gone */ }
    }
    return pids.filter(pidAlive);
  }

  /** the mount program processes of this run (daemons serving a container's root) */
  const daemons = () => ourProcesses().filter((p) => /overlayfs/.test(fs.readFileSync(`/proc/${p}/cmdline`, 'utf8')));

  beforeAll(() => {
    expect(process.getuid!(), 'the rootless podman tests run podman as another user and need root for that').toBe(0);
    if (spawnSync('id', ['-u', USER]).status !== 0) throw new Error(`no user ${USER}: run .ci/setup (creates it with subordinate ids)`);
    uid = Number(execFileSync('id', ['-u', USER], { encoding: 'utf8' }));
    gid = Number(execFileSync('id', ['-g', USER], { encoding: 'utf8' }));
    const sub = (f: string) => Number(/^[^:]+:(\d+):\d+$/m.exec(fs.readFileSync(f, 'utf8').split('\n').filter((l) => l.startsWith(`${USER}:`)).join('\n'))?.[1] ?? -1);
    subuid = sub('/etc/subuid');
    subgid = sub('/etc/subgid');
    if (subuid < 0 || subgid < 0) throw new Error(`${USER} has no range in /etc/subuid and /etc/subgid: run .ci/setup`);
    for (const tool of ['podman', 'crun', 'newuidmap', 'newgidmap', 'fusermount3', 'busybox']) {
      if (spawnSync('sh', ['-c', `command -v ${tool} || test -x /bin/${tool}`], { stdio: 'ignore' }).status !== 0) throw new Error(`${tool} not found: run .ci/setup`);
    }
    program = process.env.PODMAN_MOUNT_PROGRAM || join(installForUsers(), 'bin/tsfuse-overlayfs');
    D = tempDir('tsfuse-podman-rootless-');
    fs.chmodSync(D, 0o755);
    fs.chownSync(D, uid, -1);
    const setup = spawnSync('runuser', ['-u', USER, '--', join(FIX, 'setup-env.sh'), D, program], { encoding: 'utf8', cwd: '/' });
    if (setup.status !== 0) throw new Error(`setup-env.sh failed: ${setup.stderr}`);
    fs.mkdirSync(join(D, 'xdg'), { mode: 0o700 });
    fs.chownSync(join(D, 'xdg'), uid, -1);
    env = {
      CONTAINERS_CONF: join(D, 'containers.conf'), CONTAINERS_STORAGE_CONF: join(D, 'storage.conf'), TMPDIR: join(D, 'tmp'),
      HOME: join(D, 'home'), XDG_RUNTIME_DIR: join(D, 'xdg'), PATH: `${join(D, 'bin')}:${process.env.PATH}`,
    };
    // never let rm/rmi/reset loose on anything but our temp graph root
    const info = podman(['info', '--format', '{{.Store.GraphRoot}} {{.Store.GraphDriverName}} {{.Host.Security.Rootless}}']).stdout.trim();
    expect(info).toBe(`${D}/home/.local/share/containers/storage overlay true`);
    const tar = join(D, 'rootfs.tar');
    const mk = spawnSync(join(FIX, 'mkrootfs.sh'), [tar], { encoding: 'utf8' });
    if (mk.status !== 0) throw new Error(`mkrootfs.sh failed: ${mk.stderr}`);
    fs.chownSync(tar, uid, -1);
    podman(['import', '--quiet', tar, BASE]);
  });

  afterAll(() => {
    if (!D) return;
    podman(['rm', '--all', '--force', '--time', '0'], { allowFail: true });
    podman(['rmi', '--all', '--force'], { allowFail: true });
    podman(['system', 'reset', '--force'], { allowFail: true });
    for (let i = 0; i < 3 && ourProcesses().length; i++) {
      for (const p of ourProcesses()) { try { process.kill(p, 'SIGKILL'); } catch { /* gone */ } }
      try { waitFor(() => ourProcesses().length === 0, 5_000, 'processes to exit'); } catch { /* next round */ }
    }
    spawnSync('rm', ['-rf', D]);
  });

  it('podman run: the root is the mount program\'s FUSE mount, made and served inside the user namespace; writes land in the upper with the namespace\'s ids', () => {
    podman(['run', '--detach', '--name', 'r1', BASE, 'sleep', '1000']);
    const merged = podman(['inspect', '--format', '{{.GraphDriver.Data.MergedDir}}', 'r1']).stdout.trim();
    expect(merged.startsWith(`${D}/home/.local/share/containers/storage/overlay/`)).toBe(true);
    // containers-storage's argv shape; no uidmapping= (the user namespace maps the ids)
    const calls = lines(fs.readFileSync(join(D, 'mount-program.log'), 'utf8')).map((l) => l.split('\t')).filter((a) => a[a.length - 1] === merged);
    expect(calls).toHaveLength(1);
    expect(calls[0][1]).toMatch(new RegExp(`^lowerdir=[^,]+,upperdir=${dirname(merged)}/diff,workdir=${dirname(merged)}/work(,.*)?$`));
    expect(calls[0][1]).not.toMatch(/uidmapping/);
    // the daemon runs as the user (inside podman's user namespace)
    const ds = daemons();
    expect(ds).toHaveLength(1);
    expect(fs.statSync(`/proc/${ds[0]}`).uid).toBe(uid);

    const script = `${LIST}
      set -e
      ${ROOT_FSTYPE}
      cat /proc/self/uid_map | tr -s ' '
      cd /data
      cat a.txt
      echo appended >> a.txt
      rm c.txt
      mv d.txt d-renamed.txt
      mkdir made && chown 5:6 made
      echo fresh > dir2/new
      stat -c '%u:%g %n' a.txt made dir2/new
      list /data`;
    const out = lines(podman(['exec', 'r1', 'sh', '-c', script]).stdout);
    expect(out[0]).toMatch(FUSE_TYPE);
    expect(out.slice(1, 3)).toEqual([` 0 ${uid} 1`, ` 1 ${subuid} 65536`]);
    // the image's /data with this script's changes
    const changed = BASE_DATA.filter((l) => !/ \/data\/[cd]\.txt:/.test(l)).map((l) => (l.endsWith('/data/a.txt: alpha|') ? `${l}appended|` : l));
    expect(out.slice(3)).toEqual([
      'alpha',
      '0:0 a.txt', '5:6 made', '0:0 dir2/new',
      ...inListOrder([...changed, 'f 644 1 /data/d-renamed.txt: delta|', 'f 644 1 /data/dir2/new: fresh|', 'd 755 /data/made']),
    ]);
    // on the host: container root is the user, container id 5 is the 5th subordinate id; deletions are 0/0 whiteouts
    const diff = join(dirname(merged), 'diff');
    expect(stat(join(diff, 'data/a.txt'))).toBe(`${uid}:${gid} regular file`);
    expect(stat(join(diff, 'data/made'))).toBe(`${subuid + 4}:${subgid + 5} directory`);
    expect(stat(join(diff, 'data/c.txt'))).toMatch(/ character special file$/);
    expect(fs.statSync(join(diff, 'data/c.txt')).rdev).toBe(0);
    expect(fs.readFileSync(join(diff, 'data/a.txt'), 'utf8')).toBe('alpha\nappended\n');
    expect(fs.existsSync(join(diff, 'data/d.txt'))).toBe(true); // the rename's whiteout
    // podman rm unmounts (fusermount3 -u in the namespace) and the daemon exits by itself
    podman(['rm', '--force', '--time', '0', 'r1']);
    waitFor(() => daemons().length === 0, 15_000, 'the mount program daemon to exit after podman rm');
  });

  it('a second container of the same image sees the image unchanged, and leaves no daemon behind', () => {
    // (detached, then exec: an attached rootless `podman run` takes 20 s to return here, with either mount program)
    podman(['run', '--detach', '--name', 'r2', BASE, 'sleep', '1000']);
    const out = lines(podman(['exec', 'r2', 'sh', '-c', `${LIST}; list /data/a.txt /data/c.txt; test -e /data/made || echo no made`]).stdout);
    expect(out).toEqual(['f 644 1 /data/a.txt: alpha|', 'f 644 1 /data/c.txt: charlie|', 'no made']);
    podman(['rm', '--force', '--time', '0', 'r2']);
    waitFor(() => daemons().length === 0, 15_000, 'the mount program daemon to exit after podman rm');
  });
});

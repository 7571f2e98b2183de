/**
 * Lazy layers: time from "mount this image" to the first
 * `chroot MNT /bin/sh -c 'echo hello world'`, for a real root filesystem
 * (≥ 100 MB uncompressed: static busybox as /bin/sh plus host libraries)
 * pushed as eStargz to a local docker-registry — against a full pull and
 * untar of the same layer. Also: how much of the blob the lazy start
 * fetched, and gzip / zstd decode speed.
 *
 *   npm run bench:stargz               (root; needs docker-registry, zstd)
 *   npm run bench:stargz -- --reps 3
 *
 * Results: a table on stdout, bench/results/stargz-latest.json.
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as zlib from 'node:zlib';
import { decompress as zstdDecompress } from 'fzstd';
import { pushLayer, startRegistry } from '../test/registry.js';
import { BENCH, BUILD, median, must, ROOT, run, stepLog } from './lib.js';
import { fmt } from './report.js';

const { values: argv } = parseArgs({ options: { reps: { type: 'string' } } });
const REPS = Number(argv.reps ?? 5);
const log = stepLog('stargz');
const DIR = join(BUILD, 'stargz');
const ROOTFS = join(DIR, 'rootfs');
const BLOB = join(DIR, 'rootfs.esgz');
const OVL = join(ROOT, 'bin/tsfuse-overlayfs');
const TSFUSE = join(ROOT, 'bin/tsfuse');
const MIN_BYTES = 100 * 2 ** 20;

/** Host directories copied in (in this order) until the tree passes MIN_BYTES. */
const FILLERS = ['/usr/lib/python3.11', '/usr/lib/python3', '/usr/share/perl', '/usr/lib/x86_64-linux-gnu/perl-base', '/usr/share/locale', '/usr/share/doc', '/usr/lib/x86_64-linux-gnu'];

async function du(p: string): Promise<number> {
  return Number((await must('du', ['-sb', p])).stdout.split('\t')[0]);
}

async function makeRootfs(): Promise<void> {
  if (fs.existsSync(join(ROOTFS, '.complete'))) return;
  fs.rmSync(ROOTFS, { recursive: true, force: true });
  fs.mkdirSync(join(ROOTFS, 'bin'), { recursive: true });
  fs.copyFileSync('/bin/busybox', join(ROOTFS, 'bin/busybox'));
  fs.chmodSync(join(ROOTFS, 'bin/busybox'), 0o755);
  fs.symlinkSync('busybox', join(ROOTFS, 'bin/sh'));
  for (const d of FILLERS) {
    if (await du(ROOTFS) >= MIN_BYTES) break;
    if (fs.existsSync(d)) await must('cp', ['-a', '--parents', d.slice(1), ROOTFS], { cwd: '/', timeoutMs: 600_000 });
  }
  const size = await du(ROOTFS);
  if (size < MIN_BYTES) throw new Error(`the rootfs has only ${size} bytes; fewer host directories than expected`);
  fs.writeFileSync(join(ROOTFS, '.complete'), '');
}

async function unmount(mnt: string): Promise<void> {
  for (let i = 0; i < 50; i++) {
    const r = await run('fusermount3', ['-u', mnt]);
    if (r.code === 0) return;
    await new Promise((res) => setTimeout(res, 100));
  }
  await run('umount', ['-l', mnt]);
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('run as root (mount, chroot)');
  fs.mkdirSync(DIR, { recursive: true });
  await makeRootfs();
  const rootBytes = await du(ROOTFS);
  let build: { tocDigest: string; blobDigest: string; size: number; uncompressedSize: number };
  const meta = join(DIR, 'rootfs.esgz.json');
  if (fs.existsSync(BLOB) && fs.existsSync(meta)) build = JSON.parse(fs.readFileSync(meta, 'utf8'));
  else {
    log(`building the eStargz of ${ROOTFS} (${(rootBytes / 2 ** 20).toFixed(0)} MiB; once)`);
    const r = await must(process.execPath, [TSFUSE, 'stargz', 'build', ROOTFS, BLOB, '--json', '--prioritized', 'bin/sh,bin/busybox'], { timeoutMs: 1_800_000 });
    build = JSON.parse(r.stdout);
    fs.writeFileSync(meta, JSON.stringify(build));
  }
  const regDir = fs.mkdtempSync(join(DIR, 'registry-'));
  const reg = await startRegistry(regDir, 'none');
  try {
    const layer = await pushLayer(reg, 'bench/rootfs', 'v1', BLOB, build.tocDigest);
    const ref = `docker://${reg.host}/bench/rootfs:v1`;
    const el = `//stargz/${Buffer.from(ref).toString('base64url')}/`;
    const lazy: number[] = [], full: number[] = [], fullShm: number[] = [], fetched: number[] = [];
    for (let i = 0; i < REPS; i++) {
      // both start from written-back page caches (the untar of the last rep left dirty pages)
      await run('sync', []);
      // lazy: mount the image from the registry, run the shell
      const mnt = fs.mkdtempSync(join(DIR, 'mnt-'));
      const dlog = join(DIR, 'daemon.log');
      fs.rmSync(dlog, { force: true });
      const a = Date.now();
      const m = await run(OVL, ['-o', `plugins=stargz,lowerdir=${el}`, mnt], { env: { ...process.env, TSFUSE_DAEMON_LOG: dlog }, timeoutMs: 60_000 });
      if (m.code !== 0) throw new Error(`mount: ${m.stderr.trim()}`);
      const hello = await run('chroot', [mnt, '/bin/sh', '-c', 'echo hello world'], { timeoutMs: 60_000 });
      const ms = Date.now() - a;
      if (hello.stdout !== 'hello world\n') throw new Error(`lazy: chroot said ${JSON.stringify(hello.stdout + hello.stderr)}`);
      await unmount(mnt);
      await new Promise((res) => setTimeout(res, 300));
      const f = /fetched (\d+) of (\d+) bytes/.exec(fs.readFileSync(dlog, 'utf8'));
      if (!f) throw new Error('the daemon did not log how much it fetched');
      lazy.push(ms);
      fetched.push(Number(f[1]) / Number(f[2]));
      fs.rmdirSync(mnt);
      // full: pull the blob and untar it, run the shell
      await run('sync', []);
      const dir = fs.mkdtempSync(join(DIR, 'full-'));
      const b = Date.now();
      const pull = await run('bash', ['-o', 'pipefail', '-c', `curl -sf ${reg.url}/v2/bench/rootfs/blobs/${layer} | tar -xzf - -C ${dir}`], { timeoutMs: 600_000 });
      if (pull.code !== 0) throw new Error(`pull+untar: ${pull.stderr.trim()}`);
      const hello2 = await run('chroot', [dir, '/bin/sh', '-c', 'echo hello world'], { timeoutMs: 60_000 });
      const ms2 = Date.now() - b;
      if (hello2.stdout !== 'hello world\n') throw new Error(`full: chroot said ${JSON.stringify(hello2.stdout + hello2.stderr)}`);
      full.push(ms2);
      fs.rmSync(dir, { recursive: true, force: true });
      // the same into tmpfs: the pull and decompression alone, no disk
      const shm = fs.mkdtempSync('/dev/shm/tsfuse-full-');
      const c = Date.now();
      const pull3 = await run('bash', ['-o', 'pipefail', '-c', `curl -sf ${reg.url}/v2/bench/rootfs/blobs/${layer} | tar -xzf - -C ${shm} && chroot ${shm} /bin/sh -c 'echo hello world'`], { timeoutMs: 600_000 });
      const ms3 = Date.now() - c;
      fs.rmSync(shm, { recursive: true, force: true });
      if (pull3.stdout !== 'hello world\n') throw new Error(`full (tmpfs): ${pull3.stderr.trim()}`);
      fullShm.push(ms3);
      log(`rep ${i + 1}/${REPS}: lazy ${ms} ms (${(fetched[i] * 100).toFixed(2)} % fetched), pull+untar ${ms2} ms (to tmpfs ${ms3} ms)`);
    }
    // decode speed: a compressible stream of the rootfs' own bytes
    const samplePath = join(DIR, 'sample.bin');
    const sample = fs.existsSync(samplePath) && fs.statSync(samplePath).size ? fs.readFileSync(samplePath) : await makeSample();
    const gz = zlib.gzipSync(sample, { level: 9 });
    const zst = (await must('bash', ['-c', `zstd -q -3 -c ${join(DIR, 'sample.bin')} | base64 -w0`], { timeoutMs: 300_000 })).stdout;
    const zstBuf = Buffer.from(zst, 'base64');
    const speed = (f: () => void) => { const xs: number[] = []; for (let i = 0; i < 3; i++) { const s = process.hrtime.bigint(); f(); xs.push(Number(process.hrtime.bigint() - s) / 1e9); } return sample.length / 2 ** 20 / median(xs); };
    const gzMBs = speed(() => zlib.gunzipSync(gz));
    const zstMBs = speed(() => zstdDecompress(zstBuf));
    const table = [
      '| what | median | samples |', '|---|---:|---|',
      `| time to hello, lazy (eStargz from the registry) | ${fmt(median(lazy) / 1000)} s | ${lazy.map((x) => (x / 1000).toFixed(3)).join(' ')} |`,
      `| time to hello, full pull + untar | ${fmt(median(full) / 1000)} s | ${full.map((x) => (x / 1000).toFixed(3)).join(' ')} |`,
      `| time to hello, full pull + untar into tmpfs | ${fmt(median(fullShm) / 1000)} s | ${fullShm.map((x) => (x / 1000).toFixed(3)).join(' ')} |`,
      `| lazy / full (disk, tmpfs) | ${(median(lazy) / median(full)).toFixed(2)}×, ${(median(lazy) / median(fullShm)).toFixed(2)}× | |`,
      `| blob fetched by the lazy start | ${(median(fetched) * 100).toFixed(2)} % of ${(build.size / 2 ** 20).toFixed(1)} MiB | |`,
      `| gzip decode (node zlib) | ${gzMBs.toFixed(0)} MiB/s | |`,
      `| zstd decode (fzstd) | ${zstMBs.toFixed(0)} MiB/s | |`,
    ].join('\n');
    const head = `stargz benchmark — ${new Date().toISOString()}, node ${process.version}; rootfs ${(rootBytes / 2 ** 20).toFixed(0)} MiB (${fmt(build.uncompressedSize / 2 ** 20)} MiB tar), blob ${(build.size / 2 ** 20).toFixed(1)} MiB, registry on 127.0.0.1, ${REPS} reps`;
    process.stdout.write(`${head}\n\n${table}\n\ngoals: time to hello ≤ 1 s: ${median(lazy) <= 1000 ? 'MET' : 'MISSED'}; ≤ 10 % of the blob fetched: ${median(fetched) <= 0.1 ? 'MET' : 'MISSED'}\n`);
    fs.mkdirSync(join(BENCH, 'results'), { recursive: true });
    fs.writeFileSync(join(BENCH, 'results/stargz-latest.json'), JSON.stringify({ when: new Date().toISOString(), lazyMs: lazy, fullMs: full, fullTmpfsMs: fullShm, fetchedShare: fetched, gzMBs, zstMBs, blob: build, rootBytes }, null, 1) + '\n');
  } finally {
    for (const p of reg.procs) p.kill('SIGTERM');
    fs.rmSync(regDir, { recursive: true, force: true });
  }
}

/** 64 MiB of the rootfs' files concatenated (a realistic compressible sample). */
async function makeSample(): Promise<Buffer> {
  await must('bash', ['-c', `find ${ROOTFS} -type f -size +10k -print0 | xargs -0 cat | head -c ${64 << 20} > ${join(DIR, 'sample.bin')}`], { timeoutMs: 300_000 });
  return fs.readFileSync(join(DIR, 'sample.bin'));
}

main().catch((e) => { process.stderr.write(`bench:stargz: ${(e as Error).message}\n`); process.exit(1); });

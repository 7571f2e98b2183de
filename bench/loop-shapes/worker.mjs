// Reader thread for the "worker" shape: blocking reads on the clone fd into
// one reused buffer; each request is copied out and transferred to the main
// thread.
import { readSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
const { fd, size } = workerData;
const buf = Buffer.allocUnsafe(size);
for (;;) {
  let n;
  try { n = readSync(fd, buf, 0, size, null); } catch (e) {
    if (e.code === 'EINTR') continue;
    parentPort.postMessage({ end: e.code });
    break;
  }
  const copy = new Uint8Array(n);
  copy.set(buf.subarray(0, n));
  parentPort.postMessage({ ab: copy.buffer, off: 0, n }, [copy.buffer]);
}

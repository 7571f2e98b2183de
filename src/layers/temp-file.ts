/**
 * A temporary file that no path names: opened in DIR and unlinked at once,
 * so it goes away with its fd whatever happens to the process.
 */
import * as fs from 'node:fs';
import { join } from 'node:path';

export function unlinkedTempFd(dir: string, tag: string): number {
  const p = join(dir, `.tsfuse-${tag}-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}`);
  const fd = fs.openSync(p, 'wx+', 0o600);
  fs.unlinkSync(p);
  return fd;
}

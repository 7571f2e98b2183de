import { createHash } from 'node:crypto';
import * as fs from 'node:fs';

/** `sha256:<hex>` of some bytes (the form TOCs and OCI descriptors use). */
export const sha256 = (b: Uint8Array): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** `sha256:<hex>` of a file, read as a stream (never whole in memory). */
export async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of fs.createReadStream(file)) h.update(c as Buffer);
  return `sha256:${h.digest('hex')}`;
}

import { createHash } from 'node:crypto';

/** `sha256:<hex>` of some bytes (the form TOCs and OCI descriptors use). */
export const sha256 = (b: Uint8Array): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

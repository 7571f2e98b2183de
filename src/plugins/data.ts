/** Helpers for the DATA part of `//NAME/DATA/PATH` elements (used by the built-in plugins). */

const B64 = /^[A-Za-z0-9+_-]+={0,2}$/;

/**
 * DATA as base64 (or base64url) of an absolute host path. DATA ends at the
 * first '/', so plain base64 that contains '/' cannot be written there:
 * base64url is the form to use (Node's decoder takes both alphabets).
 */
export function decodePathData(data: string): string {
  const s = B64.test(data) ? Buffer.from(data, 'base64').toString('utf8') : '';
  if (!s.startsWith('/') || s.includes('\0') || Buffer.from(s).toString('base64url') !== data.replace(/=+$/, '').replace(/\+/g, '-')) {
    throw new Error(`DATA ${JSON.stringify(data)} is not the base64url of an absolute path ` +
      "(DATA ends at the first '/', so encode with base64url: printf %s PATH | base64 -w0 | tr '+/' '-_')");
  }
  return s;
}

/** The DATA form of a host path (base64url, no padding). */
export function encodePathData(path: string): string {
  return Buffer.from(path).toString('base64url');
}

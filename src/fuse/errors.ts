import { constants } from 'node:os';

/** errno numbers by name (Linux). */
export const Errno = constants.errno as Record<string, number>;

/**
 * The one error type that crosses layers: an errno code. The session turns it
 * into the negative errno of the reply; anything else thrown is a bug and is
 * answered with EIO and logged.
 */
export class FuseError extends Error {
  readonly errno: number;
  readonly code: string;
  constructor(code: string | number, message?: string) {
    const errno = typeof code === 'number' ? code : Errno[code] ?? Errno.EIO;
    const name = typeof code === 'string' ? code : errnoName(code);
    // an errno answer is an expected result (ENOENT on most lookups), not a bug: no stack trace to capture
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(message ? `${name}: ${message}` : name);
    Error.stackTraceLimit = limit;
    this.errno = errno;
    this.code = name;
  }
}

const NAMES: Record<number, string> = {};
for (const [k, v] of Object.entries(Errno)) if (!(v in NAMES)) NAMES[v] = k;

export function errnoName(n: number): string {
  return NAMES[Math.abs(n)] ?? `errno ${n}`;
}

/** The positive errno carried by an error from Node's fs, a FuseError, or anything else (EIO). */
export function errnoOf(err: unknown): number {
  if (err instanceof FuseError) return err.errno;
  const e = err as { errno?: unknown; code?: unknown };
  if (e && typeof e.code === 'string' && Errno[e.code] !== undefined) return Errno[e.code];
  if (e && typeof e.errno === 'number' && e.errno !== 0) return Math.abs(e.errno);
  return 0;
}

/** The codec refuses a request it cannot decode (truncated, malformed). */
export class DecodeError extends Error {}

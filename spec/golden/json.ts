/**
 * The JSON form of decoded values in vectors.json: bigints become decimal
 * strings, Buffers become { "$hex": "…" }, everything else stays as is.
 * Both the capture script and test/golden.test.ts pass values through
 * this, so comparisons are exact.
 */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [k: string]: JsonValue };

export function toJson(v: unknown): JsonValue {
  if (v === null || v === undefined) return null;
  if (typeof v === 'bigint') return v.toString();
  if (Buffer.isBuffer(v) || v instanceof Uint8Array) return { $hex: Buffer.from(v).toString('hex') };
  if (Array.isArray(v)) return v.map(toJson);
  if (typeof v === 'object') {
    const o: { [k: string]: JsonValue } = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) if (x !== undefined) o[k] = toJson(x);
    return o;
  }
  return v as JsonValue;
}

/** One captured request and the reply the session wrote for it. */
export interface RequestVector {
  op: string;
  /** the request exactly as read from /dev/fuse */
  request: string;
  /** decodeRequest(request) through toJson */
  decoded: JsonValue;
  /** the reply exactly as written, or null for ops without one (FORGET, BATCH_FORGET, NOTIFY_REPLY) */
  reply: string | null;
  /** decodeReply(op, reply) kind ('error' for an errno reply) */
  replyKind?: string;
  /** decodeReply(op, reply).value through toJson */
  replyDecoded?: JsonValue;
  /** why this vector was kept (shape: op + reply kind + variant) */
  shape: string;
}

export interface NotificationVector {
  kind: string;
  bytes: string;
  decoded: JsonValue;
  /** true when the kernel accepted the write, false when it had nothing cached (ENOENT) */
  accepted: boolean;
}

export interface GoldenFile {
  description: string;
  kernel: string;
  captured: string;
  /** the negotiated connection all non-INIT vectors are decoded with */
  negotiated: { minor: number; flags: string };
  vectors: RequestVector[];
  notifications: NotificationVector[];
}

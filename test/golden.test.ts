/**
 * Golden vectors (spec/golden/vectors.json, captured from a real 6.18
 * kernel by spec/golden/capture.ts): the codec must decode what the kernel
 * really sent exactly as it did at capture time, kernel-side.ts must
 * re-create the kernel's bytes, and the replies the session wrote must
 * parse as the kernel reads them and re-encode byte for byte.
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Size } from '../src/fuse/abi.js';
import {
  decodeRequest, encodeNotifyBare, encodeNotifyDelete, encodeNotifyInvalEntry, encodeNotifyInvalInode, encodeNotifyPoll,
  encodeNotifyPrune, encodeNotifyRetrieve, encodeNotifyStore, type Negotiated,
} from '../src/fuse/codec.js';
import { DecodeError } from '../src/fuse/errors.js';
import { decodeNotification, decodeReply, encodeReply, encodeRequest, type Notification } from '../src/fuse/kernel-side.js';
import { toJson, type GoldenFile } from '../spec/golden/json.js';
import { ROOT } from './helpers.js';

const golden = JSON.parse(fs.readFileSync(join(ROOT, 'spec/golden/vectors.json'), 'utf8')) as GoldenFile;
const neg: Negotiated = { minor: golden.negotiated.minor, flags: BigInt(golden.negotiated.flags) };
const hex = (s: string) => Buffer.from(s, 'hex');

/** Opcodes a plain MemFS mount must produce; a re-capture that loses one of them fails here. */
const EXPECTED_OPS = [
  'INIT', 'LOOKUP', 'GETATTR', 'SETATTR', 'MKDIR', 'MKNOD', 'CREATE', 'OPEN', 'READ', 'WRITE', 'FLUSH', 'RELEASE',
  'OPENDIR', 'READDIRPLUS', 'READDIR', 'RELEASEDIR', 'SYMLINK', 'READLINK', 'LINK', 'UNLINK', 'RMDIR', 'RENAME',
  'RENAME2', 'SETXATTR', 'GETXATTR', 'LISTXATTR', 'REMOVEXATTR', 'STATFS', 'FSYNC', 'FSYNCDIR', 'FALLOCATE', 'LSEEK',
  'STATX', 'ACCESS', 'FORGET', 'BATCH_FORGET', 'NOTIFY_REPLY',
];

function reencodeNotification(n: Notification): Buffer {
  switch (n.kind) {
    case 'POLL': return encodeNotifyPoll(n.kh);
    case 'INVAL_INODE': return encodeNotifyInvalInode(n.ino, n.off, n.len);
    case 'INVAL_ENTRY': return encodeNotifyInvalEntry(n.parent, n.name, n.flags);
    case 'STORE': return encodeNotifyStore(n.nodeid, n.offset, n.data);
    case 'RETRIEVE': return encodeNotifyRetrieve(n.notifyUnique, n.nodeid, n.offset, n.size);
    case 'DELETE': return encodeNotifyDelete(n.parent, n.child, n.name);
    case 'RESEND': case 'INC_EPOCH': return encodeNotifyBare(n.code);
    case 'PRUNE': return encodeNotifyPrune(n.nodeids);
  }
}

describe('golden vectors', () => {
  it('were captured from a 7.45 kernel and cover the expected opcodes', () => {
    expect(golden.negotiated.minor).toBe(45);
    const ops = new Set(golden.vectors.map((v) => v.op));
    expect(EXPECTED_OPS.filter((op) => !ops.has(op))).toEqual([]);
    expect(golden.vectors.length).toBeGreaterThanOrEqual(EXPECTED_OPS.length);
    expect(golden.notifications.length).toBeGreaterThanOrEqual(5);
  });

  for (const [i, v] of golden.vectors.entries()) {
    describe(`#${i} ${v.shape}`, () => {
      const bytes = hex(v.request);

      it('decodeRequest gives the recorded decode', () => {
        const q = decodeRequest(bytes, bytes.length, neg);
        expect(q.op).toBe(v.op);
        expect(toJson(q)).toEqual(v.decoded);
      });

      it('encodeRequest re-creates the kernel bytes', () => {
        const q = decodeRequest(bytes, bytes.length, neg);
        expect(encodeRequest(q, neg).toString('hex')).toBe(v.request);
      });

      it('every truncation is refused with DecodeError', () => {
        for (let len = 0; len < bytes.length; len++) {
          const cut = Buffer.from(bytes.subarray(0, len));
          if (len >= 4) cut.writeUInt32LE(len, 0);
          expect(() => decodeRequest(cut, len, neg), `cut to ${len}`).toThrow(DecodeError);
        }
      });

      if (v.reply === null) {
        it('has no reply (FORGET, BATCH_FORGET, NOTIFY_REPLY)', () => {
          expect(['FORGET', 'BATCH_FORGET', 'NOTIFY_REPLY', 'INTERRUPT']).toContain(v.op);
        });
        return;
      }
      const reply = hex(v.reply);

      it('the reply parses as the kernel reads it, as recorded', () => {
        const q = decodeRequest(bytes, bytes.length, neg);
        const r = decodeReply(q.op, reply, neg, q);
        expect(r.unique).toBe(q.unique);
        expect(r.len).toBe(reply.length);
        expect(r.kind).toBe(v.replyKind);
        expect(toJson(r.value)).toEqual(v.replyDecoded);
        if (r.kind === 'error') expect(reply.length).toBe(Size.OUT_HEADER);
      });

      it('re-encoding the decoded reply with the codec gives the same bytes', () => {
        const q = decodeRequest(bytes, bytes.length, neg);
        expect(encodeReply(decodeReply(q.op, reply, neg, q), neg).toString('hex')).toBe(v.reply);
      });
    });
  }

  for (const n of golden.notifications) {
    it(`notification ${n.kind}: decodes as recorded and re-encodes byte for byte`, () => {
      const d = decodeNotification(hex(n.bytes));
      expect(d.kind).toBe(n.kind);
      expect(toJson(d)).toEqual(n.decoded);
      expect(reencodeNotification(d).toString('hex')).toBe(n.bytes);
    });
  }
});

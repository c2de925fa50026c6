import { BinaryReader, BinaryWriter } from '../../common/index.js';
import { type Codec, clientStream, defineService } from '../../rpc/index.js';
import type { Message, Snapshot } from '../types.js';
import { decodeBatch, encodeBatch, readSnapshotMeta, writeSnapshotMeta } from './message-codec.js';

const batchCodec: Codec<readonly Message[]> = { encode: encodeBatch, decode: decodeBatch };

/** One piece of a snapshot on the bulk channel; the first carries the envelope. */
export interface SnapshotFrame {
  readonly header?: { from: string; to: string; term: number; meta: Snapshot['meta']; totalBytes: number };
  readonly data: Uint8Array;
}

const frameCodec: Codec<SnapshotFrame> = {
  encode(f) {
    const w = new BinaryWriter(f.data.length + 256);
    w.bool(f.header !== undefined);
    if (f.header) {
      w.string(f.header.from).string(f.header.to).uint(f.header.term).uint(f.header.totalBytes);
      writeSnapshotMeta(w, f.header.meta);
    }
    return w.bytes(f.data).finish();
  },
  decode(b) {
    const r = new BinaryReader(b);
    const header = r.bool()
      ? { from: r.string(), to: r.string(), term: r.uint(), totalBytes: r.uint(), meta: readSnapshotMeta(r) }
      : undefined;
    return header ? { header, data: r.bytes() } : { data: r.bytes() };
  },
};

const ackCodec: Codec<{ ok: boolean }> = {
  encode: (a) => Buffer.from([a.ok ? 1 : 0]),
  decode: (b) => ({ ok: b[0] === 1 }),
};

/**
 * Raft between managers: `Send` is a long-lived stream of message batches from one member to
 * another (replies travel on the other member's own stream); `Snapshot` moves InstallSnapshot
 * data in chunks on a separate connection, so a large snapshot never delays heartbeats.
 */
export const RaftService = defineService('swarmctl.raft.Raft', {
  Send: clientStream(batchCodec, ackCodec),
  Snapshot: clientStream(frameCodec, ackCodec),
});
export type RaftServiceMethods = (typeof RaftService)['methods'];

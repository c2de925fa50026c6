import { BinaryReader, BinaryWriter } from '../../common/index.js';
import { type Codec, clientStream, defineService, serverStream } from '../../rpc/index.js';
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

/** Which member's messages a `Pull` asks for: the caller's own. */
export interface PullRequest {
  readonly to: string;
}

const pullCodec: Codec<PullRequest> = {
  encode: (p) => new BinaryWriter(64).string(p.to).finish(),
  decode: (b) => ({ to: new BinaryReader(b).string() }),
};

const ackCodec: Codec<{ ok: boolean }> = {
  encode: (a) => Buffer.from([a.ok ? 1 : 0]),
  decode: (b) => ({ ok: b[0] === 1 }),
};

/**
 * Raft between managers. `Pull` is a long-lived stream of message batches that the receiving
 * member dials on the sender: the data flows server to client, so the receiver's own channel
 * option sets the HTTP/2 window it grants (grpc-js has no such option for a server). `Send` is the
 * earlier direction (the sender dials and streams), still served for members that use it.
 * `Snapshot` moves InstallSnapshot data in chunks on a separate connection, so a large snapshot
 * never delays heartbeats.
 */
export const RaftService = defineService('swarmctl.raft.Raft', {
  Pull: serverStream(pullCodec, batchCodec),
  Send: clientStream(batchCodec, ackCodec),
  Snapshot: clientStream(frameCodec, ackCodec),
});
export type RaftServiceMethods = (typeof RaftService)['methods'];

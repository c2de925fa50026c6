import type { Message, NodeId, SnapshotMessage } from '../types.js';
import { Notifier } from './notifier.js';

/** What the transport keeps per peer. */
export interface Peer {
  readonly id: NodeId;
  readonly address: string;
  /** Messages for this peer, taken by the peer's `Pull` stream on our server (or pushed). */
  readonly queue: Message[];
  readonly snapshots: SnapshotMessage[];
  /** Notified when `queue` grows; `snapshotQueued` when `snapshots` does. */
  readonly work: Notifier;
  readonly snapshotQueued: Notifier;
  /** The `Pull` call that currently drains `queue`; a newer one from the same peer replaces it. */
  outlet: object | undefined;
  readonly outletChanged: Notifier;
  /** Settles once a push session (the fallback) has delivered everything it took and ended. */
  pushing: Promise<void> | undefined;
  readonly stop: AbortController;
}

export function newPeer(id: NodeId, address: string): Peer {
  return {
    id,
    address,
    queue: [],
    snapshots: [],
    work: new Notifier(),
    snapshotQueued: new Notifier(),
    outlet: undefined,
    outletChanged: new Notifier(),
    pushing: undefined,
    stop: new AbortController(),
  };
}

/** Stops every loop serving `peer` (each checks its signal once woken). */
export function stopPeer(peer: Peer): void {
  peer.stop.abort();
  peer.work.notify();
  peer.snapshotQueued.notify();
  peer.outletChanged.notify();
}

function approxSize(m: Message): number {
  if (m.type === 'append') return 64 + m.entries.reduce((n, e) => n + e.data.length + 24, 0);
  if (m.type === 'propose') return 64 + m.entries.reduce((n, e) => n + e.data.length + 8, 0);
  return 64;
}

/** Everything queued, up to about `maxBytes` (at least one message). */
export function takeBatch(peer: Peer, maxBytes: number): Message[] {
  let bytes = 0;
  let n = 0;
  while (n < peer.queue.length && (n === 0 || bytes + approxSize(peer.queue[n]!) <= maxBytes)) {
    bytes += approxSize(peer.queue[n]!);
    n++;
  }
  return peer.queue.splice(0, n);
}

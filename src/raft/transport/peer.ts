import { type Clock, resolveMillis } from '../../common/index.js';
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
  /** Cancels the timer that releases commit-only appends held back (see `commitDelayMs`). */
  held: (() => void) | undefined;
  /** Until this monotonic time, commit-only appends to this peer are not held (it forwards to us). */
  waitsForCommits: number;
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
    held: undefined,
    waitsForCommits: 0,
    stop: new AbortController(),
  };
}

/** Stops every loop serving `peer` (each checks its signal once woken). */
export function stopPeer(peer: Peer): void {
  peer.held?.();
  peer.held = undefined;
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

/** How long after a forwarded proposal or read its sender's commit-index updates go out at once. */
const WAITS_FOR_COMMITS_MS = 1000;

/** `commitDelayMs` as given (undefined: 2 ms; 0: send at once), checked where options are read. */
export function resolveCommitDelay(ms: number | undefined): number {
  return ms === 0 ? 0 : resolveMillis('commitDelayMs', ms, 2, 1000);
}

/** `peer` forwarded a proposal or a read: its clients wait for our commit index. */
export function waitsForCommits(peer: Peer, clock: Clock): void {
  peer.waitsForCommits = clock.monotonic() + WAITS_FOR_COMMITS_MS;
}

/**
 * Queues `m` and wakes the peer's stream, except that a commit-index update (an append without
 * entries) to a peer that does not wait for commits may wait up to `delayMs` for company.
 */
export function enqueue(peer: Peer, m: Message, clock: Clock, delayMs: number): void {
  peer.queue.push(m);
  if (
    m.type === 'append' &&
    m.entries.length === 0 &&
    delayMs > 0 &&
    clock.monotonic() >= peer.waitsForCommits
  ) {
    peer.held ??= clock.setTimer(delayMs, () => {
      peer.held = undefined;
      peer.work.notify();
    });
    return;
  }
  peer.held?.();
  peer.held = undefined;
  peer.work.notify();
}

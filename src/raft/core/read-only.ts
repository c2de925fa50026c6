import type { NodeId } from '../types.js';
import type { Membership } from './membership.js';

export interface PendingRead {
  readonly ctx: string;
  /** Who asked: this node, or a follower that forwarded the request. */
  readonly from: NodeId;
  /** The commit index when the request arrived: the read must see at least this. */
  readonly index: number;
}

/**
 * ReadIndex bookkeeping on the leader (thesis §6.4). Requests that arrive between two Readies
 * share one heartbeat round (batching); a round is confirmed once a quorum of voters answered a
 * heartbeat of that round or a later one, which proves we were still leader after the requests
 * arrived.
 */
export class ReadOnlyQueue {
  private round = 0;
  private unsent: PendingRead[] = [];
  private waiting: { round: number; read: PendingRead }[] = [];
  private readonly acked = new Map<NodeId, number>();

  add(read: PendingRead): void {
    this.unsent.push(read);
  }

  /** Starts a round for the requests added since the last one; returns its number, or 0. */
  startRound(self: NodeId): number {
    if (this.unsent.length === 0) return 0;
    this.round++;
    for (const read of this.unsent) this.waiting.push({ round: this.round, read });
    this.unsent = [];
    this.acked.set(self, this.round);
    return this.round;
  }

  /** Records a heartbeat answer; returns the reads that are now confirmed, in arrival order. */
  ack(from: NodeId, round: number, self: NodeId, conf: Membership): PendingRead[] {
    if (round <= 0 || this.waiting.length === 0) return [];
    if (round > (this.acked.get(from) ?? 0)) this.acked.set(from, round);
    this.acked.set(self, this.round);
    const confirmed = conf.committedIndex((id) => this.acked.get(id) ?? 0);
    let n = 0;
    while (n < this.waiting.length && this.waiting[n]!.round <= confirmed) n++;
    return this.waiting.splice(0, n).map((w) => w.read);
  }

  /** Requests that still need a heartbeat round. */
  hasUnsent(): boolean {
    return this.unsent.length > 0;
  }

  pending(): number {
    return this.unsent.length + this.waiting.length;
  }

  /** Drops everything (leadership lost); returns what was dropped so callers can be told. */
  clear(): PendingRead[] {
    const dropped = [...this.waiting.map((w) => w.read), ...this.unsent];
    this.unsent = [];
    this.waiting = [];
    this.acked.clear();
    return dropped;
  }
}

/**
 * What the leader knows about one peer's log (etcd's Progress, thesis §3.5 + flow control):
 * - probe: next is a guess; send one append per heartbeat until the follower accepts one;
 * - replicate: the follower is in sync; pipeline appends, bounded by the in-flight window;
 * - snapshot: a snapshot is on its way; send nothing else until it is acknowledged or fails.
 */
export type ProgressState = 'probe' | 'replicate' | 'snapshot';

/** Sliding window of appends sent but not yet acknowledged: count and bytes. */
export class Inflights {
  private readonly items: { index: number; bytes: number }[] = [];
  private totalBytes = 0;

  constructor(
    private readonly maxMsgs: number,
    private readonly maxBytes: number,
  ) {}

  add(index: number, bytes: number): void {
    this.items.push({ index, bytes });
    this.totalBytes += bytes;
  }

  /** Frees every append whose last index is ≤ `index`. */
  freeTo(index: number): void {
    let n = 0;
    while (n < this.items.length && this.items[n]!.index <= index) {
      this.totalBytes -= this.items[n]!.bytes;
      n++;
    }
    this.items.splice(0, n);
  }

  /** Last index of the oldest append in flight (0 if none). */
  firstIndex(): number {
    return this.items[0]?.index ?? 0;
  }

  reset(): void {
    this.items.length = 0;
    this.totalBytes = 0;
  }

  full(): boolean {
    return this.items.length >= this.maxMsgs || (this.maxBytes > 0 && this.totalBytes >= this.maxBytes);
  }

  get count(): number {
    return this.items.length;
  }

  get bytes(): number {
    return this.totalBytes;
  }
}

export class Progress {
  match = 0;
  next: number;
  state: ProgressState = 'probe';
  /** In probe state: an append was sent since the last heartbeat response, wait. */
  probeSent = false;
  /** The snapshot index being sent in snapshot state. */
  pendingSnapshot = 0;
  /** Ticks spent in snapshot state, so a snapshot whose outcome is never reported is retried. */
  snapshotTicks = 0;
  /** Heard from this peer since the last check-quorum round. */
  recentActive = false;
  readonly inflights: Inflights;

  constructor(
    next: number,
    maxInflightMsgs: number,
    maxInflightBytes: number,
    public isLearner: boolean,
  ) {
    this.next = next;
    this.inflights = new Inflights(maxInflightMsgs, maxInflightBytes);
  }

  private reset(state: ProgressState): void {
    this.state = state;
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.inflights.reset();
  }

  becomeProbe(): void {
    // After a snapshot the follower has at least the snapshot's index.
    const from =
      this.state === 'snapshot' ? Math.max(this.match + 1, this.pendingSnapshot + 1) : this.match + 1;
    this.reset('probe');
    this.next = from;
  }

  becomeReplicate(): void {
    this.reset('replicate');
    this.next = this.match + 1;
  }

  becomeSnapshot(index: number): void {
    this.reset('snapshot');
    this.pendingSnapshot = index;
    this.snapshotTicks = 0;
  }

  /** An acknowledgement up to `index`; stale or duplicated ones never move match backwards. */
  maybeUpdate(index: number): boolean {
    let updated = false;
    if (index > this.match) {
      this.match = index;
      updated = true;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, index + 1);
    return updated;
  }

  /** The follower rejected an append at `rejected`; `hint` is where to probe next. Returns false if stale. */
  maybeDecrTo(rejected: number, hint: number): boolean {
    if (this.state === 'replicate') {
      // A rejection below match is stale: the follower had matched further already.
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    // In probe state only the rejection of the append we last sent counts.
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, hint + 1), this.match + 1, 1);
    this.probeSent = false;
    return true;
  }

  /** Whether the leader should hold back appends to this peer for now. */
  isPaused(): boolean {
    switch (this.state) {
      case 'probe':
        return this.probeSent;
      case 'replicate':
        return this.inflights.full();
      case 'snapshot':
        return true;
    }
  }

  /** Records an append ending at `last` being sent. */
  sentEntries(last: number, count: number, bytes: number): void {
    if (this.state === 'replicate') {
      if (count > 0) {
        this.next = last + 1;
        this.inflights.add(last, bytes);
      }
    } else if (this.state === 'probe') {
      this.probeSent = true;
    }
  }
}

import { BugError } from '../../common/index.js';
import type { Entry, Snapshot } from '../types.js';

/** Bytes an entry counts for flow control and the uncommitted bound. */
export function entryBytes(e: Entry): number {
  return e.data.length;
}

/**
 * The in-memory view of this node's log: a compacted prefix (up to `offset`, whose term is kept
 * for the consistency check), the entries after it, and three watermarks:
 * - `unstableFrom`: entries from here on have not been handed to storage yet;
 * - `persisted`: the last index storage has confirmed durable (the leader counts itself up to here);
 * - `committed` / `applying`: commit index, and the last index handed out for apply.
 */
export class RaftLog {
  offset: number;
  offsetTerm: number;
  private entries: Entry[];
  unstableFrom: number;
  persisted: number;
  committed: number;
  applying: number;
  /** The newest snapshot (ours or the leader's); sent to followers behind `offset`. */
  snapshot: Snapshot | null;
  /** A snapshot received from the leader that has not been handed to storage yet. */
  pendingSnapshot: Snapshot | null = null;

  constructor(snapshot: Snapshot | null, entries: readonly Entry[], commit: number) {
    this.snapshot = snapshot;
    this.offset = snapshot?.meta.index ?? 0;
    this.offsetTerm = snapshot?.meta.term ?? 0;
    this.entries = [...entries];
    const first = entries[0];
    if (first && first.index <= this.offset) {
      // Storage kept a tail from before the snapshot: keep serving it to lagging followers.
      this.offset = first.index;
      this.offsetTerm = first.term;
      this.entries.shift();
    }
    if (first && first.index > this.offset + 1) {
      throw new BugError(`log starts at ${first.index}, expected ${this.offset + 1}`);
    }
    this.persisted = this.lastIndex();
    this.unstableFrom = this.lastIndex() + 1;
    const snapIndex = snapshot?.meta.index ?? 0;
    this.committed = Math.min(Math.max(commit, snapIndex), this.lastIndex());
    this.applying = snapIndex;
  }

  firstIndex(): number {
    return this.offset + 1;
  }

  lastIndex(): number {
    return this.offset + this.entries.length;
  }

  lastTerm(): number {
    return this.term(this.lastIndex()) ?? 0;
  }

  /** The term at `index`, or undefined if compacted away or not yet in the log. */
  term(index: number): number | undefined {
    if (index === this.offset) return this.offsetTerm;
    if (index < this.offset || index > this.lastIndex()) return undefined;
    return this.entries[index - this.offset - 1]!.term;
  }

  entry(index: number): Entry | undefined {
    if (index <= this.offset || index > this.lastIndex()) return undefined;
    return this.entries[index - this.offset - 1];
  }

  matchTerm(index: number, term: number): boolean {
    return this.term(index) === term;
  }

  /** §5.4.1: is a candidate's log at least as up to date as ours? */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const ours = this.lastTerm();
    return lastTerm > ours || (lastTerm === ours && lastIndex >= this.lastIndex());
  }

  /** Appends, replacing any suffix from `entries[0].index` on. */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const after = entries[0]!.index;
    if (after <= this.committed)
      throw new BugError(`would overwrite committed entry ${after} (commit ${this.committed})`);
    if (after > this.lastIndex() + 1) throw new BugError(`gap: appending ${after} after ${this.lastIndex()}`);
    this.entries.length = after - this.offset - 1;
    for (const e of entries) this.entries.push(e);
    this.unstableFrom = Math.min(this.unstableFrom, after);
    this.persisted = Math.min(this.persisted, after - 1);
  }

  /**
   * The follower side of AppendEntries: if (prevIndex, prevTerm) matches, keep every entry that
   * already agrees, truncate at the first conflict and append the rest. Returns the last index
   * known to match the leader, or undefined on mismatch.
   */
  maybeAppend(
    prevIndex: number,
    prevTerm: number,
    commit: number,
    entries: readonly Entry[],
  ): number | undefined {
    if (!this.matchTerm(prevIndex, prevTerm)) return undefined;
    const lastNew = prevIndex + entries.length;
    let from = entries.length;
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!;
      if (e.index <= this.offset) continue;
      if (this.term(e.index) !== e.term) {
        from = i;
        break;
      }
    }
    if (from < entries.length) this.append(entries.slice(from));
    this.commitTo(Math.min(commit, lastNew));
    return lastNew;
  }

  /**
   * Fast back-off: the largest index ≤ `index` whose term is ≤ `term`, with that term. Every entry
   * between it and `index` has a term greater than `term`, so none of them can match.
   */
  findConflictByTerm(index: number, term: number): { index: number; term: number } {
    let i = Math.min(index, this.lastIndex());
    for (;;) {
      const t = this.term(i);
      if (t === undefined || t <= term) return { index: i, term: t ?? 0 };
      i--;
    }
  }

  commitTo(index: number): boolean {
    if (index <= this.committed) return false;
    if (index > this.lastIndex()) throw new BugError(`commit ${index} beyond last index ${this.lastIndex()}`);
    this.committed = index;
    return true;
  }

  /** Entries in [lo, hi] capped at `maxBytes` (at least one entry if any). */
  slice(lo: number, hi: number, maxBytes = Number.POSITIVE_INFINITY): Entry[] {
    const out: Entry[] = [];
    let bytes = 0;
    for (let i = Math.max(lo, this.offset + 1); i <= Math.min(hi, this.lastIndex()); i++) {
      const e = this.entries[i - this.offset - 1]!;
      bytes += entryBytes(e);
      if (out.length > 0 && bytes > maxBytes) break;
      out.push(e);
    }
    return out;
  }

  unstableEntries(): Entry[] {
    return this.slice(this.unstableFrom, this.lastIndex());
  }

  /** Committed entries that are also durable here and not yet handed out for apply. */
  hasNextCommitted(): boolean {
    return this.pendingSnapshot === null && Math.min(this.committed, this.persisted) > this.applying;
  }

  nextCommitted(maxBytes: number): Entry[] {
    if (this.pendingSnapshot) return [];
    return this.slice(this.applying + 1, Math.min(this.committed, this.persisted), maxBytes);
  }

  /** Storage confirmed everything up to (index, term) durable. */
  stableTo(index: number, term: number): void {
    if (index > this.persisted && this.matchTerm(index, term)) this.persisted = index;
  }

  /** Replace the whole log by a leader's snapshot (the caller checked it is newer than commit). */
  restore(snapshot: Snapshot): void {
    this.entries = [];
    this.offset = snapshot.meta.index;
    this.offsetTerm = snapshot.meta.term;
    this.committed = snapshot.meta.index;
    this.applying = snapshot.meta.index;
    this.unstableFrom = snapshot.meta.index + 1;
    this.persisted = 0;
    this.snapshot = snapshot;
    this.pendingSnapshot = snapshot;
  }

  stableSnapshotTo(index: number): void {
    if (this.offset === index && this.persisted < index) this.persisted = index;
  }

  /** Our own snapshot was saved: remember it and drop entries before `keepFrom`. */
  compact(snapshot: Snapshot, keepFrom: number): void {
    if (!this.snapshot || snapshot.meta.index > this.snapshot.meta.index) this.snapshot = snapshot;
    const newOffset = Math.min(keepFrom - 1, this.applying, this.persisted);
    if (newOffset <= this.offset) return;
    const t = this.term(newOffset);
    if (t === undefined) return;
    this.entries = this.entries.slice(newOffset - this.offset);
    this.offset = newOffset;
    this.offsetTerm = t;
  }
}

/**
 * Raft's safety properties, checked online after every simulated event. They are phrased over a
 * narrow read-only view of each node so they do not depend on the core's internals, and are
 * incremental (each committed index is verified once per node incarnation) to stay cheap.
 */
import type { NodeId } from '../types.js';

export interface NodeView {
  readonly id: NodeId;
  /** Changes whenever the node is restarted from its disk. */
  readonly incarnation: number;
  readonly isLeader: boolean;
  readonly term: number;
  readonly vote: NodeId | null;
  readonly commit: number;
  /** Entries up to here are compacted into the snapshot. */
  readonly snapshotIndex: number;
  readonly lastIndex: number;
  /** The term of the entry at `index` in the in-memory log; undefined if compacted or absent. */
  termAt(index: number): number | undefined;
  /** A digest of the entry's data at `index`, or undefined if compacted or absent. */
  digestAt(index: number): string | undefined;
}

export type ViolationKind =
  | 'two-leaders'
  | 'term-decreased'
  | 'vote-changed'
  | 'commit-decreased'
  | 'commit-beyond-log'
  | 'log-matching'
  | 'leader-completeness'
  | 'state-machine-safety'
  | 'apply-order'
  | 'persist-before-send'
  | 'acked-write-lost'
  | 'replicas-diverge'
  /** A node could not recover from a disk state that a crash can legitimately leave behind. */
  | 'recovery-failed'
  | 'harness';

export interface Violation {
  readonly kind: ViolationKind;
  readonly time: number;
  readonly message: string;
}

interface Seen {
  incarnation: number;
  term: number;
  vote: NodeId | null;
  commit: number;
  isLeader: boolean;
  /** Committed indexes of this incarnation's log already compared with the global record. */
  verified: number;
}

export class InvariantChecker {
  readonly violations: Violation[] = [];
  /** term → the node that led it. */
  private readonly leaders = new Map<number, NodeId>();
  /** index → term and digest of the committed entry, as first seen in a committed log prefix. */
  /**
   * `observedInTerm`: the observer's term when the commit was first seen. The entry was committed
   * in that term or earlier, so only leaders of later terms are bound to hold it.
   */
  private readonly committed = new Map<number, { term: number; digest: string; observedInTerm: number }>();
  /** Highest index known committed by any node (all entries up to it are committed). */
  maxCommitted = 0;
  /** index → digest of what was applied there (by any node). */
  private readonly applied = new Map<number, string>();
  private readonly lastApplied = new Map<NodeId, number>();
  private readonly seen = new Map<NodeId, Seen>();
  maxTerm = 0;
  leadersElected = 0;

  constructor(private readonly now: () => number) {}

  get ok(): boolean {
    return this.violations.length === 0;
  }

  report(kind: ViolationKind, message: string): void {
    this.violations.push({ kind, time: this.now(), message });
  }

  /** After every event: the views of all running nodes. */
  observe(nodes: readonly NodeView[]): void {
    for (const n of nodes) this.observeNode(n);
  }

  private observeNode(n: NodeView): void {
    const prev = this.seen.get(n.id);
    const restarted = !prev || prev.incarnation !== n.incarnation;
    if (prev && !restarted) {
      if (n.term < prev.term) this.report('term-decreased', `${n.id}: term ${prev.term} -> ${n.term}`);
      if (n.term === prev.term && prev.vote !== null && n.vote !== prev.vote) {
        this.report('vote-changed', `${n.id}: vote in term ${n.term} changed ${prev.vote} -> ${n.vote}`);
      }
      if (n.commit < prev.commit)
        this.report('commit-decreased', `${n.id}: commit ${prev.commit} -> ${n.commit}`);
    }
    if (n.commit > n.lastIndex) {
      this.report('commit-beyond-log', `${n.id}: commit ${n.commit} > last index ${n.lastIndex}`);
    }
    if (n.term > this.maxTerm) this.maxTerm = n.term;
    const becameLeader = n.isLeader && (restarted || !prev.isLeader || prev.term !== n.term);
    if (n.isLeader) {
      const other = this.leaders.get(n.term);
      if (other === undefined) {
        this.leaders.set(n.term, n.id);
        this.leadersElected++;
      } else if (other !== n.id) {
        this.report('two-leaders', `term ${n.term} has two leaders: ${other} and ${n.id}`);
      }
    }
    let verified = restarted ? n.snapshotIndex : Math.max(prev.verified, n.snapshotIndex);
    // A follower may hold stale entries past its own commit index: only its committed prefix must agree.
    let upTo = Math.min(n.commit, n.lastIndex);
    for (let i = verified + 1; i <= upTo; i++) {
      const term = n.termAt(i);
      const digest = n.digestAt(i);
      if (term === undefined || digest === undefined) {
        // Not visible yet (e.g. not handed to storage): verify it on a later observation.
        upTo = i - 1;
        break;
      }
      const known = this.committed.get(i);
      if (!known) this.committed.set(i, { term, digest, observedInTerm: n.term });
      else if (known.term !== term || known.digest !== digest) {
        this.report(
          'log-matching',
          `${n.id}: committed entry ${i} is (term ${term}, ${digest}), another node committed (term ${known.term}, ${known.digest})`,
        );
        break;
      }
    }
    verified = Math.max(verified, upTo);
    if (n.commit > this.maxCommitted) this.maxCommitted = n.commit;
    if (becameLeader) this.checkLeaderCompleteness(n);
    this.seen.set(n.id, {
      incarnation: n.incarnation,
      term: n.term,
      vote: n.vote,
      commit: n.commit,
      isLeader: n.isLeader,
      verified,
    });
  }

  /**
   * A new leader's log must hold every entry committed in earlier terms (Raft §5.4). A leader can
   * be observed late (paused right after its election): entries first seen committed in its term
   * or later may legitimately be missing from its log, so they are not held against it.
   */
  private checkLeaderCompleteness(n: NodeView): void {
    for (let i = n.snapshotIndex + 1; i <= this.maxCommitted; i++) {
      const known = this.committed.get(i);
      if (!known || known.observedInTerm >= n.term) continue;
      const term = n.termAt(i);
      if (term !== known.term || n.digestAt(i) !== known.digest) {
        this.report(
          'leader-completeness',
          `${n.id} leads term ${n.term} but its entry ${i} is ${term === undefined ? 'missing' : `term ${term}`}, committed was term ${known.term}`,
        );
        return;
      }
    }
  }

  /** A node applied the command at `index`: every node must apply the same command there, in order. */
  onApplied(node: NodeId, index: number, digest: string): void {
    const last = this.lastApplied.get(node);
    // Strictly increasing: no-op and membership entries never reach the state machine.
    if (last !== undefined && index <= last) {
      this.report('apply-order', `${node} applied ${index} after ${last}`);
    }
    this.lastApplied.set(node, index);
    const other = this.applied.get(index);
    if (other === undefined) this.applied.set(index, digest);
    else if (other !== digest) {
      this.report(
        'state-machine-safety',
        `${node} applied ${digest} at ${index}, another node applied ${other}`,
      );
    }
  }

  /** The node's state machine was replaced by a snapshot: it resumes applying after it. */
  onRestored(node: NodeId): void {
    this.lastApplied.delete(node);
  }

  /** The node crashed: its next incarnation starts applying after its snapshot. */
  onCrash(node: NodeId): void {
    this.lastApplied.delete(node);
  }

  appliedDigest(index: number): string | undefined {
    return this.applied.get(index);
  }
}

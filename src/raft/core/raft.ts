import { BugError, type Logger, noopLogger, type Random } from '../../common/index.js';
import { decodeConfChange, encodeConfChange } from '../codec/index.js';
import type {
  ConfChange,
  Entry,
  HardState,
  LoadedState,
  Message,
  NodeId,
  ProposedEntry,
  Snapshot,
} from '../types.js';
import { NotLeaderError } from './errors.js';
import * as leader from './leader.js';
import { entryBytes, RaftLog } from './log.js';
import { Membership } from './membership.js';
import { type RaftOptions, type ResolvedRaftOptions, resolveRaftOptions } from './options.js';
import { buildReady, hasReady, ReadyTracker } from './outputs.js';
import type { Progress } from './progress.js';
import * as proposals from './proposals.js';
import { type PendingRead, ReadOnlyQueue } from './read-only.js';
import type { PersistAck, ReadState, Ready, Role, SoftState } from './ready.js';
import * as replica from './replica.js';
import { type RaftStatus, statusOf } from './status.js';

export { bootstrapState } from './bootstrap.js';
export type { ProgressStatus, RaftStatus } from './status.js';

export interface RaftCoreDeps {
  readonly id: NodeId;
  /** Election jitter only; seeded in tests and the simulator. */
  readonly random: Random;
  readonly logger?: Logger;
}

/** Where an accepted proposal went. */
export type ProposeResult =
  | { readonly kind: 'appended'; readonly index: number; readonly term: number }
  | { readonly kind: 'forwarded'; readonly to: NodeId };

/**
 * The deterministic Raft state machine (etcd RawNode style). No clock, timers, randomness source
 * of its own, promises or I/O: the driver feeds it `tick`, `step`, proposals, reads and storage
 * acknowledgements, and carries out the `Ready` it returns. Fields are public for the sibling
 * handler modules (leader.ts, replica.ts); outside code uses the methods.
 */
export class RaftCore {
  readonly id: NodeId;
  readonly opts: ResolvedRaftOptions;
  readonly log: RaftLog;
  readonly logger: Logger;
  private readonly random: Random;

  term: number;
  vote: NodeId | null;
  role: Role = 'follower';
  lead: NodeId | null = null;
  conf: Membership;

  electionElapsed = 0;
  heartbeatElapsed = 0;
  randomizedElectionTimeout = 0;
  votes = new Map<NodeId, boolean>();

  // Leader state.
  readonly progress = new Map<NodeId, Progress>();
  leadTransferee: NodeId | null = null;
  pendingConfIndex = 0;
  uncommittedBytes = 0;
  readonly reads = new ReadOnlyQueue();
  /** Reads that arrived before this leader committed an entry of its term (thesis §6.4). */
  deferredReads: PendingRead[] = [];
  bcastEntries = false;
  bcastCommit = false;

  // Outputs accumulated until the next Ready.
  msgs: Message[] = [];
  persistedMsgs: Message[] = [];
  readStates: ReadState[] = [];
  readFailures: string[] = [];
  /** The forwarded-proposal message in `msgs` that further proposals join, if any. */
  private forwarding: {
    readonly msgs: Message[];
    readonly to: NodeId;
    readonly term: number;
    readonly entries: ProposedEntry[];
  } | null = null;
  readonly tracker: ReadyTracker;

  constructor(deps: RaftCoreDeps, options: RaftOptions, initial: LoadedState) {
    this.id = deps.id;
    this.random = deps.random;
    this.logger = (deps.logger ?? noopLogger).child({ module: 'raft/core', 'node.id': deps.id });
    this.opts = resolveRaftOptions(options);
    this.log = new RaftLog(initial.snapshot, initial.entries, initial.hardState.commit);
    this.term = initial.hardState.term;
    this.vote = initial.hardState.vote;
    this.conf = initial.snapshot ? new Membership(initial.snapshot.meta.conf) : Membership.empty();
    this.resetTimers();
    this.tracker = new ReadyTracker(this.hardState(), this.softState());
  }

  // ------------------------------------------------------------------ inputs

  /** One unit of logical time (the driver calls it every `tickMs`). */
  tick(): void {
    this.electionElapsed++;
    if (this.role === 'leader') {
      leader.tickLeader(this);
      return;
    }
    if (this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.hup(false);
    }
  }

  /** A message from a peer. Messages for other nodes or from unknown terms are handled per §5.1. */
  step(m: Message): void {
    if (m.to !== this.id) return;
    if (m.term > this.term) {
      if (m.type === 'vote' || m.type === 'pre-vote') {
        // Leader lease: while we hear from a leader, disruptive (pre-)candidates are ignored.
        const inLease =
          this.opts.checkQuorum && this.lead !== null && this.electionElapsed < this.opts.electionTicks;
        if (inLease && !m.transfer) return;
      }
      if (m.type === 'pre-vote' || (m.type === 'pre-vote-resp' && !m.reject)) {
        // A pre-vote carries the term the sender would use; it changes nobody's term.
      } else if (m.type === 'append' || m.type === 'heartbeat' || m.type === 'snapshot') {
        this.becomeFollower(m.term, m.from);
      } else {
        this.becomeFollower(m.term, null);
      }
    } else if (m.term < this.term) {
      if ((this.opts.checkQuorum || this.opts.preVote) && (m.type === 'append' || m.type === 'heartbeat')) {
        // A stale leader (or one that missed our term bump) learns our term and steps down, which
        // frees a node stuck at a higher term (etcd TestFreeStuckCandidateWithCheckQuorum).
        this.respond({ type: 'append-resp', to: m.from, index: 0, reject: false, hintIndex: 0, hintTerm: 0 });
      } else if (m.type === 'pre-vote') {
        this.respond({ type: 'pre-vote-resp', to: m.from, reject: true });
      }
      return;
    }
    if (m.type === 'vote' || m.type === 'pre-vote') {
      replica.handleVoteRequest(this, m);
      return;
    }
    switch (this.role) {
      case 'leader':
        leader.stepLeader(this, m);
        return;
      case 'candidate':
      case 'pre-candidate':
        replica.stepCandidate(this, m);
        return;
      case 'follower':
        replica.stepFollower(this, m);
        return;
    }
  }

  /**
   * Proposes opaque entry data (the driver's envelope). Throws NotLeaderError (with a hint) when
   * this node cannot take it, UNAVAILABLE during a leadership transfer, RESOURCE_EXHAUSTED when
   * the uncommitted log is over its limit.
   */
  propose(data: Uint8Array): ProposeResult {
    return this.proposeEntries([{ type: 'normal', data }]);
  }

  /** Proposes one membership change; at most one may be pending (FAILED_PRECONDITION otherwise). */
  proposeConfChange(change: ConfChange, requestId = ''): ProposeResult {
    if (this.role === 'leader') this.checkConfChange(change);
    return this.proposeEntries([{ type: 'conf-change', data: encodeConfChange({ requestId, change }) }]);
  }

  proposeEntries(entries: readonly ProposedEntry[]): ProposeResult {
    if (this.role === 'leader') return proposals.appendProposals(this, entries);
    if (this.role !== 'follower' || this.lead === null) throw new NotLeaderError(null);
    if (!this.opts.proposalForwarding) throw new NotLeaderError(this.lead);
    const f = this.forwarding;
    if (f && f.msgs === this.msgs && f.to === this.lead && f.term === this.term) {
      // One message per Ready carries every proposal forwarded in it.
      for (const e of entries) f.entries.push(e);
    } else {
      const batch = [...entries];
      this.send({ type: 'propose', to: this.lead, entries: batch });
      this.forwarding = { msgs: this.msgs, to: this.lead, term: this.term, entries: batch };
    }
    return { kind: 'forwarded', to: this.lead };
  }

  /** Leader-side checks for a membership change (also applied to forwarded ones). */
  checkConfChange(change: ConfChange): void {
    proposals.checkConfChange(this, change);
  }

  /**
   * Starts a linearizable read; its ReadState (or failure) carrying `ctx` comes out of a later
   * Ready. Throws NotLeaderError when no leader is known.
   */
  readIndex(ctx: string): void {
    if (this.role === 'leader') {
      leader.handleRead(this, { ctx, from: this.id, index: 0 });
      return;
    }
    if (this.role !== 'follower' || this.lead === null) throw new NotLeaderError(null);
    this.send({ type: 'read-index', to: this.lead, ctx });
  }

  /** Hands leadership to `to` (thesis §3.10); aborted after one election timeout. */
  transferLeadership(to: NodeId): void {
    if (this.role !== 'leader') throw new NotLeaderError(this.lead);
    leader.transferLeadership(this, to);
  }

  /** Campaign now (tests, and operators forcing an election). */
  campaign(): void {
    this.hup(false);
  }

  /** The transport failed to deliver a snapshot (or did deliver it) to `peer`. */
  reportSnapshot(peer: NodeId, ok: boolean): void {
    const pr = this.role === 'leader' ? this.progress.get(peer) : undefined;
    if (pr?.state !== 'snapshot') return;
    pr.becomeProbe();
    // Wait for the next heartbeat response before probing again.
    pr.probeSent = true;
    if (!ok) this.logger.warn('snapshot send failed', { 'peer.id': peer });
  }

  reportUnreachable(peer: NodeId): void {
    const pr = this.role === 'leader' ? this.progress.get(peer) : undefined;
    if (pr?.state === 'replicate') pr.becomeProbe();
  }

  /** The writes of a Ready are durable: the leader may count itself, a candidate its own vote. */
  persisted(ack: PersistAck): void {
    if (ack.snapshotIndex > 0) this.log.stableSnapshotTo(ack.snapshotIndex);
    if (ack.lastIndex > 0) this.log.stableTo(ack.lastIndex, ack.lastTerm);
    if (this.role === 'leader') {
      leader.maybeCommit(this);
    } else if (this.role === 'candidate' && ack.term === this.term && ack.vote === this.id) {
      this.poll(this.id, true);
    }
  }

  /** Our own state-machine snapshot is durable; drop log entries before `keepFrom`. */
  compacted(snapshot: Snapshot, keepFrom: number): void {
    this.log.compact(snapshot, keepFrom);
  }

  /** Builds the snapshot metadata for the state machine's state at the last handed-out index. */
  snapshotMeta(): Snapshot['meta'] {
    const index = this.log.applying;
    return { index, term: this.log.term(index) ?? 0, conf: this.conf.toConfState() };
  }

  // ------------------------------------------------------------------ state transitions

  resetTimers(): void {
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    const t = this.opts.electionTicks;
    this.randomizedElectionTimeout = t + this.random.int(0, t);
  }

  private reset(term: number): void {
    if (term !== this.term) {
      this.term = term;
      this.vote = null;
    }
    const wasLeader = this.role === 'leader';
    this.lead = null;
    this.resetTimers();
    this.votes = new Map();
    this.leadTransferee = null;
    this.progress.clear();
    if (wasLeader) leader.dropLeaderState(this);
  }

  becomeFollower(term: number, lead: NodeId | null): void {
    this.reset(term);
    this.role = 'follower';
    this.lead = lead;
  }

  private becomePreCandidate(): void {
    if (this.role === 'leader') throw new BugError('leader cannot become pre-candidate');
    this.votes = new Map();
    this.lead = null;
    this.role = 'pre-candidate';
    this.resetTimers();
  }

  private becomeCandidate(): void {
    if (this.role === 'leader') throw new BugError('leader cannot become candidate');
    this.reset(this.term + 1);
    this.vote = this.id;
    this.role = 'candidate';
  }

  becomeLeader(): void {
    this.reset(this.term);
    this.role = 'leader';
    this.lead = this.id;
    leader.initLeader(this);
  }

  /** Whether this node may campaign: a voter with no unapplied membership change. */
  promotable(): boolean {
    if (!this.conf.voters.has(this.id)) return false;
    for (let i = this.log.applying + 1; i <= this.log.committed; i++) {
      if (this.log.entry(i)?.type === 'conf-change') return false;
    }
    return true;
  }

  hup(transfer: boolean): void {
    if (this.role === 'leader' || !this.promotable()) return;
    if (this.opts.preVote && !transfer) {
      this.becomePreCandidate();
      this.requestVotes('pre-vote', this.term + 1, false);
      this.poll(this.id, true);
    } else {
      this.startElection(transfer);
    }
  }

  private startElection(transfer: boolean): void {
    this.becomeCandidate();
    // Our own vote counts only once the new term and vote are durable (see `persisted`).
    this.requestVotes('vote', this.term, transfer);
  }

  private requestVotes(type: 'vote' | 'pre-vote', term: number, transfer: boolean): void {
    for (const v of [...this.conf.voters].sort()) {
      if (v === this.id) continue;
      this.msgs.push({
        type,
        from: this.id,
        to: v,
        term,
        lastIndex: this.log.lastIndex(),
        lastTerm: this.log.lastTerm(),
        transfer,
      });
    }
  }

  poll(from: NodeId, granted: boolean): void {
    if (!this.votes.has(from)) this.votes.set(from, granted);
    const result = this.conf.voteResult(this.votes);
    if (result === 'won') {
      if (this.role === 'pre-candidate') this.startElection(false);
      else if (this.role === 'candidate') this.becomeLeader();
    } else if (result === 'lost') {
      this.becomeFollower(this.term, null);
    }
  }

  // ------------------------------------------------------------------ helpers for handlers

  committedInTerm(): boolean {
    return this.log.term(this.log.committed) === this.term;
  }

  /** Leader appends its own entries (counted toward commit only once persisted). */
  appendEntries(entries: readonly Entry[]): void {
    this.log.append(entries);
    for (const e of entries) {
      this.uncommittedBytes += entryBytes(e);
      if (e.type === 'conf-change') this.pendingConfIndex = e.index;
    }
    this.bcastEntries = true;
  }

  /** Requests: sent at once. */
  send(m: DistributiveOmit<Message, 'from' | 'term'> & { term?: number }): void {
    this.msgs.push(this.stamp(m));
  }

  /** Responses: sent only once this Ready's writes are durable. */
  respond(m: DistributiveOmit<Message, 'from' | 'term'> & { term?: number }): void {
    this.persistedMsgs.push(this.stamp(m));
  }

  /**
   * The message with our id and term. Object.assign, not `{ ...m, from, term }`: the same keys in
   * the same order, but Node 20's V8 takes a slow path (1–7 µs) for a spread followed by more
   * properties, and every message of a member goes through here.
   */
  private stamp(m: DistributiveOmit<Message, 'from' | 'term'> & { term?: number }): Message {
    return Object.assign({}, m, { from: this.id, term: m.term ?? this.term }) as Message;
  }

  /** Applies a committed membership change (at the moment it is handed out for apply). */
  applyConfChange(entry: Entry): void {
    const { change } = decodeConfChange(entry.data);
    const next = this.conf.apply(change);
    if (next === this.conf) return;
    this.conf = next;
    this.tracker.confChanged = true;
    this.logger.info('membership changed', {
      index: entry.index,
      voters: next.toConfState().voters.join(','),
      learners: next.toConfState().learners.join(','),
    });
    if (this.role === 'leader') leader.onConfChange(this);
  }

  markConfChanged(): void {
    this.tracker.confChanged = true;
  }

  // ------------------------------------------------------------------ outputs

  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  softState(): SoftState {
    return { role: this.role, leader: this.lead, term: this.term };
  }

  hasReady(): boolean {
    return hasReady(this);
  }

  /** Collects the outputs; the caller must carry them out in the order documented on Ready. */
  ready(): Ready {
    return buildReady(this);
  }

  status(): RaftStatus {
    return statusOf(this);
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

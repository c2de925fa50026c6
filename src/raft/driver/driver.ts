import {
  type Clock,
  type Component,
  DisposableStore,
  deferred,
  Emitter,
  type Event,
  errorMessage,
  type Logger,
  noopLogger,
  type Random,
  StoppedError,
  toError,
} from '../../common/index.js';
import { encodeProposal } from '../codec/index.js';
import { LostLeadershipError, NoQuorumError, NotLeaderError, ProposalTimeoutError } from '../core/errors.js';
import { type RaftOptions, type ResolvedRaftOptions, resolveRaftOptions } from '../core/options.js';
import { bootstrapState, RaftCore, type RaftStatus } from '../core/raft.js';
import type { Ready, Role, SoftState } from '../core/ready.js';
import type {
  ClientSession,
  ConfChange,
  ConfState,
  Entry,
  LoadedState,
  NodeId,
  RaftStorage,
  Snapshot,
  StateMachine,
  Transport,
} from '../types.js';
import { positiveTicks, unpackCommitted } from './commands.js';
import { InFlightProposals } from './in-flight.js';
import { PendingTable } from './pending.js';
import { type PersistJob, PersistLane } from './persist-lane.js';
import { nextSnapshotAt } from './snapshot-phase.js';

export interface RaftDriverDeps<R> {
  readonly id: NodeId;
  readonly clock: Clock;
  readonly random: Random;
  readonly storage: RaftStorage;
  readonly transport: Transport;
  readonly stateMachine: StateMachine<R>;
  readonly logger?: Logger;
  /**
   * Defers building the next Ready so that inputs of the same turn share it. Production passes
   * setImmediate (a whole batch of network reads and client calls joins one Ready); the default,
   * a microtask, keeps simulated runs deterministic.
   */
  readonly defer?: (fn: () => void) => void;
}

export interface RaftDriverOptions extends RaftOptions {
  /** Membership written as entry 1 when storage is empty (a founding member). Joiners leave it unset. */
  bootstrap?: ConfState;
  /** A ReadIndex not confirmed within this many ticks fails with NO_QUORUM. @default 2 × electionTicks */
  readTimeoutTicks?: number;
  /**
   * A proposal not applied within this many ticks fails with DEADLINE_EXCEEDED (retryable; outcome
   * unknown), so a proposal the leader dropped never leaves its caller waiting. @default 3 × electionTicks
   */
  proposalTimeoutTicks?: number;
}

/** What `inspect()` exposes of the core's log. */
export interface RaftLogView {
  readonly committed: number;
  /** Last index of the compacted prefix (its term is still known); 0 if nothing was compacted. */
  readonly offset: number;
  lastIndex(): number;
  term(index: number): number | undefined;
  entry(index: number): Entry | undefined;
}

/** What `inspect()` exposes of the core. */
export interface RaftCoreView {
  readonly role: Role;
  readonly term: number;
  readonly vote: NodeId | null;
  readonly lead: NodeId | null;
  readonly log: RaftLogView;
}

export interface ProposeOptions {
  readonly signal?: AbortSignal;
  /** Client identity for exactly-once application of retries (see SessionTable). */
  readonly session?: ClientSession;
}

/** The result of a proposal, once committed and applied here. */
export interface Applied<R> {
  readonly index: number;
  readonly result: R | undefined;
}

/**
 * Runs a RaftCore against real (or simulated) storage, transport, clock and state machine, and
 * enforces the ordering rules: messages that promise durability go out only after storage
 * confirmed the Ready's writes; the leader counts its own log only after its own fsync; entries
 * are applied strictly in order; a proposal resolves only once its entry is committed and applied.
 */
export class RaftDriver<R = unknown> implements Component {
  readonly name = 'raft';
  private readonly opts: ResolvedRaftOptions;
  private readonly readTimeoutTicks: number;
  private readonly proposalTimeoutTicks: number;
  private readonly logger: Logger;
  private readonly persist: PersistLane;
  /** Our own snapshot being written, if any. */
  private snapshotting: Promise<void> | null = null;
  private core: RaftCore | null = null;
  private pumping = false;
  private stopped = false;
  private fatal: ((e: Error) => void) | null = null;
  private ticks = 0;
  private requestSeq = 0;
  /**
   * Distinguishes this run's request ids and read contexts from an earlier run's: entries and
   * read responses of a previous incarnation may still arrive, and must not resolve new callers.
   */
  private readonly incarnation: string;
  private applied = 0;
  private snapshotIndex = 0;
  /** The applied index of the next snapshot, as computed for the last one at `after`. */
  private snapshotDue = { after: -1, at: 0 };
  private soft: SoftState = { role: 'follower', leader: null, term: 0 };
  private readonly proposals = new PendingTable<Applied<R>>();
  /** Proposals handed to the core or waiting for a leader (see InFlightProposals). */
  private readonly inFlight = new InFlightProposals();
  private readonly reads = new PendingTable<number>();
  /** Confirmed reads waiting for apply to reach their index. */
  private readonly readyReads: { ctx: string; index: number }[] = [];
  private readonly leadership = new Emitter<SoftState>();
  private readonly appliedEvents = new Emitter<number>();
  readonly onLeadershipChange: Event<SoftState> = this.leadership.event;
  readonly onApplied: Event<number> = this.appliedEvents.event;

  constructor(
    private readonly deps: RaftDriverDeps<R>,
    private readonly options: RaftDriverOptions = {},
  ) {
    const { bootstrap: _b, readTimeoutTicks, proposalTimeoutTicks, ...raft } = options;
    this.opts = resolveRaftOptions(raft);
    this.readTimeoutTicks = positiveTicks('readTimeoutTicks', readTimeoutTicks, 2 * this.opts.electionTicks);
    this.proposalTimeoutTicks = positiveTicks(
      'proposalTimeoutTicks',
      proposalTimeoutTicks,
      3 * this.opts.electionTicks,
    );
    this.logger = (deps.logger ?? noopLogger).child({ module: 'raft/driver', 'node.id': deps.id });
    this.persist = new PersistLane({
      storage: deps.storage,
      onDurable: (job) => this.onDurable(job),
      onSaved: () => this.kick(),
      onFatal: (e) => this.fail(e),
      stopped: () => this.stopped,
    });
    this.incarnation = `${deps.clock.now().toString(36)}.${deps.random.int(0, 2 ** 30).toString(36)}`;
  }

  async run(signal: AbortSignal): Promise<void> {
    const store = new DisposableStore();
    const failed = deferred<void>();
    this.fatal = (e) => failed.reject(e);
    try {
      const state = await this.load();
      const core = new RaftCore(
        { id: this.deps.id, random: this.deps.random, logger: this.deps.logger },
        this.opts,
        state,
      );
      this.core = core;
      store.add(this.deps.transport.onMessage((m) => this.input(() => core.step(m))));
      if (this.deps.transport.onReport) {
        store.add(
          this.deps.transport.onReport((r) =>
            this.input(() =>
              r.kind === 'unreachable' ? core.reportUnreachable(r.peer) : core.reportSnapshot(r.peer, r.ok),
            ),
          ),
        );
      }
      const scheduleTick = (): void => {
        const cancel = this.deps.clock.setTimer(this.opts.tickMs, () => {
          this.onTick();
          if (!this.stopped) scheduleTick();
        });
        store.defer(cancel);
      };
      scheduleTick();
      this.kick();
      const aborted = new Promise<void>((resolve) => {
        if (signal.aborted) resolve();
        signal.addEventListener('abort', () => resolve(), { once: true });
      });
      await Promise.race([aborted, failed.promise]);
    } finally {
      this.stopped = true;
      store.dispose();
      this.inFlight.clear();
      this.proposals.rejectAll(() => new StoppedError('raft node'));
      this.reads.rejectAll(() => new StoppedError('raft node'));
      this.leadership.dispose();
      this.appliedEvents.dispose();
      await this.deps.storage.close();
    }
  }

  private async load(): Promise<LoadedState> {
    let state = await this.deps.storage.load();
    const empty = state.hardState.term === 0 && state.entries.length === 0 && state.snapshot === null;
    if (empty && this.options.bootstrap) {
      state = bootstrapState(this.options.bootstrap);
      await this.deps.storage.save({ hardState: state.hardState, entries: state.entries });
    }
    if (state.snapshot) {
      await this.deps.stateMachine.restore(state.snapshot.data);
      this.applied = state.snapshot.meta.index;
      this.snapshotIndex = state.snapshot.meta.index;
    }
    return state;
  }

  // ------------------------------------------------------------------ API

  /** Resolves with the state machine's result once the entry is committed and applied here. */
  propose(payload: Uint8Array, options: ProposeOptions = {}): Promise<Applied<R>> {
    const core = this.live();
    const requestId = this.nextRequestId();
    const data = encodeProposal(
      options.session ? { requestId, session: options.session, payload } : { requestId, payload },
    );
    options.signal?.throwIfAborted();
    const p = this.proposals.add(requestId, this.ticks, options.signal);
    this.submit(requestId, () => core.propose(data));
    return p;
  }

  /** Resolves once the change is committed and applied (membership then in effect here). */
  proposeConfChange(change: ConfChange, options: { signal?: AbortSignal } = {}): Promise<Applied<R>> {
    const core = this.live();
    const requestId = this.nextRequestId();
    options.signal?.throwIfAborted();
    const p = this.proposals.add(requestId, this.ticks, options.signal);
    this.submit(requestId, () => core.proposeConfChange(change, requestId));
    return p;
  }

  /**
   * Linearizable read barrier: resolves with an index once it is confirmed by a quorum and
   * applied here, so a local read of the state machine is then linearizable.
   */
  readIndex(options: { signal?: AbortSignal } = {}): Promise<number> {
    const core = this.live();
    const ctx = `${this.deps.id}/${this.incarnation}/r${++this.requestSeq}`;
    options.signal?.throwIfAborted();
    const p = this.reads.add(ctx, this.ticks, options.signal);
    try {
      core.readIndex(ctx);
    } catch (e) {
      this.reads.reject(ctx, e);
    }
    this.kick();
    return p;
  }

  transferLeadership(to: NodeId): void {
    const core = this.live();
    core.transferLeadership(to);
    this.kick();
  }

  status(): RaftStatus & { readonly applied: number } {
    return { ...this.live().status(), applied: this.applied };
  }

  /**
   * A read-only live view of the core, without the copies `status()` makes: cheap enough for a
   * harness that checks invariants after every simulated event. Null until the node has loaded its
   * state; after a stop, the last state.
   */
  inspect(): RaftCoreView | null {
    return this.core;
  }

  // ------------------------------------------------------------------ loop

  private live(): RaftCore {
    if (this.stopped || !this.core) throw new StoppedError('raft node');
    return this.core;
  }

  private nextRequestId(): string {
    return `${this.deps.id}/${this.incarnation}/${++this.requestSeq}`;
  }

  private submit(requestId: string, fn: () => unknown): void {
    try {
      const term = this.core!.term;
      fn();
      this.inFlight.proposed(requestId, term, fn);
    } catch (e) {
      // No leader known (an election): nothing was proposed, so it waits for the next leader.
      if (e instanceof NotLeaderError && e.leaderId === null) this.inFlight.park(requestId, fn);
      else this.proposals.reject(requestId, e);
    }
    this.kick();
  }

  /** Hands proposals to the core again, outside the Ready being processed. */
  private resubmit(proposals: readonly [string, () => unknown][]): void {
    if (proposals.length === 0) return;
    (this.deps.defer ?? queueMicrotask)(() => {
      for (const [id, fn] of proposals) if (!this.stopped && this.proposals.has(id)) this.submit(id, fn);
    });
  }

  private input(fn: () => void): void {
    if (this.stopped || !this.core) return;
    fn();
    this.kick();
  }

  private onTick(): void {
    if (this.stopped || !this.core) return;
    this.ticks++;
    this.core.tick();
    this.reads.rejectOlderThan(
      this.ticks - this.readTimeoutTicks,
      () => new NoQuorumError('read index not confirmed by a quorum in time'),
    );
    this.proposals.rejectOlderThan(
      this.ticks - this.proposalTimeoutTicks,
      () => new ProposalTimeoutError(this.proposalTimeoutTicks * this.opts.tickMs),
    );
    this.inFlight.prune((id) => this.proposals.has(id));
    this.kick();
  }

  private kick(): void {
    if (this.pumping || this.stopped || !this.core) return;
    this.pumping = true;
    this.pump().then(
      () => {
        this.pumping = false;
        if (!this.stopped && this.core?.hasReady()) this.kick();
      },
      (e: unknown) => {
        this.pumping = false;
        this.fail(e);
      },
    );
  }

  private fail(e: unknown): void {
    this.logger.error('raft loop failed', { error: errorMessage(e) });
    this.fatal?.(toError(e));
  }

  /**
   * Builds and carries out Readies while there are any. A Ready's messages go out at once and its
   * writes go to the persist lane, which acknowledges them once durable; meanwhile the next Ready
   * is built, so appends, commit updates and applies never wait behind an fsync in flight.
   */
  private async pump(): Promise<void> {
    const core = this.core!;
    // Inputs of the same turn (a transport frame, a burst of client calls) share one Ready.
    await new Promise<void>((resolve) => (this.deps.defer ?? queueMicrotask)(resolve));
    while (!this.stopped && core.hasReady()) {
      const rd = core.ready();
      if (rd.softState) this.onSoftState(rd.softState);
      if (rd.messages.length > 0) this.deps.transport.send(rd.messages);
      // Our own snapshot write must not land after (and so be preferred to) a newer one from the leader.
      if (rd.snapshot && this.snapshotting) await this.snapshotting;
      if (rd.mustSync || rd.persistedMessages.length > 0) {
        this.persist.push({
          write: rd.mustSync
            ? { hardState: rd.hardState ?? core.hardState(), entries: rd.entries, snapshot: rd.snapshot }
            : null,
          ack: rd.persist,
          messages: rd.persistedMessages,
        });
      }
      if (rd.snapshot) {
        // Restore the state machine from a leader's snapshot only once the snapshot is durable.
        await this.persist.drained();
        if (this.stopped) return;
      }
      // A follower's ack waits for this Ready's fsync and is on the leader's commit path; its
      // applies are not (only clients it forwarded for wait for them). A small save's fsync runs
      // a turn from now on this thread (storage/fs.ts): apply after it, not before.
      if (rd.mustSync && rd.committedEntries.length > 0 && this.soft.role !== 'leader')
        await new Promise<void>((resolve) => (this.deps.defer ?? queueMicrotask)(resolve));
      // Committed entries handed out are already durable here (the core holds back the rest).
      await this.apply(rd);
      for (const ctx of rd.readFailures)
        this.reads.reject(ctx, new LostLeadershipError('read index refused'));
      this.readyReads.push(...rd.readStates);
      this.serveReads();
      this.maybeSnapshot(core);
    }
  }

  /** A Ready's writes (and every earlier Ready's) are durable: count them, release its acks. */
  private onDurable(job: PersistJob): void {
    if (this.stopped || !this.core) return;
    this.core.persisted(job.ack);
    if (job.messages.length > 0) this.deps.transport.send(job.messages);
  }

  private onSoftState(s: SoftState): void {
    const prev = this.soft;
    this.soft = s;
    if (prev.leader !== s.leader || prev.term !== s.term) {
      // Proposals in flight stay pending: they may still commit under the next leader, and those
      // that cannot are proposed again once an entry of a later term is applied (see apply).
      // Those that waited for a leader were never proposed: they go to the new one.
      if (s.leader !== null && this.inFlight.hasParked) this.resubmit(this.inFlight.takeParked());
      this.reads.rejectAll(() =>
        s.leader === null
          ? new NotLeaderError(null, 'leader lost')
          : new LostLeadershipError('leader changed'),
      );
      this.readyReads.length = 0;
    }
    this.logger.info('raft state', { role: s.role, leader: s.leader ?? undefined, term: s.term });
    this.leadership.fire(s);
  }

  private async apply(rd: Ready): Promise<void> {
    if (rd.snapshot) {
      await this.deps.stateMachine.restore(rd.snapshot.data);
      this.applied = rd.snapshot.meta.index;
      this.snapshotIndex = rd.snapshot.meta.index;
      // A proposal in flight may be inside the snapshot, where no request id resolves it: its
      // outcome is unknown, and it must never be proposed again.
      for (const id of this.inFlight.takeSubmitted()) this.proposals.reject(id, new LostLeadershipError());
    }
    if (rd.committedEntries.length === 0) return;
    const { commands, ids, done } = unpackCommitted(rd.committedEntries);
    const results = commands.length > 0 ? await this.deps.stateMachine.apply(commands) : [];
    this.applied = rd.committedEntries[rd.committedEntries.length - 1]!.index;
    commands.forEach((c, i) => {
      this.inFlight.settled(ids[i]!);
      this.proposals.resolve(ids[i]!, { index: c.index, result: results[i] });
    });
    for (const d of done) {
      this.inFlight.settled(d.id);
      this.proposals.resolve(d.id, { index: d.index, result: undefined });
    }
    this.appliedEvents.fire(this.applied);
    // Entries of this term are applied: proposals of earlier terms not applied by now were lost
    // with their leader and had no effect; they are proposed again rather than failed.
    this.resubmit(this.inFlight.takeLost(rd.committedEntries[rd.committedEntries.length - 1]!.term));
  }

  private serveReads(): void {
    let i = 0;
    while (i < this.readyReads.length) {
      const r = this.readyReads[i]!;
      if (r.index <= this.applied) {
        this.reads.resolve(r.ctx, r.index);
        this.readyReads.splice(i, 1);
      } else {
        i++;
      }
    }
  }

  /**
   * Takes the state machine's snapshot at the applied index (its `snapshot()` captures the state
   * when called and may finish encoding later), then writes it in the background: Readies and
   * applies go on meanwhile, and the log is compacted once the snapshot is durable.
   */
  private maybeSnapshot(core: RaftCore): void {
    if (this.snapshotting) return;
    if (this.snapshotDue.after !== this.snapshotIndex) {
      const every = this.opts.snapshotEveryEntries;
      const conf = core.snapshotMeta().conf;
      this.snapshotDue = {
        // Not kept before the membership is known (a new cluster's first entries): the phase needs it.
        after: conf.voters.length > 0 ? this.snapshotIndex : -1,
        at: nextSnapshotAt(this.snapshotIndex, every, this.deps.id, conf),
      };
    }
    if (this.applied < this.snapshotDue.at) return;
    // The core's view must be exactly what the state machine has applied.
    if (core.log.applying !== this.applied) return;
    const meta = core.snapshotMeta();
    const keepFrom = Math.max(1, meta.index - this.opts.keepEntriesAfterSnapshot + 1);
    let encoded: Uint8Array | Promise<Uint8Array>;
    try {
      encoded = this.deps.stateMachine.snapshot();
    } catch (e) {
      encoded = Promise.reject(e);
    }
    let snapshot: Snapshot;
    this.snapshotting = Promise.resolve(encoded)
      .then((data) => {
        snapshot = { meta, data };
        return this.deps.storage.saveSnapshot(snapshot, keepFrom);
      })
      .then(
        () => {
          this.snapshotting = null;
          if (this.stopped) return;
          this.snapshotIndex = Math.max(this.snapshotIndex, meta.index);
          core.compacted(snapshot, keepFrom);
          this.logger.info('snapshot taken', { index: meta.index, keepFrom });
        },
        (e: unknown) => {
          this.snapshotting = null;
          this.fail(e);
        },
      );
  }
}

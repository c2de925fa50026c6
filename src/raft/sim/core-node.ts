/**
 * INTERIM node adapter: the real RaftCore behind a minimal Ready loop of our own, following the
 * ordering documented on `Ready` (send, persist, ack, send persisted messages, restore, apply,
 * serve reads). It exists so the simulator runs before the shared driver (src/raft/driver) lands;
 * the simulator then builds nodes from the driver instead and this file goes away.
 */
import { SwarmError, toError } from '../../common/index.js';
import { decodeConfChange, decodeProposal, encodeProposal } from '../codec/index.js';
import { bootstrapState, NotLeaderError, RaftCore, type Ready } from '../core/index.js';
import type { Command, ConfChange, ConfState, NodeId, Snapshot } from '../types.js';
import type { NodeView } from './invariants.js';
import type { KvInput, KvOutput } from './kv-model.js';
import { encodeKvCommand } from './kv-state-machine.js';
import type { SimNodeDeps, SimNodeFactory, SimNodeHandle } from './sim-node.js';

interface Waiter<T> {
  resolve(v: T): void;
  reject(e: unknown): void;
}

const SNAPSHOT_EVERY = 200;
const KEEP_AFTER_SNAPSHOT = 50;

export const coreNodeFactory: SimNodeFactory = (deps) => new CoreNode(deps);

class CoreNode implements SimNodeHandle {
  private core: RaftCore | null = null;
  private dead = false;
  private busy = false;
  private appliedIndex = 0;
  private lastSnapshotIndex = 0;
  private seq = 0;
  private readonly proposals = new Map<string, Waiter<KvOutput>>();
  private readonly changes = new Map<string, Waiter<void>>();
  private readonly reads = new Map<string, Waiter<void> & { index: number }>();
  private readonly digests = new WeakMap<Uint8Array, string>();
  private cancelTick: () => void = () => {};

  constructor(private readonly deps: SimNodeDeps) {}

  async start(): Promise<void> {
    const d = this.deps;
    let state = await d.storage.load();
    const empty = state.snapshot === null && state.entries.length === 0 && state.hardState.term === 0;
    if (empty && d.bootstrap) {
      state = bootstrapState(d.bootstrap);
      await d.storage.save({ hardState: state.hardState, entries: state.entries });
    }
    if (this.dead) return;
    const core = new RaftCore(
      { id: d.id, random: d.random },
      { electionTicks: d.electionTicks, tickMs: d.tickMs, snapshotEveryEntries: SNAPSHOT_EVERY },
      state,
    );
    this.core = core;
    if (state.snapshot) {
      d.stateMachine.restore(state.snapshot.data);
      this.appliedIndex = state.snapshot.meta.index;
      this.lastSnapshotIndex = this.appliedIndex;
      d.onRestored(this.appliedIndex);
    }
    d.transport.onMessage((m) => {
      core.step(m);
      this.pump();
    });
    d.transport.onReport?.((r) => {
      if (r.kind === 'snapshot') core.reportSnapshot(r.peer, r.ok);
      else core.reportUnreachable(r.peer);
      this.pump();
    });
    const tick = (): void => {
      core.tick();
      this.pump();
      this.cancelTick = d.clock.setTimer(d.tickMs, tick);
    };
    this.cancelTick = d.clock.setTimer(d.tickMs, tick);
    this.pump();
  }

  kill(): void {
    this.dead = true;
    this.cancelTick();
  }

  /** Runs Readies one at a time until the core is quiet. */
  private pump(): void {
    if (this.busy || this.dead || !this.core?.hasReady()) return;
    this.busy = true;
    void this.handle(this.core.ready()).then(
      () => {
        this.busy = false;
        this.pump();
      },
      (e: unknown) => {
        if (this.dead) return;
        this.kill();
        this.deps.onFatal(e);
      },
    );
  }

  private async handle(rd: Ready): Promise<void> {
    const core = this.core!;
    const d = this.deps;
    d.transport.send(rd.messages);
    if (rd.hardState || rd.entries.length > 0 || rd.snapshot) {
      await d.storage.save({
        hardState: rd.hardState ?? undefined,
        entries: rd.entries,
        snapshot: rd.snapshot ?? undefined,
      });
    }
    if (this.dead) return;
    core.persisted(rd.persist);
    d.transport.send(rd.persistedMessages);
    if (rd.snapshot) {
      d.stateMachine.restore(rd.snapshot.data);
      this.appliedIndex = rd.snapshot.meta.index;
      this.lastSnapshotIndex = this.appliedIndex;
      d.onRestored(this.appliedIndex);
    }
    const commands: Command[] = [];
    const ids: string[] = [];
    for (const e of rd.committedEntries) {
      this.appliedIndex = e.index;
      if (e.type === 'conf-change') {
        const { requestId } = decodeConfChange(e.data);
        this.changes.get(requestId)?.resolve();
        this.changes.delete(requestId);
        continue;
      }
      if (e.data.length === 0) continue;
      const p = decodeProposal(e.data);
      commands.push({ index: e.index, term: e.term, data: p.payload, session: p.session });
      ids.push(p.requestId);
    }
    const results = await d.stateMachine.apply(commands);
    results.forEach((r, i) => {
      const w = this.proposals.get(ids[i]!);
      this.proposals.delete(ids[i]!);
      if (w && r) w.resolve(r);
      else
        w?.reject(new SwarmError('FAILED_PRECONDITION', 'superseded by a newer command of the same client'));
    });
    for (const rs of rd.readStates) {
      const w = this.reads.get(rs.ctx);
      if (w) w.index = rs.index;
    }
    for (const ctx of rd.readFailures) {
      this.reads.get(ctx)?.reject(new NotLeaderError(core.lead));
      this.reads.delete(ctx);
    }
    for (const [ctx, w] of this.reads) {
      if (w.index > 0 && w.index <= this.appliedIndex) {
        this.reads.delete(ctx);
        w.resolve();
      }
    }
    if (this.appliedIndex - this.lastSnapshotIndex >= SNAPSHOT_EVERY) await this.snapshot();
  }

  private async snapshot(): Promise<void> {
    const core = this.core!;
    const meta = core.snapshotMeta();
    const snap: Snapshot = { meta, data: await this.deps.stateMachine.snapshot() };
    const keepFrom = Math.max(1, meta.index - KEEP_AFTER_SNAPSHOT);
    await this.deps.storage.saveSnapshot(snap, keepFrom);
    if (this.dead) return;
    core.compacted(snap, keepFrom);
    this.lastSnapshotIndex = meta.index;
  }

  private requestId(): string {
    return `${this.deps.id}/${this.deps.incarnation}/${++this.seq}`;
  }

  /** Rejects a waiter that never completes (its entry was lost with a leader): the client retries. */
  private expire<T>(map: Map<string, Waiter<T>>, id: string): void {
    this.deps.clock.setTimer(this.deps.tickMs * this.deps.electionTicks * 3, () => {
      map.get(id)?.reject(new SwarmError('DEADLINE_EXCEEDED', 'request did not complete'));
      map.delete(id);
    });
  }

  propose(input: KvInput, session: { clientId: string; seq: number }): Promise<KvOutput> {
    const core = this.core;
    if (!core || this.dead) return Promise.reject(new NotLeaderError(null, 'node is starting'));
    const requestId = this.requestId();
    return new Promise<KvOutput>((resolve, reject) => {
      try {
        core.propose(encodeProposal({ requestId, session, payload: encodeKvCommand(input) }));
      } catch (e) {
        reject(toError(e));
        return;
      }
      this.proposals.set(requestId, { resolve, reject });
      this.expire(this.proposals, requestId);
      this.pump();
    });
  }

  read(key: string): Promise<string | null> {
    const core = this.core;
    if (!core || this.dead) return Promise.reject(new NotLeaderError(null, 'node is starting'));
    const ctx = this.requestId();
    return new Promise<void>((resolve, reject) => {
      try {
        core.readIndex(ctx);
      } catch (e) {
        reject(toError(e));
        return;
      }
      this.reads.set(ctx, { resolve, reject, index: 0 });
      this.expire(this.reads, ctx);
      this.pump();
    }).then(() => this.deps.stateMachine.read(key));
  }

  changeMembership(change: ConfChange): Promise<void> {
    const core = this.core;
    if (!core || this.dead) return Promise.reject(new NotLeaderError(null, 'node is starting'));
    const requestId = this.requestId();
    return new Promise<void>((resolve, reject) => {
      try {
        core.proposeConfChange(change, requestId);
      } catch (e) {
        reject(toError(e));
        return;
      }
      this.changes.set(requestId, { resolve, reject });
      this.expire(this.changes, requestId);
      this.pump();
    });
  }

  transferLeadership(to: NodeId): void {
    this.core?.transferLeadership(to);
    this.pump();
  }

  view(): NodeView {
    const core = this.core;
    const log = core?.log;
    return {
      id: this.deps.id,
      incarnation: this.deps.incarnation,
      isLeader: core?.role === 'leader',
      term: core?.term ?? 0,
      vote: core?.vote ?? null,
      commit: log?.committed ?? 0,
      snapshotIndex: log?.offset ?? 0,
      lastIndex: log?.lastIndex() ?? 0,
      termAt: (i) => (log && i > log.offset ? log.term(i) : undefined),
      digestAt: (i) => {
        const e = log?.entry(i);
        if (!e) return undefined;
        let h = this.digests.get(e.data);
        if (h === undefined) {
          h = digest(e.data);
          this.digests.set(e.data, h);
        }
        return `${e.type}:${h}`;
      },
    };
  }

  leaderHint(): NodeId | null {
    return this.core?.lead ?? null;
  }

  conf(): ConfState {
    return this.core?.conf.toConfState() ?? { voters: [], learners: [] };
  }

  applied(): number {
    return this.appliedIndex;
  }
}

function digest(data: Uint8Array): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < data.length; i++) h = Math.imul(h ^ data[i]!, 0x01000193);
  return `${data.length}-${(h >>> 0).toString(16)}`;
}

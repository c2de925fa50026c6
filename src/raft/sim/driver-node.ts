/**
 * A simulated node built exactly as production builds one: the shared RaftDriver (which owns the
 * RaftCore) over the given storage, transport, clock and state machine. The simulator sees the
 * node only through the driver's public API plus a mirror of the log the driver handed to storage
 * (what it wrote, synced or not), which is what the log invariants compare.
 */
import { StoppedError, SwarmError } from '../../common/index.js';
import { type RaftCoreView, RaftDriver } from '../driver/index.js';
import type {
  ConfChange,
  ConfState,
  Entry,
  LoadedState,
  NodeId,
  PersistBatch,
  RaftStorage,
  Snapshot,
} from '../types.js';
import type { NodeView } from './invariants.js';
import type { KvInput, KvOutput } from './kv-model.js';
import { encodeKvCommand } from './kv-state-machine.js';
import type { SimNodeDeps, SimNodeFactory, SimNodeHandle } from './sim-node.js';

/** Small, so that runs take snapshots, compact and send snapshots to lagging followers. */
const SNAPSHOT_EVERY = 200;
const KEEP_AFTER_SNAPSHOT = 50;

export const driverNodeFactory: SimNodeFactory = (deps) => new DriverNode(deps);

/** The entries a node has written, in the order it wrote them. */
class LogMirror {
  snapshotIndex = 0;
  private entries: Entry[] = [];
  private readonly digests = new WeakMap<Uint8Array, string>();

  loaded(s: LoadedState): void {
    this.snapshotIndex = s.snapshot?.meta.index ?? 0;
    this.entries = [...s.entries];
  }

  saved(batch: PersistBatch): void {
    if (batch.snapshot) this.installed(batch.snapshot);
    if (batch.entries.length === 0) return;
    const first = batch.entries[0]!.index;
    this.entries = this.entries.filter((e) => e.index < first).concat(batch.entries);
  }

  private installed(s: Snapshot): void {
    if (s.meta.index <= this.snapshotIndex) return;
    this.snapshotIndex = s.meta.index;
    this.entries = this.entries.filter((e) => e.index > s.meta.index);
  }

  compacted(s: Snapshot): void {
    this.installed(s);
  }

  entry(index: number): Entry | undefined {
    const first = this.entries[0]?.index;
    if (first === undefined || index < first) return undefined;
    const e = this.entries[index - first];
    return e?.index === index ? e : undefined;
  }

  digest(e: Entry | undefined): string | undefined {
    if (!e) return undefined;
    let h = this.digests.get(e.data);
    if (h === undefined) {
      h = digestBytes(e.data);
      this.digests.set(e.data, h);
    }
    return `${e.type}:${h}`;
  }
}

class DriverNode implements SimNodeHandle {
  private readonly driver: RaftDriver<KvOutput | null>;
  private readonly abort = new AbortController();
  private readonly mirror = new LogMirror();
  private dead = false;

  constructor(private readonly deps: SimNodeDeps) {
    const storage = deps.storage;
    const mirror = this.mirror;
    const watched: RaftStorage = {
      load: async () => {
        const s = await storage.load();
        mirror.loaded(s);
        return s;
      },
      save: (batch) => {
        mirror.saved(batch);
        return storage.save(batch);
      },
      saveSnapshot: async (snapshot, keepFrom) => {
        await storage.saveSnapshot(snapshot, keepFrom);
        mirror.compacted(snapshot);
      },
      close: () => storage.close(),
    };
    this.driver = new RaftDriver<KvOutput | null>(
      {
        id: deps.id,
        clock: deps.clock,
        random: deps.random,
        storage: watched,
        transport: deps.transport,
        stateMachine: deps.stateMachine,
      },
      {
        tickMs: deps.tickMs,
        electionTicks: deps.electionTicks,
        snapshotEveryEntries: SNAPSHOT_EVERY,
        keepEntriesAfterSnapshot: KEEP_AFTER_SNAPSHOT,
        bootstrap: deps.bootstrap ?? undefined,
      },
    );
  }

  async start(): Promise<void> {
    this.driver.run(this.abort.signal).catch((e: unknown) => {
      if (!this.dead) this.deps.onFatal(e, this.core() ? 'running' : 'recovery');
    });
  }

  kill(): void {
    this.dead = true;
    this.abort.abort();
  }

  private call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return fn();
    } catch (e) {
      return Promise.reject(e);
    }
  }

  propose(input: KvInput, session: { clientId: string; seq: number }): Promise<KvOutput> {
    return this.call(() => this.driver.propose(encodeKvCommand(input), { session })).then((applied) => {
      if (!applied.result)
        throw new SwarmError('FAILED_PRECONDITION', 'superseded by a newer command of this client');
      return applied.result;
    });
  }

  read(key: string): Promise<string | null> {
    return this.call(() => this.driver.readIndex()).then(() => this.deps.stateMachine.read(key));
  }

  changeMembership(change: ConfChange): Promise<void> {
    return this.call(() => this.driver.proposeConfChange(change)).then(() => {});
  }

  transferLeadership(to: NodeId): void {
    this.driver.transferLeadership(to);
  }

  private status(): ReturnType<RaftDriver['status']> | null {
    if (this.dead) return null;
    try {
      return this.driver.status();
    } catch (e) {
      if (e instanceof StoppedError) return null;
      throw e;
    }
  }

  /** The driver's read-only view of its core (cheap: the invariants read it after every event). */
  private core(): RaftCoreView | null {
    return this.dead ? null : this.driver.inspect();
  }

  view(): NodeView {
    const c = this.core();
    const m = this.mirror;
    if (!c) {
      return {
        id: this.deps.id,
        incarnation: this.deps.incarnation,
        isLeader: false,
        term: 0,
        vote: null,
        commit: 0,
        snapshotIndex: 0,
        lastIndex: 0,
        termAt: () => undefined,
        digestAt: () => undefined,
      };
    }
    const log = c.log;
    return {
      id: this.deps.id,
      incarnation: this.deps.incarnation,
      isLeader: c.role === 'leader',
      term: c.term,
      vote: c.vote,
      commit: log.committed,
      snapshotIndex: log.offset,
      lastIndex: log.lastIndex(),
      termAt: (i) => (i > log.offset ? log.term(i) : undefined),
      digestAt: (i) => m.digest(log.entry(i)),
    };
  }

  leaderHint(): NodeId | null {
    return this.core()?.lead ?? null;
  }

  conf(): ConfState {
    return this.status()?.conf ?? { voters: [], learners: [] };
  }

  applied(): number {
    return this.status()?.applied ?? 0;
  }

  /** Entries this incarnation handed to storage (synced or not), for tests of the harness. */
  written(index: number): Entry | undefined {
    return this.mirror.entry(index);
  }
}

function digestBytes(data: Uint8Array): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < data.length; i++) h = Math.imul(h ^ data[i]!, 0x01000193);
  return `${data.length}-${(h >>> 0).toString(16)}`;
}

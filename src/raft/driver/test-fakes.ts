import { type Deferred, deferred } from '../../common/index.js';
import type {
  Command,
  Entry,
  LoadedState,
  Message,
  NodeId,
  PersistBatch,
  RaftStorage,
  Snapshot,
  StateMachine,
  Transport,
  TransportSubscription,
} from '../types.js';
import { SessionTable } from './dedup.js';

/** Shared, ordered record of what storage and transport did, for ordering assertions. */
export type TraceEvent =
  | { kind: 'saved'; node: NodeId; lastIndex: number; term: number }
  | { kind: 'sent'; node: NodeId; message: Message };

/**
 * RaftStorage in memory: durable immediately when `save` resolves. Setting `hold` makes saves
 * wait until `release()`, to observe what the driver does while an fsync is in flight.
 */
export class MemoryStorage implements RaftStorage {
  state: LoadedState = { hardState: { term: 0, vote: null, commit: 0 }, snapshot: null, entries: [] };
  hold = false;
  private waiting: Deferred<void>[] = [];
  saves = 0;
  /** The index of each snapshot of our own saved, in order. */
  readonly snapshotIndexes: number[] = [];

  constructor(
    private readonly node: NodeId,
    private readonly trace: TraceEvent[],
  ) {}

  async load(): Promise<LoadedState> {
    return this.state;
  }

  async save(batch: PersistBatch): Promise<void> {
    if (this.hold) {
      const d = deferred<void>();
      this.waiting.push(d);
      await d.promise;
    }
    let entries: Entry[] = [...this.state.entries];
    let snapshot = this.state.snapshot;
    if (batch.snapshot) {
      snapshot = batch.snapshot;
      entries = [];
    }
    if (batch.entries.length > 0) {
      const from = batch.entries[0]!.index;
      entries = entries.filter((e) => e.index < from).concat(batch.entries);
    }
    this.state = { hardState: batch.hardState ?? this.state.hardState, snapshot, entries };
    this.saves++;
    const last = entries[entries.length - 1];
    this.trace.push({
      kind: 'saved',
      node: this.node,
      lastIndex: last?.index ?? 0,
      term: this.state.hardState.term,
    });
  }

  /** Saves waiting for `release()`. */
  get pendingSaves(): number {
    return this.waiting.length;
  }

  release(): void {
    this.hold = false;
    for (const d of this.waiting.splice(0)) d.resolve();
  }

  get snapshotsSaved(): number {
    return this.snapshotIndexes.length;
  }

  async saveSnapshot(snapshot: Snapshot, keepFrom: number): Promise<void> {
    this.snapshotIndexes.push(snapshot.meta.index);
    this.state = { ...this.state, snapshot, entries: this.state.entries.filter((e) => e.index >= keepFrom) };
  }

  async close(): Promise<void> {}
}

/** Delivers messages between in-process drivers on microtasks; links can be cut. */
export class FakeNetwork {
  private readonly handlers = new Map<NodeId, (m: Message) => void>();
  private readonly cuts = new Set<NodeId>();
  /** Per node: which messages to it are dropped (it still sends). */
  private readonly deaf = new Map<NodeId, (m: Message) => boolean>();

  constructor(private readonly trace: TraceEvent[]) {}

  transport(node: NodeId): Transport {
    return {
      send: (messages) => {
        for (const m of messages) {
          this.trace.push({ kind: 'sent', node, message: m });
          if (this.cuts.has(m.from) || this.cuts.has(m.to) || this.deaf.get(m.to)?.(m)) continue;
          queueMicrotask(() => this.handlers.get(m.to)?.(m));
        }
      },
      onMessage: (handler): TransportSubscription => {
        this.handlers.set(node, handler);
        return { dispose: () => this.handlers.delete(node) };
      },
    };
  }

  isolate(node: NodeId): void {
    this.cuts.add(node);
  }

  /** Until `heal()`, messages to `node` matching `drop` (default: all) are lost; it still sends. */
  deafen(node: NodeId, drop: (m: Message) => boolean = () => true): void {
    this.deaf.set(node, drop);
  }

  heal(): void {
    this.cuts.clear();
    this.deaf.clear();
  }
}

/** A counter state machine with client sessions: each command adds its payload length. */
export class CounterMachine implements StateMachine<number> {
  total = 0;
  appliedIndexes: number[] = [];
  restores = 0;
  readonly sessions = new SessionTable<number>();

  apply(commands: readonly Command[]): number[] {
    return commands.map((c) => {
      this.appliedIndexes.push(c.index);
      return (
        this.sessions.applyOnce(c, (cmd) => {
          this.total += cmd.data.length;
          return this.total;
        }) ?? -1
      );
    });
  }

  /** While set, a snapshot (the state as of the call) is handed over only on releaseSnapshots(). */
  holdSnapshots = false;
  private held: (() => void)[] = [];

  /** The total as of the last snapshot() call. */
  totalAtSnapshot: number | null = null;

  snapshot(): Uint8Array | Promise<Uint8Array> {
    this.totalAtSnapshot = this.total;
    const bytes = new TextEncoder().encode(
      JSON.stringify({ total: this.total, sessions: this.sessions.entries() }),
    );
    if (!this.holdSnapshots) return bytes;
    return new Promise((resolve) => this.held.push(() => resolve(bytes)));
  }

  get heldSnapshots(): number {
    return this.held.length;
  }

  releaseSnapshots(): void {
    for (const release of this.held.splice(0)) release();
  }

  restore(data: Uint8Array): void {
    this.restores++;
    const v = JSON.parse(new TextDecoder().decode(data)) as {
      total: number;
      sessions: { clientId: string; seq: number; result: number }[];
    };
    this.total = v.total;
    this.sessions.restore(v.sessions);
  }
}

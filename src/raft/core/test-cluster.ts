import { BugError, SeededRandom } from '../../common/index.js';
import type { ConfState, Entry, HardState, LoadedState, Message, NodeId, Snapshot } from '../types.js';
import { mustFollowPersist } from './messages.js';
import type { RaftOptions } from './options.js';
import { bootstrapState, RaftCore } from './raft.js';
import type { ReadState } from './ready.js';

/**
 * A deterministic in-memory cluster of RaftCores for scenario tests: a FIFO network with cuts,
 * drop filters and a hold queue, durable state per node (for crash/restart), and a trivial
 * state machine that records applied entries. No timers, no promises: tests call `tick`,
 * `deliver` and `stabilize` explicitly.
 */
export interface TestNode {
  core: RaftCore;
  /** Durable state: what survives `crash`. */
  disk: { hardState: HardState; snapshot: Snapshot | null; entries: Entry[] };
  /** Data of every applied normal, non-empty entry, in order (the "state machine"). */
  applied: string[];
  appliedIndex: number;
  readStates: ReadState[];
  readFailures: string[];
  /** Messages this node sent to its own storage-dependent outbox, for ordering assertions. */
  crashed: boolean;
  seed: number;
}

export interface TestClusterOptions {
  seed?: number;
  options?: RaftOptions;
  /** Initial configuration (default: all ids are voters). */
  conf?: ConfState;
  /** Durable state per node instead of a fresh bootstrap (Figure 7 style setups). */
  states?: Readonly<Record<NodeId, LoadedState>>;
}

const text = new TextEncoder();
const untext = new TextDecoder();

export function bytes(s: string): Uint8Array {
  return text.encode(s);
}

export class TestCluster {
  readonly nodes = new Map<NodeId, TestNode>();
  queue: Message[] = [];
  /** Every message handed to the network (before cuts/filters), for counting. */
  readonly sent: Message[] = [];
  private readonly cuts = new Set<string>();
  /** Return false to drop a message. */
  filter: (m: Message) => boolean = () => true;
  /** Tell the sender whether each snapshot message arrived, as a streaming transport would. */
  reportSnapshots = false;
  readonly options: RaftOptions;

  constructor(ids: readonly NodeId[], opts: TestClusterOptions = {}) {
    this.options = opts.options ?? {};
    const conf = opts.conf ?? { voters: [...ids], learners: [] };
    let seed = opts.seed ?? 1;
    for (const id of ids) this.addNode(id, opts.states?.[id] ?? bootstrapState(conf), seed++);
  }

  /** Adds a node with the given durable state (a joining node starts empty). */
  addNode(id: NodeId, state: LoadedState, seed: number): TestNode {
    const node: TestNode = {
      core: new RaftCore({ id, random: new SeededRandom(seed) }, this.options, state),
      disk: { hardState: state.hardState, snapshot: state.snapshot, entries: [...state.entries] },
      applied: state.snapshot ? decodeApplied(state.snapshot.data) : [],
      appliedIndex: state.snapshot?.meta.index ?? 0,
      readStates: [],
      readFailures: [],
      crashed: false,
      seed,
    };
    this.nodes.set(id, node);
    this.process(id);
    return node;
  }

  static emptyState(): LoadedState {
    return { hardState: { term: 0, vote: null, commit: 0 }, snapshot: null, entries: [] };
  }

  node(id: NodeId): TestNode {
    const n = this.nodes.get(id);
    if (!n) throw new BugError(`no node ${id}`);
    return n;
  }

  core(id: NodeId): RaftCore {
    return this.node(id).core;
  }

  /** Runs one node's Ready loop to quiescence: persist, ack, send, apply. */
  process(id: NodeId): void {
    const n = this.node(id);
    if (n.crashed) return;
    let guard = 0;
    while (n.core.hasReady()) {
      if (++guard > 1000) throw new BugError(`node ${id} never quiesces`);
      const rd = n.core.ready();
      // Responses promise durable state: they must never be in the send-now list.
      const early = rd.messages.find(mustFollowPersist);
      if (early) throw new BugError(`node ${id} would send ${early.type} before persisting`);
      this.post(rd.messages);
      if (rd.snapshot) {
        n.disk.snapshot = rd.snapshot;
        n.disk.entries = [];
      }
      if (rd.entries.length > 0) {
        const from = rd.entries[0]!.index;
        n.disk.entries = n.disk.entries.filter((e) => e.index < from).concat(rd.entries);
      }
      if (rd.hardState) n.disk.hardState = rd.hardState;
      n.core.persisted(rd.persist);
      this.post(rd.persistedMessages);
      if (rd.snapshot) {
        n.applied = decodeApplied(rd.snapshot.data);
        n.appliedIndex = rd.snapshot.meta.index;
      }
      for (const e of rd.committedEntries) {
        if (e.index !== n.appliedIndex + 1) {
          throw new BugError(`node ${id} applied ${e.index} after ${n.appliedIndex}`);
        }
        n.appliedIndex = e.index;
        if (e.type === 'normal' && e.data.length > 0) n.applied.push(untext.decode(e.data));
      }
      n.readStates.push(...rd.readStates);
      n.readFailures.push(...rd.readFailures);
    }
  }

  private post(msgs: readonly Message[]): void {
    for (const m of msgs) {
      this.sent.push(m);
      this.queue.push(m);
    }
  }

  private deliverable(m: Message): boolean {
    const to = this.nodes.get(m.to);
    return !!to && !to.crashed && !this.cuts.has(`${m.from}>${m.to}`) && this.filter(m);
  }

  /** Delivers the messages queued right now (not the ones they cause); returns how many. */
  deliverOnce(): number {
    const batch = this.queue;
    this.queue = [];
    let n = 0;
    for (const m of batch) {
      if (!this.deliverable(m)) {
        const sender = this.nodes.get(m.from);
        if (m.type === 'snapshot' && this.reportSnapshots && sender && !sender.crashed) {
          sender.core.reportSnapshot(m.to, false);
          this.process(m.from);
        }
        continue;
      }
      n++;
      this.core(m.to).step(m);
      this.process(m.to);
      if (m.type === 'snapshot' && this.reportSnapshots) {
        this.core(m.from).reportSnapshot(m.to, true);
        this.process(m.from);
      }
    }
    return n;
  }

  /** Delivers until the network is quiet. */
  stabilize(maxRounds = 100): void {
    for (let i = 0; i < maxRounds; i++) {
      for (const id of this.nodes.keys()) this.process(id);
      if (this.queue.length === 0) return;
      this.deliverOnce();
    }
    throw new BugError('network did not stabilize');
  }

  tick(id: NodeId, times = 1): void {
    for (let i = 0; i < times; i++) {
      if (this.node(id).crashed) return;
      this.core(id).tick();
      this.process(id);
    }
  }

  /** Ticks every node once and delivers until quiet, `times` times. */
  tickAll(times = 1): void {
    for (let i = 0; i < times; i++) {
      for (const id of this.nodes.keys()) this.tick(id);
      this.stabilize();
    }
  }

  /** Forces an election at `id` (pre-vote included) and settles the network. */
  elect(id: NodeId): void {
    this.core(id).campaign();
    this.process(id);
    this.stabilize();
  }

  cut(a: NodeId, b: NodeId): void {
    this.cuts.add(`${a}>${b}`);
    this.cuts.add(`${b}>${a}`);
  }

  isolate(id: NodeId): void {
    for (const other of this.nodes.keys()) if (other !== id) this.cut(id, other);
  }

  heal(): void {
    this.cuts.clear();
    this.filter = () => true;
  }

  /** Loses all volatile state; the durable disk survives. */
  crash(id: NodeId): void {
    this.node(id).crashed = true;
  }

  restart(id: NodeId): void {
    const n = this.node(id);
    const state: LoadedState = {
      hardState: n.disk.hardState,
      snapshot: n.disk.snapshot,
      entries: n.disk.entries,
    };
    this.nodes.delete(id);
    this.addNode(id, state, n.seed + 1000);
  }

  propose(id: NodeId, data: string): void {
    this.core(id).propose(bytes(data));
    this.process(id);
  }

  /** Takes a state-machine snapshot at the applied index and compacts, keeping `keep` entries. */
  compact(id: NodeId, keep: number): Snapshot {
    const n = this.node(id);
    const meta = n.core.snapshotMeta();
    const snapshot: Snapshot = { meta, data: text.encode(JSON.stringify(n.applied)) };
    const keepFrom = Math.max(1, meta.index - keep + 1);
    n.disk.snapshot = snapshot;
    n.disk.entries = n.disk.entries.filter((e) => e.index >= keepFrom);
    n.core.compacted(snapshot, keepFrom);
    return snapshot;
  }

  leaders(): NodeId[] {
    return [...this.nodes.values()]
      .filter((n) => !n.crashed && n.core.role === 'leader')
      .map((n) => n.core.id);
  }

  leader(): NodeId {
    const l = this.leaders();
    if (l.length !== 1) throw new BugError(`expected one leader, found [${l.join(',')}]`);
    return l[0]!;
  }

  /** Log entries (term, index) of a node as "t:i" strings, for log-equality checks. */
  logOf(id: NodeId): string[] {
    const log = this.core(id).log;
    return log.slice(log.firstIndex(), log.lastIndex()).map((e) => `${e.term}:${e.index}`);
  }
}

function decodeApplied(data: Uint8Array): string[] {
  if (data.length === 0) return [];
  const v: unknown = JSON.parse(untext.decode(data));
  return Array.isArray(v) ? v.map(String) : [];
}

/** Durable state whose log is the bootstrap entry followed by empty entries of `terms` (index 2, 3, …). */
export function stateWithLog(
  conf: ConfState,
  terms: readonly number[],
  term: number,
  commit = 1,
): LoadedState {
  const boot = bootstrapState(conf);
  const entries: Entry[] = [...boot.entries];
  terms.forEach((t, i) => {
    entries.push({ term: t, index: i + 2, type: 'normal', data: new Uint8Array(0) });
  });
  return { hardState: { term, vote: null, commit }, snapshot: null, entries };
}

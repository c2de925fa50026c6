/**
 * The simulated cluster: node incarnations over their disks, the network between them and the
 * clients, and the fault operations the nemesis calls. It owns no loop: the simulator drives the
 * event queue and checks invariants after each event.
 */
import type { Random } from '../../common/index.js';
import { isSwarmError, SeededRandom } from '../../common/index.js';
import type { ConfChange, ConfState, NodeId } from '../types.js';
import type { EventQueue } from './event-queue.js';
import { deriveSeed } from './event-queue.js';
import type { InvariantChecker, NodeView } from './invariants.js';
import { KvStateMachine } from './kv-state-machine.js';
import type { ClusterControl } from './nemesis.js';
import type { NetworkConfig } from './network.js';
import { SimNetwork } from './network.js';
import type { DiskConfig, DiskStats, NodeDisk } from './sim-memory-storage.js';
import { SimDisk } from './sim-memory-storage.js';
import type { SimNodeFactory, SimNodeHandle } from './sim-node.js';
import { Incarnation, SimTransport, type Wire } from './sim-transport.js';
import { WalSimDisk } from './wal-disk.js';
import type { ClientRequest } from './workload.js';

/** Deliberate bugs, to show that the simulator catches them. */
export type InjectedBug =
  /** The disk acknowledges writes before they are durable (a lying fsync). */
  | 'ack-before-fsync'
  /** Nodes answer reads from their local state without ReadIndex (stale follower reads). */
  | 'stale-local-reads';

export interface ClusterConfig {
  readonly seed: number;
  readonly nodes: number;
  readonly tickMs: number;
  readonly electionTicks: number;
  readonly calmNetwork: NetworkConfig;
  readonly lossyNetwork: NetworkConfig;
  readonly disk: DiskConfig;
  readonly restartAfterMs: readonly [number, number];
  /** 'wal': the real WAL over SimFs; 'memory': the in-memory stand-in (faster, coarser). */
  readonly storage: 'wal' | 'memory';
  readonly bug?: InjectedBug;
}

interface SimNode {
  readonly id: NodeId;
  readonly disk: NodeDisk;
  life: Incarnation | null;
  handle: SimNodeHandle | null;
  transport: SimTransport | null;
  kv: KvStateMachine | null;
  incarnations: number;
  /** Removed from the cluster: never restarted. */
  retired: boolean;
  /** Clock rate of this machine (kept across restarts). */
  clockRate: number;
}

export interface ClientGateway {
  onResponse(client: string, from: NodeId, response: Wire): void;
}

export class SimCluster implements ClusterControl {
  readonly network: SimNetwork<Wire>;
  private readonly nodes = new Map<NodeId, SimNode>();
  private readonly diskRng: Random;
  private readonly nodeRng: Random;
  private readonly faultRng: Random;
  private nextNodeNumber: number;
  private membershipBusy = false;
  readonly counters = { snapshotsRestored: 0, fatalErrors: 0, membershipFailures: 0, transfers: 0 };
  clients: ClientGateway | null = null;
  /** Told about every fatal node error (fsync failures, failed recoveries). */
  onFatal: (node: NodeId, phase: 'recovery' | 'running', message: string) => void = () => {};
  /** Folds every delivered message into the run's trace. */
  onTrace: (line: string) => void = () => {};

  constructor(
    private readonly queue: EventQueue,
    private readonly config: ClusterConfig,
    private readonly factory: SimNodeFactory,
    private readonly invariants: InvariantChecker,
  ) {
    this.diskRng = new SeededRandom(deriveSeed(config.seed, 'disk'));
    this.nodeRng = new SeededRandom(deriveSeed(config.seed, 'nodes'));
    this.faultRng = new SeededRandom(deriveSeed(config.seed, 'faults'));
    this.network = new SimNetwork<Wire>(
      queue,
      new SeededRandom(deriveSeed(config.seed, 'network')),
      config.calmNetwork,
      (from, to, wire) => this.deliver(from, to, wire),
    );
    this.nextNodeNumber = config.nodes + 1;
  }

  /** Creates the initial members on empty disks and starts them (they finish as events run). */
  bootstrap(): void {
    const ids = Array.from({ length: this.config.nodes }, (_, i) => `n${i + 1}`);
    const conf: ConfState = { voters: ids, learners: [] };
    for (const id of ids) this.addNode(id);
    for (const id of ids) this.launch(id, conf);
  }

  /** Starts an incarnation; its recovery runs on simulated disk events, so it is not awaited here. */
  private launch(id: NodeId, bootstrap: ConfState | null): void {
    this.startNode(id, bootstrap).catch((e: unknown) =>
      this.invariants.report('harness', `start of ${id} failed: ${e instanceof Error ? e.stack : String(e)}`),
    );
  }

  private addNode(id: NodeId): SimNode {
    const c = this.config;
    // The lying disk is the stand-in's: its write-back cache coalesces like a real one.
    const lying = c.bug === 'ack-before-fsync';
    const disk: NodeDisk =
      c.storage === 'wal' && !lying
        ? new WalSimDisk(this.queue, this.diskRng, [c.disk.syncMinMs, c.disk.syncMaxMs], id)
        : new SimDisk(this.queue, this.diskRng, c.disk, id, lying);
    const node: SimNode = {
      id,
      disk,
      life: null,
      handle: null,
      transport: null,
      kv: null,
      incarnations: 0,
      retired: false,
      clockRate: 1,
    };
    this.nodes.set(id, node);
    return node;
  }

  private async startNode(id: NodeId, bootstrap: ConfState | null): Promise<void> {
    const node = this.nodes.get(id)!;
    node.incarnations++;
    const life = new Incarnation(id, node.incarnations, this.queue, node.clockRate);
    const transport = new SimTransport(life, this.queue, this.network);
    const kv = new KvStateMachine(
      (r) => {
        if (!life.dead) this.invariants.onApplied(id, r.index, r.digest);
      },
      () => {
        if (life.dead) return;
        this.counters.snapshotsRestored++;
        this.invariants.onRestored(id);
      },
    );
    const storage = node.disk.open();
    const faultsAtStart = node.disk.faultsFired();
    const handle = this.factory({
      id,
      incarnation: node.incarnations,
      clock: life.clock(),
      random: new SeededRandom(deriveSeed(this.nodeRng.int(0, 2 ** 31), id)),
      storage,
      transport,
      stateMachine: kv,
      bootstrap,
      tickMs: this.config.tickMs,
      electionTicks: this.config.electionTicks,
      onFatal: (error, phase) => {
        if (life.dead) return;
        this.counters.fatalErrors++;
        const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
        this.onFatal(id, phase, message);
        // The stand-in bug breaks recovery on purpose, and an I/O fault injected into this recovery
        // must stop it (an fsync error is fatal); it restarts below on the healed disk. Any other
        // node that cannot start from its disk is a bug (seed 121324: EIO on a directory fsync).
        const injectedIo = isSwarmError(error, 'IO') && node.disk.faultsFired() > faultsAtStart;
        if (phase === 'recovery' && !this.config.bug && !injectedIo) {
          this.invariants.report('recovery-failed', `${id} cannot start from its disk: ${message}`);
        }
        this.crash(id, false);
        this.scheduleRestart(id);
      },
    });
    node.life = life;
    node.handle = handle;
    node.transport = transport;
    node.kv = kv;
    this.network.setDown(id, false);
    await handle.start();
  }

  private deliver(from: string, to: string, wire: Wire): void {
    if (wire.kind === 'response') {
      this.clients?.onResponse(to, from, wire);
      return;
    }
    const node = this.nodes.get(to);
    if (!node?.handle || !node.transport) return;
    if (wire.kind === 'raft') {
      const m = wire.message;
      this.onTrace(`${m.type} ${m.from}>${m.to} t${m.term}`);
      node.transport.deliver(m);
      return;
    }
    this.serveClient(node, from, wire);
  }

  private serveClient(node: SimNode, client: string, req: ClientRequest): void {
    const handle = node.handle!;
    const life = node.life!;
    const respond = (wire: Wire): void => {
      life.whenRunning(() => this.network.send(node.id, client, wire));
    };
    let result: Promise<Wire>;
    if (req.input.kind === 'get' && this.config.bug === 'stale-local-reads') {
      const value = node.kv!.read(req.input.key);
      result = Promise.resolve({ kind: 'response', seq: req.seq, ok: true, output: { kind: 'get', value } });
    } else if (req.input.kind === 'get') {
      result = handle
        .read(req.input.key)
        .then((value) => ({ kind: 'response', seq: req.seq, ok: true, output: { kind: 'get', value } }));
    } else {
      result = handle
        .propose(req.input, { clientId: req.clientId, seq: req.seq })
        .then((output) => ({ kind: 'response', seq: req.seq, ok: true, output }));
    }
    result.then(respond, () =>
      respond({ kind: 'response', seq: req.seq, ok: false, leader: handle.leaderHint(), definite: false }),
    );
  }

  sendFromClient(client: string, to: NodeId, request: ClientRequest): void {
    this.network.send(client, to, request);
  }

  // ------------------------------------------------------------------ views

  views(): NodeView[] {
    const out: NodeView[] = [];
    for (const n of this.nodes.values()) if (n.handle) out.push(n.handle.view());
    return out;
  }

  handle(id: NodeId): SimNodeHandle | null {
    return this.nodes.get(id)?.handle ?? null;
  }

  kv(id: NodeId): KvStateMachine | null {
    return this.nodes.get(id)?.kv ?? null;
  }

  diskStats(): DiskStats[] {
    return [...this.nodes.values()].map((n) => n.disk.stats);
  }

  /** The configuration as known by the running node that has applied the most. */
  currentConf(): ConfState {
    let best: SimNodeHandle | null = null;
    for (const n of this.nodes.values()) {
      if (n.handle && (!best || n.handle.applied() > best.applied())) best = n.handle;
    }
    return best?.conf() ?? { voters: [], learners: [] };
  }

  running(): NodeId[] {
    return [...this.nodes.values()].filter((n) => n.handle).map((n) => n.id);
  }

  crashed(): NodeId[] {
    return [...this.nodes.values()].filter((n) => !n.handle && !n.retired).map((n) => n.id);
  }

  voters(): readonly NodeId[] {
    return this.currentConf().voters;
  }

  learners(): readonly NodeId[] {
    return this.currentConf().learners;
  }

  leader(): NodeId | null {
    let best: NodeView | null = null;
    for (const v of this.views()) if (v.isLeader && (!best || v.term > best.term)) best = v;
    return best?.id ?? null;
  }

  // ------------------------------------------------------------------ faults

  partition(
    kind: 'symmetric' | 'one-way' | 'bridge',
    a: readonly NodeId[],
    b: readonly NodeId[],
    bridge?: NodeId,
  ): void {
    if (kind === 'bridge') this.network.partition('bridge', a, b, bridge!);
    else this.network.partition(kind, a, b);
  }

  heal(): void {
    this.network.heal();
  }

  crash(id: NodeId, torn: boolean): void {
    const node = this.nodes.get(id);
    if (!node?.handle) return;
    node.life!.dead = true;
    node.handle.kill();
    node.handle = null;
    node.transport = null;
    node.kv = null;
    node.disk.crash(torn);
    this.network.setDown(id, true);
    this.invariants.onCrash(id);
  }

  powerLoss(torn: boolean): void {
    for (const id of this.running()) {
      this.crash(id, torn);
      this.scheduleRestart(id);
    }
  }

  private scheduleRestart(id: NodeId): void {
    const [min, max] = this.config.restartAfterMs;
    this.queue.schedule(min + this.faultRng.next() * (max - min), 'restart', () => this.restart(id));
  }

  restart(id: NodeId): void {
    const node = this.nodes.get(id);
    if (!node || node.handle || node.retired) return;
    this.launch(id, null);
  }

  pause(id: NodeId, ms: number): void {
    const node = this.nodes.get(id);
    if (!node?.life || node.life.dead) return;
    node.life.pause(ms);
    this.network.pause(id, ms);
  }

  skewClock(id: NodeId, rate: number): void {
    const node = this.nodes.get(id);
    if (!node) return;
    node.clockRate = rate;
    node.life?.setClockRate(rate);
  }

  setLossy(lossy: boolean): void {
    this.network.setConfig(lossy ? this.config.lossyNetwork : this.config.calmNetwork);
  }

  slowDisk(id: NodeId, ms: number): void {
    const disk = this.nodes.get(id)?.disk;
    if (!disk) return;
    disk.setSyncLatency(ms / 2, ms);
    this.queue.schedule(5_000, 'disk-recover', () => this.normalDisk(disk));
  }

  private normalDisk(disk: NodeDisk): void {
    disk.setSyncLatency(this.config.disk.syncMinMs, this.config.disk.syncMaxMs);
  }

  failNextSync(id: NodeId): void {
    this.nodes.get(id)?.disk.failNextSync();
  }

  /** Restores calm: heals, calms the network and disks, restarts every crashed member. */
  calm(): void {
    this.heal();
    this.setLossy(false);
    for (const n of this.nodes.values()) this.normalDisk(n.disk);
    for (const id of this.crashed()) this.restart(id);
  }

  private changeMembership(change: ConfChange, after?: () => void): void {
    const leader = this.leader();
    if (!leader || this.membershipBusy) return;
    this.membershipBusy = true;
    this.handle(leader)!
      .changeMembership(change)
      .then(after, () => {
        this.counters.membershipFailures++;
      })
      .finally(() => {
        this.membershipBusy = false;
      });
  }

  addLearner(): void {
    if (this.membershipBusy || !this.leader()) return;
    // A new member always gets a new id (never reuse an id: etcd's rule).
    const id = `n${this.nextNodeNumber++}`;
    this.addNode(id);
    this.launch(id, null);
    this.changeMembership({ type: 'add-learner', node: id });
  }

  promote(id: NodeId): void {
    this.changeMembership({ type: 'promote', node: id });
  }

  removeVoter(id: NodeId): void {
    this.changeMembership({ type: 'remove', node: id }, () => {
      const node = this.nodes.get(id);
      if (!node) return;
      // Let the removed node hear about its removal, then retire it for good.
      this.queue.schedule(this.config.tickMs * this.config.electionTicks * 2, 'retire', () => {
        node.retired = true;
        this.crash(id, false);
      });
    });
  }

  transferLeader(to: NodeId): void {
    const leader = this.leader();
    if (!leader) return;
    try {
      this.handle(leader)!.transferLeadership(to);
      this.counters.transfers++;
    } catch {
      // Refused (e.g. a transfer already running): the nemesis just moves on.
    }
  }
}

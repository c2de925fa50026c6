/**
 * The fault schedule of a run: at random intervals it picks one fault among partitions (symmetric,
 * isolate-leader, one-way, bridge), heals, crashes with later restart, pauses, clock-rate skew
 * (a node's timers run faster or slower by a bounded factor), lossy network phases, slow or
 * failing disks, membership changes and leadership transfers. All choices come
 * from the nemesis's own PRNG stream, so changing the workload does not reshuffle the faults.
 */
import type { Random } from '../../common/index.js';
import type { NodeId } from '../types.js';

export type FaultKind =
  | 'partition-symmetric'
  | 'partition-isolate-leader'
  | 'partition-one-way'
  | 'partition-bridge'
  | 'heal'
  | 'crash'
  | 'power-loss'
  | 'restart'
  | 'pause'
  | 'lossy-network'
  | 'calm-network'
  | 'slow-disk'
  | 'fsync-failure'
  | 'torn-crash'
  | 'add-learner'
  | 'promote'
  | 'remove-voter'
  | 'transfer-leader'
  | 'clock-skew';

/** What the nemesis may do to the cluster; the simulator implements it. */
export interface ClusterControl {
  /** Running voters and learners, and who leads (if anyone does, as far as the nodes know). */
  running(): readonly NodeId[];
  crashed(): readonly NodeId[];
  voters(): readonly NodeId[];
  learners(): readonly NodeId[];
  leader(): NodeId | null;
  partition(
    kind: 'symmetric' | 'one-way' | 'bridge',
    a: readonly NodeId[],
    b: readonly NodeId[],
    bridge?: NodeId,
  ): void;
  heal(): void;
  crash(node: NodeId, torn: boolean): void;
  /** Every running node loses power at once; all restart a little later. */
  powerLoss(torn: boolean): void;
  restart(node: NodeId): void;
  pause(node: NodeId, ms: number): void;
  /** The node's clock (timers and time) runs at `rate` times simulated time from now on. */
  skewClock(node: NodeId, rate: number): void;
  setLossy(lossy: boolean): void;
  slowDisk(node: NodeId, ms: number): void;
  failNextSync(node: NodeId): void;
  addLearner(): void;
  promote(node: NodeId): void;
  removeVoter(node: NodeId): void;
  transferLeader(to: NodeId): void;
}

export interface NemesisConfig {
  /** Time between faults, uniform in [min, max). */
  readonly minIntervalMs: number;
  readonly maxIntervalMs: number;
  /** Target number of voters: membership changes hover around it. */
  readonly clusterSize: number;
  readonly membershipChanges: boolean;
  readonly diskFaults: boolean;
  /** Share of faults that are crashes or restarts, on top of the usual mix (0 = the usual mix). */
  readonly crashBias: number;
  /** Clock rates are drawn from [1/maxClockSkew, maxClockSkew]; 1 disables skew. @default 1.5 */
  readonly maxClockSkew?: number;
}

export class Nemesis {
  readonly counts = new Map<FaultKind, number>();

  constructor(
    private readonly rng: Random,
    private readonly config: NemesisConfig,
    private readonly cluster: ClusterControl,
  ) {}

  /** Delay until the next fault. */
  nextDelay(): number {
    const c = this.config;
    return c.minIntervalMs + this.rng.next() * (c.maxIntervalMs - c.minIntervalMs);
  }

  /** Injects one fault; returns what was done, or null if the chosen fault did not apply. */
  step(): FaultKind | null {
    const kind = this.choose();
    if (kind === null) return null;
    this.counts.set(kind, (this.counts.get(kind) ?? 0) + 1);
    return kind;
  }

  private pick<T>(items: readonly T[]): T | undefined {
    return items.length === 0 ? undefined : items[this.rng.int(0, items.length)];
  }

  private shuffled<T>(items: readonly T[]): T[] {
    const a = [...items];
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.rng.int(0, i + 1);
      [a[i], a[j]] = [a[j]!, a[i]!];
    }
    return a;
  }

  private choose(): FaultKind | null {
    const c = this.cluster;
    const all = [...c.running(), ...c.crashed()].sort();
    const voters = c.voters();
    // With a crash bias, a share of the rolls land in the crash/restart band of the mix below.
    const r = this.rng.next() < this.config.crashBias ? 0.4 + this.rng.next() * 0.22 : this.rng.next();
    if (r < 0.1) {
      const [a, b] = this.split(all);
      c.partition('symmetric', a, b);
      return 'partition-symmetric';
    }
    if (r < 0.17) {
      const leader = c.leader();
      if (!leader) return null;
      c.partition(
        'symmetric',
        [leader],
        all.filter((n) => n !== leader),
      );
      return 'partition-isolate-leader';
    }
    if (r < 0.23) {
      const [a, b] = this.split(all);
      c.partition('one-way', a, b);
      return 'partition-one-way';
    }
    if (r < 0.29) {
      const nodes = this.shuffled(all);
      const bridge = nodes[0]!;
      const rest = nodes.slice(1);
      const half = Math.floor(rest.length / 2);
      c.partition('bridge', rest.slice(0, half), rest.slice(half), bridge);
      return 'partition-bridge';
    }
    if (r < 0.33) {
      const node = this.pick(all);
      const max = this.config.maxClockSkew ?? 1.5;
      if (!node || max <= 1) return null;
      // Log-uniform, so slower and faster clocks are equally likely.
      c.skewClock(node, max ** (2 * this.rng.next() - 1));
      return 'clock-skew';
    }
    if (r < 0.4) {
      c.heal();
      return 'heal';
    }
    if (r < 0.42) {
      c.powerLoss(this.config.diskFaults && this.rng.next() < 0.5);
      return 'power-loss';
    }
    if (r < 0.52) {
      // Keep a quorum of voters alive most of the time, so that clients make progress.
      const crashedVoters = c.crashed().filter((n) => voters.includes(n)).length;
      if (crashedVoters + 1 > Math.floor((voters.length - 1) / 2) && this.rng.next() < 0.8) return null;
      const victim = this.pick(c.running());
      if (!victim) return null;
      const torn = this.config.diskFaults && this.rng.next() < 0.5;
      c.crash(victim, torn);
      return torn ? 'torn-crash' : 'crash';
    }
    if (r < 0.62) {
      const node = this.pick(c.crashed());
      if (!node) return null;
      c.restart(node);
      return 'restart';
    }
    if (r < 0.68) {
      const node = this.pick(c.running());
      if (!node) return null;
      c.pause(node, 200 + this.rng.next() * 2500);
      return 'pause';
    }
    if (r < 0.74) {
      const lossy = this.rng.next() < 0.5;
      c.setLossy(lossy);
      return lossy ? 'lossy-network' : 'calm-network';
    }
    if (r < 0.79) {
      if (!this.config.diskFaults) return null;
      const node = this.pick(c.running());
      if (!node) return null;
      if (this.rng.next() < 0.7) {
        c.slowDisk(node, 100 + this.rng.next() * 1900);
        return 'slow-disk';
      }
      c.failNextSync(node);
      return 'fsync-failure';
    }
    if (r < 0.9) {
      if (!this.config.membershipChanges) return null;
      return this.membership();
    }
    const leader = c.leader();
    const to = this.pick(voters.filter((v) => v !== leader && c.running().includes(v)));
    if (!leader || !to) return null;
    c.transferLeader(to);
    return 'transfer-leader';
  }

  private membership(): FaultKind | null {
    const c = this.cluster;
    const learner = this.pick(c.learners().filter((n) => c.running().includes(n)));
    if (learner) {
      c.promote(learner);
      return 'promote';
    }
    const voters = c.voters();
    if (voters.length < this.config.clusterSize) {
      c.addLearner();
      return 'add-learner';
    }
    // Sometimes the leader itself: it must step down after the removal commits.
    const victim = this.rng.next() < 0.3 ? c.leader() : this.pick(voters);
    if (!victim || voters.length <= 2) return null;
    c.removeVoter(victim);
    return 'remove-voter';
  }

  private split(nodes: readonly NodeId[]): [NodeId[], NodeId[]] {
    const s = this.shuffled(nodes);
    const cut = 1 + this.rng.int(0, Math.max(1, s.length - 1));
    return [s.slice(0, cut), s.slice(cut)];
  }
}

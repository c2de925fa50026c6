/**
 * One deterministic simulation run: a discrete-event loop over simulated time in which a Raft
 * cluster serves KV clients while the nemesis injects faults. Invariants are checked after every
 * event; at the end the cluster is healed, liveness and convergence are checked, and the clients'
 * history goes through the linearizability checker. Same seed, same trace.
 */
import { SeededRandom } from '../../common/index.js';
import { type InjectedBug, SimCluster } from './cluster.js';
import { deriveSeed, EventQueue } from './event-queue.js';
import { InvariantChecker, type Violation } from './invariants.js';
import { kvModel } from './kv-model.js';
import type { CheckResult } from './linearizability.js';
import { checkLinearizable } from './linearizability.js';
import { type FaultKind, Nemesis } from './nemesis.js';
import type { NetworkStats } from './network.js';
import type { DiskStats } from './sim-memory-storage.js';
import type { SimNodeFactory } from './sim-node.js';
import { type KvOperation, Workload, type WorkloadStats } from './workload.js';

export interface SimulationOptions {
  readonly seed: number;
  readonly nodes: number;
  /** Simulated milliseconds of load and faults before everything is healed. */
  readonly faultMs: number;
  readonly factory: SimNodeFactory;
  readonly clients?: number;
  readonly keys?: number;
  readonly tickMs?: number;
  readonly electionTicks?: number;
  readonly bug?: InjectedBug;
  /** @default 'wal' */
  readonly storage?: 'wal' | 'memory';
  /** Share of faults forced to be crashes/restarts. @default 0 */
  readonly crashBias?: number;
  /** Disable faults entirely (a calm run). */
  readonly faults?: boolean;
  /** Receives one line per notable event (faults, elections, violations). */
  readonly log?: (line: string) => void;
  /** Budget of the linearizability search per key. */
  readonly maxCheckSteps?: number;
}

export interface SimulationResult {
  readonly seed: number;
  readonly simulatedMs: number;
  readonly events: number;
  readonly traceHash: string;
  readonly faults: ReadonlyMap<FaultKind, number>;
  readonly network: NetworkStats;
  readonly disk: DiskStats;
  readonly workload: WorkloadStats;
  readonly cluster: SimCluster['counters'];
  readonly leadersElected: number;
  readonly maxTerm: number;
  readonly maxCommitted: number;
  readonly violations: readonly Violation[];
  readonly linearizability: CheckResult;
  /** After healing: a leader and a committed probe write within 10 election timeouts. */
  readonly live: boolean;
  /** After healing: every running member applied the same state. */
  readonly converged: boolean;
  readonly history: readonly KvOperation[];
}

export const DEFAULT_TICK_MS = 100;
export const DEFAULT_ELECTION_TICKS = 10;

export async function runSimulation(options: SimulationOptions): Promise<SimulationResult> {
  const seed = options.seed >>> 0;
  const tickMs = options.tickMs ?? DEFAULT_TICK_MS;
  const electionTicks = options.electionTicks ?? DEFAULT_ELECTION_TICKS;
  const electionMs = tickMs * electionTicks;
  const faults = options.faults ?? true;
  const log = options.log ?? (() => {});
  const queue = new EventQueue();
  const invariants = new InvariantChecker(() => queue.now);
  const cluster = new SimCluster(
    queue,
    {
      seed,
      nodes: options.nodes,
      tickMs,
      electionTicks,
      calmNetwork: {
        baseLatencyMs: 1,
        jitterMs: 4,
        dropRate: 0,
        duplicateRate: 0,
        delayRate: 0,
        maxDelayMs: 0,
      },
      lossyNetwork: {
        baseLatencyMs: 1,
        jitterMs: 10,
        dropRate: 0.1,
        duplicateRate: 0.05,
        delayRate: 0.05,
        maxDelayMs: 400,
      },
      // A lying disk is only dangerous with a real write-back window: make its writes land late.
      disk:
        options.bug === 'ack-before-fsync'
          ? { syncMinMs: 200, syncMaxMs: 1000, syncFailRate: 0, tornRate: 0 }
          : { syncMinMs: 1, syncMaxMs: 5, syncFailRate: 0, tornRate: 0 },
      restartAfterMs: [electionMs / 2, electionMs * 4],
      storage: options.storage ?? 'wal',
      bug: options.bug,
    },
    options.factory,
    invariants,
  );

  let trace = 0x811c9dc5;
  const fold = (s: string): void => {
    for (let i = 0; i < s.length; i++) trace = Math.imul(trace ^ s.charCodeAt(i), 0x01000193);
  };
  cluster.onTrace = fold;
  cluster.onFatal = (node, phase, message) =>
    log(`${queue.now.toFixed(0)}ms ${node} died (${phase}): ${message}`);

  const workload = new Workload(
    queue,
    new SeededRandom(deriveSeed(seed, 'workload')),
    {
      clients: options.clients ?? 8,
      keys: options.keys ?? 4,
      attemptTimeoutMs: electionMs,
      opTimeoutMs: electionMs * 5,
      thinkMs: 50,
    },
    () => cluster.running(),
    (from, to, req) => cluster.sendFromClient(from, to, req),
  );
  cluster.clients = {
    onResponse: (client, from, wire) => {
      if (wire.kind === 'response') workload.onResponse(client, from, wire);
    },
  };

  const nemesis = new Nemesis(
    new SeededRandom(deriveSeed(seed, 'nemesis')),
    {
      minIntervalMs: electionMs / 4,
      maxIntervalMs: electionMs * 2,
      clusterSize: options.nodes,
      membershipChanges: true,
      diskFaults: true,
      crashBias: options.crashBias ?? 0,
    },
    cluster,
  );

  cluster.bootstrap();
  workload.start();
  const healAt = options.faultMs;
  if (faults) {
    const next = (): void => {
      if (queue.now >= healAt) return;
      const kind = nemesis.step();
      if (kind) {
        fold(`fault ${kind}`);
        log(`${queue.now.toFixed(0)}ms fault ${kind}`);
      }
      queue.schedule(nemesis.nextDelay(), 'nemesis', next);
    };
    queue.schedule(nemesis.nextDelay(), 'nemesis', next);
  }
  queue.schedule(healAt, 'heal', () => {
    workload.stop();
    cluster.calm();
    log(`${queue.now.toFixed(0)}ms heal: calm network, restart crashed members, stop load`);
  });

  const run = async (until: number, done?: () => boolean): Promise<boolean> => {
    for (;;) {
      if (done?.()) return true;
      let kind: string | undefined;
      try {
        kind = queue.step(until);
      } catch (e) {
        invariants.report('harness', `event threw: ${e instanceof Error ? e.stack : String(e)}`);
        return false;
      }
      if (kind === undefined) return done?.() ?? true;
      fold(`${queue.now}:${kind}`);
      // The driver's promise continuations for this event run before the next event.
      await drainMicrotasks();
      invariants.observe(cluster.views());
      if (!invariants.ok) return false;
    }
  };

  await run(healAt);
  // Liveness: a leader must commit a probe write within 10 election timeouts of the heal.
  let live = false;
  if (invariants.ok) {
    let probe = 0;
    const tryProbe = (): void => {
      if (live || queue.now > healAt + 10 * electionMs) return;
      const leader = cluster.leader();
      const handle = leader ? cluster.handle(leader) : null;
      if (handle) {
        const n = ++probe;
        handle.propose({ kind: 'put', key: 'probe', value: `${n}` }, { clientId: 'probe', seq: n }).then(
          () => {
            live = true;
          },
          () => {},
        );
      }
      queue.schedule(electionMs / 2, 'probe', tryProbe);
    };
    queue.schedule(0, 'probe', tryProbe);
    await run(healAt + 10 * electionMs, () => live && workload.outstanding === 0);
  }
  // Convergence: every running member applies everything the leader committed.
  let converged = false;
  if (invariants.ok && live) {
    converged = await run(queue.now + 10 * electionMs, () => convergedNow(cluster));
    if (!converged) invariants.report('replicas-diverge', describeDivergence(cluster));
  }

  const history = workload.history;
  const linearizability = checkLinearizable(kvModel, history, {
    maxStepsPerPartition: options.maxCheckSteps,
  });
  for (const v of invariants.violations) log(`VIOLATION ${v.kind} at ${v.time}ms: ${v.message}`);
  return {
    seed,
    simulatedMs: queue.now,
    events: queue.eventsProcessed,
    traceHash: (trace >>> 0).toString(16).padStart(8, '0'),
    faults: nemesis.counts,
    network: cluster.network.stats,
    disk: sumDiskStats(cluster.diskStats()),
    workload: workload.stats,
    cluster: cluster.counters,
    leadersElected: invariants.leadersElected,
    maxTerm: invariants.maxTerm,
    maxCommitted: invariants.maxCommitted,
    violations: invariants.violations,
    linearizability,
    live,
    converged,
    history,
  };
}

function convergedNow(cluster: SimCluster): boolean {
  const leader = cluster.leader();
  if (!leader) return false;
  const lv = cluster.handle(leader)!.view();
  const conf = cluster.currentConf();
  const members = [...conf.voters, ...conf.learners].filter((id) => cluster.handle(id));
  const fp = cluster.kv(leader)!.fingerprint();
  return members.every((id) => {
    const h = cluster.handle(id)!;
    return h.applied() >= lv.commit && h.view().commit >= lv.commit && cluster.kv(id)!.fingerprint() === fp;
  });
}

function describeDivergence(cluster: SimCluster): string {
  const parts = cluster.running().map((id) => {
    const h = cluster.handle(id)!;
    const v = h.view();
    return `${id}: term ${v.term} commit ${v.commit} applied ${h.applied()}${v.isLeader ? ' (leader)' : ''}`;
  });
  return `members did not converge after healing: ${parts.join('; ')}`;
}

function sumDiskStats(all: readonly DiskStats[]): DiskStats {
  const s: DiskStats = { syncs: 0, syncFailures: 0, crashes: 0, tornCrashes: 0, lostWrites: 0 };
  for (const d of all) {
    s.syncs += d.syncs;
    s.syncFailures += d.syncFailures;
    s.crashes += d.crashes;
    s.tornCrashes += d.tornCrashes;
    s.lostWrites += d.lostWrites;
  }
  return s;
}

/**
 * Resolves once every queued microtask (and those they queue) has run: Node runs nextTick
 * callbacks only after the microtask queue is empty. Unlike setImmediate this never returns to
 * the event loop, which would cost a poll per simulated event.
 */
function drainMicrotasks(): Promise<void> {
  return new Promise<void>((resolve) => process.nextTick(resolve));
}

/**
 * Run summaries (plain JSON, so worker processes can send them) and the batch report of
 * raft.md §3.5: runs, simulated events, faults by kind, protocol activity, client operations,
 * and the verdicts that make a batch fail.
 */
import { formatFailure } from './linearizability.js';
import type { SimulationResult } from './simulator.js';

export interface RunSummary {
  seed: number;
  nodes: number;
  wallMs: number;
  simulatedMs: number;
  events: number;
  traceHash: string;
  faults: Record<string, number>;
  counters: Record<string, number>;
  ops: { total: number; ok: number; fail: number; unknown: number; latencies: number[] };
  leadersElected: number;
  maxTerm: number;
  maxCommitted: number;
  violations: string[];
  linearizability: 'ok' | 'illegal' | 'unknown';
  linearizabilityReport?: string;
  live: boolean;
  converged: boolean;
}

export function summarize(r: SimulationResult, nodes: number, wallMs: number): RunSummary {
  const faults: Record<string, number> = {};
  for (const [k, v] of [...r.faults].sort(([a], [b]) => (a < b ? -1 : 1))) faults[k] = v;
  const n = r.network;
  const counters: Record<string, number> = {
    'messages sent': n.sent,
    'messages delivered': n.delivered,
    'messages dropped (random)': n.dropped,
    'messages dropped (partition)': n.droppedByPartition,
    'messages dropped (node down)': n.droppedNodeDown,
    'messages duplicated': n.duplicated,
    'messages delayed': n.delayed,
    'messages held by pauses': n.heldWhilePaused,
    'partitions symmetric': n.partitions.symmetric,
    'partitions one-way': n.partitions['one-way'],
    'partitions bridge': n.partitions.bridge,
    'disk fsyncs': r.disk.syncs,
    'disk fsync failures': r.disk.syncFailures,
    'disk crashes': r.disk.crashes,
    'disk torn crashes': r.disk.tornCrashes,
    'snapshots restored': r.cluster.snapshotsRestored,
    'fatal node errors': r.cluster.fatalErrors,
    'membership changes refused': r.cluster.membershipFailures,
    'leader transfers started': r.cluster.transfers,
    'client attempts': r.workload.attempts,
  };
  const lin = r.linearizability;
  return {
    seed: r.seed,
    nodes,
    wallMs,
    simulatedMs: r.simulatedMs,
    events: r.events,
    traceHash: r.traceHash,
    faults,
    counters,
    ops: {
      total: r.workload.ops,
      ok: r.workload.ok,
      fail: r.workload.failed,
      unknown: r.workload.unknown,
      latencies: r.workload.latencies,
    },
    leadersElected: r.leadersElected,
    maxTerm: r.maxTerm,
    maxCommitted: r.maxCommitted,
    violations: r.violations.map((v) => `${v.kind} at ${v.time.toFixed(1)}ms: ${v.message}`),
    linearizability: lin.verdict,
    linearizabilityReport: lin.failure ? formatFailure(lin.failure) : undefined,
    live: r.live,
    converged: r.converged,
  };
}

/** Whether this run must fail the batch. */
export function failed(s: RunSummary): boolean {
  return s.violations.length > 0 || s.linearizability === 'illegal' || !s.live || !s.converged;
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

function add(into: Record<string, number>, from: Record<string, number>): void {
  for (const [k, v] of Object.entries(from)) into[k] = (into[k] ?? 0) + v;
}

export function formatRun(s: RunSummary): string {
  const faults = Object.entries(s.faults)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  const verdict = failed(s) ? 'FAIL' : 'ok';
  return (
    `seed ${s.seed} nodes ${s.nodes}: ${verdict} | ${s.events} events, ${(s.simulatedMs / 1000).toFixed(1)}s simulated, ` +
    `${s.wallMs.toFixed(0)}ms wall | ops ${s.ops.ok}/${s.ops.total} ok, ${s.ops.unknown} unknown | ` +
    `leaders ${s.leadersElected}, max term ${s.maxTerm}, committed ${s.maxCommitted} | ` +
    `linearizable ${s.linearizability}, live ${s.live}, converged ${s.converged} | trace ${s.traceHash} | ${faults}`
  );
}

export function formatFailureDetail(s: RunSummary): string {
  const lines = [`seed ${s.seed} (nodes ${s.nodes}) FAILED:`];
  for (const v of s.violations) lines.push(`  invariant violation: ${v}`);
  if (s.linearizabilityReport) lines.push(...s.linearizabilityReport.split('\n').map((l) => `  ${l}`));
  if (!s.live && s.violations.length === 0)
    lines.push('  liveness: no leader committed a probe write within 10 election timeouts of healing');
  if (!s.converged && s.live && s.violations.length === 0)
    lines.push('  convergence: members did not reach the same state after healing');
  lines.push(`  replay: npm run sim:raft -- --seed ${s.seed} --nodes ${s.nodes} --verbose`);
  return lines.join('\n');
}

export function formatBatch(runs: readonly RunSummary[], wallMs: number): string {
  const faults: Record<string, number> = {};
  const counters: Record<string, number> = {};
  let events = 0;
  let simulated = 0;
  let runWall = 0;
  let leaders = 0;
  let maxTerm = 0;
  let committed = 0;
  const ops = { total: 0, ok: 0, fail: 0, unknown: 0 };
  const lat: number[] = [];
  const lin = { ok: 0, illegal: 0, unknown: 0 };
  let violations = 0;
  let notLive = 0;
  let notConverged = 0;
  for (const r of runs) {
    add(faults, r.faults);
    add(counters, r.counters);
    events += r.events;
    simulated += r.simulatedMs;
    runWall += r.wallMs;
    leaders += r.leadersElected;
    maxTerm = Math.max(maxTerm, r.maxTerm);
    committed += r.maxCommitted;
    ops.total += r.ops.total;
    ops.ok += r.ops.ok;
    ops.fail += r.ops.fail;
    ops.unknown += r.ops.unknown;
    lat.push(...r.ops.latencies);
    lin[r.linearizability]++;
    violations += r.violations.length;
    if (!r.live) notLive++;
    if (r.live && !r.converged) notConverged++;
  }
  lat.sort((a, b) => a - b);
  const failing = runs.filter(failed).map((r) => r.seed);
  const n = runs.length || 1;
  const lines = [
    `runs: ${runs.length} (seeds ${runs.map((r) => r.seed).reduce((a, b) => Math.min(a, b), Number.POSITIVE_INFINITY)}..${runs.map((r) => r.seed).reduce((a, b) => Math.max(a, b), 0)})`,
    `simulated: ${(simulated / 1000).toFixed(0)}s total, ${(simulated / n / 1000).toFixed(1)}s per run; events ${events} (${(events / n).toFixed(0)} per run)`,
    `wall: ${(wallMs / 1000).toFixed(1)}s elapsed, ${(runWall / n).toFixed(0)}ms per run, ${((events / runWall) * 1000).toFixed(0)} events per wall second`,
    `faults injected: ${Object.entries(faults)
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}`,
    ...Object.entries(counters).map(([k, v]) => `  ${k}: ${v}`),
    `protocol: leaders elected ${leaders}, max term ${maxTerm}, entries committed ${committed}`,
    `client ops: ${ops.total} (ok ${ops.ok}, fail ${ops.fail}, unknown ${ops.unknown}); latency p50 ${percentile(lat, 0.5).toFixed(0)}ms p99 ${percentile(lat, 0.99).toFixed(0)}ms max ${(lat.at(-1) ?? 0).toFixed(0)}ms (simulated)`,
    `verdicts: invariant violations ${violations}; linearizability ok ${lin.ok}, illegal ${lin.illegal}, unknown ${lin.unknown}; liveness failures ${notLive}; convergence failures ${notConverged}`,
    failing.length > 0 ? `FAILING SEEDS: ${failing.join(', ')}` : 'all runs passed',
  ];
  return lines.join('\n');
}

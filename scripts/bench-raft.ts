/**
 * npm run bench:raft [-- --rounds 3 --seconds 5 --concurrency 1,64,1024 --value-size 256 --load-threads 1
 *   --client h2]
 *
 * Three swarmctl Raft members (real WAL with fsync, gRPC transport) and three etcd members
 * (Debian's etcd-server), all on loopback, driven in the same run by the same closed-loop load
 * generator through the same gRPC client stack: writes/s and p50/p99 latency per concurrency, and
 * the ratios. Each write goes to member (worker mod 3), so followers forward on both sides. Before
 * each level both sides get the same topology: member 0 (n1, e1) leads, so at concurrency 1 every
 * write goes straight to the leader on both. The load generator's own CPU per write is printed too:
 * both sides share the 2 cores with it.
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { setPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { RaftKvCluster } from '../test/harness/raft-kv/cluster.js';
import { integerOption, secondsOption } from './bench/args.js';
import { cpuMs } from './bench/cpu.js';
import { startEtcd } from './bench/etcd.js';
import type { LoadResult } from './bench/load.js';
import { type LoadTarget, parseLoadClient } from './bench/load-target.js';
import { runLoadInThreads } from './bench/load-threads.js';
import { bundleRaftKvMember } from './bench/member-bundle.js';
import { freePortRun } from './bench/ports.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    concurrency: { type: 'string', default: '1,64,1024' },
    /**
     * Rounds per level, alternating which side goes first; the table shows each side's median
     * round. On a shared machine whose load changes within minutes, one round per side can land
     * in a quiet and a busy minute. The c=1024 p99 of one side moved by up to ±20 % between
     * rounds of one run, so the default is the median of three.
     */
    rounds: { type: 'string', default: '3' },
    'value-size': { type: 'string', default: '256' },
    /** Run only one side (quick iterations while profiling). */
    only: { type: 'string' },
    /** Write V8 CPU profiles of the swarmctl members into this directory. */
    'cpu-prof': { type: 'string' },
    /** Extra node flags for the swarmctl members, space-separated (e.g. --max-semi-space-size=32). */
    'member-node-args': { type: 'string' },
    /**
     * Nice value for both sides' members and the load generator (e.g. -5, needs root): on a
     * machine shared with other jobs it keeps both sides from waiting behind them for a CPU.
     */
    nice: { type: 'string' },
    /**
     * Unmeasured load at concurrency 64 on each side before the first level. Our members run on
     * V8, whose code is still interpreted or baseline-compiled for seconds after start, and the
     * first level (c=1) sees few calls: measured interleaved, cold members had a c=1 p50 of
     * 3.7 ms against 2.9 ms warmed (and 27% more CPU per write). etcd (Go) needs no warm-up but
     * gets the same load, as does the load generator. 0 measures cold members.
     */
    'warmup-seconds': { type: 'string', default: '5' },
    /**
     * Threads of the load generator (both sides get the same). One thread was saturated at
     * concurrency 1024 (Session 6), so its own queue was part of every latency measured.
     */
    'load-threads': { type: 'string', default: '1' },
    /**
     * How the load generator calls both sides: `h2` frames gRPC on node:http2 itself, `grpc-js`
     * goes through the product's client. grpc-js's client used more CPU per write at concurrency
     * 1024 than either side's members, and its loop stalled for 200–300 ms at a time, so most of
     * every latency measured was its own queue (docs/raft-core.md, Session 11).
     */
    client: { type: 'string', default: 'h2' },
    /** Our members' snapshot interval in entries (the Raft default, 10,000, when absent). */
    'snapshot-every': { type: 'string' },
    /** Keep the data directory and member logs (printed on stderr). */
    keep: { type: 'boolean', default: false },
  },
});
const durationMs = secondsOption('seconds', values.seconds);
const rounds = integerOption('rounds', values.rounds);
const nice = values.nice === undefined ? undefined : integerOption('nice', values.nice, -20, 19);

/** Linux nice values are per thread: every thread of each process gets it. */
function renice(pids: readonly number[]): void {
  if (nice === undefined) return;
  for (const pid of pids) {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        setPriority(Number(tid), nice);
      } catch {
        // The thread ended meanwhile.
      }
    }
  }
}
const warmupMs = secondsOption('warmup-seconds', values['warmup-seconds'], true);
const levels = values.concurrency!.split(',').map((c) => integerOption('concurrency', c));
const valueSize = integerOption('value-size', values['value-size']);
const threads = integerOption('load-threads', values['load-threads'], 1, 16);
const snapshotEvery =
  values['snapshot-every'] === undefined
    ? undefined
    : integerOption('snapshot-every', values['snapshot-every']);
/** Four connections to each member in all, whatever the number of threads. */
const channelsPerEndpoint = Math.max(1, Math.round(4 / threads));
const client = parseLoadClient(values.client);

const only = values.only;
if (only !== undefined && only !== 'swarmctl' && only !== 'etcd')
  throw new Error(`--only must be swarmctl or etcd, got ${only}`);
const runEtcd = only !== 'swarmctl';
const runOurs = only !== 'etcd';

interface LevelResult {
  concurrency: number;
  etcd?: LoadResult;
  swarmctl?: LoadResult;
}

const dir = mkdtempSync(join(tmpdir(), 'bench-raft-'));
const results: LevelResult[] = [];
/** Who led each side (member index), since at concurrency 1 every write goes to member 0. */
const leaders = { swarmctl: '?', etcd: '?' };
const etcd = runEtcd ? await startEtcd(join(dir, 'etcd'), await freePortRun(24600, 6)) : null;
mkdirSync(join(dir, 'swarmctl'));
const profDir = values['cpu-prof'];
const ours = new RaftKvCluster({
  dir: join(dir, 'swarmctl'),
  entry: await bundleRaftKvMember(dir),
  size: 3,
  basePort: await freePortRun(24500, 3),
  channels: 4,
  ...(snapshotEvery === undefined ? {} : { snapshotEvery }),
  nodeArgs: [
    ...(profDir ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : []),
    ...(values['member-node-args']?.split(' ').filter(Boolean) ?? []),
  ],
});
const ourPids = (): number[] =>
  ours.members.flatMap((m) => (m.process?.pid === undefined ? [] : [m.process.pid]));
try {
  if (runOurs) {
    await ours.startAll();
    await ours.waitForLeader();
  }
  const target = (kind: LoadTarget['kind'], keyPrefix: string): LoadTarget => ({
    kind,
    client,
    endpoints: kind === 'etcd' ? etcd!.endpoints : ours.members.map((m) => m.address),
    channelsPerEndpoint,
    valueSize,
    keyPrefix,
  });
  if (warmupMs > 0) {
    const warm = (kind: LoadTarget['kind']): Promise<unknown> =>
      runLoadInThreads({
        threads,
        concurrency: 64,
        durationMs: warmupMs,
        warmupMs: 0,
        target: target(kind, 'warm'),
      });
    if (runOurs) await warm('raft-kv');
    if (etcd) await warm('etcd');
  }
  for (const concurrency of levels) {
    const r: LevelResult = { concurrency };
    const runs: { etcd: LoadResult[]; swarmctl: LoadResult[] } = { etcd: [], swarmctl: [] };
    const runEtcdLevel = async (): Promise<void> => {
      if (!etcd) return;
      await etcd.moveLeader(0);
      renice([process.pid, ...etcd.pids()]);
      runs.etcd.push(
        await runLoadInThreads({
          threads,
          concurrency,
          durationMs,
          cpu: () => cpuMs(etcd.pids()),
          target: target('etcd', 'k'),
        }),
      );
    };
    const runOursLevel = async (): Promise<void> => {
      if (!runOurs) return;
      await ours.transferLeader(ours.members[0]!);
      renice([process.pid, ...ourPids()]);
      runs.swarmctl.push(
        await runLoadInThreads({
          threads,
          concurrency,
          durationMs,
          cpu: () => cpuMs(ourPids()),
          target: target('raft-kv', 'k'),
        }),
      );
    };
    for (let round = 0; round < rounds; round++) {
      if (round % 2 === 0) {
        await runEtcdLevel();
        await runOursLevel();
      } else {
        await runOursLevel();
        await runEtcdLevel();
      }
    }
    const etcdMedian = medianRun(runs.etcd);
    const oursMedian = medianRun(runs.swarmctl);
    if (etcdMedian) r.etcd = etcdMedian;
    if (oursMedian) r.swarmctl = oursMedian;
    if (rounds > 1) {
      const each = (xs: LoadResult[]): string => xs.map((x) => x.opsPerSec.toFixed(0)).join(', ');
      process.stderr.write(
        `concurrency ${concurrency} rounds w/s: swarmctl ${each(runs.swarmctl)}; etcd ${each(runs.etcd)}\n`,
      );
    }
    results.push(r);
    if (etcd) leaders.etcd = `e${etcd.leader() + 1}`;
    if (runOurs) leaders.swarmctl = (await ours.waitForLeader().catch(() => null))?.id ?? '?';
    process.stderr.write(`concurrency ${concurrency} done\n`);
  }
} finally {
  await ours.stop();
  await etcd?.stop();
  if (values.keep) process.stderr.write(`kept ${dir}\n`);
  else rmSync(dir, { recursive: true, force: true });
}

/** The round with the median throughput (its latencies and CPU figures come with it). */
function medianRun(xs: readonly LoadResult[]): LoadResult | undefined {
  const sorted = [...xs].sort((a, b) => a.opsPerSec - b.opsPerSec);
  return sorted[Math.floor((sorted.length - 1) / 2)];
}

const f = (n: number | undefined, d = 1): string => (n === undefined ? '-' : n.toFixed(d));
const pct = (x: number | undefined): string => (x === undefined ? '-' : `${Math.round(x * 100)} %`);
const ratio = (a: number | undefined, b: number | undefined): string =>
  a === undefined || b === undefined ? '-' : `${(a / b).toFixed(2)}x`;
const lines = [
  `raft write benchmark: 3 members each, loopback, fsync on, ${valueSize} B values, ${values.seconds} s per level after ${warmupMs / 1000} s of warm-up at concurrency 64, load generator on ${threads} thread${threads > 1 ? 's' : ''} with the ${client} client${rounds > 1 ? `, median of ${rounds} alternating rounds` : ''}${nice === undefined ? '' : `, nice ${nice} for both`}`,
  'concurrency | swarmctl w/s | etcd w/s | ratio | swarmctl p50/p99 ms | etcd p50/p99 ms | p50 ratio | p99 ratio',
];
for (const { concurrency, swarmctl: o, etcd: e } of results) {
  lines.push(
    [
      String(concurrency).padStart(11),
      f(o?.opsPerSec, 0).padStart(12),
      f(e?.opsPerSec, 0).padStart(8),
      ratio(o?.opsPerSec, e?.opsPerSec).padStart(5),
      `${f(o?.p50Ms, 2)}/${f(o?.p99Ms, 2)}`.padStart(19),
      `${f(e?.p50Ms, 2)}/${f(e?.p99Ms, 2)}`.padStart(15),
      ratio(o?.p50Ms, e?.p50Ms).padStart(9),
      ratio(o?.p99Ms, e?.p99Ms).padStart(9),
    ].join(' | '),
  );
  if (o?.cpuMsPer1k !== undefined || e?.cpuMsPer1k !== undefined) {
    lines.push(
      `${''.padStart(11)}   member CPU per 1000 writes: swarmctl ${f(o?.cpuMsPer1k, 0)} ms, etcd ${f(e?.cpuMsPer1k, 0)} ms; load generator ${f(o?.clientCpuMsPer1k, 0)} ms, ${f(e?.clientCpuMsPer1k, 0)} ms, its busiest loop ${pct(o?.clientLoopBusy)}, ${pct(e?.clientLoopBusy)} busy`,
    );
  }
  const errors = (o?.errors ?? 0) + (e?.errors ?? 0);
  if (errors > 0)
    lines.push(`${''.padStart(11)}   errors: swarmctl ${o?.errors ?? '-'}, etcd ${e?.errors ?? '-'}`);
}
lines.push(
  `leaders at the end: swarmctl ${leaders.swarmctl}, etcd ${leaders.etcd} (each level starts with n1/e1 leading; writes of worker w go to member w mod 3, at concurrency 1 all to n1/e1)`,
);
const top = results.find((r) => r.concurrency === 1024);
const one = results.find((r) => r.concurrency === 1);
if (top?.swarmctl && top.etcd) {
  lines.push(
    `goal at 1024: throughput >= 1.0x etcd: ${top.swarmctl.opsPerSec >= top.etcd.opsPerSec ? 'met' : 'NOT met'}; p99 <= etcd: ${top.swarmctl.p99Ms <= top.etcd.p99Ms ? 'met' : 'NOT met'}`,
  );
}
if (one?.swarmctl && one.etcd)
  lines.push(
    `goal at 1: p50 <= 1.2x etcd: ${one.swarmctl.p50Ms <= 1.2 * one.etcd.p50Ms ? 'met' : 'NOT met'}`,
  );
process.stdout.write(`${lines.join('\n')}\n`);
mkdirSync('.bench', { recursive: true });
writeFileSync('.bench/raft.json', JSON.stringify(results, null, 2));

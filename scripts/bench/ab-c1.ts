/**
 * Interleaved A/B of member variants at one concurrency level (c=1 by default), with etcd as the
 * anchor: every variant is a raft-kv cluster of its own (all started up front, idle between
 * turns), and each round runs every variant and etcd once, in a rotated order, so that a shared
 * machine's load drifts over all of them alike.
 *   node --import tsx scripts/bench/ab-c1.ts --variants 'base={};x={"VAR":"1"}' --rounds 6
 * The key `ENTRY` of a variant names the member's entry file (e.g. node.ts of another checkout);
 * `NODE_ARGS` gives the members' node flags, space-separated (V8 flags NODE_OPTIONS refuses);
 * `SNAPSHOT_EVERY` their snapshot interval in entries (bench:raft's --snapshot-every).
 * `--client h2|grpc-js` picks the load generator's client, as in bench:raft (default h2).
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { RaftKvCluster } from '../../test/harness/raft-kv/cluster.js';
import { integerOption, secondsOption } from './args.js';
import { contextSwitches, cpuMs } from './cpu.js';
import { startEtcd } from './etcd.js';
import { type LoadResult, runLoad } from './load.js';
import { defaultTarget, type LoadTarget, openTarget, parseLoadClient, warmUp } from './load-target.js';
import { freePortRun } from './ports.js';

const { values } = parseArgs({
  options: {
    variants: { type: 'string', default: 'base={}' },
    rounds: { type: 'string', default: '6' },
    seconds: { type: 'string', default: '3' },
    concurrency: { type: 'string', default: '1' },
    /** Seconds of load at concurrency 64 on each side before the rounds (JIT warm-up); `name:0` exempts a variant. */
    warmup: { type: 'string', default: '0' },
    client: { type: 'string', default: 'h2' },
  },
});
const client = parseLoadClient(values.client);
const variants = values.variants!.split(';').map((v) => {
  const i = v.indexOf('=');
  const {
    ENTRY: entry,
    NODE_ARGS: nodeArgs,
    SNAPSHOT_EVERY: snapshotEvery,
    ...env
  } = JSON.parse(v.slice(i + 1)) as Record<string, string>;
  const name = v.slice(0, i);
  return {
    name,
    env,
    entry,
    nodeArgs: nodeArgs?.split(' ').filter(Boolean),
    snapshotEvery:
      snapshotEvery === undefined
        ? undefined
        : integerOption(`variants ${name}.SNAPSHOT_EVERY`, snapshotEvery),
  };
});
const concurrency = integerOption('concurrency', values.concurrency);
const durationMs = secondsOption('seconds', values.seconds);
const rounds = integerOption('rounds', values.rounds);
const warmupMs = secondsOption('warmup', values.warmup, true);
const dir = mkdtempSync(join(tmpdir(), 'ab-c1-'));
const clusters: RaftKvCluster[] = [];
const switches = new Map<string, number[]>();
const results = new Map<string, LoadResult[]>([
  ['etcd', []],
  ...variants.map((v) => [v.name, []] as [string, LoadResult[]]),
]);
const etcd = await startEtcd(join(dir, 'etcd'), await freePortRun(24800, 6));
try {
  for (const [i, v] of variants.entries()) {
    const d = join(dir, `v${i}`);
    mkdirSync(d);
    const c = new RaftKvCluster({
      dir: d,
      size: 3,
      basePort: await freePortRun(24900 + i * 10, 3),
      env: v.env,
      ...(v.entry ? { entry: v.entry } : {}),
      ...(v.nodeArgs ? { nodeArgs: v.nodeArgs } : {}),
      ...(v.snapshotEvery === undefined ? {} : { snapshotEvery: v.snapshotEvery }),
    });
    clusters.push(c);
    await c.startAll();
  }
  // Worker w writes to member w mod 3, as in bench:raft.
  const target = (c: RaftKvCluster | null, keyPrefix: string): LoadTarget =>
    c
      ? defaultTarget(
          'raft-kv',
          c.members.map((m) => m.address),
          client,
          keyPrefix,
        )
      : defaultTarget('etcd', etcd.endpoints, client, keyPrefix);
  const warm = async (c: RaftKvCluster | null): Promise<void> => {
    if (warmupMs > 0) await warmUp(target(c, 'w'), warmupMs);
  };
  for (const [i, v] of variants.entries()) if (!v.name.startsWith('cold')) await warm(clusters[i]!);
  await warm(null);
  const turns = [
    ...variants.map((v, i) => ({ name: v.name, cluster: clusters[i]! })),
    { name: 'etcd', cluster: null },
  ];
  for (let round = 0; round < rounds; round++) {
    const order = turns.map((_, k) => turns[(k + round) % turns.length]!);
    for (const t of order) {
      const c = t.cluster;
      if (c) await c.transferLeader(c.members[0]!);
      else await etcd.moveLeader(0);
      const pids = c ? c.members.map((m) => m.process!.pid!) : etcd.pids();
      let ops = 0;
      const load = openTarget(target(c, 'k'));
      const cs0 = contextSwitches([process.pid, ...pids]);
      const r = await runLoad({
        concurrency,
        durationMs,
        cpu: () => cpuMs(pids),
        op: async (w, s) => {
          await load.op(w, s);
          ops++;
        },
      });
      load.close();
      const cs = (contextSwitches([process.pid, ...pids]) - cs0) / ops;
      switches.set(t.name, [...(switches.get(t.name) ?? []), cs]);
      results.get(t.name)!.push(r);
    }
    const line = turns.map((t) => {
      const r = results.get(t.name)!.at(-1)!;
      return `${t.name} ${r.p50Ms.toFixed(2)}/${r.p99Ms.toFixed(2)} ms ${r.opsPerSec.toFixed(0)} w/s`;
    });
    process.stdout.write(`round ${round}: p50/p99 ${line.join(', ')}\n`);
  }
} finally {
  for (const c of clusters) await c.stop();
  await etcd.stop();
  rmSync(dir, { recursive: true, force: true });
}
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
const etcdP50 = results.get('etcd')!.map((r) => r.p50Ms);
for (const [name, rs] of results) {
  const ratios = rs.map((r, k) => r.p50Ms / etcdP50[k]!);
  process.stdout.write(
    `${name.padEnd(12)} p50 median ${median(rs.map((r) => r.p50Ms)).toFixed(2)} ms, p99 median ${median(rs.map((r) => r.p99Ms)).toFixed(2)} ms, w/s ${median(rs.map((r) => r.opsPerSec)).toFixed(0)}, member CPU/1k ${median(rs.map((r) => r.cpuMsPer1k ?? 0)).toFixed(0)} ms, context switches/write (members + client) ${median(switches.get(name) ?? [0]).toFixed(1)}, client CPU/1k ${median(rs.map((r) => r.clientCpuMsPer1k)).toFixed(0)} ms, p50/etcd per round ${ratios.map((x) => x.toFixed(2)).join(' ')} (median ${median(ratios).toFixed(2)}x)\n`,
  );
}

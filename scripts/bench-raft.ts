/**
 * npm run bench:raft [-- --seconds 5 --concurrency 1,64,1024 --value-size 256]
 *
 * Three swarmctl Raft members (real WAL with fsync, gRPC transport) and three etcd members
 * (Debian's etcd-server), all on loopback, driven in the same run by the same closed-loop load
 * generator through the same gRPC client stack: writes/s and p50/p99 latency per concurrency, and
 * the ratios. Each write goes to member (worker mod 3), so followers forward on both sides.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { RaftKvCluster } from '../test/harness/raft-kv/cluster.js';
import { startEtcd } from './bench/etcd.js';
import { type LoadResult, runLoad, valueOfSize } from './bench/load.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    concurrency: { type: 'string', default: '1,64,1024' },
    'value-size': { type: 'string', default: '256' },
  },
});
const durationMs = Number(values.seconds) * 1000;
const levels = values.concurrency!.split(',').map(Number);
const value = valueOfSize(Number(values['value-size']));
const valueText = value.toString('latin1');

const dir = mkdtempSync(join(tmpdir(), 'bench-raft-'));
const results: { concurrency: number; etcd: LoadResult; swarmctl: LoadResult }[] = [];
const etcd = await startEtcd(join(dir, 'etcd'), 23790);
mkdirSync(join(dir, 'swarmctl'));
const ours = new RaftKvCluster({ dir: join(dir, 'swarmctl'), size: 3, basePort: 24500, channels: 4 });
try {
  await ours.startAll();
  await ours.waitForLeader();
  for (const concurrency of levels) {
    const e = await runLoad({
      concurrency,
      durationMs,
      op: (w, s) => etcd.put(w, Buffer.from(`k${w}-${s % 1000}`), value),
    });
    const o = await runLoad({
      concurrency,
      durationMs,
      op: (w, s) =>
        ours
          .client(ours.members[w % 3]!)
          .Put({ key: `k${w}-${s % 1000}`, value: valueText }, { timeoutMs: 10_000 })
          .then(() => undefined),
    });
    results.push({ concurrency, etcd: e, swarmctl: o });
    process.stderr.write(`concurrency ${concurrency} done\n`);
  }
} finally {
  await ours.stop();
  await etcd.stop();
  rmSync(dir, { recursive: true, force: true });
}

const f = (n: number, d = 1): string => n.toFixed(d);
const lines = [
  `raft write benchmark: 3 members each, loopback, fsync on, ${value.length} B values, ${values.seconds} s per level`,
  'concurrency | swarmctl w/s | etcd w/s | ratio | swarmctl p50/p99 ms | etcd p50/p99 ms | p50 ratio | p99 ratio',
];
for (const r of results) {
  lines.push(
    [
      String(r.concurrency).padStart(11),
      f(r.swarmctl.opsPerSec, 0).padStart(12),
      f(r.etcd.opsPerSec, 0).padStart(8),
      `${f(r.swarmctl.opsPerSec / r.etcd.opsPerSec, 2)}x`.padStart(5),
      `${f(r.swarmctl.p50Ms, 2)}/${f(r.swarmctl.p99Ms, 2)}`.padStart(19),
      `${f(r.etcd.p50Ms, 2)}/${f(r.etcd.p99Ms, 2)}`.padStart(15),
      `${f(r.swarmctl.p50Ms / r.etcd.p50Ms, 2)}x`.padStart(9),
      `${f(r.swarmctl.p99Ms / r.etcd.p99Ms, 2)}x`.padStart(9),
    ].join(' | '),
  );
}
const top = results.find((r) => r.concurrency === 1024);
const one = results.find((r) => r.concurrency === 1);
if (top) {
  lines.push(
    `goal at 1024: throughput >= 1.0x etcd: ${top.swarmctl.opsPerSec >= top.etcd.opsPerSec ? 'met' : 'NOT met'}; p99 <= etcd: ${top.swarmctl.p99Ms <= top.etcd.p99Ms ? 'met' : 'NOT met'}`,
  );
}
if (one)
  lines.push(
    `goal at 1: p50 <= 1.2x etcd: ${one.swarmctl.p50Ms <= 1.2 * one.etcd.p50Ms ? 'met' : 'NOT met'}`,
  );
process.stdout.write(`${lines.join('\n')}\n`);
mkdirSync('.bench', { recursive: true });
writeFileSync('.bench/raft.json', JSON.stringify(results, null, 2));

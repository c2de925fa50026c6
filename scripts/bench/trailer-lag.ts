/**
 * How long after a unary response's message its status reaches the load generator, for both
 * sides in interleaved rounds:
 *   node --import tsx scripts/bench/trailer-lag.ts [--concurrency 1024 --seconds 5 --rounds 4]
 * node:http2 sends a response's trailers only once the message's write has completed, one event
 * loop turn or more after it (docs/rpc.md); etcd's Go server writes both at once. The generator
 * only counts a write done when the status arrives, so when it reads a connection between the
 * two the write waits for one of its turns more. Per round and side: throughput, latency p50/p99
 * to the status (what bench:raft measures) and to the message, the lag between them (p50, p90,
 * p99, share above 5 ms) and the median lag of the slowest 1 % of writes. bench:raft's members
 * (bundled), topology (member 0 leads) and h2 client.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { integerOption, secondsOption } from './args.js';
import { startEtcd } from './etcd.js';
import { runLoad } from './load.js';
import { defaultTarget, type LoadTarget, openTarget, warmUp } from './load-target.js';
import { bundledMembers } from './member-bundle.js';
import { freePortRun } from './ports.js';

const { values } = parseArgs({
  options: {
    concurrency: { type: 'string', default: '1024' },
    seconds: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '4' },
  },
});
const concurrency = integerOption('concurrency', values.concurrency);
const durationMs = secondsOption('seconds', values.seconds);
const rounds = integerOption('rounds', values.rounds);

/** One write: call, message and status times (performance.now(), ms). */
type Write = [t0: number, message: number, status: number];

const quantile = (xs: number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? Number.NaN;
};

const dir = mkdtempSync(join(tmpdir(), 'trailer-lag-'));
const ours = await bundledMembers(dir, { basePort: await freePortRun(24650, 3) });
const etcd = await startEtcd(join(dir, 'etcd'), await freePortRun(24800, 6));
try {
  await ours.startAll();
  const target = (side: 'swarmctl' | 'etcd', keyPrefix: string): LoadTarget =>
    side === 'swarmctl'
      ? defaultTarget(
          'raft-kv',
          ours.members.map((m) => m.address),
          'h2',
          keyPrefix,
        )
      : defaultTarget('etcd', etcd.endpoints, 'h2', keyPrefix);
  for (const side of ['swarmctl', 'etcd'] as const) await warmUp(target(side, 'warm'), 5000);
  process.stdout.write(
    `concurrency ${concurrency}, ${values.seconds} s rounds; ms: latency to status and to message (p50/p99), status after message (p50/p90/p99, share > 5 ms), that lag's median in the slowest 1 %\n`,
  );
  for (let round = 0; round < rounds; round++) {
    for (const side of round % 2 === 0 ? (['swarmctl', 'etcd'] as const) : (['etcd', 'swarmctl'] as const)) {
      if (side === 'swarmctl') await ours.transferLeader(ours.members[0]!);
      else await etcd.moveLeader(0);
      const load = openTarget(target(side, 'k'));
      const warmupMs = 1000;
      const from = performance.now() + warmupMs;
      const writes: Write[] = [];
      await runLoad({
        concurrency,
        durationMs,
        warmupMs,
        op: async (w, s) => {
          const t0 = performance.now();
          const message = await load.op(w, s);
          writes.push([t0, message!, performance.now()]);
        },
      });
      load.close();
      // The writes runLoad measures: started after the warm-up, done within the measured phase.
      const measured = writes.filter(([t0, , t1]) => t0 >= from && t1 <= from + durationMs);
      const latency = measured.map(([t0, , t1]) => t1 - t0);
      const toMessage = measured.map(([t0, m]) => m - t0);
      const lag = measured.map(([, m, t1]) => t1 - m);
      const slowest = [...measured]
        .sort((a, b) => b[2] - b[0] - (a[2] - a[0]))
        .slice(0, Math.ceil(measured.length / 100));
      const f = (x: number): string => x.toFixed(1);
      process.stdout.write(
        `round ${round} ${side.padEnd(8)} ${(measured.length / (durationMs / 1000)).toFixed(0)} w/s; ${f(quantile(latency, 0.5))}/${f(quantile(latency, 0.99))}; ${f(quantile(toMessage, 0.5))}/${f(quantile(toMessage, 0.99))}; lag ${[0.5, 0.9, 0.99].map((q) => quantile(lag, q).toFixed(2)).join('/')}, ${((100 * lag.filter((x) => x > 5).length) / lag.length).toFixed(1)} %; slowest 1 %: ${f(
          quantile(
            slowest.map(([, m, t1]) => t1 - m),
            0.5,
          ),
        )}\n`,
      );
    }
  }
} finally {
  await ours.stop();
  await etcd.stop();
  rmSync(dir, { recursive: true, force: true });
}

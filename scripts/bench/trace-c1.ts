/**
 * A c=1 write loop against one side, for tracing (strace/perf) from outside:
 *   node --import tsx scripts/bench/trace-c1.ts --side swarmctl|etcd --seconds 20
 * Prints `pids client=<pid> leader=<pid> followers=<pid>,<pid>`, warms our members up (5 s at
 * concurrency 64), loops, then prints the writes/s and p50. With RAFT_KV_TIMELINE=1 (our side) it
 * also prints the median time of each stage of a write (test/harness/raft-kv/timeline.ts), and
 * with `--show N` the events of N whole writes in order.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { RaftKvCluster } from '../../test/harness/raft-kv/cluster.js';
import { readTimeline } from '../../test/harness/raft-kv/timeline.js';
import { integerOption, secondsOption } from './args.js';
import { startEtcd } from './etcd.js';
import { runLoad, valueOfSize } from './load.js';
import { freePortRun } from './ports.js';

const { values } = parseArgs({
  options: {
    side: { type: 'string', default: 'swarmctl' },
    seconds: { type: 'string', default: '20' },
    /** With RAFT_KV_TIMELINE=1: also print this many writes' events (leader and n2) in order. */
    show: { type: 'string', default: '0' },
  },
});
const durationMs = secondsOption('seconds', values.seconds);
const show = integerOption('show', values.show, 0);
const dir = mkdtempSync(join(tmpdir(), 'trace-c1-'));
const value = valueOfSize(256);
try {
  if (values.side === 'etcd') {
    const etcd = await startEtcd(join(dir, 'etcd'), await freePortRun(24700, 6), 1);
    try {
      await etcd.moveLeader(0);
      const [leader, ...followers] = etcd.pids();
      process.stdout.write(`pids client=${process.pid} leader=${leader} followers=${followers.join(',')}\n`);
      const r = await runLoad({
        concurrency: 1,
        durationMs,
        op: (w, s) => etcd.put(0, Buffer.from(`k${w}-${s % 1000}`), value),
      });
      process.stdout.write(
        `etcd ${r.opsPerSec.toFixed(0)} w/s p50 ${r.p50Ms.toFixed(2)} ms client CPU/1k ${r.clientCpuMsPer1k.toFixed(0)}\n`,
      );
    } finally {
      await etcd.stop();
    }
  } else {
    mkdirSync(join(dir, 'swarmctl'));
    const ours = new RaftKvCluster({
      dir: join(dir, 'swarmctl'),
      size: 3,
      basePort: await freePortRun(24650, 3),
    });
    try {
      await ours.startAll();
      await ours.transferLeader(ours.members[0]!);
      const [leader, ...followers] = ours.members.map((m) => m.process!.pid);
      process.stdout.write(`pids client=${process.pid} leader=${leader} followers=${followers.join(',')}\n`);
      const text = value.toString('latin1');
      // JIT warm-up (see bench-raft.ts --warmup-seconds).
      await runLoad({
        concurrency: 64,
        durationMs: 5000,
        warmupMs: 0,
        op: (w, s) =>
          ours
            .client(ours.members[w % 3]!)
            .Put({ key: `warm${w}-${s % 1000}`, value: text }, { timeoutMs: 10_000 })
            .then(() => undefined),
      });
      const calls: [number, number][] = [];
      const us = (): number => Number(process.hrtime.bigint() / 1000n);
      const r = await runLoad({
        concurrency: 1,
        durationMs,
        op: async (w, s) => {
          const t0 = us();
          await ours
            .client(ours.members[0]!)
            .Put({ key: `k${w}-${s % 1000}`, value: text }, { timeoutMs: 10_000 });
          calls.push([t0, us()]);
        },
      });
      if (process.env.RAFT_KV_TIMELINE === '1') {
        await ours.stop();
        printStages(calls, join(dir, 'swarmctl'), show);
      }
      process.stdout.write(
        `swarmctl ${r.opsPerSec.toFixed(0)} w/s p50 ${r.p50Ms.toFixed(2)} ms client CPU/1k ${r.clientCpuMsPer1k.toFixed(0)}\n`,
      );
    } finally {
      await ours.stop();
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

/** Median offset (µs from the client's call) of each stage of a write, from the members' timelines. */
function printStages(calls: [number, number][], logDir: string, show: number): void {
  const events = new Map(['n1', 'n2', 'n3'].map((id) => [id, readTimeline(join(logDir, `${id}.log`))]));
  const stages: [string, string, (e: string) => boolean][] = [
    ['n1', 'leader handler starts', (e) => e.startsWith('put ')],
    ['n1', 'leader sends appends', (e) => e.startsWith('send append>')],
    ['n1', 'leader save starts', (e) => e.startsWith('save ') && e !== 'save 0'],
    ['n1', 'leader saved', (e) => e === 'saved'],
    ['n2', 'n2 receives append', (e) => e === 'recv append<n1'],
    ['n2', 'n2 save starts', (e) => e.startsWith('save ')],
    ['n2', 'n2 saved', (e) => e === 'saved'],
    ['n2', 'n2 sends append-resp', (e) => e.startsWith('send append-resp')],
    ['n1', 'leader receives first append-resp', (e) => e.startsWith('recv append-resp')],
    ['n1', 'leader handler returns', (e) => e.startsWith('put-done ')],
  ];
  const offsets = stages.map(() => [] as number[]);
  const total: number[] = [];
  const gaps = {
    request: [] as number[],
    /** From the call to the later of the leader's own save and the first follower's ack. */
    quorumDurable: [] as number[],
    commitToReturn: [] as number[],
    response: [] as number[],
  };
  /** Writes whose leader's own save ended after the first follower's ack arrived. */
  let ownSaveLast = 0;
  for (const [t0, t1] of calls.slice(100)) {
    total.push(t1 - t0);
    const at = stages.map(([node, , match], i) => {
      const hit = events.get(node)!.find(([t, e]) => t >= t0 && t <= t1 && match(e));
      if (hit) offsets[i]!.push(hit[0] - t0);
      return hit?.[0];
    });
    const [start, , , saved, , , , , resp, done] = at;
    if (start !== undefined) gaps.request.push(start - t0);
    if (saved !== undefined && resp !== undefined) {
      gaps.quorumDurable.push(Math.max(saved, resp) - t0);
      if (saved > resp) ownSaveLast++;
      if (done !== undefined) gaps.commitToReturn.push(done - Math.max(saved, resp));
    }
    if (done !== undefined) gaps.response.push(t1 - done);
  }
  // A few whole writes (from the middle of the run), to see what overlaps what.
  const middle = calls.length >> 1;
  for (const [t0, t1] of calls.slice(middle, middle + show)) {
    const lines: [number, string][] = [];
    for (const id of ['n1', 'n2'])
      for (const [t, e] of events.get(id)!) if (t >= t0 && t <= t1) lines.push([t - t0, `${id} ${e}`]);
    lines.sort((a, b) => a[0] - b[0]);
    process.stdout.write(`write of ${t1 - t0} µs:\n`);
    for (const [t, e] of lines) process.stdout.write(`${String(t).padStart(6)} µs ${e}\n`);
  }
  for (const [k, xs] of Object.entries(gaps))
    process.stdout.write(
      `gap ${k.padEnd(32)} ${String([...xs].sort((a, b) => a - b)[xs.length >> 1]).padStart(6)} µs\n`,
    );
  process.stdout.write(
    `leader's own save ended after the first ack in ${ownSaveLast} of ${gaps.quorumDurable.length} writes\n`,
  );
  const med = (xs: number[]): string => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length === 0 ? '-' : String(s[Math.floor(s.length / 2)]);
  };
  for (const [i, [, name]] of stages.entries())
    process.stdout.write(`${name.padEnd(36)} ${med(offsets[i]!).padStart(6)} µs (${offsets[i]!.length})\n`);
  process.stdout.write(
    `${'client has the response'.padEnd(36)} ${med(total).padStart(6)} µs (${total.length})\n`,
  );
}

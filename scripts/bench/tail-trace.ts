/**
 * Where a write's time goes at high concurrency, by latency band (our side only):
 *   node --import tsx scripts/bench/tail-trace.ts [--concurrency 1024 --seconds 5 --client h2]
 * Runs bench:raft's members (bundled, n1 leading, RAFT_KV_TIMELINE=1) and load generator, keeps
 * every write's call and completion time, and joins them with the member's `put`/`put-done`
 * marks for the key. For the writes in each band of the latency distribution (p0–50, p50–90,
 * p90–99, p99–100) it prints the median of three parts: request (call to the member's handler:
 * the generator's send, the wire, the member's read), Raft (handler to its return: forward,
 * replication, fsync, commit, apply) and response (return to the generator having it), overall
 * and by the member written to. It also counts the generator's own loop stalls (a 5 ms timer late
 * by more than 20 ms). The marks cost the members CPU: compare bands within a run, not runs with
 * bench:raft's figures.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { readTimeline } from '../../test/harness/raft-kv/timeline.js';
import { integerOption, secondsOption } from './args.js';
import { runLoad } from './load.js';
import {
  defaultTarget,
  endpointOf,
  type LoadTarget,
  loadKey,
  openTarget,
  parseLoadClient,
  warmUp,
} from './load-target.js';
import { bundledMembers } from './member-bundle.js';
import { freePortRun } from './ports.js';

const { values } = parseArgs({
  options: {
    concurrency: { type: 'string', default: '1024' },
    seconds: { type: 'string', default: '5' },
    client: { type: 'string', default: 'h2' },
  },
});
const concurrency = integerOption('concurrency', values.concurrency);
const durationMs = secondsOption('seconds', values.seconds);
const client = parseLoadClient(values.client);

/** Monotonic microseconds, the clock of the members' timelines. */
const us = (): number => Number(process.hrtime.bigint() / 1000n);

interface Write {
  t0: number;
  t1: number;
  member: number;
  key: string;
}
interface Parts {
  latency: number;
  request: number;
  raft: number;
  response: number;
  member: number;
}

const dir = mkdtempSync(join(tmpdir(), 'tail-trace-'));
const ours = await bundledMembers(dir, {
  basePort: await freePortRun(24650, 3),
  env: { RAFT_KV_TIMELINE: '1' },
});
try {
  await ours.startAll();
  await ours.transferLeader(ours.members[0]!);
  const target = (keyPrefix: string): LoadTarget =>
    defaultTarget(
      'raft-kv',
      ours.members.map((m) => m.address),
      client,
      keyPrefix,
    );
  await warmUp(target('warm'), 5000);

  const load = openTarget(target('k'));
  const warmupMs = 1000;
  const writes: Write[] = [];
  const stalls: number[] = [];
  let last = us();
  const stallTimer = setInterval(() => {
    const now = us();
    if (now - last > 20_000) stalls.push(now - last);
    last = now;
  }, 5);
  const from = us() + warmupMs * 1000;
  const r = await runLoad({
    concurrency,
    durationMs,
    warmupMs,
    op: async (w, s) => {
      const t0 = us();
      await load.op(w, s);
      writes.push({ t0, t1: us(), member: endpointOf(w, ours.members.length), key: loadKey('k', w, s) });
    },
  });
  clearInterval(stallTimer);
  load.close();
  await ours.stop();

  const marks = ours.members.map((m) => {
    const byKey = new Map<string, { put?: number; done?: number }>();
    for (const [t, e] of readTimeline(join(dir, 'swarmctl', `${m.id}.log`))) {
      const space = e.indexOf(' ');
      const kind = e.slice(0, space);
      if (kind !== 'put' && kind !== 'put-done') continue;
      const key = e.slice(space + 1);
      const k = byKey.get(key) ?? {};
      if (kind === 'put') k.put = t;
      else k.done = t;
      byKey.set(key, k);
    }
    return byKey;
  });
  const to = from + durationMs * 1000;
  const parts: Parts[] = [];
  let unmatched = 0;
  for (const w of writes) {
    if (w.t0 < from || w.t1 > to) continue;
    const m = marks[w.member]!.get(w.key);
    if (m?.put === undefined || m.done === undefined || m.put < w.t0 || m.done > w.t1) {
      unmatched++;
      continue;
    }
    parts.push({
      latency: w.t1 - w.t0,
      request: m.put - w.t0,
      raft: m.done - m.put,
      response: w.t1 - m.done,
      member: w.member,
    });
  }
  parts.sort((a, b) => a.latency - b.latency);
  const median = (xs: number[]): string => {
    const s = xs.sort((a, b) => a - b);
    return s.length === 0 ? '-' : (s[s.length >> 1]! / 1000).toFixed(1);
  };
  const row = (name: string, ps: Parts[]): string =>
    `${name.padEnd(10)} ${String(ps.length).padStart(6)} ${(
      ['latency', 'request', 'raft', 'response'] as const
    )
      .map((k) => median(ps.map((p) => p[k])).padStart(9))
      .join('')}\n`;
  const out = [
    `${r.opsPerSec.toFixed(0)} w/s, p50 ${r.p50Ms.toFixed(1)} ms, p99 ${r.p99Ms.toFixed(1)} ms at concurrency ${concurrency} (${client} client, loop ${Math.round(r.clientLoopBusy * 100)} % busy); ${parts.length} writes joined, ${unmatched} without marks\n`,
    `generator loop stalls > 20 ms: ${stalls.length}, longest ${(Math.max(0, ...stalls) / 1000).toFixed(0)} ms\n`,
    `band       writes  latency  request     raft response (medians, ms)\n`,
  ];
  const n = parts.length;
  for (const [lo, hi] of [
    [0, 0.5],
    [0.5, 0.9],
    [0.9, 0.99],
    [0.99, 1],
  ] as const) {
    const band = parts.slice(Math.floor(lo * n), Math.floor(hi * n));
    out.push(row(`p${lo * 100}-${hi * 100}`, band));
    for (const [i, m] of ours.members.entries())
      out.push(
        row(
          `  to ${m.id}`,
          band.filter((p) => p.member === i),
        ),
      );
  }
  process.stdout.write(out.join(''));
} finally {
  await ours.stop();
  rmSync(dir, { recursive: true, force: true });
}

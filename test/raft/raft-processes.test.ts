import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../src/common/index.js';
import { type Member, RaftKvCluster } from '../harness/raft-kv/cluster.js';

/**
 * Three Raft members as separate processes on loopback, real WAL files with fsync and the gRPC
 * transport. The leader is killed (SIGKILL) under a stream of writes.
 */
let dir: string;
let cluster: RaftKvCluster;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'raft-procs-'));
  // Small snapshot interval and tail so that a member that was down for a while must catch up
  // by snapshot rather than by log entries.
  cluster = new RaftKvCluster({ dir, size: 3, basePort: 24310, snapshotEvery: 200, keep: 50 });
  await cluster.startAll();
});

afterAll(async () => {
  await cluster.stop();
  rmSync(dir, { recursive: true, force: true });
});

interface Writer {
  acked: Map<string, string>;
  /** For each acknowledged write: when the attempt that succeeded was sent, and when it was acked. */
  acks: { sentAt: number; ackedAt: number }[];
  stop: boolean;
  done: Promise<void>;
}

/** Workers that write unique keys with a client session, retrying on any member until acked. */
function startWriters(workers: number): Writer {
  const w: Writer = { acked: new Map(), acks: [], stop: false, done: Promise.resolve() };
  const one = async (id: number): Promise<void> => {
    for (let seq = 1; !w.stop; seq++) {
      const key = `w${id}-${seq}`;
      const value = `v-${key}`;
      for (let attempt = 0; !w.stop; attempt++) {
        const live = cluster.members.filter((m) => m.process);
        const target = live[(id + attempt) % live.length]!;
        const sentAt = performance.now();
        try {
          await cluster.client(target).Put({ key, value, clientId: `w${id}`, seq }, { timeoutMs: 1500 });
          w.acked.set(key, value);
          w.acks.push({ sentAt, ackedAt: performance.now() });
          break;
        } catch {
          // unknown outcome: the retry carries the same session, so it is applied at most once
        }
      }
    }
  };
  w.done = Promise.all(Array.from({ length: workers }, (_, i) => one(i))).then(() => undefined);
  return w;
}

async function ackedAtLeast(w: Writer, n: number, what: string): Promise<void> {
  await waitFor(
    () => (w.acked.size >= n ? { done: true, value: 0 } : { done: false, state: `${w.acked.size} acked` }),
    {
      timeoutMs: 30_000,
      what,
    },
  );
}

describe('raft members as separate processes', () => {
  let killed: Member;

  it('elects a new leader and resumes writes within 3 s after the leader is killed, losing no acknowledged write', async () => {
    const leader = await cluster.waitForLeader();
    const oldTerm = (await cluster.status(leader)).term;
    const writer = startWriters(8);
    await ackedAtLeast(writer, 300, 'writes before the kill');
    const killedAt = performance.now();
    await cluster.kill(leader, 'SIGKILL');
    killed = leader;
    // Resumed = a write *sent* after the kill is acknowledged (it needs the new leader).
    const firstNewAck = (): number | undefined => writer.acks.find((a) => a.sentAt > killedAt)?.ackedAt;
    await waitFor(
      () =>
        firstNewAck() !== undefined
          ? { done: true, value: 0 }
          : { done: false, state: `no write sent after the kill acknowledged (${writer.acked.size} total)` },
      { timeoutMs: 10_000, intervalMs: 10, what: 'a write sent after the kill to be acknowledged' },
    );
    const resumeMs = firstNewAck()! - killedAt;
    const next = await cluster.waitForLeader();
    expect(next.id).not.toBe(leader.id);
    expect((await cluster.status(next)).term).toBeGreaterThan(oldTerm);
    expect(resumeMs).toBeLessThan(3000);
    // Keep writing well past the snapshot interval so the dead member falls behind the leader's log.
    await ackedAtLeast(writer, writer.acked.size + 600, 'writes after the kill');
    writer.stop = true;
    await writer.done;

    const reader = cluster.client(next);
    const keys = [...writer.acked.keys()];
    for (let i = 0; i < keys.length; i += 64) {
      const batch = keys.slice(i, i + 64);
      const values = await Promise.all(batch.map((key) => reader.Get({ key }, { timeoutMs: 5000 })));
      batch.forEach((key, j) => {
        expect(values[j]!.value, key).toBe(writer.acked.get(key));
      });
    }
    console.log(
      `writes resumed ${resumeMs.toFixed(0)} ms after the leader was killed; ${keys.length} acknowledged writes all present`,
    );
  });

  it('catches a restarted member up by snapshot when it is behind the compacted log, to the same state', async () => {
    const leader = await cluster.waitForLeader();
    const lead = await cluster.status(leader);
    // The killed member's log ends far below the leader's first retained entry: only a snapshot can help.
    expect(lead.firstIndex).toBeGreaterThan(400);
    await cluster.start(killed, false);
    const caughtUp = await waitFor(
      async () => {
        const [a, b] = await Promise.all([cluster.status(leader, true), cluster.status(killed, true)]);
        return b.applied >= a.commit && a.digest === b.digest
          ? { done: true, value: b }
          : {
              done: false,
              state: `leader commit ${a.commit}, restarted applied ${b.applied} last ${b.lastIndex}`,
            };
      },
      { timeoutMs: 20_000, what: 'the restarted member to catch up' },
    );
    expect(caughtUp.firstIndex).toBeGreaterThan(1);
    const all = await Promise.all(cluster.members.map((m) => cluster.status(m, true)));
    expect(all.every((s) => typeof s.digest === 'string')).toBe(true);
    expect(new Set(all.map((s) => s.digest)).size).toBe(1);
  });
});

import { afterEach, describe, expect, it } from 'vitest';
import { isSwarmError, ManualClock, type Probe, SeededRandom, waitFor } from '../../common/index.js';
import { RaftDriver, type RaftDriverOptions } from './driver.js';
import { CounterMachine, FakeNetwork, MemoryStorage, type TraceEvent } from './test-fakes.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

interface Member {
  driver: RaftDriver<number>;
  storage: MemoryStorage;
  sm: CounterMachine;
  stop: AbortController;
  done: Promise<void>;
}

class Harness {
  readonly clock = new ManualClock();
  readonly trace: TraceEvent[] = [];
  readonly net = new FakeNetwork(this.trace);
  readonly members = new Map<string, Member>();

  start(id: string, options: RaftDriverOptions, storage?: MemoryStorage, seed = 7): Member {
    const st = storage ?? new MemoryStorage(id, this.trace);
    const sm = new CounterMachine();
    const driver = new RaftDriver<number>(
      {
        id,
        clock: this.clock,
        random: new SeededRandom(seed + id.charCodeAt(0)),
        storage: st,
        transport: this.net.transport(id),
        stateMachine: sm,
      },
      options,
    );
    const stop = new AbortController();
    const m: Member = { driver, storage: st, sm, stop, done: driver.run(stop.signal) };
    this.members.set(id, m);
    return m;
  }

  get(id: string): Member {
    return this.members.get(id)!;
  }

  /** Advances logical time one tick per probe until `check` holds. */
  async until<T>(what: string, check: () => Probe<T>): Promise<T> {
    return waitFor(
      () => {
        const r = check();
        if (!r.done) this.clock.advance(100);
        return r;
      },
      { timeoutMs: 5000, intervalMs: 1, what },
    );
  }

  leader(): string | null {
    const ls = [...this.members].filter(([, m]) => safeRole(m) === 'leader').map(([id]) => id);
    return ls.length === 1 ? ls[0]! : null;
  }

  async waitLeader(): Promise<string> {
    return this.until('a leader', () => {
      const l = this.leader();
      return l ? { done: true, value: l } : { done: false, state: 'no single leader' };
    });
  }

  async stopAll(): Promise<void> {
    for (const m of this.members.values()) m.stop.abort();
    await Promise.allSettled([...this.members.values()].map((m) => m.done));
  }
}

function safeRole(m: Member): string {
  try {
    return m.driver.status().role;
  } catch {
    return 'stopped';
  }
}

/** Records a proposal's outcome as it settles: its result, or its error. */
function settle(p: Promise<{ result: number | undefined }>): { outcome: unknown } {
  const box: { outcome: unknown } = { outcome: undefined };
  p.then(
    (r) => {
      box.outcome = r.result;
    },
    (e: unknown) => {
      box.outcome = e;
    },
  );
  return box;
}

const three: RaftDriverOptions = { bootstrap: { voters: ['a', 'b', 'c'], learners: [] } };
let h: Harness;

afterEach(async () => {
  await h.stopAll();
});

describe('RaftDriver', () => {
  it('elects a leader on ticks from the injected clock and resolves proposals with the applied result', async () => {
    h = new Harness();
    for (const id of ['a', 'b', 'c']) h.start(id, three);
    const leader = await h.waitLeader();
    const r1 = await h.get(leader).driver.propose(enc('xyz'));
    const r2 = await h.get(leader).driver.propose(enc('ab'));
    expect(r1.result).toBe(3);
    expect(r2.result).toBe(5);
    await h.until('followers applied', () => {
      const totals = [...h.members.values()].map((m) => m.sm.total);
      return totals.every((t) => t === 5)
        ? { done: true, value: 0 }
        : { done: false, state: totals.join(',') };
    });
  });

  it('2.2 #37 (driver): a single voter does not acknowledge a write before its own fsync', async () => {
    h = new Harness();
    const a = h.start('a', { bootstrap: { voters: ['a'], learners: [] } });
    await h.waitLeader();
    a.storage.hold = true;
    let resolved = false;
    const p = a.driver.propose(enc('x')).then((r) => {
      resolved = true;
      return r;
    });
    await h.until('save in flight', () =>
      a.storage.pendingSaves > 0 ? { done: true, value: 0 } : { done: false, state: 'no save pending' },
    );
    // Let ticks and the event loop run while the fsync is held.
    let turns = 0;
    await h.until('five ticks', () =>
      ++turns >= 5 ? { done: true, value: 0 } : { done: false, state: `${turns}` },
    );
    expect(resolved).toBe(false);
    expect(a.driver.status().commit).toBeLessThan(a.driver.status().lastIndex);
    a.storage.release();
    expect((await p).result).toBe(1);
  });

  it('2.2 #37 (driver): votes and append acks leave only after the save that makes them true', async () => {
    h = new Harness();
    for (const id of ['a', 'b', 'c']) h.start(id, three);
    const leader = await h.waitLeader();
    await h.get(leader).driver.propose(enc('x'));
    await h.get(leader).driver.propose(enc('y'));
    // For every response a node sent, a save by that node covering the acked index and term came first.
    const saved = new Map<string, { lastIndex: number; term: number }>();
    let checked = 0;
    for (const ev of h.trace) {
      if (ev.kind === 'saved') {
        saved.set(ev.node, { lastIndex: ev.lastIndex, term: ev.term });
        continue;
      }
      const m = ev.message;
      if (m.type === 'vote-resp' && !m.reject) {
        expect(saved.get(ev.node)?.term).toBeGreaterThanOrEqual(m.term);
        checked++;
      }
      if (m.type === 'append-resp' && !m.reject && m.index > 1) {
        expect(saved.get(ev.node)?.lastIndex).toBeGreaterThanOrEqual(m.index);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(2);
  });

  it("pipelines: appends for new proposals go out while the leader's fsync is in flight; commit waits for it", async () => {
    h = new Harness();
    for (const id of ['a', 'b', 'c']) h.start(id, three);
    const leader = await h.waitLeader();
    const l = h.get(leader);
    await l.driver.propose(enc('w'));
    const base = l.driver.status().lastIndex;
    l.storage.hold = true;
    let settled = 0;
    const first = l.driver.propose(enc('x')).finally(() => settled++);
    await h.until('leader fsync in flight', () =>
      l.storage.pendingSaves > 0 ? { done: true, value: 0 } : { done: false, state: 'no save pending' },
    );
    const second = l.driver.propose(enc('yy')).finally(() => settled++);
    const sentUpTo = (): number => {
      let top = 0;
      for (const e of h.trace)
        if (e.kind === 'sent' && e.node === leader && e.message.type === 'append')
          for (const x of e.message.entries) top = Math.max(top, x.index);
      return top;
    };
    await h.until('second entry sent to followers', () =>
      sentUpTo() >= base + 2 ? { done: true, value: 0 } : { done: false, state: `sent up to ${sentUpTo()}` },
    );
    await h.until('followers acknowledged both', () => {
      const c = l.driver.status().commit;
      return c >= base + 2 ? { done: true, value: 0 } : { done: false, state: `commit ${c}` };
    });
    // Two followers are a quorum, but the leader applies only what is durable in its own log.
    expect(l.storage.pendingSaves).toBe(1);
    expect(settled).toBe(0);
    expect(l.driver.status().applied).toBe(base);
    l.storage.release();
    expect((await first).result).toBe(2);
    expect((await second).result).toBe(4);
  });

  it('forwards proposals from a follower and reads linearizably on leader and follower', async () => {
    h = new Harness();
    for (const id of ['a', 'b', 'c']) h.start(id, three);
    const leader = await h.waitLeader();
    const follower = ['a', 'b', 'c'].find((id) => id !== leader)!;
    const r = await h.get(follower).driver.propose(enc('four'));
    expect(r.result).toBe(4);
    const idx = await h.get(follower).driver.readIndex();
    expect(idx).toBeGreaterThanOrEqual(r.index);
    expect(h.get(follower).sm.total).toBe(4);
    expect(await h.get(leader).driver.readIndex()).toBeGreaterThanOrEqual(r.index);
  });

  it('2.2 #22 (driver): an isolated leader fails reads with NO_QUORUM or lost leadership, never answers', async () => {
    h = new Harness();
    for (const id of ['a', 'b', 'c']) h.start(id, three);
    const leader = await h.waitLeader();
    h.net.isolate(leader);
    const read = h
      .get(leader)
      .driver.readIndex()
      .then(
        () => 'answered',
        (e: unknown) => (isSwarmError(e) ? e.code : 'other'),
      );
    let outcome = '';
    void read.then((o) => {
      outcome = o;
    });
    await h.until('read settled', () =>
      outcome ? { done: true, value: 0 } : { done: false, state: 'pending' },
    );
    expect(['NO_QUORUM', 'NOT_LEADER', 'LOST_LEADERSHIP']).toContain(outcome);
  });

  it('2.2 #23 (driver): a follower read fails when the leader changes before confirming it, never returns old data', async () => {
    h = new Harness();
    for (const id of ['a', 'b', 'c']) h.start(id, { ...three, readTimeoutTicks: 100 });
    const leader = await h.waitLeader();
    const follower = ['a', 'b', 'c'].find((id) => id !== leader)!;
    h.net.isolate(leader);
    let outcome = '';
    void h
      .get(follower)
      .driver.readIndex()
      .then(
        () => {
          outcome = 'answered';
        },
        (e: unknown) => {
          outcome = isSwarmError(e) ? e.code : 'other';
        },
      );
    await h.until('read settled', () =>
      outcome ? { done: true, value: 0 } : { done: false, state: 'pending' },
    );
    expect(['LOST_LEADERSHIP', 'NOT_LEADER']).toContain(outcome);
    const next = await h.until('a new leader', () => {
      const l = [...h.members.keys()].find(
        (id) => id !== leader && h.get(id).driver.status().role === 'leader',
      );
      return l ? { done: true, value: l } : { done: false, state: 'none' };
    });
    const written = await h.get(next).driver.propose(enc('abc'));
    expect(await h.get(follower).driver.readIndex()).toBeGreaterThanOrEqual(written.index);
  });

  it('2.2 #15: a retried command with the same session is applied once', async () => {
    h = new Harness();
    for (const id of ['a', 'b', 'c']) h.start(id, three);
    const leader = await h.waitLeader();
    const session = { clientId: 'client-1', seq: 1 };
    const first = await h.get(leader).driver.propose(enc('aaaa'), { session });
    const retry = await h.get(leader).driver.propose(enc('aaaa'), { session });
    expect(first.result).toBe(4);
    expect(retry.result).toBe(4);
    expect(retry.index).toBeGreaterThan(first.index);
    expect(h.get(leader).sm.total).toBe(4);
  });

  it('2.2 #31/#34 (driver): snapshots every N entries, restarts from snapshot + tail without re-applying', async () => {
    h = new Harness();
    const opts: RaftDriverOptions = { ...three, snapshotEveryEntries: 5, keepEntriesAfterSnapshot: 2 };
    for (const id of ['a', 'b', 'c']) h.start(id, opts);
    const leader = await h.waitLeader();
    const lagging = ['a', 'b', 'c'].find((id) => id !== leader)!;
    h.net.isolate(lagging);
    for (let i = 0; i < 12; i++) await h.get(leader).driver.propose(enc('x'));
    expect(h.get(leader).storage.snapshotsSaved).toBeGreaterThan(0);
    expect(h.get(leader).driver.status().firstIndex).toBeGreaterThan(3);
    h.net.heal();
    await h.until('lagging node restored from a snapshot', () => {
      const m = h.get(lagging);
      return m.sm.total === 12 ? { done: true, value: 0 } : { done: false, state: `total ${m.sm.total}` };
    });
    expect(h.get(lagging).sm.restores).toBe(1);
    // Restart the leader from its storage: the state machine is rebuilt, applied entries are not re-applied.
    const old = h.get(leader);
    old.stop.abort();
    await old.done;
    const snapIndex = old.storage.state.snapshot!.meta.index;
    const restarted = h.start(leader, opts, old.storage);
    await h.until('restarted node caught up', () =>
      restarted.sm.total === 12
        ? { done: true, value: 0 }
        : { done: false, state: `total ${restarted.sm.total}` },
    );
    expect(restarted.sm.restores).toBeGreaterThanOrEqual(1);
    expect(restarted.sm.appliedIndexes.every((i) => i > snapIndex)).toBe(true);
  });

  it('members of one cluster take their snapshots at different indexes, each every N entries', async () => {
    h = new Harness();
    const opts: RaftDriverOptions = { ...three, snapshotEveryEntries: 6, keepEntriesAfterSnapshot: 1 };
    const ids = ['a', 'b', 'c'];
    for (const id of ids) h.start(id, opts);
    const leader = h.get(await h.waitLeader());
    for (let i = 0; i < 20; i++) await leader.driver.propose(enc('x'));
    await h.until('every member applied the 20 entries', () => {
      const totals = ids.map((id) => h.get(id).sm.total);
      return totals.every((t) => t === 20)
        ? { done: true, value: 0 }
        : { done: false, state: `totals ${totals}` };
    });
    const taken = new Map(ids.map((id) => [id, h.get(id).storage.snapshotIndexes]));
    const firsts = ids.map((id) => taken.get(id)![0]);
    expect(new Set(firsts).size, `first snapshot indexes ${firsts}`).toBe(3);
    for (const id of ids) {
      const idx = taken.get(id)!;
      expect(idx.length, `${id} took ${idx}`).toBeGreaterThanOrEqual(2);
      for (let i = 1; i < idx.length; i++)
        expect(idx[i]! - idx[i - 1]!, `${id} took ${idx}`).toBeLessThanOrEqual(6);
    }
  });

  it('applies and answers proposals while a snapshot is still being encoded, and saves the state as of its start', async () => {
    h = new Harness();
    const opts: RaftDriverOptions = { ...three, snapshotEveryEntries: 3, keepEntriesAfterSnapshot: 1 };
    for (const id of ['a', 'b', 'c']) h.start(id, opts).sm.holdSnapshots = true;
    const leader = h.get(await h.waitLeader());
    for (let i = 0; i < 3; i++) await leader.driver.propose(enc('x'));
    // A snapshot is due within every 3 entries: it began by now and is held, and later proposals
    // are still applied and answered.
    expect(leader.sm.heldSnapshots).toBe(1);
    const started = leader.sm.totalAtSnapshot!;
    const before = leader.sm.total;
    for (let i = 0; i < 3; i++) await leader.driver.propose(enc('yy'));
    expect(leader.sm.total).toBe(before + 6);
    expect(leader.storage.snapshotsSaved).toBe(0);
    leader.sm.releaseSnapshots();
    await h.until('the held snapshot saved', () =>
      leader.storage.snapshotsSaved > 0
        ? { done: true, value: 0 }
        : { done: false, state: `${leader.storage.snapshotsSaved} saved` },
    );
    const saved = JSON.parse(new TextDecoder().decode(leader.storage.state.snapshot!.data)) as {
      total: number;
    };
    expect(saved.total).toBe(started);
    expect(saved.total).toBeLessThan(leader.sm.total);
  });

  it('a restarted node never resolves a new proposal with an entry proposed by its previous run', async () => {
    h = new Harness();
    for (const id of ['a', 'b', 'c']) h.start(id, three);
    const leader = await h.waitLeader();
    const f = ['a', 'b', 'c'].find((id) => id !== leader)!;
    // The follower's proposal reaches the leader and commits, but the follower never hears of it.
    h.net.deafen(f);
    const lost = h
      .get(f)
      .driver.propose(enc('aaaa'))
      .then(
        () => 'applied',
        (e: unknown) => (isSwarmError(e) ? e.code : 'other'),
      );
    await h.until('entry committed without the follower', () => {
      const s = h.get(leader).sm.total;
      return s === 4 ? { done: true, value: 0 } : { done: false, state: `leader total ${s}` };
    });
    const old = h.get(f);
    old.stop.abort();
    expect(['STOPPED', 'LOST_LEADERSHIP']).toContain(await lost);
    await old.done;
    // The new run hears heartbeats but no entries yet, so it proposes before applying the old entry.
    h.net.deafen(f, (m) => m.type === 'append' && m.entries.length > 0);
    const restarted = h.start(f, three, old.storage);
    await h.until('restarted follower knows the leader', () => {
      const l = restarted.driver.status().leader;
      return l ? { done: true, value: l } : { done: false, state: 'no leader known' };
    });
    let fresh: number | string | undefined;
    void restarted.driver.propose(enc('bb')).then(
      (r) => {
        fresh = r.result;
      },
      (e: unknown) => {
        fresh = isSwarmError(e) ? e.code : 'other';
      },
    );
    await h.until('new entry committed', () => {
      const s = h.get(leader).sm.total;
      return s === 6 ? { done: true, value: 0 } : { done: false, state: `leader total ${s}` };
    });
    h.net.heal();
    await h.until('new proposal settled', () =>
      fresh === undefined ? { done: false, state: 'pending' } : { done: true, value: 0 },
    );
    // Its own entry (total 4 + 2), not the old run's entry at the same request sequence number (4).
    expect(fresh).toBe(6);
  });

  it('a forwarded proposal that never reaches the leader fails with a retryable DEADLINE_EXCEEDED', async () => {
    h = new Harness();
    for (const id of ['a', 'b', 'c']) h.start(id, { ...three, proposalTimeoutTicks: 5 });
    const leader = await h.waitLeader();
    const f = ['a', 'b', 'c'].find((id) => id !== leader)!;
    h.net.deafen(leader, (m) => m.type === 'propose');
    let outcome: unknown;
    void h
      .get(f)
      .driver.propose(enc('lost'))
      .then(
        () => {
          outcome = 'applied';
        },
        (e: unknown) => {
          outcome = e;
        },
      );
    await h.until('proposal settled', () =>
      outcome === undefined ? { done: false, state: 'pending' } : { done: true, value: 0 },
    );
    expect(outcome).toMatchObject({ code: 'DEADLINE_EXCEEDED', retryable: true });
    expect(h.get(leader).driver.status().leader).toBe(leader);
    h.net.heal();
    expect((await h.get(f).driver.propose(enc('ok'))).result).toBe(2);
  });

  it('a proposal made while no leader is known waits for the next leader and is applied once', async () => {
    h = new Harness();
    for (const id of ['a', 'b', 'c']) h.start(id, three);
    const leader = await h.waitLeader();
    const [f, other] = ['a', 'b', 'c'].filter((id) => id !== leader) as [string, string];
    // Alone, the follower cannot elect anyone: it stays without a leader until the network heals.
    h.net.isolate(leader);
    h.net.isolate(other);
    await h.until('the follower lost its leader', () => {
      const s = h.get(f).driver.status();
      return s.leader === null ? { done: true, value: 0 } : { done: false, state: `leader ${s.leader}` };
    });
    let outcome: unknown;
    void h
      .get(f)
      .driver.propose(enc('wait'))
      .then(
        (r) => {
          outcome = r.result;
        },
        (e: unknown) => {
          outcome = e;
        },
      );
    h.clock.advance(300);
    await new Promise((r) => setImmediate(r));
    expect(outcome).toBeUndefined();
    h.net.heal();
    await h.until('proposal settled', () =>
      outcome === undefined ? { done: false, state: 'pending' } : { done: true, value: 0 },
    );
    expect(outcome).toBe(4);
    expect(h.get(f).sm.total).toBe(4);
  });

  it('a forwarded proposal lost with its leader is proposed again to the next leader and applied once', async () => {
    h = new Harness();
    for (const id of ['a', 'b', 'c']) h.start(id, three);
    const leader = await h.waitLeader();
    const f = ['a', 'b', 'c'].find((id) => id !== leader)!;
    h.net.deafen(leader, (m) => m.type === 'propose');
    const settled = settle(h.get(f).driver.propose(enc('lost')));
    h.clock.advance(100);
    await new Promise((r) => setImmediate(r));
    expect(settled.outcome).toBeUndefined();
    h.net.isolate(leader);
    await h.until('proposal settled', () =>
      settled.outcome === undefined ? { done: false, state: 'pending' } : { done: true, value: 0 },
    );
    expect(settled.outcome).toBe(4);
    expect(h.get(f).sm.total).toBe(4);
  });

  it('a forwarded proposal committed by the next leader is applied once, never proposed again', async () => {
    h = new Harness();
    for (const id of ['a', 'b', 'c']) h.start(id, three);
    const leader = await h.waitLeader();
    const [f, other] = ['a', 'b', 'c'].filter((id) => id !== leader) as [string, string];
    // The entry reaches the other follower but not the proposer, then the leader goes away.
    h.net.deafen(f, (m) => m.type === 'append' && m.entries.length > 0);
    const settled = settle(h.get(f).driver.propose(enc('once')));
    await h.until('entry on the other follower', () =>
      h.get(other).sm.total === 4 ? { done: true, value: 0 } : { done: false, state: 'not yet' },
    );
    h.net.heal();
    h.net.isolate(leader);
    await h.until('proposal settled', () =>
      settled.outcome === undefined ? { done: false, state: 'pending' } : { done: true, value: 0 },
    );
    expect(settled.outcome).toBe(4);
    const next = (await h.get(other).driver.propose(enc('xx'))).result;
    expect(next).toBe(6);
    await h.until('the proposer caught up', () =>
      h.get(f).sm.total === 6 ? { done: true, value: 0 } : { done: false, state: `${h.get(f).sm.total}` },
    );
  });

  it('rejects a proposal timeout that is not a positive integer, naming the field', () => {
    h = new Harness();
    expect(() => h.start('a', { ...three, proposalTimeoutTicks: 0 })).toThrow(/proposalTimeoutTicks/);
  });

  it('rejects pending proposals with STOPPED when the node stops', async () => {
    h = new Harness();
    const a = h.start('a', { bootstrap: { voters: ['a'], learners: [] } });
    await h.waitLeader();
    a.storage.hold = true;
    const p = a.driver.propose(enc('x'));
    a.stop.abort();
    await expect(p).rejects.toMatchObject({ code: 'STOPPED' });
    a.storage.release();
    await a.done;
  });
});

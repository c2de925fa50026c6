import { describe, expect, it } from 'vitest';
import { SeededRandom } from '../../common/index.js';
import type { Message } from '../types.js';
import { bootstrapState, RaftCore } from './raft.js';
import { stateWithLog, TestCluster } from './test-cluster.js';

const abc = { voters: ['a', 'b', 'c'], learners: [] };

function vote(from: string, to: string, term: number, lastIndex: number, lastTerm: number): Message {
  return { type: 'vote', from, to, term, lastIndex, lastTerm, transfer: false };
}

describe('election (paper §5.1, §5.2, §5.4.1)', () => {
  it('2.2 #1: follower, candidate and leader adopt a higher term and become followers', () => {
    const c = new TestCluster(['a', 'b', 'c'], { options: { preVote: false } });
    c.elect('a');
    const leader = c.core('a');
    leader.step({ type: 'heartbeat', from: 'b', to: 'a', term: 5, commit: 0, readRound: 0 });
    expect(leader.status()).toMatchObject({ role: 'follower', term: 5, leader: 'b' });

    const follower = c.core('c');
    follower.step({
      type: 'append-resp',
      from: 'b',
      to: 'c',
      term: 9,
      index: 0,
      reject: false,
      hintIndex: 0,
      hintTerm: 0,
    });
    expect(follower.status()).toMatchObject({ role: 'follower', term: 9, leader: null });

    const cand = new TestCluster(['a', 'b', 'c'], { options: { preVote: false } });
    cand.isolate('b');
    cand.core('b').campaign();
    expect(cand.core('b').role).toBe('candidate');
    const t = cand.core('b').term;
    cand.core('b').step(vote('c', 'b', t + 3, 1, 1));
    expect(cand.core('b').status()).toMatchObject({ role: 'follower', term: t + 3 });
  });

  it('2.2 #2: lower-term messages change no state and never truncate', () => {
    const state = stateWithLog(abc, [2, 2], 3, 1);
    for (const checkQuorum of [true, false]) {
      const n = new RaftCore(
        { id: 'b', random: new SeededRandom(1) },
        { checkQuorum, preVote: false },
        state,
      );
      n.ready();
      const before = n.status();
      n.step({
        type: 'append',
        from: 'a',
        to: 'b',
        term: 1,
        prevIndex: 1,
        prevTerm: 1,
        entries: [{ term: 1, index: 2, type: 'normal', data: new Uint8Array(0) }],
        commit: 2,
      });
      n.step(vote('c', 'b', 2, 10, 2));
      const after = n.status();
      expect(after).toMatchObject({ term: 3, lastIndex: 3, commit: 1, vote: null, role: 'follower' });
      expect(after.lastIndex).toBe(before.lastIndex);
      const rd = n.ready();
      // With check quorum the stale leader is told our term (so it steps down); nothing else.
      const replies = rd.persistedMessages.map((m) => `${m.type}:${m.term}`);
      expect(replies).toEqual(checkQuorum ? ['append-resp:3'] : []);
    }
  });

  it('2.2 #3: one vote per term, durable before the response, and kept across a restart', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    const b = c.core('b');
    b.step(vote('a', 'b', 2, 1, 1));
    const rd = b.ready();
    expect(rd.hardState).toMatchObject({ term: 2, vote: 'a' });
    expect(rd.mustSync).toBe(true);
    expect(rd.messages.filter((m) => m.type === 'vote-resp')).toEqual([]);
    expect(rd.persistedMessages).toMatchObject([{ type: 'vote-resp', to: 'a', reject: false }]);
    // The Ready is made durable the way the driver would.
    c.node('b').disk.hardState = rd.hardState!;
    b.persisted(rd.persist);
    b.step(vote('c', 'b', 2, 1, 1));
    expect(b.ready().persistedMessages).toMatchObject([{ type: 'vote-resp', to: 'c', reject: true }]);
    c.crash('b');
    c.restart('b');
    c.core('b').step(vote('c', 'b', 2, 1, 1));
    expect(c.core('b').ready().persistedMessages).toMatchObject([
      { type: 'vote-resp', to: 'c', reject: true },
    ]);
  });

  it('2.2 #4: a silent follower campaigns after a timeout in [T, 2T); a stuck candidate retries with term+1', () => {
    const seen = new Set<number>();
    for (let seed = 1; seed <= 200; seed++) {
      const n = new RaftCore(
        { id: 'a', random: new SeededRandom(seed) },
        { preVote: false },
        bootstrapState(abc),
      );
      n.ready();
      let ticks = 0;
      while (n.role === 'follower') {
        n.tick();
        ticks++;
      }
      seen.add(ticks);
      expect(ticks).toBeGreaterThanOrEqual(10);
      expect(ticks).toBeLessThan(20);
      expect(n.status()).toMatchObject({ role: 'candidate', term: 2, vote: 'a' });
      const rd = n.ready();
      expect(rd.messages.map((m) => `${m.type}>${m.to}:${m.term}`)).toEqual(['vote>b:2', 'vote>c:2']);
      n.persisted(rd.persist);
      for (let i = 0; i < 20 && n.term === 2; i++) n.tick();
      expect(n.status()).toMatchObject({ role: 'candidate', term: 3 });
    }
    // The timeout is really randomised over the whole window.
    expect(seen.size).toBe(10);
  });

  it('2.2 #5: split votes resolve: one leader, ≥99% within 3T and all within 10T (1,000 seeds × 3/5/7)', () => {
    const T = 10;
    for (const size of [3, 5, 7]) {
      const ids = Array.from({ length: size }, (_, i) => `n${i}`);
      let within3T = 0;
      let worst = 0;
      for (let seed = 1; seed <= 1000; seed++) {
        const c = new TestCluster(ids, { seed: seed * 16 });
        let ticks = 0;
        while (c.leaders().length === 0 && ticks < 10 * T) {
          c.tickAll(1);
          ticks++;
        }
        expect(c.leaders()).toHaveLength(1);
        if (ticks <= 3 * T) within3T++;
        worst = Math.max(worst, ticks);
      }
      expect(within3T).toBeGreaterThanOrEqual(990);
      expect(worst).toBeLessThanOrEqual(10 * T);
    }
  });

  it('2.2 #6: a candidate hearing a leader of its term falls back to follower', () => {
    const c = new TestCluster(['a', 'b', 'c'], { options: { preVote: false } });
    c.isolate('c');
    c.core('c').campaign();
    expect(c.core('c').role).toBe('candidate');
    const term = c.core('c').term;
    c.core('c').step({ type: 'heartbeat', from: 'a', to: 'c', term, commit: 0, readRound: 0 });
    expect(c.core('c').status()).toMatchObject({ role: 'follower', leader: 'a', term });
  });

  it('2.2 #7: a stale log cannot win; the new leader overwrites only uncommitted entries', () => {
    const n = new RaftCore({ id: 'b', random: new SeededRandom(1) }, {}, stateWithLog(abc, [2, 2], 2));
    n.ready();
    n.step(vote('a', 'b', 3, 5, 1)); // longer log, older last term
    n.step(vote('c', 'b', 3, 2, 2)); // same last term, shorter
    expect(n.ready().persistedMessages.map((m) => m.type === 'vote-resp' && m.reject)).toEqual([true, true]);

    const five = { voters: ['a', 'b', 'c', 'd', 'e'], learners: [] };
    const c = new TestCluster(['a', 'b', 'c', 'd', 'e'], {
      states: {
        a: stateWithLog(five, [2], 2),
        b: stateWithLog(five, [2], 2),
        c: stateWithLog(five, [], 3),
        d: stateWithLog(five, [], 3),
        e: stateWithLog(five, [], 3),
      },
    });
    c.elect('c');
    expect(c.leader()).toBe('c');
    c.stabilize();
    const expected = c.logOf('c');
    expect(expected).toEqual(['1:1', '4:2']);
    for (const id of ['a', 'b', 'd', 'e']) expect(c.logOf(id)).toEqual(expected);
  });

  it('2.2 #8: a single voter elects itself at once, with and without pre-vote', () => {
    for (const preVote of [true, false]) {
      const c = new TestCluster(['a'], { options: { preVote } });
      c.elect('a');
      expect(c.leader()).toBe('a');
      expect(c.sent).toEqual([]);
      c.propose('a', 'x');
      expect(c.node('a').applied).toEqual(['x']);
    }
  });
});

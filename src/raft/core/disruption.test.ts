import { describe, expect, it } from 'vitest';
import { isSwarmError } from '../../common/index.js';
import { bytes, TestCluster } from './test-cluster.js';

const T = 10;

function terms(c: TestCluster, ids: string[]): number[] {
  return ids.map((id) => c.core(id).term);
}

describe('disruption, check quorum, pre-vote (thesis §9.6, §4.2.3)', () => {
  it('2.2 #16: an isolated leader steps down within 2T and rejects proposals; a connected one stays', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.elect('a');
    const term = c.core('a').term;
    c.tickAll(10 * T);
    expect(c.leader()).toBe('a');
    expect(c.core('a').term).toBe(term);

    c.isolate('a');
    let ticks = 0;
    while (c.core('a').role === 'leader') {
      c.tick('a');
      ticks++;
    }
    expect(ticks).toBeLessThanOrEqual(2 * T);
    let code = '';
    try {
      c.core('a').propose(bytes('x'));
    } catch (e) {
      code = isSwarmError(e) ? e.code : 'other';
    }
    expect(code).toBe('NOT_LEADER');
  });

  it('2.2 #17: with pre-vote a rejoining partitioned follower disturbs nobody; without pre-vote it deposes the leader', () => {
    for (const preVote of [true, false]) {
      const c = new TestCluster(['a', 'b', 'c'], { options: { preVote } });
      c.elect('a');
      c.isolate('c');
      for (let i = 0; i < 3; i++) {
        c.propose('a', `w${i}`);
        c.tickAll(1);
      }
      c.tickAll(5 * T);
      const before = terms(c, ['a', 'b']);
      c.heal();
      // A delayed heartbeat from the leader reaches the rejoined node first.
      c.tickAll(3 * T);
      if (preVote) {
        expect(c.leader()).toBe('a');
        expect(terms(c, ['a', 'b', 'c'])).toEqual([...before, before[0]]);
      } else {
        // c's inflated term forces a step-down and a new election.
        expect(c.core('a').term).toBeGreaterThan(before[0]!);
      }
    }
    // A rejoining node whose log is NOT behind: only the leader lease protects the leader.
    const c = new TestCluster(['a', 'b', 'c']);
    c.elect('a');
    c.isolate('c');
    c.tickAll(5 * T);
    c.heal();
    c.core('c').campaign();
    c.stabilize();
    c.tickAll(3 * T);
    expect(c.leader()).toBe('a');
    expect(terms(c, ['a', 'b', 'c'])).toEqual([2, 2, 2]);
  });

  it('2.2 #18: voters in a leader lease refuse pre-votes; once the leader is silent for T a new one is elected', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.elect('a');
    c.core('c').campaign();
    c.process('c');
    c.stabilize();
    const refused = c.sent.filter((m) => m.type === 'pre-vote-resp' && m.to === 'c');
    expect(refused).toEqual([]); // ignored, not even answered
    c.tickAll(1);
    expect(c.leaders()).toEqual(['a']);
    expect(c.core('c').term).toBe(c.core('a').term);
    c.crash('a');
    let ticks = 0;
    while (c.leaders().length === 0 && ticks < 10 * T) {
      c.tickAll(1);
      ticks++;
    }
    expect(['b', 'c']).toContain(c.leader());
    // Nobody campaigns before the lease (one election timeout) has run out.
    expect(ticks).toBeGreaterThanOrEqual(T);
  });

  it('2.2 #19: pre-vote liveness: lagging rejoin + leader loss, split pre-votes, and a stuck higher-term candidate', () => {
    // A lagging node rejoins just as the leader is cut off: the up-to-date node still wins.
    const c = new TestCluster(['a', 'b', 'c']);
    c.elect('a');
    c.isolate('c');
    c.propose('a', 'x');
    c.tickAll(2);
    c.heal();
    c.isolate('a');
    c.tickAll(4 * T);
    expect(c.leaders().filter((l) => l !== 'a')).toEqual(['b']);

    // Split pre-vote: two nodes campaign at once; a later round completes.
    const s = new TestCluster(['a', 'b', 'c']);
    s.elect('a');
    s.crash('a');
    s.core('b').campaign();
    s.core('c').campaign();
    s.process('b');
    s.process('c');
    s.stabilize();
    let ticks = 0;
    while (s.leaders().length === 0 && ticks < 10 * T) {
      s.tickAll(1);
      ticks++;
    }
    expect(['b', 'c']).toContain(s.leader());

    // Without pre-vote, an isolated node inflates its term; on rejoin the leader adopts it and the cluster converges.
    const k = new TestCluster(['a', 'b', 'c'], { options: { preVote: false } });
    k.elect('a');
    k.isolate('c');
    for (let i = 0; i < 5 * T; i++) k.tick('c');
    const stuck = k.core('c').term;
    expect(stuck).toBeGreaterThan(k.core('a').term);
    k.heal();
    k.tickAll(5 * T);
    expect(k.leaders()).toHaveLength(1);
    const l = k.leader();
    expect(k.core(l).term).toBeGreaterThanOrEqual(stuck);
    expect(new Set(terms(k, ['a', 'b', 'c'])).size).toBe(1);
  });

  it('2.2 #20: a removed node that never learned it is never leader and changes no term; non-members get no vote', () => {
    const c = new TestCluster(['a', 'b', 'c', 'd']);
    c.elect('a');
    c.isolate('d');
    c.core('a').proposeConfChange({ type: 'remove', node: 'd' });
    c.process('a');
    c.tickAll(2);
    expect(c.core('a').status().conf.voters).toEqual(['a', 'b', 'c']);
    expect(c.core('d').status().conf.voters).toContain('d');
    for (let i = 0; i < 5 * T; i++) c.tick('d');
    const before = terms(c, ['a', 'b', 'c']);
    c.heal();
    for (let i = 0; i < 10 * T; i++) {
      c.tickAll(1);
      expect(c.core('d').role).not.toBe('leader');
    }
    expect(terms(c, ['a', 'b', 'c'])).toEqual(before);
    expect(c.leader()).toBe('a');

    c.core('b').step({
      type: 'vote',
      from: 'x',
      to: 'b',
      term: 99,
      lastIndex: 99,
      lastTerm: 99,
      transfer: true,
    });
    const rd = c.core('b').ready();
    expect(rd.persistedMessages).toMatchObject([{ type: 'vote-resp', to: 'x', reject: true }]);
    expect(c.core('b').vote).not.toBe('x');
  });
});

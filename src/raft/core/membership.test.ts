import { describe, expect, it } from 'vitest';
import { isSwarmError } from '../../common/index.js';
import type { ConfChange } from '../types.js';
import { TestCluster } from './test-cluster.js';

const T = 10;

function confChange(c: TestCluster, id: string, change: ConfChange): string {
  try {
    c.core(id).proposeConfChange(change);
    c.process(id);
    return 'ok';
  } catch (e) {
    return isSwarmError(e) ? e.code : 'other';
  }
}

describe('membership (paper §6, thesis ch. 4)', () => {
  it('2.2 #24: a new manager joins as a learner, catches up (snapshot + log), then is promoted; writes keep committing', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.elect('a');
    let n = 0;
    const write = () => {
      c.propose(c.leader(), `w${n++}`);
      c.tickAll(1);
    };
    for (let i = 0; i < 5; i++) write();
    c.compact('a', 1);
    for (const id of ['d', 'e']) {
      c.addNode(id, TestCluster.emptyState(), 100 + id.charCodeAt(0));
      c.isolate(id);
      expect(confChange(c, 'a', { type: 'add-learner', node: id })).toBe('ok');
      c.tickAll(1);
      expect(c.core('a').status().conf.learners).toContain(id);
      // Quorum unchanged by a learner: with two voters down nothing would commit either way.
      write();
      expect(confChange(c, 'a', { type: 'promote', node: id })).toBe('FAILED_PRECONDITION');
      c.heal();
      write();
      c.tickAll(2);
      expect(c.node(id).applied).toEqual(c.node('a').applied);
      expect(confChange(c, 'a', { type: 'promote', node: id })).toBe('ok');
      c.tickAll(2);
      write();
    }
    expect(c.core('a').status().conf).toEqual({ voters: ['a', 'b', 'c', 'd', 'e'], learners: [] });
    expect(c.sent.some((m) => m.type === 'snapshot' && m.to === 'd')).toBe(true);
    // Five voters: with two down, writes still commit; with three down they do not.
    c.isolate('d');
    c.isolate('e');
    write();
    expect(c.node('a').applied.at(-1)).toBe(`w${n - 1}`);
    c.isolate('c');
    const commit = c.core('a').status().commit;
    c.propose('a', 'blocked');
    c.stabilize();
    expect(c.core('a').status().commit).toBe(commit);
  });

  it('2.2 #25: a second change while one is pending, or before the new leader commits in its term, is refused', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.filter = (m) => m.type !== 'append';
    c.elect('a');
    expect(confChange(c, 'a', { type: 'add-learner', node: 'd' })).toBe('FAILED_PRECONDITION');
    c.heal();
    c.tickAll(1);
    c.isolate('b');
    c.isolate('c');
    expect(confChange(c, 'a', { type: 'add-learner', node: 'd' })).toBe('ok');
    const last = c.core('a').status().lastIndex;
    expect(confChange(c, 'a', { type: 'add-learner', node: 'e' })).toBe('FAILED_PRECONDITION');
    expect(c.core('a').status().lastIndex).toBe(last);
    c.heal();
    c.tickAll(1);
    expect(confChange(c, 'a', { type: 'add-learner', node: 'e' })).toBe('ok');
  });

  it('2.2 #26: removing a voter lowers the quorum so waiting entries commit; removing a partitioned one causes no election', () => {
    const c = new TestCluster(['a', 'b', 'c', 'd']);
    c.elect('a');
    c.isolate('d');
    expect(confChange(c, 'a', { type: 'remove', node: 'd' })).toBe('ok');
    c.deliverOnce(); // b and c store the removal; their acks are queued
    c.filter = (m) => !(m.from === 'a' && m.to === 'c');
    c.propose('a', 'x'); // only a and b will store x: 2 of 4 under the old config
    c.stabilize();
    expect(c.core('a').status().conf.voters).toEqual(['a', 'b', 'c']);
    const xIndex = c.core('a').status().lastIndex;
    expect(c.core('c').status().lastIndex).toBeLessThan(xIndex);
    expect(c.core('a').status().commit).toBe(xIndex);
    expect(c.node('a').applied).toEqual(['x']);

    const terms = ['a', 'b', 'c'].map((id) => c.core(id).term);
    c.heal();
    c.tickAll(5 * T);
    expect(c.leader()).toBe('a');
    expect(['a', 'b', 'c'].map((id) => c.core(id).term)).toEqual(terms);
  });

  it('2.2 #27: removing the leader: it steps down, a new leader follows within ~2T, the old one never campaigns', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.elect('a');
    expect(confChange(c, 'a', { type: 'remove', node: 'a' })).toBe('ok');
    c.stabilize();
    expect(c.core('a').role).toBe('follower');
    const sentBefore = c.sent.length;
    let ticks = 0;
    while (c.leaders().length === 0) {
      c.tickAll(1);
      ticks++;
    }
    expect(ticks).toBeLessThanOrEqual(2 * T + 1);
    const l = c.leader();
    expect(['b', 'c']).toContain(l);
    c.propose(l, 'after');
    c.tickAll(10 * T);
    expect(c.core(l).status().conf.voters).toEqual(['b', 'c']);
    expect(c.leader()).toBe(l);
    const campaigns = c.sent
      .slice(sentBefore)
      .filter((m) => m.from === 'a' && (m.type === 'vote' || m.type === 'pre-vote'));
    expect(campaigns).toEqual([]);
  });

  it('2.2 #28: learners never campaign or count for votes and commits, yet receive entries', () => {
    const c = new TestCluster(['a', 'b', 'c'], { conf: { voters: ['a', 'b'], learners: ['c'] } });
    c.tickAll(0);
    for (let i = 0; i < 10 * T; i++) c.tick('c');
    expect(c.sent.filter((m) => m.from === 'c')).toEqual([]);
    expect(c.core('c').role).toBe('follower');

    // c answers a vote request (it may be a voter in a newer config)…
    const other = new TestCluster(['a', 'b', 'c'], { conf: { voters: ['a', 'b'], learners: ['c'] } });
    other
      .core('c')
      .step({ type: 'vote', from: 'a', to: 'c', term: 5, lastIndex: 1, lastTerm: 1, transfer: false });
    expect(other.core('c').ready().persistedMessages).toMatchObject([{ type: 'vote-resp', reject: false }]);
    // …but a candidate does not ask learners, and does not count a learner's vote.
    c.isolate('b');
    c.core('a').campaign();
    c.process('a');
    c.core('a').step({
      type: 'pre-vote-resp',
      from: 'c',
      to: 'a',
      term: c.core('a').term + 1,
      reject: false,
    });
    c.stabilize();
    expect(c.sent.filter((m) => (m.type === 'vote' || m.type === 'pre-vote') && m.to === 'c')).toEqual([]);
    expect(c.leaders()).toEqual([]);
    c.heal();
    c.elect('a');
    expect(c.leader()).toBe('a');
    c.isolate('b');
    const commit = c.core('a').status().commit;
    c.propose('a', 'x');
    c.stabilize();
    expect(c.core('c').status().lastIndex).toBe(c.core('a').status().lastIndex); // c stores it
    expect(c.core('a').status().commit).toBe(commit); // but c does not make a quorum
    c.heal();
    c.tickAll(1);
    expect(c.node('c').applied).toEqual(['x']);
  });

  it('2.2 #29: an appended but uncommitted conf change that a new leader truncates never takes effect', () => {
    const ids = ['a', 'b', 'c', 'd', 'e'];
    const c = new TestCluster(ids);
    c.elect('a');
    c.filter = (m) => !(m.type === 'append-resp') && !(m.from === 'a' && m.to !== 'b');
    expect(confChange(c, 'a', { type: 'add-learner', node: 'z' })).toBe('ok');
    c.stabilize();
    const confEntry = c.core('a').status().lastIndex;
    expect(c.core('b').log.entry(confEntry)?.type).toBe('conf-change');
    expect(c.core('b').status().conf.learners).toEqual([]);
    c.heal();
    c.isolate('a');
    c.isolate('b');
    let ticks = 0;
    while (c.leaders().filter((l) => l !== 'a').length === 0 && ticks++ < 10 * T) c.tickAll(1);
    const l = c.leaders().find((x) => x !== 'a')!;
    expect(['c', 'd', 'e']).toContain(l);
    c.heal();
    c.tickAll(3);
    expect(c.leader()).toBe(l);
    expect(c.core('b').log.entry(confEntry)?.type).toBe('normal');
    for (const id of ids) expect(c.core(id).status().conf).toEqual({ voters: ids, learners: [] });
  });
});

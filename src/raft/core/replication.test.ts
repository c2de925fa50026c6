import { describe, expect, it } from 'vitest';
import { isSwarmError, SeededRandom } from '../../common/index.js';
import type { AppendMessage, Message } from '../types.js';
import { RaftCore } from './raft.js';
import { bytes, stateWithLog, TestCluster } from './test-cluster.js';

const conf = (ids: string[]) => ({ voters: ids, learners: [] });

function codeOf(fn: () => unknown): string {
  try {
    fn();
    return 'ok';
  } catch (e) {
    return isSwarmError(e) ? `${e.code}${e.retryable ? ' retryable' : ''}` : 'other';
  }
}

describe('replication and commit (paper §5.3, §5.4.2)', () => {
  it('2.2 #9: from the Figure 7 logs the leader makes every follower identical', () => {
    const ids = ['L', 'a', 'b', 'c', 'd', 'e', 'f'];
    const cf = conf(ids);
    // Figure 7 shifted by one: index 1 is the bootstrap entry (term 1).
    const c = new TestCluster(ids, {
      states: {
        L: stateWithLog(cf, [1, 1, 4, 4, 5, 5, 6, 6, 6], 7),
        a: stateWithLog(cf, [1, 1, 4, 4, 5, 5, 6, 6], 6),
        b: stateWithLog(cf, [1, 1, 4], 4),
        c: stateWithLog(cf, [1, 1, 4, 4, 5, 5, 6, 6, 6, 6], 6),
        d: stateWithLog(cf, [1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7], 7),
        e: stateWithLog(cf, [1, 1, 4, 4, 4, 4], 4),
        f: stateWithLog(cf, [1, 1, 2, 2, 2, 3, 3, 3, 3, 3], 3),
      },
    });
    c.elect('L');
    expect(c.leader()).toBe('L');
    c.stabilize();
    const want = c.logOf('L');
    expect(want.length).toBe(11);
    for (const id of ids) expect(c.logOf(id)).toEqual(want);
    expect(c.core('d').status().commit).toBe(11);
  });

  it('2.2 #10: a rejection carries a hint so the leader skips a whole term per round trip', () => {
    // Follower-side hint.
    const f = new RaftCore(
      { id: 'b', random: new SeededRandom(1) },
      {},
      stateWithLog(conf(['a', 'b']), [2, 2, 2], 2),
    );
    f.ready();
    f.step({
      type: 'append',
      from: 'a',
      to: 'b',
      term: 3,
      prevIndex: 4,
      prevTerm: 3,
      entries: [],
      commit: 1,
    });
    expect(f.ready().persistedMessages).toMatchObject([
      { type: 'append-resp', reject: true, index: 4, hintIndex: 4, hintTerm: 2 },
    ]);

    // A follower diverged by 100 entries of an older term needs one rejection, not 100.
    const ids = ['a', 'b', 'c'];
    const c = new TestCluster(ids, {
      states: {
        a: stateWithLog(conf(ids), Array(100).fill(3), 3),
        b: stateWithLog(conf(ids), Array(100).fill(3), 3),
        c: stateWithLog(conf(ids), Array(120).fill(2), 2),
      },
    });
    c.elect('a');
    c.stabilize();
    expect(c.logOf('c')).toEqual(c.logOf('a'));
    const rejections = c.sent.filter((m) => m.type === 'append-resp' && m.from === 'c' && m.reject);
    expect(rejections.length).toBe(1);
    const appendsToC = c.sent.filter((m) => m.type === 'append' && m.to === 'c');
    expect(appendsToC.length).toBeLessThanOrEqual(4);
  });

  it('2.2 #11: committed once a majority stores it; followers apply in order, exactly once', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.elect('a');
    c.isolate('b');
    c.isolate('c');
    c.propose('a', 'x');
    c.stabilize();
    const idx = c.core('a').status().lastIndex;
    expect(c.core('a').status().commit).toBe(idx - 1);
    c.heal();
    c.cut('a', 'c');
    c.tickAll(1);
    expect(c.core('a').status().commit).toBe(idx);
    expect(c.node('b').applied).toEqual(['x']);
    c.heal();
    for (let i = 0; i < 5; i++) c.propose('a', `y${i}`);
    c.tickAll(2);
    // TestCluster throws if any node applies out of order or twice.
    for (const id of ['a', 'b', 'c']) expect(c.node(id).applied).toEqual(['x', 'y0', 'y1', 'y2', 'y3', 'y4']);
  });

  it('2.2 #12: a previous-term entry is not committed by counting replicas, only via a current-term entry', () => {
    const ids = ['a', 'b', 'c'];
    const c = new TestCluster(ids, {
      states: {
        a: stateWithLog(conf(ids), [2], 2),
        b: stateWithLog(conf(ids), [2], 2),
        c: stateWithLog(conf(ids), [], 2),
      },
    });
    c.filter = (m) => m.type !== 'append';
    c.elect('a');
    const a = c.core('a');
    expect(a.status()).toMatchObject({ role: 'leader', term: 3, lastIndex: 3, commit: 1 });
    a.step({
      type: 'append-resp',
      from: 'b',
      to: 'a',
      term: 3,
      index: 2,
      reject: false,
      hintIndex: 0,
      hintTerm: 0,
    });
    c.process('a');
    expect(a.status().commit).toBe(1); // entry 2 (term 2) is on a majority but not committed
    a.step({
      type: 'append-resp',
      from: 'b',
      to: 'a',
      term: 3,
      index: 3,
      reject: false,
      hintIndex: 0,
      hintTerm: 0,
    });
    c.process('a');
    expect(a.status().commit).toBe(3);
  });

  it('2.2 #13: duplicated, delayed and reordered appends and acks never regress match, truncate or re-apply', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.elect('a');
    for (let i = 0; i < 5; i++) {
      c.propose('a', `v${i}`);
      c.stabilize();
    }
    const appendsToB = c.sent.filter((m): m is AppendMessage => m.type === 'append' && m.to === 'b');
    const acksFromB = c.sent.filter((m) => m.type === 'append-resp' && m.from === 'b');
    const before = { b: c.core('b').status(), match: c.core('a').status().progress.get('b')!.match };
    const replay = (msgs: Message[]) => {
      for (const m of [...msgs].reverse()) {
        c.core(m.to).step(m);
        c.process(m.to);
      }
      for (const m of msgs) {
        c.core(m.to).step(m);
        c.process(m.to);
      }
    };
    replay(appendsToB);
    replay(acksFromB);
    c.stabilize();
    expect(c.core('b').status()).toMatchObject({ lastIndex: before.b.lastIndex, commit: before.b.commit });
    expect(c.core('a').status().progress.get('b')!.match).toBe(before.match);
    expect(c.node('b').applied).toEqual(['v0', 'v1', 'v2', 'v3', 'v4']);
  });

  it('2.2 #14: followers forward proposals (or reject with a leader hint); candidates and transferring leaders fail fast', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.elect('a');
    c.propose('b', 'via-b');
    c.stabilize();
    expect(c.node('a').applied).toEqual(['via-b']);

    const off = new TestCluster(['a', 'b', 'c'], { options: { proposalForwarding: false } });
    off.elect('a');
    let hint: unknown;
    try {
      off.propose('b', 'x');
    } catch (e) {
      hint = isSwarmError(e, 'NOT_LEADER') ? e.details.leaderId : 'wrong error';
    }
    expect(hint).toBe('a');

    const cand = new TestCluster(['a', 'b', 'c'], { options: { preVote: false } });
    cand.isolate('c');
    cand.core('c').campaign();
    expect(codeOf(() => cand.core('c').propose(bytes('x')))).toBe('NOT_LEADER retryable');

    c.isolate('c');
    c.core('a').transferLeadership('c');
    expect(codeOf(() => c.core('a').propose(bytes('x')))).toBe('UNAVAILABLE retryable');
  });

  it('2.2 #14: proposals a follower forwards in one Ready travel as one message, in order', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.elect('a');
    for (const v of ['p1', 'p2', 'p3']) c.core('b').propose(bytes(v));
    const forwards = c
      .core('b')
      .ready()
      .messages.filter((m) => m.type === 'propose');
    expect(forwards).toHaveLength(1);
    expect(forwards[0]!.type === 'propose' && forwards[0]!.entries.length).toBe(3);
    // The next Ready starts a new message.
    c.core('b').propose(bytes('p4'));
    expect(
      c
        .core('b')
        .ready()
        .messages.filter((m) => m.type === 'propose'),
    ).toHaveLength(1);
  });
});

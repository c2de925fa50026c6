import { describe, expect, it } from 'vitest';
import { TestCluster } from './test-cluster.js';

describe('reads (paper §8, thesis §6.4)', () => {
  it('2.2 #21: a new leader defers ReadIndex until its start-of-term entry commits', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.filter = (m) => m.type !== 'append';
    c.elect('a');
    const a = c.core('a');
    expect(a.role).toBe('leader');
    a.readIndex('r1');
    c.process('a');
    c.stabilize();
    expect(c.node('a').readStates).toEqual([]);
    c.heal();
    c.tickAll(2);
    const noop = a.status().lastIndex;
    expect(a.status().commit).toBe(noop);
    expect(c.node('a').readStates).toEqual([{ ctx: 'r1', index: noop }]);
  });

  it('2.2 #22: an isolated (deposed) leader never answers a linearizable read; the majority keeps writing', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.elect('a');
    c.isolate('a');
    c.core('a').readIndex('stale');
    c.process('a');
    for (let i = 0; i < 30; i++) {
      c.tickAll(1);
      if (i === 25) c.propose(c.leaders().find((l) => l !== 'a')!, 'new');
    }
    c.tickAll(2);
    expect(c.node('a').readStates).toEqual([]);
    expect(c.node('a').readFailures).toEqual(['stale']); // failed when it stepped down
    expect(c.node('b').applied).toEqual(['new']);
    expect(c.node('a').applied).toEqual([]);
  });

  it('2.2 #23: a follower read gets its index from the leader; a leader change makes it fail', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.elect('a');
    c.propose('a', 'x');
    c.stabilize();
    c.core('b').readIndex('f1');
    c.process('b');
    c.stabilize();
    expect(c.node('b').readStates).toEqual([{ ctx: 'f1', index: c.core('a').status().commit }]);

    // The leader receives the request but is deposed before a quorum confirms it.
    c.filter = (m) => m.type !== 'heartbeat-resp';
    c.core('b').readIndex('f2');
    c.process('b');
    c.stabilize();
    c.core('a').step({
      type: 'heartbeat',
      from: 'c',
      to: 'a',
      term: c.core('a').term + 1,
      commit: 0,
      readRound: 0,
    });
    c.process('a');
    c.stabilize();
    expect(c.node('b').readStates.map((r) => r.ctx)).toEqual(['f1']);
    expect(c.node('b').readFailures).toEqual(['f2']);
  });

  it('batches many reads behind one heartbeat round', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.elect('a');
    const before = c.sent.filter((m) => m.type === 'heartbeat').length;
    for (let i = 0; i < 50; i++) c.core('a').readIndex(`r${i}`);
    c.process('a');
    c.stabilize();
    expect(c.node('a').readStates).toHaveLength(50);
    expect(c.sent.filter((m) => m.type === 'heartbeat').length - before).toBe(2);
  });

  it('lease reads (opt-in) answer without a heartbeat round', () => {
    const c = new TestCluster(['a', 'b', 'c'], { options: { readOnly: 'lease' } });
    c.elect('a');
    c.core('a').readIndex('l');
    c.process('a');
    expect(c.node('a').readStates).toEqual([{ ctx: 'l', index: c.core('a').status().commit }]);
  });
});

import { describe, expect, it } from 'vitest';
import type { Snapshot } from '../types.js';
import { bytes, TestCluster } from './test-cluster.js';

function writes(c: TestCluster, n: number, prefix = 'w'): void {
  for (let i = 0; i < n; i++) {
    c.propose(c.leader(), `${prefix}${i}`);
    c.stabilize();
  }
}

describe('snapshots and compaction (paper §7)', () => {
  it('2.2 #31: a follower behind the compacted log gets InstallSnapshot, then normal appends; state converges', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.elect('a');
    c.crash('c');
    writes(c, 20);
    c.compact('a', 5);
    expect(c.core('a').status().firstIndex).toBeGreaterThan(c.core('c').status().lastIndex + 1);
    c.restart('c');
    c.tickAll(2);
    expect(c.sent.filter((m) => m.type === 'snapshot' && m.to === 'c')).toHaveLength(1);
    writes(c, 3, 'after');
    c.tickAll(1);
    expect(c.sent.filter((m) => m.type === 'snapshot' && m.to === 'c')).toHaveLength(1);
    expect(c.node('c').applied).toEqual(c.node('a').applied);
    expect(c.core('c').status().commit).toBe(c.core('a').status().commit);
    expect(c.core('a').status().progress.get('c')?.state).toBe('replicate');
  });

  it('2.2 #32: a failed snapshot goes back to probing and is retried; nothing else is sent while it is pending', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.elect('a');
    c.isolate('c');
    writes(c, 10);
    c.compact('a', 2);
    c.heal();
    c.filter = (m) => m.type !== 'snapshot';
    c.tickAll(1);
    const pr = () => c.core('a').status().progress.get('c')!;
    expect(pr().state).toBe('snapshot');
    const mark = c.sent.length;
    writes(c, 3, 'more');
    c.tickAll(3);
    expect(c.sent.slice(mark).filter((m) => m.type === 'append' && m.to === 'c')).toEqual([]);
    c.core('a').reportSnapshot('c', false);
    expect(pr().state).toBe('probe');
    c.heal();
    c.tickAll(2);
    expect(c.sent.filter((m) => m.type === 'snapshot' && m.to === 'c').length).toBeGreaterThanOrEqual(2);
    expect(c.node('c').applied).toEqual(c.node('a').applied);
  });

  it('2.2 #33: a snapshot at or below the commit index is ignored; a snapshot restores the membership', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.elect('a');
    writes(c, 5);
    const old: Snapshot = {
      meta: { index: 3, term: 2, conf: { voters: ['x'], learners: [] } },
      data: bytes('[]'),
    };
    const b = c.core('b');
    const before = b.status();
    b.step({ type: 'snapshot', from: 'a', to: 'b', term: b.term, snapshot: old });
    const rd = b.ready();
    expect(rd.snapshot).toBeNull();
    expect(rd.persistedMessages).toMatchObject([
      { type: 'append-resp', index: before.commit, reject: false },
    ]);
    expect(b.status()).toMatchObject({ lastIndex: before.lastIndex, conf: before.conf });

    const fresh = new TestCluster(['a', 'b', 'c']);
    const d = fresh.addNode('d', TestCluster.emptyState(), 9).core;
    const snap: Snapshot = {
      meta: { index: 50, term: 3, conf: { voters: ['a', 'b', 'c'], learners: ['d'] } },
      data: bytes('["s"]'),
    };
    d.step({ type: 'snapshot', from: 'a', to: 'd', term: 3, snapshot: snap });
    const rd2 = d.ready();
    expect(rd2.snapshot).toBe(snap);
    expect(rd2.conf).toEqual({ voters: ['a', 'b', 'c'], learners: ['d'] });
    expect(d.status()).toMatchObject({ commit: 50, lastIndex: 50, firstIndex: 51 });
  });

  it('2.2 #34: restart from snapshot + log tail rebuilds the same state and re-applies nothing at or below the snapshot', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.elect('a');
    writes(c, 10);
    const snap = c.compact('b', 3);
    writes(c, 4, 'tail');
    const applied = [...c.node('b').applied];
    c.crash('b');
    c.restart('b');
    // TestCluster throws if an index is applied twice or out of order; the restart starts at the snapshot.
    expect(c.node('b').appliedIndex).toBeGreaterThan(snap.meta.index);
    expect(c.node('b').applied).toEqual(applied);
    c.tickAll(2);
    expect(c.node('b').applied).toEqual(c.node('a').applied);
  });
});

describe('snapshot send without a transport report', () => {
  it('falls back to probing after ten election timeouts and retries', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.elect('a');
    c.isolate('c');
    writes(c, 10);
    c.compact('a', 2);
    c.heal();
    c.filter = (m) => m.type !== 'snapshot';
    c.tickAll(1);
    expect(c.core('a').status().progress.get('c')!.state).toBe('snapshot');
    c.tickAll(99);
    expect(c.core('a').status().progress.get('c')!.state).toBe('snapshot');
    c.heal();
    c.tickAll(3);
    expect(c.node('c').applied).toEqual(c.node('a').applied);
  });
});

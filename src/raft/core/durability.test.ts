import { describe, expect, it } from 'vitest';
import { bytes, TestCluster } from './test-cluster.js';

describe('durability ordering at the core (2.2 #37; #38/#39 belong to the WAL and the simulator)', () => {
  it('2.2 #37: a single voter commits its entry only after its own persist is acknowledged', () => {
    const c = new TestCluster(['a']);
    c.elect('a');
    const a = c.core('a');
    a.propose(bytes('x'));
    const rd = a.ready();
    expect(rd.entries).toHaveLength(1);
    expect(rd.mustSync).toBe(true);
    expect(a.status().commit).toBe(rd.entries[0]!.index - 1);
    expect(a.hasReady()).toBe(false);
    a.persisted(rd.persist);
    expect(a.status().commit).toBe(rd.entries[0]!.index);
    expect(a.ready().committedEntries.map((e) => e.index)).toEqual([rd.entries[0]!.index]);
  });

  it('2.2 #37: a leader does not count itself toward a quorum before its own fsync; appends go out in parallel', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.elect('a');
    c.isolate('b');
    const a = c.core('a');
    a.propose(bytes('x'));
    const rd = a.ready();
    const idx = rd.entries[0]!.index;
    // The append to the followers leaves before the leader's own write is durable.
    expect(
      rd.messages.some((m) => m.type === 'append' && m.to === 'c' && m.entries.some((e) => e.index === idx)),
    ).toBe(true);
    a.step({
      type: 'append-resp',
      from: 'c',
      to: 'a',
      term: a.term,
      index: idx,
      reject: false,
      hintIndex: 0,
      hintTerm: 0,
    });
    // c + (not yet durable) a is not a quorum of durable copies.
    expect(a.status().commit).toBe(idx - 1);
    a.persisted(rd.persist);
    expect(a.status().commit).toBe(idx);
  });

  it('2.2 #37: a candidate counts its own vote only once its term and vote are durable', () => {
    const c = new TestCluster(['a'], { options: { preVote: false } });
    const a = c.core('a');
    a.campaign();
    expect(a.role).toBe('candidate');
    const rd = a.ready();
    expect(rd.hardState).toMatchObject({ term: 2, vote: 'a' });
    expect(a.role).toBe('candidate');
    a.persisted(rd.persist);
    expect(a.role).toBe('leader');
  });

  it('2.2 #37: responses that promise durability are never in the send-now list (checked on every Ready)', () => {
    // TestCluster.process throws on any append/vote/heartbeat response among Ready.messages; run a busy scenario.
    const c = new TestCluster(['a', 'b', 'c', 'd', 'e']);
    c.tickAll(30);
    for (let i = 0; i < 20; i++) {
      c.propose(c.leader(), `v${i}`);
      if (i % 5 === 0) c.tickAll(1);
    }
    c.crash(c.leader());
    c.tickAll(40);
    expect(c.leaders()).toHaveLength(1);
    const respTypes = new Set(c.sent.map((m) => m.type));
    expect(respTypes.has('append-resp') && respTypes.has('vote-resp')).toBe(true);
  });
});

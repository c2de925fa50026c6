import { describe, expect, it } from 'vitest';
import { isSwarmError } from '../../common/index.js';
import { messageChannel } from './messages.js';
import { bytes, TestCluster } from './test-cluster.js';

const T = 10;

function proposeCode(c: TestCluster, id: string, data: string): string {
  try {
    c.propose(id, data);
    return 'ok';
  } catch (e) {
    return isSwarmError(e) ? e.code : 'other';
  }
}

describe('leadership transfer (thesis §3.10)', () => {
  it('2.2 #35: to an up-to-date follower it completes at once', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.elect('a');
    c.core('a').transferLeadership('b');
    c.process('a');
    c.stabilize();
    expect(c.leader()).toBe('b');
    expect(c.core('a').status()).toMatchObject({ role: 'follower', leader: 'b' });
  });

  it('2.2 #35: to a lagging follower the leader first catches it up; proposals are refused meanwhile', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.elect('a');
    c.isolate('c');
    for (let i = 0; i < 5; i++) c.propose('a', `w${i}`);
    c.stabilize();
    c.heal();
    c.filter = (m) => m.to !== 'c';
    c.core('a').transferLeadership('c');
    c.process('a');
    c.stabilize();
    expect(proposeCode(c, 'a', 'refused')).toBe('UNAVAILABLE');
    c.heal();
    c.tickAll(1);
    expect(c.leader()).toBe('c');
    expect(c.node('c').applied).toEqual(['w0', 'w1', 'w2', 'w3', 'w4']);
    expect(c.node('a').applied).not.toContain('refused');
  });

  it('2.2 #35: to an unreachable target it is abandoned after one election timeout', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.elect('a');
    c.isolate('c');
    c.core('a').transferLeadership('c');
    c.process('a');
    expect(proposeCode(c, 'a', 'x')).toBe('UNAVAILABLE');
    c.tickAll(T);
    expect(c.core('a').status()).toMatchObject({ role: 'leader', leadTransferee: null });
    expect(proposeCode(c, 'a', 'y')).toBe('ok');
    c.stabilize();
    expect(c.node('b').applied).toEqual(['y']);
  });
});

describe('flow control', () => {
  it('2.2 #36: never more than the configured in-flight messages (or bytes) to one follower', () => {
    for (const options of [{ maxInflightMsgs: 3 }, { maxInflightMsgs: 100, maxInflightBytes: 40 }]) {
      const c = new TestCluster(['a', 'b', 'c'], { options });
      c.elect('a');
      c.filter = (m) => !(m.from === 'c' && m.type === 'append-resp');
      const mark = c.sent.length;
      for (let i = 0; i < 30; i++) {
        c.propose('a', `entry-${String(i).padStart(2, '0')}`); // 8 bytes each
        c.stabilize();
      }
      // Commit-only (empty) appends carry no entries and are not part of the window.
      const toC = c.sent
        .slice(mark)
        .filter((m) => m.type === 'append' && m.to === 'c' && m.entries.length > 0);
      const limit = options.maxInflightMsgs === 3 ? 3 : 5;
      expect(toC.length).toBeLessThanOrEqual(limit);
      expect(c.core('a').status().progress.get('c')!.inflight).toBeLessThanOrEqual(limit);
      expect(c.node('b').applied).toHaveLength(30);
      c.heal();
      c.tickAll(3);
      expect(c.node('c').applied).toHaveLength(30);
    }
  });

  it('2.2 #36: a leader cut off from its quorum stops accepting proposals past the uncommitted limit, then recovers', () => {
    const c = new TestCluster(['a', 'b', 'c'], { options: { maxUncommittedBytes: 100 } });
    c.elect('a');
    c.isolate('a');
    let accepted = 0;
    let code = 'ok';
    while (code === 'ok' && accepted < 1000) {
      code = proposeCode(c, 'a', '0123456789');
      if (code === 'ok') accepted++;
    }
    expect(code).toBe('RESOURCE_EXHAUSTED');
    expect(accepted).toBe(10);
    expect(c.core('a').status().uncommittedBytes).toBeLessThanOrEqual(100);
    c.heal();
    c.tickAll(1);
    expect(c.core('a').status().uncommittedBytes).toBe(0);
    expect(proposeCode(c, 'a', 'again')).toBe('ok');
    c.stabilize();
    expect(c.node('b').applied).toHaveLength(11);
  });

  it('group commit: many proposals between two Readies go out in one append per follower', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.elect('a');
    const mark = c.sent.length;
    for (let i = 0; i < 100; i++) c.core('a').propose(bytes(`p${i}`));
    c.process('a');
    const appends = c.sent.slice(mark).filter((m) => m.type === 'append');
    expect(appends.map((m) => (m.type === 'append' ? m.entries.length : 0))).toEqual([100, 100]);
  });
});

describe('message channels', () => {
  it('puts snapshots on the bulk channel and everything else on the control channel', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.elect('a');
    c.isolate('c');
    for (let i = 0; i < 4; i++) c.propose('a', `x${i}`);
    c.stabilize();
    c.compact('a', 1);
    c.heal();
    c.tickAll(2);
    const kinds = new Map<string, Set<string>>();
    for (const m of c.sent) {
      const ch = messageChannel(m);
      kinds.set(ch, (kinds.get(ch) ?? new Set()).add(m.type));
    }
    expect([...kinds.get('bulk')!]).toEqual(['snapshot']);
    expect(kinds.get('control')!.has('heartbeat')).toBe(true);
    expect(kinds.get('control')!.has('snapshot')).toBe(false);
  });
});

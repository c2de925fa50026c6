import { describe, expect, it } from 'vitest';
import { InvalidArgumentError, SeededRandom } from '../../common/index.js';
import { deriveSeed, EventQueue } from './event-queue.js';
import type { NetworkConfig } from './network.js';
import { CALM_NETWORK, SimNetwork } from './network.js';

interface Got {
  at: number;
  from: string;
  to: string;
  msg: number;
}

function setup(config: NetworkConfig = CALM_NETWORK, seed = 1) {
  const queue = new EventQueue();
  const got: Got[] = [];
  const net = new SimNetwork<number>(queue, new SeededRandom(seed), config, (from, to, msg) =>
    got.push({ at: queue.now, from, to, msg }),
  );
  const drain = (until = Number.POSITIVE_INFINITY): void => {
    while (queue.step(until) !== undefined) {}
  };
  return { queue, net, got, drain };
}

describe('EventQueue', () => {
  it('runs events in time order, ties in scheduling order, and skips cancelled ones', () => {
    const q = new EventQueue();
    const order: string[] = [];
    q.schedule(5, 'x', () => order.push('b'));
    q.schedule(1, 'x', () => order.push('a'));
    q.schedule(5, 'x', () => order.push('c'));
    const cancel = q.schedule(3, 'x', () => order.push('never'));
    cancel();
    while (q.step() !== undefined) {}
    expect(order).toEqual(['a', 'b', 'c']);
    expect(q.now).toBe(5);
    expect(q.eventsProcessed).toBe(3);
  });

  it('stops at the horizon and serves as a Clock', () => {
    const q = new EventQueue();
    const clock = q.clock();
    let fired = 0;
    clock.setTimer(10, () => fired++);
    expect(q.step(9)).toBeUndefined();
    expect(fired).toBe(0);
    expect(q.step(10)).toBe('timer');
    expect(fired).toBe(1);
    expect(clock.now()).toBe(10);
  });

  it('rejects a negative delay', () => {
    expect(() => new EventQueue().schedule(-1, 'x', () => {})).toThrow(InvalidArgumentError);
  });

  it('derives different, stable seeds per concern', () => {
    expect(deriveSeed(1, 'network')).toBe(deriveSeed(1, 'network'));
    expect(deriveSeed(1, 'network')).not.toBe(deriveSeed(1, 'disk'));
    expect(deriveSeed(1, 'network')).not.toBe(deriveSeed(2, 'network'));
  });
});

describe('SimNetwork', () => {
  it('delivers every message within base latency + jitter on a calm network', () => {
    const { net, got, drain } = setup({ ...CALM_NETWORK, baseLatencyMs: 5, jitterMs: 3 });
    for (let i = 0; i < 50; i++) net.send('a', 'b', i);
    drain();
    expect(got).toHaveLength(50);
    for (const g of got) expect(g.at).toBeGreaterThanOrEqual(5);
    for (const g of got) expect(g.at).toBeLessThan(8);
    // Jitter alone reorders.
    expect(got.map((g) => g.msg)).not.toEqual([...Array(50).keys()]);
  });

  it('drops, duplicates and delays at roughly the configured rates', () => {
    const { net, got, drain } = setup({
      baseLatencyMs: 1,
      jitterMs: 1,
      dropRate: 0.2,
      duplicateRate: 0.1,
      delayRate: 0.1,
      maxDelayMs: 500,
    });
    for (let i = 0; i < 5000; i++) net.send('a', 'b', i);
    drain();
    const s = net.stats;
    expect(s.dropped).toBeGreaterThan(850);
    expect(s.dropped).toBeLessThan(1150);
    expect(s.duplicated).toBeGreaterThan(300);
    expect(s.delayed).toBeGreaterThan(300);
    expect(got).toHaveLength(5000 - s.dropped + s.duplicated);
    expect(Math.max(...got.map((g) => g.at))).toBeGreaterThan(100);
  });

  it('cuts both directions in a symmetric partition and heals', () => {
    const { net, got, drain } = setup();
    net.partition('symmetric', ['a'], ['b', 'c']);
    net.send('a', 'b', 1);
    net.send('c', 'a', 2);
    net.send('b', 'c', 3);
    drain();
    expect(got.map((g) => g.msg)).toEqual([3]);
    expect(net.stats.droppedByPartition).toBe(2);
    net.heal();
    net.send('a', 'b', 4);
    drain();
    expect(got.map((g) => g.msg)).toEqual([3, 4]);
    expect(net.stats.heals).toBe(1);
  });

  it('cuts only one direction in a one-way partition', () => {
    const { net, got, drain } = setup();
    net.partition('one-way', ['a'], ['b']);
    net.send('a', 'b', 1);
    net.send('b', 'a', 2);
    drain();
    expect(got.map((g) => g.msg)).toEqual([2]);
  });

  it('lets the bridge node see both sides while the sides cannot see each other', () => {
    const { net, got, drain } = setup();
    net.partition('bridge', ['a', 'b'], ['c', 'd'], 'b');
    net.send('a', 'c', 1);
    net.send('d', 'a', 2);
    net.send('b', 'c', 3);
    net.send('d', 'b', 4);
    net.send('a', 'b', 5);
    drain();
    expect(got.map((g) => g.msg).sort()).toEqual([3, 4, 5]);
    expect(() => net.partition('bridge' as 'symmetric', ['a'], ['b'])).toThrow(InvalidArgumentError);
  });

  it('drops messages in flight when the partition starts before they arrive', () => {
    const { net, got, drain, queue } = setup({ ...CALM_NETWORK, baseLatencyMs: 10, jitterMs: 0 });
    net.send('a', 'b', 1);
    queue.schedule(5, 'cut', () => net.partition('symmetric', ['a'], ['b']));
    drain();
    expect(got).toHaveLength(0);
  });

  it('holds messages for a paused node and delivers them, in order, when it resumes', () => {
    const { net, got, drain, queue } = setup({ ...CALM_NETWORK, baseLatencyMs: 1, jitterMs: 0 });
    net.pause('b', 100);
    expect(net.isPaused('b')).toBe(true);
    net.send('a', 'b', 1);
    queue.schedule(50, 'send', () => net.send('a', 'b', 2));
    drain();
    expect(got.map((g) => [g.msg, g.at])).toEqual([
      [1, 100],
      [2, 100],
    ]);
    expect(net.isPaused('b')).toBe(false);
    expect(net.stats.heldWhilePaused).toBe(2);
  });

  it('loses messages to a node that is down, and its paused backlog', () => {
    const { net, got, drain } = setup();
    net.pause('b', 100);
    net.send('a', 'b', 1);
    drain(50);
    net.setDown('b', true);
    net.send('a', 'b', 2);
    drain();
    expect(got).toHaveLength(0);
    expect(net.stats.droppedNodeDown).toBe(1);
    net.setDown('b', false);
    net.send('a', 'b', 3);
    drain();
    expect(got.map((g) => g.msg)).toEqual([3]);
  });

  it('replays identically from the same seed', () => {
    const run = (seed: number): string => {
      const { net, got, drain } = setup(
        { baseLatencyMs: 1, jitterMs: 5, dropRate: 0.1, duplicateRate: 0.1, delayRate: 0.1, maxDelayMs: 50 },
        seed,
      );
      for (let i = 0; i < 200; i++) net.send(`n${i % 3}`, `n${(i + 1) % 3}`, i);
      drain();
      return JSON.stringify(got);
    };
    expect(run(9)).toBe(run(9));
    expect(run(9)).not.toBe(run(10));
  });

  it('rejects rates outside [0, 1], naming the field', () => {
    const { net } = setup();
    expect(() => net.setConfig({ ...CALM_NETWORK, dropRate: 2 })).toThrow(/dropRate/);
  });
});

import { describe, expect, it } from 'vitest';
import { waitFor } from './async.js';
import { ManualClock, systemClock } from './clock.js';
import { isErrorCode, isSwarmError, SwarmError } from './errors.js';
import { Emitter, nextEvent } from './event.js';
import { captureLogger, createLogger, humanSink, jsonLineSink } from './log.js';
import { SeededRandom } from './random.js';

describe('SeededRandom', () => {
  it('replays the same sequence for the same seed and differs across seeds', () => {
    const seq = (seed: number): number[] => {
      const r = new SeededRandom(seed);
      return Array.from({ length: 8 }, () => r.int(0, 1000));
    };
    expect(seq(42)).toEqual(seq(42));
    expect(seq(42)).not.toEqual(seq(43));
  });

  it('stays within [min, max) and covers it', () => {
    const r = new SeededRandom(7);
    const seen = new Set<number>();
    for (let i = 0; i < 2000; i++) {
      const v = r.int(10, 20);
      expect(v).toBeGreaterThanOrEqual(10);
      expect(v).toBeLessThan(20);
      seen.add(v);
    }
    expect(seen.size).toBe(10);
  });
});

describe('ManualClock', () => {
  it('fires timers in time order only when advanced, and cancels', () => {
    const clock = new ManualClock(1000);
    const fired: string[] = [];
    clock.setTimer(50, () => fired.push('b'));
    clock.setTimer(10, () => fired.push('a'));
    const cancel = clock.setTimer(20, () => fired.push('never'));
    cancel();
    clock.advance(49);
    expect(fired).toEqual(['a']);
    clock.advance(1);
    expect(fired).toEqual(['a', 'b']);
    expect(clock.now()).toBe(1050);
  });
});

describe('errors', () => {
  it('carry a code from the fixed set and are recognised by code, not message', () => {
    const e = new SwarmError('NOT_LEADER', 'whatever text', { details: { leaderAddr: '10.0.0.1:2377' } });
    expect(isSwarmError(e, 'NOT_LEADER')).toBe(true);
    expect(isSwarmError(e, 'NOT_FOUND')).toBe(false);
    expect(e.name).toBe('SwarmError');
    expect(isErrorCode('NOT_LEADER')).toBe(true);
    expect(isErrorCode('nope')).toBe(false);
  });
});

describe('waitFor', () => {
  it('reports the last state seen when it times out', async () => {
    const clock = new ManualClock();
    let n = 0;
    const p = waitFor(() => ({ done: false, state: `seen ${++n}` }), {
      timeoutMs: 100,
      intervalMs: 10,
      what: 'three replicas',
      clock,
    });
    const assertion = expect(p).rejects.toThrow(/three replicas; last state: seen \d+/);
    for (let i = 0; i < 12; i++) {
      await Promise.resolve();
      await Promise.resolve();
      clock.advance(10);
    }
    await assertion;
  });

  it('resolves with the value once the probe is done', async () => {
    let n = 0;
    const v = await waitFor(() => (++n >= 3 ? { done: true, value: n } : { done: false, state: String(n) }), {
      timeoutMs: 5000,
      intervalMs: 1,
    });
    expect(v).toBe(3);
  });
});

describe('Emitter', () => {
  it('delivers typed events until disposed, and nextEvent filters', async () => {
    const em = new Emitter<number>();
    const got: number[] = [];
    const sub = em.event((v) => got.push(v));
    const p = nextEvent(em.event, (v) => v > 1);
    em.fire(1);
    em.fire(2);
    sub.dispose();
    em.fire(3);
    expect(got).toEqual([1, 2]);
    await expect(p).resolves.toBe(2);
  });
});

describe('logger', () => {
  it('binds fields in children and filters by level', () => {
    const { logger, records } = captureLogger('info');
    const child = logger.child({ module: 'manager/scheduler' });
    child.debug('hidden');
    child.info('placed', { 'task.id': 't1' });
    expect(records).toHaveLength(1);
    expect(records[0]?.fields).toEqual({ module: 'manager/scheduler', 'task.id': 't1' });
  });

  it('writes JSON lines for the daemon and text for people', () => {
    const lines: string[] = [];
    createLogger(
      jsonLineSink((l) => lines.push(l)),
      { now: () => 0 },
    ).warn('slow fsync', { ms: 1200 });
    expect(JSON.parse(lines[0]!)).toEqual({
      time: '1970-01-01T00:00:00.000Z',
      level: 'warn',
      msg: 'slow fsync',
      ms: 1200,
    });
    const text: string[] = [];
    createLogger(humanSink((l) => text.push(l))).error('join failed', { reason: 'bad token' });
    expect(text[0]).toBe('error: join failed reason="bad token"\n');
  });
});

describe('systemClock.setTimer', () => {
  it('never calls back before now() and monotonic() have both moved the delay on', async () => {
    let early = 0;
    let calls = 0;
    const chain = (left: number): Promise<void> =>
      new Promise<void>((resolve) => {
        const ms = 1 + Math.floor(Math.random() * 6);
        const wallDue = systemClock.now() + ms;
        const monoDue = systemClock.monotonic() + ms;
        systemClock.setTimer(ms, () => {
          calls++;
          if (systemClock.now() < wallDue || systemClock.monotonic() < monoDue) early++;
          resolve(left > 1 ? chain(left - 1) : undefined);
        });
      });
    // 20 chains of 30 timers: raw setTimeout fires about 1 in 100 of these early.
    await Promise.all(Array.from({ length: 20 }, () => chain(30)));
    expect(calls).toBe(600);
    expect(early).toBe(0);
  });
});

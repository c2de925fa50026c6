import { describe, expect, it } from 'vitest';
import { deferred } from './async.js';
import { ManualClock } from './clock.js';
import { captureLogger } from './log.js';
import { SerialReconciler } from './serial-reconciler.js';

function setup(results: boolean[]) {
  const clock = new ManualClock();
  const { logger, records } = captureLogger();
  let passes = 0;
  let inPass = 0;
  let overlapped = false;
  const gate = { wait: Promise.resolve() };
  const loop = new SerialReconciler({
    clock,
    logger,
    retryMs: 1000,
    failureMessage: 'not reconciled',
    reconcile: async () => {
      inPass++;
      if (inPass > 1) overlapped = true;
      await gate.wait;
      inPass--;
      const r = results[passes++];
      if (r === undefined) throw new Error('boom');
      return r;
    },
  });
  return { clock, loop, records, gate, passes: () => passes, overlapped: () => overlapped };
}

describe('SerialReconciler', () => {
  it('runs passes one at a time, in order', async () => {
    const t = setup([false, false, false, false]);
    const ac = new AbortController();
    const gate = deferred<void>();
    t.gate.wait = gate.promise;
    const running = t.loop.run(ac.signal, () => {});
    const a = t.loop.schedule();
    const b = t.loop.schedule();
    gate.resolve();
    await Promise.all([a, b]);
    expect(t.passes()).toBe(3);
    expect(t.overlapped()).toBe(false);
    ac.abort();
    await running;
  });

  it('retries after retryMs while a pass leaves something to do, and not after the signal', async () => {
    const t = setup([true, true, false]);
    const ac = new AbortController();
    const running = t.loop.run(ac.signal, () => {});
    await t.loop.settled();
    expect(t.passes()).toBe(1);
    t.clock.advance(999);
    await t.loop.settled();
    expect(t.passes()).toBe(1);
    t.clock.advance(1);
    await t.loop.settled();
    expect(t.passes()).toBe(2);
    t.clock.advance(1000);
    await t.loop.settled();
    expect(t.passes()).toBe(3);
    t.clock.advance(5000);
    await t.loop.settled();
    expect(t.passes()).toBe(3);
    ac.abort();
    await running;
  });

  it('stops retrying and disposes after the pass under way once the signal fires', async () => {
    const t = setup([true, true]);
    const ac = new AbortController();
    const gate = deferred<void>();
    t.gate.wait = gate.promise;
    let disposed = false;
    const running = t.loop.run(ac.signal, () => {
      disposed = true;
    });
    ac.abort();
    expect(t.loop.running).toBe(true);
    gate.resolve();
    await running;
    expect(disposed).toBe(true);
    expect(t.loop.running).toBe(false);
    t.clock.advance(10_000);
    await t.loop.schedule();
    expect(t.passes()).toBe(1);
  });

  it('logs a failing pass and keeps going', async () => {
    const t = setup([]);
    const ac = new AbortController();
    const running = t.loop.run(ac.signal, () => {});
    await t.loop.settled();
    expect(t.records.filter((r) => r.msg === 'not reconciled')).toHaveLength(1);
    await t.loop.schedule();
    expect(t.passes()).toBe(2);
    expect(t.records.filter((r) => r.msg === 'not reconciled')).toHaveLength(2);
    ac.abort();
    await running;
  });
});

import { describe, expect, it } from 'vitest';
import { ManualClock } from './clock.js';
import { type Component, type ComponentFailure, DisposableStore, Supervisor } from './lifecycle.js';
import { captureLogger } from './log.js';

function failingTimes(times: number, onRun?: () => void): Component & { runs: number } {
  const c = {
    name: 'flaky',
    runs: 0,
    async run(signal: AbortSignal): Promise<void> {
      c.runs++;
      onRun?.();
      if (c.runs <= times) throw new Error(`boom ${c.runs}`);
      await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
    },
  };
  return c;
}

/** Lets pending promise continuations run without letting time pass. */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
}

describe('Supervisor', () => {
  it('restarts a failing component with exponential backoff on the injected clock', async () => {
    const clock = new ManualClock();
    const { logger, records } = captureLogger();
    const flaky = failingTimes(2);
    const sup = new Supervisor('group', { clock, logger }).add(flaky, {
      kind: 'restart',
      initialBackoffMs: 100,
      maxBackoffMs: 1000,
      maxRestarts: 5,
    });
    const failures: ComponentFailure[] = [];
    sup.onDidFail((f) => failures.push(f));
    const ctl = new AbortController();
    const done = sup.run(ctl.signal);
    await settle();
    expect(flaky.runs).toBe(1);
    clock.advance(99);
    await settle();
    expect(flaky.runs).toBe(1);
    clock.advance(1);
    await settle();
    expect(flaky.runs).toBe(2);
    clock.advance(200);
    await settle();
    expect(flaky.runs).toBe(3);
    expect(failures.map((f) => f.escalated)).toEqual([false, false]);
    expect(records.filter((r) => r.level === 'error')).toHaveLength(2);
    ctl.abort();
    await expect(done).resolves.toBeUndefined();
  });

  it('escalates: a failure aborts the siblings and rejects run', async () => {
    const clock = new ManualClock();
    const sibling = failingTimes(0);
    let siblingAborted = false;
    const watcher: Component = {
      name: 'watcher',
      run: (signal) =>
        new Promise<void>((resolve) =>
          signal.addEventListener('abort', () => {
            siblingAborted = true;
            resolve();
          }),
        ),
    };
    const sup = new Supervisor('group', { clock, logger: captureLogger().logger })
      .add(sibling)
      .add(watcher)
      .add(failingTimes(1));
    await expect(sup.run(new AbortController().signal)).rejects.toThrow('boom 1');
    expect(siblingAborted).toBe(true);
  });

  it('escalates after maxRestarts', async () => {
    const clock = new ManualClock();
    const flaky = failingTimes(10);
    const sup = new Supervisor('g', { clock, logger: captureLogger().logger }).add(flaky, {
      kind: 'restart',
      initialBackoffMs: 1,
      maxBackoffMs: 1,
      maxRestarts: 2,
    });
    // The backoff timer is registered synchronously after the failure event: move time then.
    sup.onDidFail(() => queueMicrotask(() => clock.advance(1)));
    await expect(sup.run(new AbortController().signal)).rejects.toThrow('boom 3');
    expect(flaky.runs).toBe(3);
  });
});

describe('DisposableStore', () => {
  it('disposes in reverse order, once, and disposes late additions at once', () => {
    const order: string[] = [];
    const store = new DisposableStore();
    store.defer(() => order.push('a'));
    store.defer(() => order.push('b'));
    store.dispose();
    store.dispose();
    expect(order).toEqual(['b', 'a']);
    store.defer(() => order.push('late'));
    expect(order).toEqual(['b', 'a', 'late']);
  });

  it('still disposes the rest when one disposal throws, then reports it', () => {
    const order: string[] = [];
    const store = new DisposableStore();
    store.defer(() => order.push('a'));
    store.defer(() => {
      throw new Error('bad');
    });
    expect(() => store.dispose()).toThrow('bad');
    expect(order).toEqual(['a']);
  });
});

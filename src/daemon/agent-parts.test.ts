import { describe, expect, it } from 'vitest';
import { deferred, noopLogger, waitFor } from '../common/index.js';
import { type AgentParts, runAgentParts } from './agent-parts.js';

/** Parts that record when they stop; the data plane's teardown takes until `teardown` resolves. */
function parts(leaving: boolean) {
  const events: string[] = [];
  const teardown = deferred<void>();
  const untilAbort = (signal: AbortSignal): Promise<void> =>
    new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
  const p: AgentParts = {
    agent: {
      run: async (signal) => {
        await untilAbort(signal);
        events.push('agent stopped');
      },
    },
    executor: {
      run: async (signal) => {
        await untilAbort(signal);
        events.push('engine events stopped');
      },
      removeUnownedContainers: async (owned) => {
        events.push(`containers removed (owned ${owned.size})`);
        return [];
      },
    },
    mesh: {
      run: async (signal) => {
        await untilAbort(signal);
        events.push('data plane teardown started');
        await teardown.promise;
        events.push('data plane torn down');
      },
    },
    logger: noopLogger,
    leaving: () => leaving,
  };
  return { p, events, teardown };
}

describe('runAgentParts', () => {
  it('on leave: the agent stops, then the task containers go, then the data plane, whose teardown it awaits', async () => {
    const { p, events, teardown } = parts(true);
    const ac = new AbortController();
    let finished = false;
    const done = runAgentParts(p, ac.signal).then(() => {
      finished = true;
    });
    ac.abort();
    await waitFor(
      () =>
        events.includes('data plane teardown started')
          ? { done: true, value: 0 }
          : { done: false, state: events.join(', ') },
      { timeoutMs: 2_000, intervalMs: 1, what: 'the teardown to start' },
    );
    // The teardown is under way: the node has not stopped yet.
    expect(finished).toBe(false);
    teardown.resolve();
    await done;
    expect(events.indexOf('agent stopped')).toBeLessThan(events.indexOf('containers removed (owned 0)'));
    expect(events.indexOf('containers removed (owned 0)')).toBeLessThan(
      events.indexOf('data plane teardown started'),
    );
    expect(events.at(-1)).toBe('data plane torn down');
  });

  it('on a plain stop the containers stay (a restart adopts them)', async () => {
    const { p, events, teardown } = parts(false);
    const ac = new AbortController();
    teardown.resolve();
    const done = runAgentParts(p, ac.signal);
    ac.abort();
    await done;
    expect(events.some((e) => e.startsWith('containers removed'))).toBe(false);
    expect(events).toContain('data plane torn down');
  });
});

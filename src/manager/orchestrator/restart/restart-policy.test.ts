import { describe, expect, it } from 'vitest';
import type { RestartPolicy, ServiceId, ServiceMode, Task, TaskId, TaskState } from '../../../api/index.js';
import { instanceHolders, restartsInWindow, shouldRestart } from './restart-policy.js';

const REPLICATED: ServiceMode = { type: 'replicated', replicas: 1 };
const JOB: ServiceMode = { type: 'replicated-job', maxConcurrent: 1, totalCompletions: 1 };

let seq = 0;
function task(
  opts: {
    createdAt?: number;
    state?: TaskState;
    desired?: TaskState;
    stoppedAt?: number;
    specVersion?: number;
    policy?: Partial<RestartPolicy>;
  } = {},
): Task {
  seq++;
  return {
    id: `t${String(seq).padStart(24, '0')}` as TaskId,
    meta: { version: 1, createdAt: opts.createdAt ?? 0, updatedAt: opts.createdAt ?? 0 },
    serviceId: 's000000000000000000000001' as ServiceId,
    serviceName: 'web',
    slot: 1,
    desiredState: opts.desired ?? 'shutdown',
    spec: {
      container: { image: 'x' },
      restartPolicy: { condition: 'any', delayMs: 5_000, maxAttempts: 0, windowMs: 0, ...opts.policy },
    },
    specVersion: opts.specVersion ?? 1,
    status: { state: opts.state ?? 'failed', timestamp: opts.stoppedAt ?? opts.createdAt ?? 0, message: '' },
  };
}

describe('shouldRestart', () => {
  it.each([
    ['any', 'failed', REPLICATED, true],
    ['any', 'complete', REPLICATED, true],
    ['any', 'complete', JOB, false],
    ['any', 'failed', JOB, true],
    ['on-failure', 'complete', REPLICATED, false],
    ['on-failure', 'rejected', REPLICATED, true],
    ['on-failure', 'running', REPLICATED, true],
    ['none', 'failed', REPLICATED, false],
  ] as const)('condition %s, task %s, %o → %s', (condition, state, mode, expected) => {
    const t = task({ state, policy: { condition } });
    expect(shouldRestart(t, mode, [t])).toBe(expected);
  });

  it('allows maxAttempts restarts per spec version', () => {
    const policy = { maxAttempts: 2 };
    const original = task({ createdAt: 0, policy });
    const r1 = task({ createdAt: 10, policy });
    const r2 = task({ createdAt: 20, policy });
    expect(shouldRestart(original, REPLICATED, [original])).toBe(true);
    expect(shouldRestart(r1, REPLICATED, [original, r1])).toBe(true);
    expect(shouldRestart(r2, REPLICATED, [original, r1, r2])).toBe(false);
    // A new spec version starts counting again; removed tasks are an earlier life of the slot.
    const v2 = task({ createdAt: 30, specVersion: 2, policy });
    expect(shouldRestart(v2, REPLICATED, [original, r1, r2, v2])).toBe(true);
    const removed = [
      task({ createdAt: 1, desired: 'remove', policy }),
      task({ createdAt: 2, desired: 'remove' }),
    ];
    expect(restartsInWindow(original, [...removed, original])).toBe(0);
  });

  it('counts only restarts made within the window before the task stopped', () => {
    const policy = { maxAttempts: 1, windowMs: 10_000 };
    const original = task({ createdAt: 0, policy });
    const r1 = task({ createdAt: 1_000, stoppedAt: 30_000, policy });
    expect(restartsInWindow(r1, [original, r1])).toBe(0);
    expect(shouldRestart(r1, REPLICATED, [original, r1])).toBe(true);
    const r2 = task({ createdAt: 30_000, stoppedAt: 35_000, policy });
    expect(restartsInWindow(r2, [original, r1, r2])).toBe(1);
    expect(shouldRestart(r2, REPLICATED, [original, r1, r2])).toBe(false);
  });
});

describe('instanceHolders', () => {
  it('is the live tasks when there are some', () => {
    const old = task({ createdAt: 0 });
    const live = task({ createdAt: 1, desired: 'ready', state: 'pending' });
    expect(instanceHolders([old, live], REPLICATED)).toEqual([live]);
  });

  it('is the newest task when its failure is final, nothing when it would be restarted', () => {
    const final = task({ policy: { condition: 'none' } });
    expect(instanceHolders([final], REPLICATED)).toEqual([final]);
    expect(instanceHolders([task()], REPLICATED)).toEqual([]);
    expect(instanceHolders([task({ desired: 'remove', policy: { condition: 'none' } })], REPLICATED)).toEqual(
      [],
    );
  });
});

import { describe, expect, it } from 'vitest';
import { isSwarmError } from '../../common/index.js';
import { DEFAULT_OLD_TASK_TIMEOUT_MS, resolveOrchestratorOptions } from './options.js';

describe('resolveOrchestratorOptions', () => {
  it('fills in the defaults', () => {
    expect(resolveOrchestratorOptions()).toEqual({
      initialTaskState: 'pending',
      maxChangesPerTransaction: 200,
      conflictRetries: 3,
      oldTaskTimeoutMs: DEFAULT_OLD_TASK_TIMEOUT_MS,
      reaperBatchIntervalMs: 250,
      reaperMaxDirty: 1_000,
      defaultTaskHistoryRetentionLimit: 5,
    });
  });

  it.each([
    [{ maxChangesPerTransaction: 0 }, 'maxChangesPerTransaction'],
    [{ oldTaskTimeoutMs: -1 }, 'oldTaskTimeoutMs'],
    [{ reaperBatchIntervalMs: 1.5 }, 'reaperBatchIntervalMs'],
    [{ initialTaskState: 'assigned' as 'new' }, 'initialTaskState'],
  ])('refuses %j, naming the field', (options, field) => {
    try {
      resolveOrchestratorOptions(options);
      expect.unreachable();
    } catch (e) {
      expect(isSwarmError(e, 'INVALID_ARGUMENT')).toBe(true);
      expect((e as { field?: string }).field).toBe(field);
    }
  });
});

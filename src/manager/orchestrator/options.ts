import type { RandomBytes } from '../../api/index.js';
import { type Clock, InvalidArgumentError, type Logger } from '../../common/index.js';
import type { MemoryStore } from '../store/index.js';

/** What every orchestration component is built from (values are in the options). */
export interface OrchestratorDeps {
  readonly store: MemoryStore;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Source of task ids (`generateId`): `crypto.randomBytes` in the daemon, seeded in tests. */
  readonly randomBytes: RandomBytes;
}

/** Options shared by the orchestrators, the restart supervisor and the task reaper. */
export interface OrchestratorOptions {
  /**
   * Observed state new tasks are created in. `pending` hands them straight to the scheduler;
   * `new` is for when an allocator sits in between and moves them to pending (swarmkit).
   * @default 'pending'
   */
  readonly initialTaskState?: 'new' | 'pending';
  /** Changes (creates, updates, deletes) per store transaction; larger work is split. @default 200 */
  readonly maxChangesPerTransaction?: number;
  /** Re-runs of a transaction after a version conflict before the work is re-queued. @default 3 */
  readonly conflictRetries?: number;
  /**
   * A delayed restart also waits for the task it replaces to stop, at most this long.
   * @default 60 s (swarmkit's defaultOldTaskTimeout)
   */
  readonly oldTaskTimeoutMs?: number;
  /** The reaper batches work this long after the first change. @default 250 ms */
  readonly reaperBatchIntervalMs?: number;
  /** ...or runs at once when this many items are waiting. @default 1000 */
  readonly reaperMaxDirty?: number;
  /** Used while no cluster object exists. @default 5 */
  readonly defaultTaskHistoryRetentionLimit?: number;
}

export type ResolvedOrchestratorOptions = Required<OrchestratorOptions>;

export const DEFAULT_MAX_CHANGES_PER_TRANSACTION = 200;
export const DEFAULT_CONFLICT_RETRIES = 3;
export const DEFAULT_OLD_TASK_TIMEOUT_MS = 60_000;
export const DEFAULT_REAPER_BATCH_INTERVAL_MS = 250;
export const DEFAULT_REAPER_MAX_DIRTY = 1_000;
export const DEFAULT_ORCHESTRATOR_TASK_HISTORY = 5;

export function resolveOrchestratorOptions(options: OrchestratorOptions = {}): ResolvedOrchestratorOptions {
  const initialTaskState = options.initialTaskState ?? 'pending';
  if (initialTaskState !== 'new' && initialTaskState !== 'pending') {
    throw new InvalidArgumentError(
      'initialTaskState',
      `invalid initialTaskState ${JSON.stringify(initialTaskState)}: must be new or pending`,
    );
  }
  return {
    initialTaskState,
    maxChangesPerTransaction: intOption(
      'maxChangesPerTransaction',
      options.maxChangesPerTransaction,
      DEFAULT_MAX_CHANGES_PER_TRANSACTION,
      1,
    ),
    conflictRetries: intOption('conflictRetries', options.conflictRetries, DEFAULT_CONFLICT_RETRIES, 0),
    oldTaskTimeoutMs: intOption('oldTaskTimeoutMs', options.oldTaskTimeoutMs, DEFAULT_OLD_TASK_TIMEOUT_MS, 0),
    reaperBatchIntervalMs: intOption(
      'reaperBatchIntervalMs',
      options.reaperBatchIntervalMs,
      DEFAULT_REAPER_BATCH_INTERVAL_MS,
      0,
    ),
    reaperMaxDirty: intOption('reaperMaxDirty', options.reaperMaxDirty, DEFAULT_REAPER_MAX_DIRTY, 1),
    defaultTaskHistoryRetentionLimit: intOption(
      'defaultTaskHistoryRetentionLimit',
      options.defaultTaskHistoryRetentionLimit,
      DEFAULT_ORCHESTRATOR_TASK_HISTORY,
      Number.MIN_SAFE_INTEGER,
    ),
  };
}

function intOption(field: string, value: number | undefined, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < min) {
    throw new InvalidArgumentError(field, `invalid ${field} ${value}: must be an integer of at least ${min}`);
  }
  return value;
}

import { InvalidArgumentError } from '../../common/index.js';

export interface SchedulerOptions {
  /** Quiet gap after the last commit before a scheduling pass runs. @default 50 ms */
  readonly quietPeriodMs?: number;
  /** Longest a pass waits once work is pending, however busy the store is. @default 1000 ms */
  readonly maxLatencyMs?: number;
  /** Task changes per store transaction when writing a pass's decisions. @default 200 */
  readonly batchSize?: number;
  /** Re-runs of a transaction after a version conflict (changed tasks are skipped). @default 3 */
  readonly conflictRetries?: number;
  /** How long a task failure on a node counts against that node for its service. @default 5 min */
  readonly failureWindowMs?: number;
  /** Failures within the window after which a node goes last for the service. @default 5 */
  readonly maxRecentFailures?: number;
}

export type ResolvedSchedulerOptions = { readonly [K in keyof SchedulerOptions]-?: number };

/** swarmkit's commit debounce: 50 ms quiet gap, 1 s cap. */
export const DEFAULT_SCHEDULER_QUIET_PERIOD_MS = 50;
export const DEFAULT_SCHEDULER_MAX_LATENCY_MS = 1000;
/** swarmkit's MaxChangesPerTransaction. */
export const DEFAULT_SCHEDULER_BATCH_SIZE = 200;
export const DEFAULT_SCHEDULER_CONFLICT_RETRIES = 3;
export const DEFAULT_SCHEDULER_FAILURE_WINDOW_MS = 5 * 60_000;
export const DEFAULT_SCHEDULER_MAX_RECENT_FAILURES = 5;

export function resolveSchedulerOptions(options: SchedulerOptions = {}): ResolvedSchedulerOptions {
  const pick = (field: keyof SchedulerOptions, fallback: number, min: number): number => {
    const value = options[field] ?? fallback;
    if (!Number.isSafeInteger(value) || value < min)
      throw new InvalidArgumentError(
        `scheduler.${field}`,
        `invalid scheduler.${field} ${JSON.stringify(value)}: must be an integer of at least ${min}`,
      );
    return value;
  };
  const resolved = {
    quietPeriodMs: pick('quietPeriodMs', DEFAULT_SCHEDULER_QUIET_PERIOD_MS, 0),
    maxLatencyMs: pick('maxLatencyMs', DEFAULT_SCHEDULER_MAX_LATENCY_MS, 0),
    batchSize: pick('batchSize', DEFAULT_SCHEDULER_BATCH_SIZE, 1),
    conflictRetries: pick('conflictRetries', DEFAULT_SCHEDULER_CONFLICT_RETRIES, 0),
    failureWindowMs: pick('failureWindowMs', DEFAULT_SCHEDULER_FAILURE_WINDOW_MS, 0),
    maxRecentFailures: pick('maxRecentFailures', DEFAULT_SCHEDULER_MAX_RECENT_FAILURES, 1),
  };
  if (resolved.maxLatencyMs < resolved.quietPeriodMs)
    throw new InvalidArgumentError(
      'scheduler.maxLatencyMs',
      `invalid scheduler.maxLatencyMs ${resolved.maxLatencyMs}: must be at least quietPeriodMs (${resolved.quietPeriodMs})`,
    );
  return resolved;
}

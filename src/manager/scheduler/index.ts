export { DEFAULT_FILTERS, type Filter, type FilterName } from './filters.js';
export {
  DEFAULT_SCHEDULER_BATCH_SIZE,
  DEFAULT_SCHEDULER_MAX_LATENCY_MS,
  DEFAULT_SCHEDULER_QUIET_PERIOD_MS,
  type ResolvedSchedulerOptions,
  resolveSchedulerOptions,
  type SchedulerOptions,
} from './options.js';
export { ASSIGNED_MESSAGE, CONFIRMED_MESSAGE } from './pass.js';
export { type PassReport, Scheduler, type SchedulerDeps } from './scheduler.js';

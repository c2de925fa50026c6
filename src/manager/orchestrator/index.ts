export { isTaskDirty, jsonEqual } from './common/dirty.js';
export { type NewTaskParams, newTask } from './common/task-factory.js';
export {
  finalDesiredState,
  isLiveTask,
  isNodeInvalid,
  nodeAcceptsNewTasks,
} from './common/task-rules.js';
export {
  type Constraint,
  type ConstraintOperator,
  constraintMatches,
  failedConstraints,
  formatConstraint,
  nodeAttribute,
  nodeMatchesConstraints,
  parseConstraint,
  parseConstraints,
} from './constraints.js';
export { GlobalOrchestrator } from './global/global-orchestrator.js';
export { JobsOrchestrator } from './jobs/jobs-orchestrator.js';
export {
  DEFAULT_CONFLICT_RETRIES,
  DEFAULT_MAX_CHANGES_PER_TRANSACTION,
  DEFAULT_OLD_TASK_TIMEOUT_MS,
  DEFAULT_ORCHESTRATOR_TASK_HISTORY,
  DEFAULT_REAPER_BATCH_INTERVAL_MS,
  DEFAULT_REAPER_MAX_DIRTY,
  type OrchestratorDeps,
  type OrchestratorOptions,
  type ResolvedOrchestratorOptions,
  resolveOrchestratorOptions,
} from './options.js';
export { historyToDelete, isReapable, TaskReaper } from './reaper/task-reaper.js';
export { ReplicatedOrchestrator } from './replicated/replicated-orchestrator.js';
export { instanceHolders, restartsInWindow, shouldRestart } from './restart/restart-policy.js';
export { RestartSupervisor } from './restart/restart-supervisor.js';
export { DEFAULT_UPDATE_CONFIG, effectiveUpdateConfig } from './update/update-config.js';
export { Updater } from './update/updater.js';

import {
  DEFAULT_RESTART_POLICY,
  type RestartPolicy,
  type ServiceMode,
  type Task,
} from '../../../api/index.js';
import { compareTaskAge, isJobMode, isLiveTask, newestTask } from '../common/task-rules.js';

/**
 * The restart policy as a pure function of the store. swarmkit keeps restart history in the
 * restart supervisor's memory, so a new leader forgets it; we count the replacements still in
 * the store instead (the reaper keeps at least maxAttempts+1 tasks per slot for this), so every
 * component and every leader reaches the same answer.
 */

export function effectiveRestartPolicy(task: Task): RestartPolicy {
  return task.spec.restartPolicy ?? DEFAULT_RESTART_POLICY;
}

/** When the task stopped, for the restart window: the reporter's timestamp, else the last write. */
function stoppedAt(task: Task): number {
  return task.status.timestamp > 0 ? task.status.timestamp : task.meta.updatedAt;
}

/**
 * Restarts already made for the instance (slot, or node for global services) of `task`: tasks
 * of the same spec version (and job iteration) after the first, created within the restart
 * window before `task` stopped. A new spec version starts the count again, as in swarmkit.
 * Tasks dropped by a scale-down (desired `remove`) belong to an earlier life of the slot.
 */
export function restartsInWindow(task: Task, instanceTasks: readonly Task[]): number {
  const policy = effectiveRestartPolicy(task);
  const sameRun = instanceTasks
    .filter(
      (t) =>
        t.serviceId === task.serviceId &&
        t.specVersion === task.specVersion &&
        t.jobIteration === task.jobIteration &&
        t.desiredState !== 'remove',
    )
    .sort(compareTaskAge);
  const restarts = sameRun.slice(1);
  if (policy.windowMs <= 0) return restarts.length;
  const end = stoppedAt(task);
  const start = end - policy.windowMs;
  return restarts.filter((t) => t.meta.createdAt > start && t.meta.createdAt <= end).length;
}

/**
 * Whether a task that stopped (or whose node failed) gets a replacement: condition none never,
 * on-failure unless it completed, any always, except that a completed job task is done (swarmkit
 * treats `any` as `on-failure` for jobs); then max attempts within the window.
 */
export function shouldRestart(task: Task, mode: ServiceMode, instanceTasks: readonly Task[]): boolean {
  const policy = effectiveRestartPolicy(task);
  switch (policy.condition) {
    case 'none':
      return false;
    case 'on-failure':
      if (task.status.state === 'complete') return false;
      break;
    case 'any':
      if (isJobMode(mode) && task.status.state === 'complete') return false;
      break;
  }
  if (policy.maxAttempts <= 0) return true;
  return restartsInWindow(task, instanceTasks) < policy.maxAttempts;
}

/**
 * The tasks that hold an instance (a slot, or a node for global services): its live tasks, or,
 * when none is live, its newest task if the restart policy says it stays down (condition none,
 * attempts used up). An instance with no holder is dead: the orchestrator may fill its number
 * again and the reaper may drop its history.
 */
export function instanceHolders(instanceTasks: readonly Task[], mode: ServiceMode): Task[] {
  const live = instanceTasks.filter(isLiveTask);
  if (live.length > 0) return live;
  const newest = newestTask(instanceTasks.filter((t) => t.desiredState !== 'remove'));
  if (newest && !shouldRestart(newest, mode, instanceTasks)) return [newest];
  return [];
}

import { canChangeDesiredState, type ServiceId, type Task, type TaskState } from '../../../api/index.js';
import { by, type WriteTx } from '../../store/index.js';

/**
 * Moves a task's desired state forward inside a transaction. Returns false (and writes nothing)
 * when the task is already there or past it: desired states never go back.
 */
export function setDesiredState(tx: WriteTx, task: Task, state: TaskState): boolean {
  if (!canChangeDesiredState(task.desiredState, state)) return false;
  tx.update('task', { ...task, desiredState: state });
  return true;
}

/**
 * A deleted service's tasks: desired `remove`, so agents stop them and the reaper deletes them.
 * Writes at most `max` tasks; `more` says another pass is needed.
 */
export function markServiceTasksRemoved(
  tx: WriteTx,
  serviceId: ServiceId,
  max: number,
): { changed: number; more: boolean } {
  let changed = 0;
  for (const t of tx.find('task', by.serviceId(serviceId))) {
    if (!canChangeDesiredState(t.desiredState, 'remove')) continue;
    if (changed >= max) return { changed, more: true };
    setDesiredState(tx, t, 'remove');
    changed++;
  }
  return { changed, more: false };
}

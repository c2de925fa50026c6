import {
  compareTaskStates,
  DEFAULT_RESTART_POLICY,
  isPastRunning,
  type ObjectEvent,
  type Service,
  type ServiceId,
  type ServiceMode,
  type Task,
  type TaskId,
} from '../../../api/index.js';
import { by, type ReadTx, type WriteTx } from '../../store/index.js';
import { LoopComponent } from '../common/loop-component.js';
import { byNode, bySlot, compareTaskAge, isLiveTask } from '../common/task-rules.js';
import { setDesiredState } from '../common/task-writes.js';
import type { OrchestratorDeps, OrchestratorOptions } from '../options.js';
import { instanceHolders } from '../restart/restart-policy.js';

/**
 * A task the reaper may delete: not wanted any more (desired shutdown or remove) and either
 * finished (past running) or never placed (before assigned), so no agent can be running it.
 */
export function isReapable(task: Task): boolean {
  if (isLiveTask(task)) return false;
  return isPastRunning(task.status.state) || compareTaskStates(task.status.state, 'assigned') < 0;
}

/**
 * Which of one instance's tasks (a slot, or a node for global services) to delete so that at
 * most `limit` remain, oldest first, never a task that may still run (swarmkit's rule: the
 * count includes the live task). A negative limit keeps everything.
 */
export function historyToDelete(instanceTasks: readonly Task[], limit: number): Task[] {
  if (limit < 0 || instanceTasks.length <= limit) return [];
  const excess = instanceTasks.length - limit;
  return [...instanceTasks].sort(compareTaskAge).filter(isReapable).slice(0, excess);
}

/**
 * A slot a scale-down gave up: some task in it was given desired `remove` and no task holds it
 * (see instanceHolders). Its finished history goes too (swarmkit's orchestrator deletes such
 * dead slots). A slot reused after a scale-down is held again, so its history stays.
 */
function isDroppedSlot(slotTasks: readonly Task[], mode: ServiceMode): boolean {
  return slotTasks.some((t) => t.desiredState === 'remove') && instanceHolders(slotTasks, mode).length === 0;
}

/**
 * Deletes task history (swarmkit's task reaper).
 *
 * - Per slot (per node for global modes) keeps at most the cluster's
 *   `taskHistoryRetentionLimit` tasks (default 5; at least maxAttempts+1 so the restart policy
 *   can still count attempts; negative: keep all), deleting the oldest finished ones.
 * - Deletes tasks with desired `remove` (scale-down, deleted service) once they finished or if
 *   they were never placed, or once their node no longer exists.
 * - A slot of a replicated service given up by a scale-down loses its finished history too.
 * - Tasks whose service no longer exists (deleted while no orchestrator was watching) get desired
 *   `remove` and are deleted once stopped.
 * - Batches: acts `reaperBatchIntervalMs` after the first change, or at once past
 *   `reaperMaxDirty` waiting items, and on start.
 * - Watches: tasks (creations grow history; updates may finish a task), nodes (deletions), the
 *   cluster (retention limit).
 */
export class TaskReaper extends LoopComponent {
  readonly name = 'task-reaper';
  private readonly dirtyServices = new Set<ServiceId>();
  private readonly cleanup = new Set<TaskId>();
  private historyLimit = 0;
  private due = false;
  private cancelBatch: (() => void) | undefined;

  constructor(deps: OrchestratorDeps, options: OrchestratorOptions = {}) {
    super(deps, options, 'manager/orchestrator/reaper');
  }

  resync(tx: ReadTx): void {
    this.dirtyServices.clear();
    this.cleanup.clear();
    this.historyLimit = this.taskHistoryLimit(tx);
    for (const s of tx.find('service', by.all())) this.dirtyServices.add(s.id);
    for (const t of tx.find('task', by.all())) {
      if (t.desiredState === 'remove' || !tx.get('service', t.serviceId)) this.cleanup.add(t.id);
    }
    this.due = true;
  }

  onEvent(event: ObjectEvent): void {
    switch (event.kind) {
      case 'task':
        if (event.action === 'create') this.dirtyServices.add(event.new.serviceId);
        else if (event.action === 'update') {
          const t = event.new;
          if (t.desiredState === 'remove' && isReapable(t)) {
            // Its slot's history may go with it (see historyOf), judged in the same pass.
            this.cleanup.add(t.id);
            this.dirtyServices.add(t.serviceId);
          } else if (isReapable(t) && !isReapable(event.old)) this.dirtyServices.add(t.serviceId);
        } else return;
        break;
      case 'service':
        if (event.action !== 'delete') return;
        this.dirtyServices.add(event.old.id);
        break;
      case 'node':
        if (event.action !== 'delete') return;
        for (const t of this.store.view((tx) => tx.find('task', by.nodeId(event.old.id))))
          if (t.desiredState === 'remove') this.cleanup.add(t.id);
        break;
      case 'cluster':
        if (event.action !== 'delete')
          this.historyLimit = event.new.spec.orchestration.taskHistoryRetentionLimit;
        return;
      default:
        return;
    }
    this.schedule();
  }

  private schedule(): void {
    if (this.cleanup.size + this.dirtyServices.size > this.options.reaperMaxDirty) {
      this.due = true;
      this.wake();
      return;
    }
    if (this.cancelBatch) return;
    this.cancelBatch = this.setTimer(this.options.reaperBatchIntervalMs, () => {
      this.cancelBatch = undefined;
      this.due = true;
      this.wake();
    });
  }

  async tick(signal: AbortSignal): Promise<void> {
    if (!this.due) return;
    this.due = false;
    this.cancelBatch?.();
    this.cancelBatch = undefined;
    const { remove, orphans } = this.store.view((tx) => this.collect(tx));
    this.cleanup.clear();
    this.dirtyServices.clear();
    const max = this.options.maxChangesPerTransaction;
    for (let i = 0; i < orphans.length; i += max) {
      const chunk = orphans.slice(i, i + max);
      await this.write('mark orphaned tasks removed', (tx) => this.markRemoved(tx, chunk), signal);
    }
    for (let i = 0; i < remove.length; i += max) {
      const chunk = remove.slice(i, i + max);
      const r = await this.write('delete task history', (tx) => this.deleteTasks(tx, chunk), signal);
      if (!r.ok && r.retry) for (const id of chunk) this.cleanup.add(id);
      if (r.ok && r.value > 0) this.logger.debug('tasks deleted', { count: r.value });
    }
  }

  private collect(tx: ReadTx): { remove: TaskId[]; orphans: TaskId[] } {
    const remove = new Set<TaskId>();
    const orphans: TaskId[] = [];
    for (const id of this.cleanup) {
      const t = tx.get('task', id);
      if (!t) continue;
      if (!tx.get('service', t.serviceId) && isLiveTask(t)) orphans.push(t.id);
      else if (t.desiredState === 'remove' && (isReapable(t) || (t.nodeId && !tx.get('node', t.nodeId))))
        remove.add(t.id);
      else if (!tx.get('service', t.serviceId) && isReapable(t)) remove.add(t.id);
    }
    for (const id of this.dirtyServices) {
      const service = tx.get('service', id);
      const tasks = tx.find('task', by.serviceId(id));
      if (!service) {
        for (const t of tasks) if (isReapable(t)) remove.add(t.id);
        continue;
      }
      for (const t of this.historyOf(service, tasks)) remove.add(t.id);
    }
    return { remove: [...remove], orphans };
  }

  private historyOf(service: Service, tasks: readonly Task[]): Task[] {
    const mode = service.spec.mode;
    const maxAttempts = (service.spec.taskTemplate.restartPolicy ?? DEFAULT_RESTART_POLICY).maxAttempts;
    const limit = this.historyLimit < 0 ? -1 : Math.max(this.historyLimit, maxAttempts + 1);
    const global = mode.type === 'global' || mode.type === 'global-job';
    const out: Task[] = [];
    const groups: Iterable<[unknown, Task[]]> = global ? byNode(tasks) : bySlot(tasks);
    for (const [, group] of groups) {
      if (mode.type === 'replicated' && isDroppedSlot(group, mode)) {
        out.push(...group.filter(isReapable));
        continue;
      }
      out.push(...historyToDelete(group, limit));
    }
    return out;
  }

  /** Re-checks each task in the transaction: deletes only what is still safe to delete. */
  private deleteTasks(tx: WriteTx, ids: readonly TaskId[]): number {
    let n = 0;
    for (const id of ids) {
      const t = tx.get('task', id);
      if (!t) continue;
      const nodeGone = t.desiredState === 'remove' && t.nodeId !== undefined && !tx.get('node', t.nodeId);
      if (!isReapable(t) && !nodeGone) continue;
      tx.delete('task', t);
      n++;
    }
    return n;
  }

  private markRemoved(tx: WriteTx, ids: readonly TaskId[]): void {
    for (const id of ids) {
      const t = tx.get('task', id);
      if (t && !tx.get('service', t.serviceId)) setDesiredState(tx, t, 'remove');
    }
  }
}

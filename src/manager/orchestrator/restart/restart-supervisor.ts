import {
  compareTaskStates,
  isPastRunning,
  type NodeId,
  type ObjectEvent,
  type Service,
  type Task,
  type TaskId,
} from '../../../api/index.js';
import { by, type ReadTx, type WriteTx } from '../../store/index.js';
import { isTaskDirty } from '../common/dirty.js';
import { LoopComponent } from '../common/loop-component.js';
import { newTask } from '../common/task-factory.js';
import {
  finalDesiredState,
  hasStoppedUnexpectedly,
  isCompletedJobTask,
  isGlobalMode,
  isLiveTask,
  isNodeInvalid,
  jobIterationOf,
  nodeMatchesService,
  serviceConstraints,
} from '../common/task-rules.js';
import { setDesiredState } from '../common/task-writes.js';
import type { OrchestratorDeps, OrchestratorOptions } from '../options.js';
import { effectiveRestartPolicy, shouldRestart } from './restart-policy.js';

/** A replacement waiting (desired `ready`) before it may start. */
interface DelayedStart {
  readonly taskId: TaskId;
  /** When the restart delay is over (manager clock, ms). */
  readonly startAt: number;
  /** The task it replaces, if it must stop first; given up on at `deadline`. */
  readonly waitFor?: { readonly taskId: TaskId; readonly nodeId?: NodeId };
  readonly deadline: number;
  /** The replacement itself failed while waiting: restart it once the delay is over. */
  restartWhenDue: boolean;
  /** The pending wake-up: when it is due and how to cancel it; undefined once it fired. */
  timer?: { readonly at: number; readonly cancel: () => void };
}

interface RestartOutcome {
  readonly replacement?: Task;
  readonly delayMs: number;
  readonly waitFor?: DelayedStart['waitFor'];
}

/**
 * Replaces tasks that stopped against the manager's wishes, following their restart policy
 * (swarmkit's restart supervisor, plus the task-level half of its replicated orchestrator).
 *
 * - Watches: tasks (a live task whose observed state went past running: failed, exited,
 *   rejected, shut down) and nodes (down, drained or deleted: their replicated tasks move).
 * - Writes, in one transaction: the old task's desired state → `shutdown`; if the policy allows
 *   (condition, max attempts within the window, counted from the store), a replacement in the
 *   same slot (the same node for global services) built from the service as it is now.
 * - Delay: the replacement is created with desired `ready` (the agent may prepare it) and
 *   promoted to `running` (`complete` for jobs) once the restart delay has passed on the
 *   injected clock and the old task has stopped (or its node is down, or `oldTaskTimeoutMs`
 *   passed). A replacement that fails during its delay is itself restarted only when its delay
 *   is over, which bounds crash loops to one attempt per delay.
 * - Node failures: a replicated task on a down node is replaced at once, with no delay and no
 *   wait (swarmkit applies the delay; our node failure already took 15 s to detect). On a
 *   drained node the delay is skipped but the old task is stopped first. Global tasks on failed
 *   nodes are left to the global and jobs orchestrators, which shut them down.
 * - Leader change: delays live in memory; a new instance adopts every task left at desired
 *   `ready`, with what remains of its delay counted from its creation, except the rolling
 *   updater's held tasks (`updateStatus.heldTasks`), which the updater starts itself.
 */
export class RestartSupervisor extends LoopComponent {
  readonly name = 'restart-supervisor';
  private readonly candidates = new Set<TaskId>();
  private readonly failedNodes = new Set<NodeId>();
  private readonly delayed = new Map<TaskId, DelayedStart>();

  constructor(deps: OrchestratorDeps, options: OrchestratorOptions = {}) {
    super(deps, options, 'manager/orchestrator/restart');
  }

  /** Replacements currently held at desired `ready` (for tests and diagnostics). */
  get delayedStarts(): number {
    return this.delayed.size;
  }

  resync(tx: ReadTx): void {
    this.candidates.clear();
    this.failedNodes.clear();
    for (const plan of this.delayed.values()) plan.timer?.cancel();
    this.delayed.clear();
    const now = this.clock.now();
    for (const t of tx.find('task', by.all())) {
      const service = tx.get('service', t.serviceId);
      if (!service) continue;
      // The updater starts its own held tasks once the task they replace has stopped.
      if (service.status.updateStatus?.heldTasks?.includes(t.id)) continue;
      if (t.desiredState === 'ready') {
        const delay = effectiveRestartPolicy(t).delayMs;
        this.plan(t.id, Math.max(now, t.meta.createdAt + delay), undefined, isPastRunning(t.status.state));
      } else if (hasStoppedUnexpectedly(t)) {
        this.candidates.add(t.id);
      }
    }
    for (const n of tx.find('node', by.all())) if (isNodeInvalid(n)) this.failedNodes.add(n.id);
  }

  onEvent(event: ObjectEvent): void {
    if (event.kind === 'task') {
      if (event.action === 'delete') {
        this.dropPlan(event.old.id);
        return;
      }
      const t = event.new;
      const plan = this.delayed.get(t.id);
      if (plan && t.desiredState !== 'ready') this.dropPlan(t.id);
      else if (plan && isPastRunning(t.status.state)) plan.restartWhenDue = true;
      else if (hasStoppedUnexpectedly(t)) this.candidates.add(t.id);
    } else if (event.kind === 'node') {
      if (event.action === 'delete') this.failedNodes.add(event.old.id);
      else if (isNodeInvalid(event.new) && (event.action === 'create' || !isNodeInvalid(event.old)))
        this.failedNodes.add(event.new.id);
    }
  }

  async tick(signal: AbortSignal): Promise<void> {
    if (this.failedNodes.size > 0) this.collectTasksOfFailedNodes();
    for (const id of [...this.candidates]) {
      this.candidates.delete(id);
      const plan = this.delayed.get(id);
      if (plan) {
        plan.restartWhenDue = true;
        continue;
      }
      await this.restart(id, signal);
    }
    await this.startDueTasks(signal);
  }

  private collectTasksOfFailedNodes(): void {
    this.store.view((tx) => {
      for (const nodeId of this.failedNodes) {
        for (const t of tx.find('task', by.nodeId(nodeId))) {
          if (!isLiveTask(t) || isCompletedJobTask(t)) continue;
          const service = tx.get('service', t.serviceId);
          if (service && !isGlobalMode(service.spec.mode)) this.candidates.add(t.id);
        }
      }
    });
    this.failedNodes.clear();
  }

  private async restart(id: TaskId, signal: AbortSignal): Promise<void> {
    const r = await this.write('restart task', (tx) => this.restartInTx(tx, id), signal, { 'task.id': id });
    if (!r.ok) {
      if (r.retry) this.candidates.add(id);
      return;
    }
    const outcome = r.value;
    if (!outcome?.replacement) return;
    const t = outcome.replacement;
    this.logger.info('task restarted', {
      'task.id': id,
      'replacement.id': t.id,
      'service.id': t.serviceId,
      slot: t.slot,
      delayMs: outcome.delayMs,
    });
    if (t.desiredState === 'ready')
      this.plan(t.id, this.clock.now() + outcome.delayMs, outcome.waitFor, false);
  }

  /** Re-runnable: decides from what the transaction reads, not from what the event said. */
  private restartInTx(tx: WriteTx, id: TaskId): RestartOutcome | undefined {
    const t = tx.get('task', id);
    if (!t || !isLiveTask(t) || isCompletedJobTask(t)) return undefined;
    const service = tx.get('service', t.serviceId);
    if (!service) return undefined;
    const mode = service.spec.mode;
    const global = isGlobalMode(mode);
    const node = t.nodeId ? tx.get('node', t.nodeId) : undefined;
    const nodeFailed = t.nodeId !== undefined && isNodeInvalid(node);
    const stopped = isPastRunning(t.status.state);
    if (global && nodeFailed) return undefined;
    if (!stopped && !nodeFailed) return undefined;
    setDesiredState(tx, t, 'shutdown');
    // A task of an earlier run of a job is not restarted: the new run has its own tasks.
    if (t.jobIteration !== jobIterationOf(service)) return undefined;
    const instance = global
      ? tx.find('task', by.nodeId(t.nodeId!)).filter((x) => x.serviceId === t.serviceId)
      : tx.find('task', by.slot(t.serviceId, t.slot));
    // The instance is already held by another task of the current spec (the old task of a
    // start-first slot that a rollback made current again, or a replacement already made): a
    // second one would leave the slot with two tasks wanting to run.
    if (instance.some((o) => o.id !== t.id && holdsInstance(tx, service, o))) return undefined;
    // A rollout's replacement prepared ahead that failed while the slot's old task still runs,
    // not asked to stop: the old task keeps the slot, and the slot's batch makes a new one.
    const staged = t.desiredState === 'ready' && service.status.updateStatus?.heldTasks?.includes(t.id);
    if (
      staged &&
      instance.some((o) => o.id !== t.id && o.desiredState === 'running' && !isPastRunning(o.status.state))
    )
      return undefined;
    if (!shouldRestart(t, mode, instance)) return undefined;
    if (global && !(node && nodeMatchesService(node, serviceConstraints(service)))) return undefined;
    const delayMs = nodeFailed ? 0 : effectiveRestartPolicy(t).delayMs;
    // Wait for the task itself, or for another task of the instance still stopping (the old
    // task of a rolling update whose held replacement failed before it started).
    const stopping = stopped ? stillStopping(tx, instance, t) : undefined;
    const waitStop =
      (!stopped && node !== undefined && node.status.state !== 'down') || stopping !== undefined;
    const waitTask = stopping ?? t;
    const replacement = tx.create(
      'task',
      newTask({
        service,
        slot: t.slot,
        ...(global && t.nodeId ? { nodeId: t.nodeId } : {}),
        desiredState: delayMs > 0 || waitStop ? 'ready' : finalDesiredState(mode),
        initialState: this.options.initialTaskState,
        jobIteration: jobIterationOf(service),
        now: this.clock.now(),
        randomBytes: this.deps.randomBytes,
      }),
    );
    return {
      replacement,
      delayMs,
      ...(waitStop
        ? { waitFor: { taskId: waitTask.id, ...(waitTask.nodeId ? { nodeId: waitTask.nodeId } : {}) } }
        : {}),
    };
  }

  private plan(taskId: TaskId, startAt: number, waitFor: DelayedStart['waitFor'], failed: boolean): void {
    this.dropPlan(taskId);
    const plan: DelayedStart = {
      taskId,
      startAt,
      deadline: startAt + this.options.oldTaskTimeoutMs,
      restartWhenDue: failed,
      ...(waitFor ? { waitFor } : {}),
    };
    this.delayed.set(taskId, plan);
    if (startAt <= this.clock.now()) this.wake();
    else this.arm(plan, this.clock.now());
  }

  /**
   * Makes sure a wake-up is pending for the plan's next time gate (the end of its delay, then
   * the old-task deadline). Called again each time a pass finds the plan not yet due: a timer
   * that fired early (a clock that rounds, a wall clock stepped back) must not leave the
   * replacement at desired `ready` with nothing left to wake the supervisor.
   */
  private arm(plan: DelayedStart, now: number): void {
    const at =
      plan.startAt > now ? plan.startAt : plan.waitFor && plan.deadline > now ? plan.deadline : undefined;
    if (at === undefined || plan.timer?.at === at) return;
    plan.timer?.cancel();
    const cancel = this.setTimer(at - now, () => {
      if (plan.timer?.cancel === cancel) delete plan.timer;
      this.wake();
    });
    plan.timer = { at, cancel };
  }

  private dropPlan(taskId: TaskId): void {
    const plan = this.delayed.get(taskId);
    if (!plan) return;
    plan.timer?.cancel();
    this.delayed.delete(taskId);
  }

  private async startDueTasks(signal: AbortSignal): Promise<void> {
    const now = this.clock.now();
    for (const plan of [...this.delayed.values()]) {
      if (plan.startAt > now) {
        this.arm(plan, now);
        continue;
      }
      if (plan.restartWhenDue) {
        this.dropPlan(plan.taskId);
        await this.restart(plan.taskId, signal);
        continue;
      }
      if (!this.oldTaskGone(plan, now)) {
        // The old task's stop arrives as a store change (a tick); the deadline needs a timer.
        this.arm(plan, now);
        continue;
      }
      const r = await this.write('start delayed task', (tx) => this.promote(tx, plan.taskId), signal, {
        'task.id': plan.taskId,
      });
      if (r.ok || !r.retry) this.dropPlan(plan.taskId);
    }
  }

  private oldTaskGone(plan: DelayedStart, now: number): boolean {
    const waitFor = plan.waitFor;
    if (!waitFor || now >= plan.deadline) return true;
    return this.store.view((tx) => {
      const old = tx.get('task', waitFor.taskId);
      const node = waitFor.nodeId ? tx.get('node', waitFor.nodeId) : undefined;
      return !old || isPastRunning(old.status.state) || !node || node.status.state === 'down';
    });
  }

  private promote(tx: WriteTx, id: TaskId): void {
    const t = tx.get('task', id);
    if (t?.desiredState !== 'ready') return;
    const service = tx.get('service', t.serviceId);
    if (!service) return;
    setDesiredState(tx, t, finalDesiredState(service.spec.mode));
  }
}

/** Another task of the instance asked to stop that may still run on a live node. */
function stillStopping(tx: WriteTx, instance: readonly Task[], failed: Task): Task | undefined {
  return instance.find((x) => {
    if (x.id === failed.id || isLiveTask(x) || isPastRunning(x.status.state) || !x.nodeId) return false;
    if (compareTaskStates(x.status.state, 'assigned') < 0) return false;
    const node = tx.get('node', x.nodeId);
    return node !== undefined && node.status.state !== 'down';
  });
}

/** A live task of the service's current spec that has not stopped: its instance needs no other. */
function holdsInstance(tx: WriteTx, service: Service, task: Task): boolean {
  if (!isLiveTask(task) || isPastRunning(task.status.state)) return false;
  if (task.jobIteration !== jobIterationOf(service)) return false;
  return !isTaskDirty(service, task, task.nodeId ? tx.get('node', task.nodeId) : undefined);
}

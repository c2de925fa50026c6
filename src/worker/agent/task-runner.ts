import { isTerminalTaskState, TASK_STATE_RANK, type Task, type TaskStatus } from '../../api/index.js';
import { type Clock, type Disposable, errorMessage, type Logger } from '../../common/index.js';
import type { Controller, Executor } from '../executor/index.js';

const RUNNING = TASK_STATE_RANK.running;

/**
 * One assigned task on this node: drives its controller towards the task's desired state, one
 * step at a time (steps are serialized), and hands every observed status to `report`. The
 * controller's steps are idempotent, so an adopted container is simply inspected and kept.
 */
export class TaskRunner {
  private task: Task;
  private readonly controller: Controller;
  private readonly sub: Disposable;
  private chain: Promise<void> = Promise.resolve();
  private disposed = false;
  /** Aborted by the next update: a step waiting for a handover gives way to the newer view. */
  private superseded = new AbortController();

  constructor(
    task: Task,
    private readonly executor: Executor,
    private readonly report: (task: Task, status: TaskStatus) => void,
    private readonly log: Logger,
    private readonly clock: Clock,
  ) {
    this.task = task;
    this.controller = executor.controller(task);
    this.sub = this.controller.onDidChangeStatus((s) => this.send(this.task, s));
  }

  /** Takes the manager's newest view of the task and converges on it. */
  update(task: Task, signal: AbortSignal): void {
    this.task = task;
    this.supersede();
    const step = this.superseded.signal;
    this.enqueue(() => this.converge(signal, step));
  }

  /** The task is no longer ours: stop and delete its container. */
  remove(signal: AbortSignal): Promise<void> {
    this.supersede();
    this.enqueue(async () => {
      await this.controller.remove(signal);
    });
    return this.chain.finally(() => this.dispose());
  }

  /** Reports what the manager does not know yet; re-inspections of an unchanged state are not. */
  private send(task: Task, status: TaskStatus): void {
    const known = task.status;
    const same =
      known.state === status.state &&
      known.message === status.message &&
      known.err === status.err &&
      known.health === status.health;
    if (!same) this.report(task, status);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.superseded.abort();
    this.sub.dispose();
    this.controller.dispose();
  }

  private supersede(): void {
    this.superseded.abort();
    this.superseded = new AbortController();
  }

  private enqueue(step: () => Promise<void>): void {
    this.chain = this.chain.then(step).catch((e: unknown) => {
      this.log.warn('task step failed', { 'task.id': this.task.id, error: errorMessage(e) });
    });
  }

  private async converge(signal: AbortSignal, step: AbortSignal): Promise<void> {
    if (this.disposed) return;
    const task = this.task;
    const desired = TASK_STATE_RANK[task.desiredState];
    if (desired > RUNNING) {
      const now = await this.controller.status(signal);
      if (now && isTerminalTaskState(now.state)) return this.send(task, now);
      if (!now && isTerminalTaskState(task.status.state)) return;
      this.send(task, await this.controller.shutdown(signal));
      return;
    }
    if (isTerminalTaskState(task.status.state)) return;
    let status = await this.controller.status(signal);
    if (status && isTerminalTaskState(status.state)) return this.send(task, status);
    if (!status || TASK_STATE_RANK[status.state] < TASK_STATE_RANK.ready) {
      this.send(task, { state: 'preparing', timestamp: this.clock.now(), message: 'preparing' });
      status = await this.controller.prepare(signal);
      this.send(task, status);
      if (status.state !== 'ready') return;
      if (desired < RUNNING && !(await this.handedOver(task, signal, step))) return;
    } else if (desired < RUNNING) {
      this.send(task, status);
      if (status.state !== 'ready' || !(await this.handedOver(task, signal, step))) return;
    }
    if (TASK_STATE_RANK[status.state] < TASK_STATE_RANK.starting)
      status = await this.controller.start(signal);
    this.send(task, status);
  }

  /** A held task whose predecessors exited on this node may start before the manager says so. */
  private async handedOver(task: Task, signal: AbortSignal, step: AbortSignal): Promise<boolean> {
    if (!task.startAfter?.length || TASK_STATE_RANK[task.desiredState] !== TASK_STATE_RANK.ready)
      return false;
    const both = AbortSignal.any([signal, step]);
    const exited = (await this.executor.waitExited?.(task.startAfter, both)) ?? false;
    if (!exited || both.aborted || this.disposed) return false;
    this.log.debug('handover: predecessors exited, starting', { 'task.id': task.id });
    return true;
  }
}

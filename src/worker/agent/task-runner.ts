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

  constructor(
    task: Task,
    executor: Executor,
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
    this.enqueue(() => this.converge(signal));
  }

  /** The task is no longer ours: stop and delete its container. */
  remove(signal: AbortSignal): Promise<void> {
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
    this.sub.dispose();
    this.controller.dispose();
  }

  private enqueue(step: () => Promise<void>): void {
    this.chain = this.chain.then(step).catch((e: unknown) => {
      this.log.warn('task step failed', { 'task.id': this.task.id, error: errorMessage(e) });
    });
  }

  private async converge(signal: AbortSignal): Promise<void> {
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
      if (status.state !== 'ready' || desired < RUNNING) return;
    } else if (desired < RUNNING) {
      return this.send(task, status);
    }
    if (TASK_STATE_RANK[status.state] < TASK_STATE_RANK.starting)
      status = await this.controller.start(signal);
    this.send(task, status);
  }
}

import { isPastRunning, type NodeId, type Service, type Task, type TaskSpec } from '../../api/index.js';
import { pickTasksBySlot, renderConvergence, slotLine, toProgressTask } from './progress.js';
import { countServiceTasks } from './service-list.js';

/**
 * What `service update|rollback --detach=false` shows and returns while the leader's updater rolls
 * a spec out, as pure functions of the observed service and tasks (the command polls them).
 */

/** Which command waits: `service rollback` (and `update --rollback`) succeeds on a completed rollback. */
export type UpdateCommand = 'update' | 'rollback';

export type UpdateVerdict =
  /** Keep watching. */
  | { readonly kind: 'waiting' }
  /** Exit 0, after printing `line`. */
  | { readonly kind: 'done'; readonly line: string }
  /** Exit non-zero with this one-line reason. */
  | { readonly kind: 'failed'; readonly reason: string };

/**
 * The end of an update as a script sees it. `completed` succeeds; `paused`, `rollback_paused` and,
 * for `service update`, `rollback_completed` fail with the updater's message. A rollout held in
 * `canary` without auto-promotion is the state that was asked for: it succeeds with a line saying
 * it waits for `service promote` (with auto-promotion it keeps waiting for the outcome).
 */
export function updateVerdict(
  service: Service,
  command: UpdateCommand,
  tasks: readonly Task[] = [],
): UpdateVerdict {
  const us = service.status.updateStatus;
  const name = service.spec.name;
  const failed = (label: string): UpdateVerdict => ({
    kind: 'failed',
    reason: `service ${name}: ${withDetail(label, us?.message, failedTask(service, tasks))}`,
  });
  switch (us?.state) {
    case undefined:
    case 'updating':
    case 'rollback_started':
      return { kind: 'waiting' };
    case 'completed':
      return command === 'update'
        ? { kind: 'done', line: `verify: Service ${name} converged` }
        : { kind: 'failed', reason: `service ${name}: a new update completed instead of the rollback` };
    case 'paused':
      return failed('update paused');
    case 'rollback_paused':
      return failed('rollback paused');
    case 'rollback_completed':
      return command === 'rollback'
        ? { kind: 'done', line: 'rollback: rollback complete' }
        : failed('update rolled back');
    case 'canary':
      return (service.spec.updateConfig?.canaryAutoPromoteMs ?? 0) > 0
        ? { kind: 'waiting' }
        : {
            kind: 'done',
            line: `canary: ${name} holds its canary tasks; run "swarmctl service promote ${name}" to continue or "swarmctl service rollback ${name}" to undo`,
          };
  }
}

/** The first task the updater counted as failed, if the caller listed it. */
function failedTask(service: Service, tasks: readonly Task[]): Task | undefined {
  const ids = service.status.updateStatus?.failedTasks ?? [];
  return tasks.find((t) => ids.includes(t.id));
}

/**
 * `label: message`, without saying the label twice (the updater's messages often start with it),
 * and the failed task's error when the message does not name that task (a completed rollback's
 * message no longer says why it rolled back).
 */
function withDetail(label: string, message: string | undefined, task: Task | undefined): string {
  const text = !message ? label : message.startsWith(label) ? message : `${label}: ${message}`;
  if (!task || text.includes(task.id)) return text;
  const why = task.status.err ?? task.status.message;
  return `${text} (task ${task.id}, slot ${task.slot}: ${why})`;
}

/** A stable JSON text (keys sorted), so that a task's copy of the template compares equal. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * Tasks that run the service's current template. Compared by content, not spec version: a slot the
 * updater left alone (a rollback from the canary state) keeps its older version number. A task of
 * an older version on its way out is history (the same template two updates ago), not progress.
 */
export function tasksOfCurrentSpec(service: Service, tasks: readonly Task[]): Task[] {
  const want = canonical(service.spec.taskTemplate satisfies TaskSpec);
  return tasks.filter(
    (t) =>
      t.serviceId === service.id &&
      canonical(t.spec) === want &&
      (t.specVersion === service.specVersion || !isPastRunning(t.desiredState)),
  );
}

export interface UpdateFrameOptions {
  readonly downNodes?: ReadonlySet<NodeId>;
  /** Terminal width; per-slot lines only when given (see renderConvergence). */
  readonly width?: number;
}

export interface UpdateFrame {
  readonly lines: readonly string[];
  /** Slots whose current-spec task runs. */
  readonly updated: number;
  readonly desired: number;
}

/**
 * docker's update display: `overall progress: 2 out of 6 tasks` (tasks of the new spec that run),
 * `rolling back update: …` during a rollback, then one line per slot with its new task's state.
 */
export function renderUpdateFrame(
  service: Service,
  tasks: readonly Task[],
  opts: UpdateFrameOptions = {},
): UpdateFrame {
  const down = opts.downNodes ?? new Set<NodeId>();
  const desired = countServiceTasks(service, tasks, down).desired;
  const current = tasksOfCurrentSpec(service, tasks);
  const bySlot = new Map(
    [...pickTasksBySlot(current, { downNodes: down })].map(([k, t]) => [k, toProgressTask(t)]),
  );
  const state = service.status.updateStatus?.state;
  const rollback = state === 'rollback_started' || state === 'rollback_paused';
  const mode = service.spec.mode.type;
  if (mode !== 'replicated' && mode !== 'replicated-job') {
    const frame = renderConvergence(bySlot, desired, {
      rollback,
      ...(opts.width !== undefined && { width: opts.width }),
    });
    return { lines: frame.lines, updated: frame.running, desired };
  }
  // Slot N on line N: a slot not yet updated shows no task (its old one is not progress).
  const frame = renderConvergence(bySlot, desired, { rollback });
  const lines = [...frame.lines];
  if (opts.width !== undefined && desired <= 20)
    for (let slot = 1; slot <= desired; slot++)
      lines.push(slotLine(`${slot}/${desired}`, bySlot.get(slot), opts.width));
  return { lines, updated: frame.running, desired };
}

/**
 * True when the service returned by the update call is running an update started by that call:
 * the updater's state moved (a new start time, or `updating`/`rollback_started` now). A change of
 * service-level fields only (replicas, labels) leaves the old status, and the caller waits for
 * convergence instead.
 */
export function startedUpdate(before: Service, after: Service): boolean {
  const a = after.status.updateStatus;
  if (a === undefined) return false;
  const b = before.status.updateStatus;
  if (b === undefined || b.startedAt !== a.startedAt || b.state !== a.state) return true;
  return a.state === 'updating' || a.state === 'rollback_started' || a.state === 'canary';
}

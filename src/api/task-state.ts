import { SwarmError } from '../common/index.js';

/**
 * Task states in their only order. The rank is swarmkit's value (spaced so states can be
 * inserted later) and acts like a Lamport clock: a task's observed state and its desired state
 * each only ever increase, so stale or duplicated reports are recognised and ignored.
 */
export const TASK_STATES = [
  'new',
  'pending',
  'assigned',
  'accepted',
  'preparing',
  'ready',
  'starting',
  'running',
  'complete',
  'shutdown',
  'failed',
  'rejected',
  'remove',
  'orphaned',
] as const;

export type TaskState = (typeof TASK_STATES)[number];

export const TASK_STATE_RANK: Readonly<Record<TaskState, number>> = {
  new: 0,
  pending: 64,
  assigned: 192,
  accepted: 256,
  preparing: 320,
  ready: 384,
  starting: 448,
  running: 512,
  complete: 576,
  shutdown: 640,
  failed: 704,
  rejected: 768,
  remove: 800,
  orphaned: 832,
};

/** Observed states after which nothing more happens to the task's container. */
export const TERMINAL_TASK_STATES: readonly TaskState[] = [
  'complete',
  'shutdown',
  'failed',
  'rejected',
  'orphaned',
];

/**
 * States the manager may ask for. `ready` prepares without starting (restart delay, rolling
 * update); `complete` is the goal of job tasks; `remove` means "stop, then delete the task".
 */
export const DESIRED_TASK_STATES: readonly TaskState[] = [
  'ready',
  'running',
  'complete',
  'shutdown',
  'remove',
];

export function isTaskState(value: unknown): value is TaskState {
  return typeof value === 'string' && Object.hasOwn(TASK_STATE_RANK, value);
}

export function compareTaskStates(a: TaskState, b: TaskState): number {
  return TASK_STATE_RANK[a] - TASK_STATE_RANK[b];
}

export function isTerminalTaskState(state: TaskState): boolean {
  return TERMINAL_TASK_STATES.includes(state);
}

/** True once the task has left RUNNING for good (complete, shutdown, failed…). */
export function isPastRunning(state: TaskState): boolean {
  return TASK_STATE_RANK[state] > TASK_STATE_RANK.running;
}

/**
 * Whether an observed state may follow another: strictly forward, never out of a terminal state,
 * never to `remove` (a desired state only). Skipping states is allowed: reporters merge updates
 * and only the newest reaches the manager.
 */
export function canTransition(from: TaskState, to: TaskState): boolean {
  if (to === 'remove' || isTerminalTaskState(from)) return false;
  return TASK_STATE_RANK[to] > TASK_STATE_RANK[from];
}

/** Whether the manager may move a task's desired state from `from` to `to` (forward only). */
export function canChangeDesiredState(from: TaskState, to: TaskState): boolean {
  return DESIRED_TASK_STATES.includes(to) && TASK_STATE_RANK[to] > TASK_STATE_RANK[from];
}

export class TaskStateTransitionError extends SwarmError {
  readonly from: TaskState;
  readonly to: TaskState;
  constructor(from: TaskState, to: TaskState, what: 'state' | 'desiredState', taskId?: string) {
    super(
      'FAILED_PRECONDITION',
      `task${taskId ? ` ${taskId}` : ''} ${what} cannot move from ${from} to ${to}`,
      {
        details: { from, to, field: what, taskId },
      },
    );
    this.from = from;
    this.to = to;
  }
}

export function assertTransition(from: TaskState, to: TaskState, taskId?: string): void {
  if (!canTransition(from, to)) throw new TaskStateTransitionError(from, to, 'state', taskId);
}

export function assertDesiredStateChange(from: TaskState, to: TaskState, taskId?: string): void {
  if (!canChangeDesiredState(from, to)) throw new TaskStateTransitionError(from, to, 'desiredState', taskId);
}

import type { NodeId, Task, TaskState } from '../../api/index.js';

/**
 * Docker's convergence display for `--detach=false`, as pure functions of the observed tasks: the
 * lead polls or watches, picks the current task of each slot and redraws the returned lines.
 */

/** Docker's step numbers for the bar (it has an `allocated` step we do not, hence the gap at 2). */
const STEP: Partial<Record<TaskState, number>> = {
  new: 1,
  pending: 3,
  assigned: 4,
  accepted: 5,
  preparing: 6,
  ready: 7,
  starting: 8,
  running: 9,
  complete: 10,
  shutdown: 11,
  failed: 12,
  rejected: 13,
};
const MAX_STEP = 9;
/** Longest state name shown next to a bar (`preparing`, and docker's `allocated`). */
const STATE_WIDTH = 9;
const MAX_PROGRESS_BARS = 20;
const MAX_ERROR_WIDTH = 75;

function isPast(state: TaskState): boolean {
  return (STEP[state] ?? 0) > MAX_STEP;
}

export interface ProgressTask {
  readonly state: TaskState;
  readonly desiredState: TaskState;
  readonly err?: string;
}

export interface ConvergenceOptions {
  /** An update being rolled back: `overall progress: rolling back update: …`. */
  readonly rollback?: boolean;
  /**
   * Terminal width when a terminal is attached; per-slot lines are drawn only then (docker drops
   * progress bars in a pipe), and the bars themselves only when wider than 110 columns.
   */
  readonly width?: number;
}

export interface ConvergenceFrame {
  readonly lines: readonly string[];
  readonly running: number;
  readonly converged: boolean;
}

/**
 * One frame: `overall progress: 2 out of 3 tasks`, then per slot (up to 20 slots)
 * `1/3: running   [==================================================>] `. Slots are numbered
 * 1..n in key order; for a global service the keys are node IDs and `desired` the node count.
 */
export function renderConvergence(
  tasksBySlot: ReadonlyMap<number | string, ProgressTask>,
  desired: number,
  opts: ConvergenceOptions = {},
): ConvergenceFrame {
  let running = 0;
  for (const t of tasksBySlot.values()) if (!isPast(t.desiredState) && t.state === 'running') running++;
  const overall = opts.rollback
    ? `overall progress: rolling back update: ${running} out of ${desired} tasks`
    : `overall progress: ${running} out of ${desired} tasks`;
  const lines = [overall];
  if (opts.width !== undefined && desired <= MAX_PROGRESS_BARS) {
    const keys = [...tasksBySlot.keys()].sort((a, b) =>
      typeof a === 'number' && typeof b === 'number' ? a - b : String(a) < String(b) ? -1 : 1,
    );
    for (let i = 1; i <= desired; i++) {
      const key = keys[i - 1];
      const task = key === undefined ? undefined : tasksBySlot.get(key);
      lines.push(slotLine(`${i}/${desired}`, task, opts.width));
    }
  }
  return { lines, running, converged: running === desired };
}

/** One slot's line: `1/3: running   [====…>] `, the task's error, or `1/3:  ` without a task. */
export function slotLine(id: string, task: ProgressTask | undefined, width: number): string {
  if (!task) return `${id}:  `;
  if (task.err) return `${id}: ${truncateError(task.err)}`;
  const state = task.state.padEnd(STATE_WIDTH);
  if (isPast(task.desiredState) || isPast(task.state)) return `${id}: ${state}`;
  return `${id}: ${state} ${progressBar(STEP[task.state] ?? 0, MAX_STEP, width || 200)}`;
}

/** Docker's bar: 50 columns, shown only on a terminal wider than 110 columns. */
export function progressBar(current: number, total: number, width: number): string {
  if (width <= 110) return '';
  const filled = Math.min(Math.trunc(Math.trunc((current / total) * 100) / 2), 50);
  return `[${'='.repeat(filled)}>${' '.repeat(Math.max(50 - filled, 0))}] `;
}

function truncateError(err: string): string {
  const flat = err.replaceAll('\n', ' ');
  return flat.length > MAX_ERROR_WIDTH ? `${flat.slice(0, MAX_ERROR_WIDTH - 1)}…` : flat;
}

export type VerifyStep =
  | { readonly kind: 'waiting'; readonly remainingMs: number }
  | { readonly kind: 'converged'; readonly service?: string }
  | { readonly kind: 'failure' };

/** The `verify:` line docker prints while it watches converged tasks for the monitor period. */
export function renderVerify(step: VerifyStep): string {
  switch (step.kind) {
    case 'waiting':
      return `verify: Waiting ${Math.floor(Math.max(0, step.remainingMs) / 1000) + 1} seconds to verify that tasks are stable...`;
    case 'converged':
      return step.service === undefined
        ? 'verify: Service converged'
        : `verify: Service ${step.service} converged`;
    case 'failure':
      return 'verify: Detected task failure';
  }
}

/**
 * The task that stands for each slot (replicated: slot number; global: node ID), as docker picks
 * it: only tasks of the current spec version, on nodes that are not down, preferring the one the
 * manager wants running over one being shut down.
 */
export function pickTasksBySlot(
  tasks: readonly Task[],
  opts: { readonly specVersion?: number; readonly downNodes?: ReadonlySet<NodeId> } = {},
): Map<number | string, Task> {
  const out = new Map<number | string, Task>();
  for (const t of tasks) {
    if (STEP[t.desiredState] === undefined || STEP[t.status.state] === undefined) continue;
    if (opts.specVersion !== undefined && t.specVersion !== opts.specVersion) continue;
    if (t.nodeId !== undefined && opts.downNodes?.has(t.nodeId)) continue;
    const key = t.slot !== 0 ? t.slot : (t.nodeId ?? '');
    const existing = out.get(key);
    if (existing) {
      const ed = STEP[existing.desiredState]!;
      const td = STEP[t.desiredState]!;
      if (ed < td) continue;
      if (ed === td && STEP[existing.status.state]! <= STEP[t.status.state]!) continue;
    }
    out.set(key, t);
  }
  return out;
}

/** A Task as the renderer needs it. */
export function toProgressTask(t: Task): ProgressTask {
  return { state: t.status.state, desiredState: t.desiredState, ...(t.status.err && { err: t.status.err }) };
}

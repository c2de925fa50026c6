import { canTransition, type Task } from '../../api/index.js';
import type { SchedulerModel } from './model.js';
import type { Pipeline } from './pipeline.js';
import { placeTasks } from './placement.js';
import { requirementsOf, type TaskRequirements } from './requirements.js';

export const ASSIGNED_MESSAGE = 'scheduler assigned task to node';
export const CONFIRMED_MESSAGE = 'scheduler confirmed task can run on preassigned node';

/** One task change a pass wants written: `old` is the version it was decided from. */
export interface Decision {
  readonly kind: 'assign' | 'confirm' | 'unschedulable';
  readonly old: Task;
  readonly new: Task;
}

export interface PassPlan {
  readonly decisions: Decision[];
  /** Tasks given a node (including confirmed preassigned ones). */
  readonly placed: number;
  /** Tasks left pending (whether or not their message changed). */
  readonly unplaced: number;
}

export interface PassSettings {
  readonly now: number;
  readonly failureWindowMs: number;
  readonly maxRecentFailures: number;
}

/**
 * Decides one scheduling pass over everything queued, synchronously, applying each decision to
 * the model at once so later decisions of the same pass see the counters move. Preassigned tasks
 * first (their node is fixed, they only need to fit), then unassigned tasks in groups of one
 * service spec, oldest group first, each group's tasks in slot order.
 */
export function planPass(model: SchedulerModel, pipeline: Pipeline, settings: PassSettings): PassPlan {
  const decisions: Decision[] = [];
  const cache = new Map<string, TaskRequirements>();
  const requirements = (t: Task): TaskRequirements => {
    const key = `${t.serviceId}:${t.specVersion}`;
    let req = cache.get(key);
    if (!req) {
      req = requirementsOf(t, model.service(t.serviceId));
      cache.set(key, req);
    }
    return req;
  };
  let placed = 0;
  let unplaced = 0;

  const assign = (t: Task, nodeId: NonNullable<Task['nodeId']>, kind: 'assign' | 'confirm'): void => {
    const next: Task = {
      ...t,
      nodeId,
      status: {
        state: 'assigned',
        timestamp: settings.now,
        message: kind === 'assign' ? ASSIGNED_MESSAGE : CONFIRMED_MESSAGE,
      },
    };
    model.applyTask(next);
    decisions.push({ kind, old: t, new: next });
    placed++;
  };
  const leavePending = (t: Task, err: string): void => {
    unplaced++;
    if (t.status.err === err) return; // already says so: no store churn
    const next: Task = { ...t, status: { ...t.status, err, timestamp: settings.now } };
    model.applyTask(next);
    decisions.push({ kind: 'unschedulable', old: t, new: next });
  };

  for (const t of sortTasks([...model.preassigned.values()])) {
    const node = t.nodeId ? model.node(t.nodeId) : undefined;
    if (!node || !canTransition(t.status.state, 'assigned')) continue; // node gone: the orchestrator's call
    const check = pipeline.forTask(requirements(t));
    if (check.fits(node)) assign(t, node.id, 'confirm');
    else leavePending(t, check.explain([node]));
  }

  for (const group of groupTasks([...model.unassigned.values()])) {
    const first = group[0]!;
    const check = pipeline.forTask(requirements(first));
    const queue = group.filter((t) => canTransition(t.status.state, 'assigned'));
    let next = 0;
    placeTasks({
      serviceId: first.serviceId,
      count: queue.length,
      check,
      nodes: model.allNodes(),
      spread: (first.spec.placement?.preferences ?? []).map((p) => p.spread),
      recentFailures: (n) => n.recentFailures(first.serviceId, settings.now, settings.failureWindowMs),
      maxFailures: settings.maxRecentFailures,
      assign: (node) => assign(queue[next++]!, node.id, 'assign'),
    });
    if (next < queue.length) {
      const why = check.explain(model.allNodes());
      const err = why ? `no suitable node (${why})` : 'no suitable node';
      for (const t of queue.slice(next)) leavePending(t, err);
    }
  }
  return { decisions, placed, unplaced };
}

/** Oldest first, then slot, then id: a stable, deterministic order. Keys are read once. */
function sortTasks(tasks: readonly Task[]): Task[] {
  const keyed = tasks.map((t) => ({ t, at: t.meta.createdAt, slot: t.slot, id: t.id as string }));
  keyed.sort((a, b) => a.at - b.at || a.slot - b.slot || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return keyed.map((k) => k.t);
}

/** Tasks of one service and spec version share their placement; groups oldest first. */
function groupTasks(tasks: readonly Task[]): Task[][] {
  const groups = new Map<string, Task[]>();
  for (const t of tasks) {
    const key = `${t.serviceId}:${t.specVersion}`;
    const g = groups.get(key);
    if (g) g.push(t);
    else groups.set(key, [t]);
  }
  const sorted = [...groups.values()].map(sortTasks);
  return sorted.sort((a, b) => a[0]!.meta.createdAt - b[0]!.meta.createdAt || (a[0]!.id < b[0]!.id ? -1 : 1));
}

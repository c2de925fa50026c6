import {
  isPastRunning,
  type Node,
  type NodeId,
  type Service,
  type ServiceMode,
  type Task,
  type TaskState,
} from '../../../api/index.js';
import { type Constraint, nodeMatchesConstraints, parseConstraints } from '../constraints.js';

/** Small pure rules the orchestration components share, so they agree on what they see. */

export function isReplicatedMode(mode: ServiceMode): boolean {
  return mode.type === 'replicated';
}

export function isGlobalMode(mode: ServiceMode): boolean {
  return mode.type === 'global' || mode.type === 'global-job';
}

export function isJobMode(mode: ServiceMode): boolean {
  return mode.type === 'replicated-job' || mode.type === 'global-job';
}

/** Where a task of this mode should end up: jobs run to completion, services keep running. */
export function finalDesiredState(mode: ServiceMode): TaskState {
  return isJobMode(mode) ? 'complete' : 'running';
}

/**
 * A task the manager still wants to run (desired ready, running or complete), as opposed to one
 * it asked to stop (shutdown) or to drop (remove).
 */
export function isLiveTask(task: Task): boolean {
  return task.desiredState === 'ready' || task.desiredState === 'running' || task.desiredState === 'complete';
}

/** A job task that finished successfully: it keeps its slot and is never restarted. */
export function isCompletedJobTask(task: Task): boolean {
  return task.desiredState === 'complete' && task.status.state === 'complete';
}

/** A live task whose container is gone (failed, exited, rejected…) and needs a decision. */
export function hasStoppedUnexpectedly(task: Task): boolean {
  return isLiveTask(task) && isPastRunning(task.status.state) && !isCompletedJobTask(task);
}

/**
 * Tasks on such a node cannot go on (swarmkit's InvalidNode): it is gone, down, or drained.
 * Replicated tasks there are restarted elsewhere; global ones are shut down.
 */
export function isNodeInvalid(node: Node | undefined): boolean {
  return !node || node.status.state === 'down' || node.spec.availability === 'drain';
}

/** A node that may receive new tasks: ready and active (pause keeps tasks but takes no new ones). */
export function nodeAcceptsNewTasks(node: Node): boolean {
  return node.status.state === 'ready' && node.spec.availability === 'active';
}

/** Constraints of a service's template; unparsable ones (refused by validation) match nothing. */
export function serviceConstraints(service: Service): Constraint[] | undefined {
  try {
    return parseConstraints(service.spec.taskTemplate.placement?.constraints);
  } catch {
    return undefined;
  }
}

export function nodeMatchesService(node: Node, constraints: readonly Constraint[] | undefined): boolean {
  return constraints !== undefined && nodeMatchesConstraints(constraints, node);
}

/**
 * Creation order, oldest first. The manager's clock stamps `createdAt`; ties (two tasks created
 * in the same millisecond, as a replacement and the original can be) fall back to the observed
 * timestamp, then the id, so every manager sorts the same way.
 */
export function compareTaskAge(a: Task, b: Task): number {
  return (
    a.meta.createdAt - b.meta.createdAt ||
    a.status.timestamp - b.status.timestamp ||
    (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
  );
}

export function newestTask(tasks: readonly Task[]): Task | undefined {
  let newest: Task | undefined;
  for (const t of tasks) if (!newest || compareTaskAge(newest, t) < 0) newest = t;
  return newest;
}

/** Groups a service's tasks by slot (replicated modes) or by node (global modes). */
export function groupTasks<K>(tasks: readonly Task[], keyOf: (t: Task) => K): Map<K, Task[]> {
  const groups = new Map<K, Task[]>();
  for (const t of tasks) {
    const key = keyOf(t);
    const list = groups.get(key);
    if (list) list.push(t);
    else groups.set(key, [t]);
  }
  return groups;
}

export function bySlot(tasks: readonly Task[]): Map<number, Task[]> {
  return groupTasks(tasks, (t) => t.slot);
}

/** Global tasks grouped by node; tasks without a node (never expected) are left out. */
export function byNode(tasks: readonly Task[]): Map<NodeId, Task[]> {
  const groups = new Map<NodeId, Task[]>();
  for (const [key, list] of groupTasks(tasks, (t) => t.nodeId)) if (key) groups.set(key, list);
  return groups;
}

/** Which run of a job a task belongs to: every spec change of a job service starts a new run. */
export function jobIterationOf(service: Service): number | undefined {
  return isJobMode(service.spec.mode) ? service.specVersion : undefined;
}

import { compareTaskStates, isPastRunning, type Node, type Service, type Task } from '../../../api/index.js';
import { isTaskDirty } from '../common/dirty.js';
import { isGlobalMode, isLiveTask } from '../common/task-rules.js';

/** How one task of the rollout's spec version is doing, judged at `now`. */
export type NewTaskOutcome = 'pending' | 'ok' | 'passed' | 'failed' | 'stopped';

/** What the updater remembers between ticks; losing it (new leader) only restarts windows. */
export interface MonitorMemory {
  /** Task id → when the updater first saw it running (manager clock): its monitor window starts. */
  readonly runningSince: Map<string, number>;
  /** Tasks that stayed running and healthy through their whole monitor window. */
  readonly passed: Set<string>;
}

export interface Instance {
  /** Slot number (replicated) or node id (global). */
  readonly key: string;
  readonly tasks: readonly Task[];
  /** Live tasks running something other than the spec: to be replaced. */
  readonly dirtyLive: readonly Task[];
  /** Live tasks that already run the spec (new ones, or old ones a rollback made current again). */
  readonly cleanLive: readonly Task[];
  /** Tasks created by this rollout (the current spec version). */
  readonly newTasks: readonly Task[];
}

export interface RolloutView {
  readonly instances: readonly Instance[];
  readonly outcomes: ReadonlyMap<string, NewTaskOutcome>;
  /** Earliest time a monitor window ends (the updater wakes then), if any is open. */
  readonly nextWindowEnd?: number;
}

function healthOk(t: Task): boolean {
  return t.status.health !== 'starting' && t.status.health !== 'unhealthy';
}

function stopRequested(t: Task): boolean {
  return t.desiredState === 'shutdown' || t.desiredState === 'remove';
}

/** Running as far as the manager can tell: handed to a node and not yet reported stopped. */
export function mayBeRunning(t: Task, nodeOf: (t: Task) => Node | undefined): boolean {
  if (isPastRunning(t.status.state) || compareTaskStates(t.status.state, 'assigned') < 0) return false;
  const node = nodeOf(t);
  return node !== undefined && node.status.state !== 'down';
}

/**
 * A new task fails if it stops by itself (exit, reject, unhealthy container) or is not running
 * and healthy once `monitorMs` have passed since it started running; it passes once it stayed
 * running and healthy that long.
 */
export function judgeNewTask(t: Task, now: number, monitorMs: number, memory: MonitorMemory): NewTaskOutcome {
  if (memory.passed.has(t.id)) return 'passed';
  if (isPastRunning(t.status.state))
    return stopRequested(t) && t.status.state === 'shutdown' ? 'stopped' : 'failed';
  if (t.status.health === 'unhealthy') return 'failed';
  if (t.status.state !== 'running') return 'pending';
  let since = memory.runningSince.get(t.id);
  if (since === undefined) {
    since = now;
    memory.runningSince.set(t.id, now);
  }
  const windowOver = now >= since + monitorMs;
  if (!healthOk(t)) return windowOver ? 'failed' : 'pending';
  if (windowOver) {
    memory.passed.add(t.id);
    return 'passed';
  }
  return 'ok';
}

/** Groups the service's tasks by instance and judges the rollout's new tasks. */
export function viewRollout(
  service: Service,
  tasks: readonly Task[],
  nodeOf: (t: Task) => Node | undefined,
  now: number,
  monitorMs: number,
  memory: MonitorMemory,
): RolloutView {
  const global = isGlobalMode(service.spec.mode);
  const groups = new Map<string, Task[]>();
  for (const t of tasks) {
    if (global && !t.nodeId) continue;
    const key = global ? String(t.nodeId) : String(t.slot);
    const list = groups.get(key);
    if (list) list.push(t);
    else groups.set(key, [t]);
  }
  const outcomes = new Map<string, NewTaskOutcome>();
  let nextWindowEnd: number | undefined;
  const instances: Instance[] = [];
  for (const [key, list] of groups) {
    const live = list.filter(isLiveTask);
    const dirtyLive = live.filter((t) => isTaskDirty(service, t, nodeOf(t)));
    const cleanLive = live.filter((t) => !dirtyLive.includes(t));
    // The spec version moves on every spec change, so these were all created for this rollout
    // (compared with no timestamp: the control API may have run on another manager's clock).
    const newTasks = list.filter((t) => t.specVersion === service.specVersion && !dirtyLive.includes(t));
    for (const t of newTasks) {
      const outcome = judgeNewTask(t, now, monitorMs, memory);
      outcomes.set(t.id, outcome);
      const since = memory.runningSince.get(t.id);
      if ((outcome === 'ok' || outcome === 'pending') && since !== undefined) {
        const end = since + monitorMs;
        if (nextWindowEnd === undefined || end < nextWindowEnd) nextWindowEnd = end;
      }
    }
    instances.push({ key, tasks: list, dirtyLive, cleanLive, newTasks });
  }
  instances.sort((a, b) => (global ? (a.key < b.key ? -1 : 1) : Number(a.key) - Number(b.key)));
  return { instances, outcomes, ...(nextWindowEnd !== undefined ? { nextWindowEnd } : {}) };
}

/**
 * Prepared ahead (stop-first): the slot's replacement is held at desired `ready` while its old
 * task still runs, not asked to stop; the slot's batch only stops the old task.
 */
export function isStaged(inst: Instance, held: ReadonlySet<string>): boolean {
  return (
    inst.dirtyLive.length > 0 &&
    inst.cleanLive.length > 0 &&
    inst.cleanLive.every((t) => t.desiredState === 'ready' && held.has(t.id))
  );
}

/** A slot being replaced now: its new task is neither running healthily nor failed yet. */
export function isInFlight(inst: Instance, outcomes: ReadonlyMap<string, NewTaskOutcome>): boolean {
  if (inst.newTasks.some((t) => outcomes.get(t.id) === 'failed')) return false;
  return inst.cleanLive.some((t) => outcomes.get(t.id) === 'pending');
}

/** A live task of the spec that runs healthily: the slot's dirty tasks may go. */
export function hasRunningReplacement(
  inst: Instance,
  outcomes: ReadonlyMap<string, NewTaskOutcome>,
): boolean {
  return inst.cleanLive.some((t) => {
    const o = outcomes.get(t.id);
    if (o === 'ok' || o === 'passed') return true;
    // An old task a rollback made current again (not one of the new tasks).
    return o === undefined && t.status.state === 'running' && healthOk(t);
  });
}

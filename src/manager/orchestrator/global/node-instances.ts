import type { Node, NodeId, RandomBytes, Service, Task } from '../../../api/index.js';
import { by, type WriteTx } from '../../store/index.js';
import { newTask } from '../common/task-factory.js';
import {
  byNode,
  finalDesiredState,
  isCompletedJobTask,
  isLiveTask,
  isNodeInvalid,
  jobIterationOf,
  nodeAcceptsNewTasks,
  nodeMatchesService,
  serviceConstraints,
} from '../common/task-rules.js';
import { setDesiredState } from '../common/task-writes.js';
import { instanceHolders } from '../restart/restart-policy.js';

export interface NodeInstanceContext {
  readonly now: number;
  readonly randomBytes: RandomBytes;
  readonly initialState: 'new' | 'pending';
  /** Stop after this many writes; the caller runs another pass. */
  readonly maxChanges: number;
}

/**
 * One task per eligible node, for `global` and `global-job` services (shared by the global and
 * jobs orchestrators). On each node given (all nodes when `nodeIds` is absent):
 *
 * - node gone, down or drained, or no longer matching the constraints: live tasks → desired
 *   `shutdown` (a finished job task is left alone as history);
 * - node ready and active with no task holding it: a new task with `nodeId` preset;
 * - paused, or not ready yet (unknown, disconnected): existing tasks stay, none is added.
 *
 * With all nodes, tasks on nodes that no longer exist get desired `remove`. For jobs only the
 * tasks of the current run count. Returns how many writes it made and whether it stopped early.
 */
export function reconcileNodeInstances(
  tx: WriteTx,
  service: Service,
  ctx: NodeInstanceContext,
  nodeIds?: readonly NodeId[],
): { changes: number; more: boolean } {
  const mode = service.spec.mode;
  const iteration = jobIterationOf(service);
  const constraints = serviceConstraints(service);
  const current = tx.find('task', by.serviceId(service.id)).filter((t) => t.jobIteration === iteration);
  const tasksByNode = byNode(current);
  const nodes = nodeIds
    ? nodeIds.map((id) => tx.get('node', id)).filter((n): n is Node => n !== undefined)
    : tx.find('node', by.all());
  let changes = 0;
  const stopLive = (tasks: readonly Task[], state: 'shutdown' | 'remove'): void => {
    for (const t of tasks) {
      if (changes >= ctx.maxChanges) return;
      if (isLiveTask(t) && !isCompletedJobTask(t) && setDesiredState(tx, t, state)) changes++;
    }
  };
  for (const node of nodes) {
    if (changes >= ctx.maxChanges) return { changes, more: true };
    const tasks = tasksByNode.get(node.id) ?? [];
    if (isNodeInvalid(node) || !nodeMatchesService(node, constraints)) {
      stopLive(tasks, 'shutdown');
      continue;
    }
    if (!nodeAcceptsNewTasks(node) || instanceHolders(tasks, mode).length > 0) continue;
    tx.create(
      'task',
      newTask({
        service,
        slot: 0,
        nodeId: node.id,
        desiredState: finalDesiredState(mode),
        initialState: ctx.initialState,
        jobIteration: iteration,
        now: ctx.now,
        randomBytes: ctx.randomBytes,
      }),
    );
    changes++;
  }
  if (!nodeIds) {
    for (const [nodeId, tasks] of tasksByNode) if (!tx.get('node', nodeId)) stopLive(tasks, 'remove');
  }
  return { changes, more: changes >= ctx.maxChanges };
}

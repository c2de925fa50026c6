import {
  type Node,
  type NodeId,
  type Service,
  type ServiceId,
  TASK_STATE_RANK,
  type Task,
  type TaskId,
} from '../../api/index.js';
import { NodeInfo } from './node-info.js';
import { taskHostPorts } from './requirements.js';

const PENDING = TASK_STATE_RANK.pending;
const RUNNING = TASK_STATE_RANK.running;
const COMPLETE = TASK_STATE_RANK.complete;

/** Tasks the scheduler may still act on: desired state at most `complete` (not shut down). */
function wanted(t: Task): boolean {
  return TASK_STATE_RANK[t.desiredState] <= COMPLETE;
}

/**
 * The scheduler's private picture of the cluster, kept from store events (swarmkit keeps its own
 * allTasks and nodeSet rather than querying the store each pass):
 * - every task in state pending…running, by id, at the newest version seen;
 * - the queue of unassigned pending tasks, and of pending tasks that came with a node
 *   (global services) and wait for the scheduler to confirm the node fits;
 * - one NodeInfo per node, counting the tasks that hold it (assigned…running).
 * Versions only grow, so an event older than what is held is ignored: that lets the scheduler
 * apply its own decisions at once and re-read the store after a lost race without ever going
 * back to an older state when the watch catches up.
 */
export class SchedulerModel {
  private readonly tasks = new Map<TaskId, Task>();
  readonly unassigned = new Map<TaskId, Task>();
  readonly preassigned = new Map<TaskId, Task>();
  private readonly nodes = new Map<NodeId, NodeInfo>();
  private sortedNodes: NodeInfo[] | undefined;
  private readonly services = new Map<ServiceId, Service>();

  constructor(private readonly now: () => number) {}

  get hasWork(): boolean {
    return this.unassigned.size > 0 || this.preassigned.size > 0;
  }

  task(id: TaskId): Task | undefined {
    return this.tasks.get(id);
  }

  node(id: NodeId): NodeInfo | undefined {
    return this.nodes.get(id);
  }

  service(id: ServiceId): Service | undefined {
    return this.services.get(id);
  }

  /** Every node, in id order (deterministic tie-breaks and explanations). */
  allNodes(): readonly NodeInfo[] {
    this.sortedNodes ??= [...this.nodes.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return this.sortedNodes;
  }

  /**
   * Takes in a task's new version. Returns whether anything that matters for placement changed
   * (a status message or error alone does not, so writing "no suitable node" does not cause
   * another pass).
   */
  applyTask(t: Task): boolean {
    const known = this.tasks.get(t.id);
    if (known && known.meta.version > t.meta.version) return false;
    const rank = TASK_STATE_RANK[t.status.state];
    if (rank < PENDING || rank > RUNNING) {
      if (!known) return false;
      const failed = t.status.state === 'failed' || t.status.state === 'rejected';
      // Failures on a node the scheduler did not choose (global tasks, slot 0) say nothing about it.
      if (failed && t.nodeId && t.slot !== 0) {
        this.nodes.get(t.nodeId)?.taskFailed(t.serviceId, this.now());
      }
      this.forget(known);
      return true;
    }
    if (known) this.unindex(known);
    this.tasks.set(t.id, t);
    this.index(t);
    return !known || placementChanged(known, t);
  }

  deleteTask(id: TaskId): boolean {
    const known = this.tasks.get(id);
    if (!known) return false;
    this.forget(known);
    return true;
  }

  applyNode(node: Node): void {
    const info = this.nodes.get(node.id);
    if (info) {
      info.node = node;
      return;
    }
    const created = new NodeInfo(node);
    this.nodes.set(node.id, created);
    this.sortedNodes = undefined;
    // Tasks may name a node before the scheduler hears of it (a watch resync, a late create).
    for (const t of this.tasks.values()) if (t.nodeId === node.id && holdsNode(t)) this.count(created, t);
  }

  deleteNode(id: NodeId): void {
    if (this.nodes.delete(id)) this.sortedNodes = undefined;
  }

  applyService(service: Service): void {
    this.services.set(service.id, service);
  }

  deleteService(id: ServiceId): void {
    this.services.delete(id);
  }

  private forget(t: Task): void {
    this.unindex(t);
    this.tasks.delete(t.id);
  }

  private index(t: Task): void {
    if (!t.nodeId) {
      if (t.status.state === 'pending' && wanted(t)) this.unassigned.set(t.id, t);
      return;
    }
    if (t.status.state === 'pending') {
      if (wanted(t)) this.preassigned.set(t.id, t);
      return;
    }
    const node = this.nodes.get(t.nodeId);
    if (node) this.count(node, t);
  }

  private count(node: NodeInfo, t: Task): void {
    node.addTask(t, taskHostPorts(t, this.services.get(t.serviceId)));
  }

  private unindex(t: Task): void {
    this.unassigned.delete(t.id);
    this.preassigned.delete(t.id);
    if (t.nodeId) this.nodes.get(t.nodeId)?.removeTask(t.id);
  }
}

/** Assigned…running with a node: the task holds that node's resources and ports. */
function holdsNode(t: Task): boolean {
  const rank = TASK_STATE_RANK[t.status.state];
  return t.nodeId !== undefined && rank > PENDING && rank <= RUNNING;
}

function placementChanged(a: Task, b: Task): boolean {
  return (
    a.status.state !== b.status.state ||
    a.nodeId !== b.nodeId ||
    a.desiredState !== b.desiredState ||
    a.specVersion !== b.specVersion
  );
}

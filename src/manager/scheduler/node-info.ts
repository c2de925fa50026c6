import {
  type Node,
  type NodeId,
  type ServiceId,
  TASK_STATE_RANK,
  type Task,
  type TaskId,
} from '../../api/index.js';

/** CPU in nano-CPUs and memory in bytes. */
export interface Resources {
  nanoCPUs: number;
  memoryBytes: number;
}

/** What a counted task contributes to its node: kept so removal undoes exactly what was added. */
interface Counted {
  readonly task: Task;
  readonly reservations: Readonly<Resources>;
  readonly hostPorts: readonly string[];
  readonly active: boolean;
}

/**
 * The scheduler's view of one node: the Node object plus what the tasks placed on it use. A task
 * counts while it holds the node (state assigned…running); it is "active" for spreading and
 * max-replicas while its desired state is at most `complete` (a task being shut down still
 * holds its reservation but no longer counts as a replica).
 */
export class NodeInfo {
  private readonly tasks = new Map<TaskId, Counted>();
  private readonly reserved: Resources = { nanoCPUs: 0, memoryBytes: 0 };
  private readonly byService = new Map<ServiceId, number>();
  private readonly hostPorts = new Map<string, number>();
  private readonly failures = new Map<ServiceId, number[]>();
  private active = 0;

  constructor(public node: Node) {}

  get id(): NodeId {
    return this.node.id;
  }

  /** Tasks of every service that count as replicas here. */
  get activeTasksCount(): number {
    return this.active;
  }

  get taskCount(): number {
    return this.tasks.size;
  }

  activeTasksOf(serviceId: ServiceId): number {
    return this.byService.get(serviceId) ?? 0;
  }

  hasTask(id: TaskId): boolean {
    return this.tasks.has(id);
  }

  /** Total resources minus the reservations of the tasks counted here (may go negative). */
  available(): Resources {
    const total = this.node.description?.resources;
    return {
      nanoCPUs: (total?.nanoCPUs ?? 0) - this.reserved.nanoCPUs,
      memoryBytes: (total?.memoryBytes ?? 0) - this.reserved.memoryBytes,
    };
  }

  isHostPortUsed(key: string): boolean {
    return (this.hostPorts.get(key) ?? 0) > 0;
  }

  /** Counts `task` here, replacing an earlier version of it. */
  addTask(task: Task, hostPorts: readonly string[]): void {
    this.removeTask(task.id);
    const r = task.spec.resources?.reservations;
    const counted: Counted = {
      task,
      reservations: { nanoCPUs: r?.nanoCPUs ?? 0, memoryBytes: r?.memoryBytes ?? 0 },
      hostPorts,
      active: TASK_STATE_RANK[task.desiredState] <= TASK_STATE_RANK.complete,
    };
    this.tasks.set(task.id, counted);
    this.apply(counted, 1);
  }

  removeTask(id: TaskId): boolean {
    const counted = this.tasks.get(id);
    if (!counted) return false;
    this.tasks.delete(id);
    this.apply(counted, -1);
    return true;
  }

  private apply(c: Counted, sign: 1 | -1): void {
    this.reserved.nanoCPUs += sign * c.reservations.nanoCPUs;
    this.reserved.memoryBytes += sign * c.reservations.memoryBytes;
    for (const key of c.hostPorts) bump(this.hostPorts, key, sign);
    if (c.active) {
      this.active += sign;
      bump(this.byService, c.task.serviceId, sign);
    }
  }

  /** Remembers that a task of `serviceId` failed here, so other nodes are preferred for a while. */
  taskFailed(serviceId: ServiceId, now: number): void {
    const list = this.failures.get(serviceId) ?? [];
    list.push(now);
    this.failures.set(serviceId, list);
  }

  recentFailures(serviceId: ServiceId, now: number, windowMs: number): number {
    const list = this.failures.get(serviceId);
    if (!list) return 0;
    const kept = list.filter((t) => now - t < windowMs);
    if (kept.length === 0) this.failures.delete(serviceId);
    else if (kept.length !== list.length) this.failures.set(serviceId, kept);
    return kept.length;
  }
}

function bump<K>(map: Map<K, number>, key: K, by: number): void {
  const next = (map.get(key) ?? 0) + by;
  if (next === 0) map.delete(key);
  else map.set(key, next);
}

import { type MeshState, type NodeId, TASK_STATE_RANK, type Task, type TaskId } from '../../api/index.js';
import type { Clock, Logger } from '../../common/index.js';
import type { MeshSource } from '../allocator/index.js';
import type { MeshAcks } from './mesh-acks.js';

export interface SessionMeshDeps {
  readonly nodeId: NodeId;
  readonly source: MeshSource;
  readonly acks: MeshAcks;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Longest a stop is held; 0 holds nothing. */
  readonly timeoutMs: number;
  /** Called when held stops should be looked at again (a hold timed out). */
  readonly wake: () => void;
}

/** A node's order to stop a task that was a backend, waiting for every node to drop it. */
interface HeldStop {
  task: Task;
  /** The first mesh revision sent on the session without the task (unknown until sent). */
  revision: number | undefined;
  /** Monotonic time at which it goes out even without every acknowledgement. */
  readonly until: number;
}

/**
 * One session's view of the mesh: the last MeshState sent on it, the node's tasks that were
 * backends in it, and the stops held until every node has applied a mesh without their task.
 */
export class SessionMesh {
  private revision = -1;
  /** This node's backends in the last mesh sent here. */
  private backends = new Set<TaskId>();
  /** This node's tasks that dropped out of the backends since (their stop must still wait). */
  private readonly departed = new Set<TaskId>();
  private readonly held = new Map<TaskId, HeldStop>();
  private cancelTimer: (() => void) | undefined;

  constructor(private readonly deps: SessionMeshDeps) {}

  get holding(): number {
    return this.held.size;
  }

  /** The current mesh if it changed since the last one sent here; the caller sends it. */
  next(): MeshState | undefined {
    const m = this.deps.source.current();
    if (!m || m.revision === this.revision) return undefined;
    this.revision = m.revision;
    const next = new Set(
      m.services.flatMap((s) => s.backends.filter((b) => b.nodeId === this.deps.nodeId).map((b) => b.taskId)),
    );
    for (const id of this.backends) if (!next.has(id)) this.departed.add(id);
    for (const id of next) this.departed.delete(id);
    this.backends = next;
    return m;
  }

  /** Takes `t`'s change out of the message when it stops a task that was a backend; true if held. */
  hold(t: Task): boolean {
    if (this.deps.timeoutMs <= 0 || TASK_STATE_RANK[t.desiredState] <= TASK_STATE_RANK.running) return false;
    const h = this.held.get(t.id);
    if (!h && !this.backends.has(t.id) && !this.departed.has(t.id)) return false;
    this.held.set(t.id, {
      task: t,
      revision: h?.revision,
      until: h?.until ?? this.deps.clock.monotonic() + this.deps.timeoutMs,
    });
    return true;
  }

  /** The task is no longer assigned to the node. */
  forget(id: TaskId): void {
    this.held.delete(id);
    this.departed.delete(id);
  }

  /** Held stops whose task every node has dropped (or whose time is up), in the order held. */
  release(): Task[] {
    const out: Task[] = [];
    const now = this.deps.clock.monotonic();
    for (const [id, h] of this.held) {
      // The first revision sent here without the task: a node that applied it (or a later one,
      // the task being on its way out) no longer routes new connections to it.
      if (h.revision === undefined && !this.backends.has(id)) h.revision = this.revision;
      const lagging = h.revision === undefined ? ['(mesh not sent yet)'] : this.deps.acks.lagging(h.revision);
      if (lagging.length > 0 && now < h.until) continue;
      if (lagging.length > 0) {
        this.deps.logger.warn('stopping a task before every node confirmed the mesh without it', {
          'node.id': this.deps.nodeId,
          'task.id': id,
          nodes: lagging.join(','),
        });
      }
      this.deps.logger.debug('held stop released', {
        'node.id': this.deps.nodeId,
        'task.id': id,
        revision: h.revision,
        heldMs: Math.round(now - (h.until - this.deps.timeoutMs)),
      });
      out.push(h.task);
      this.forget(id);
    }
    this.cancelTimer?.();
    this.cancelTimer = undefined;
    if (this.held.size > 0) {
      const until = Math.min(...[...this.held.values()].map((h) => h.until));
      this.cancelTimer = this.deps.clock.setTimer(Math.max(0, until - now), this.deps.wake);
    }
    return out;
  }

  dispose(): void {
    this.cancelTimer?.();
    this.cancelTimer = undefined;
  }
}

import {
  type MeshState,
  type SessionMessage,
  TASK_STATE_RANK,
  type Task,
  type TaskId,
} from '../../api/index.js';
import type { Disposable, Logger } from '../../common/index.js';
import type { MeshDataPlane } from '../../routing-mesh/index.js';
import { MeshAckReporter } from './mesh-ack.js';

/** What the agent needs of the node's data plane (absent when the node runs none). */
export type AgentMesh = Pick<MeshDataPlane, 'update' | 'withdraw'> &
  Partial<Pick<MeshDataPlane, 'kind' | 'onDidApply'>>;

/**
 * Hands the leader's MeshState to the data plane, and holds back the stop of a task the mesh
 * still routes to until this node has taken it out of its rotation itself: the leader drops it
 * too, but a stop signal must never reach a container that still receives new connections.
 */
export class MeshLink {
  /** Withdrawals under way or done, per task: later updates of the task wait for the same one. */
  private readonly withdrawing = new Map<TaskId, Promise<void>>();
  /** The last revision the data plane reported applied (-1: none yet). */
  private applied = -1;
  private reporter: MeshAckReporter | undefined;

  constructor(private readonly mesh: AgentMesh | undefined) {}

  /** Follows the data plane's applied revisions, for the agent's lifetime. */
  attach(): Disposable {
    const sub = this.mesh?.onDidApply?.((revision) => {
      this.applied = revision;
      this.reporter?.applied(revision);
    });
    return { dispose: () => sub?.dispose() };
  }

  /**
   * For one session: revisions applied from now on, and the last one before it, are reported
   * through `send` (the leader holds stops of backends until every node has applied their removal).
   */
  bindSession(send: (revision: number) => Promise<unknown>, log: Logger): Disposable {
    const reporter = new MeshAckReporter(send, log);
    this.reporter = reporter;
    if (this.applied >= 0) reporter.applied(this.applied);
    return {
      dispose: () => {
        reporter.dispose();
        if (this.reporter === reporter) this.reporter = undefined;
      },
    };
  }

  onMessage(msg: SessionMessage & { readonly mesh?: MeshState }): void {
    if (!msg.mesh) return;
    this.mesh?.update(msg.mesh);
    // A data plane that does not say when it has applied a state (or none at all: nothing routes
    // through this node) is taken to have applied it on receipt.
    if (!this.mesh?.onDidApply) {
      this.applied = Math.max(this.applied, msg.mesh.revision);
      this.reporter?.applied(msg.mesh.revision);
    }
  }

  /** Runs `apply` at once, or once the task is out of the rotation when it is being stopped. */
  beforeUpdate(task: Task, apply: () => void): void {
    if (!this.mesh || TASK_STATE_RANK[task.desiredState] <= TASK_STATE_RANK.running) {
      apply();
      return;
    }
    let done = this.withdrawing.get(task.id);
    if (!done) {
      done = this.mesh.withdraw(task.id).catch(() => {});
      this.withdrawing.set(task.id, done);
    }
    void done.then(apply);
  }

  forget(taskId: TaskId): void {
    this.withdrawing.delete(taskId);
  }
}

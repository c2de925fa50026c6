import {
  type MeshState,
  type SessionMessage,
  TASK_STATE_RANK,
  type Task,
  type TaskId,
} from '../../api/index.js';
import type { MeshDataPlane } from '../../routing-mesh/index.js';

/** What the agent needs of the node's data plane (absent when the node runs none). */
export type AgentMesh = Pick<MeshDataPlane, 'update' | 'withdraw'> & Partial<Pick<MeshDataPlane, 'kind'>>;

/**
 * Hands the leader's MeshState to the data plane, and holds back the stop of a task the mesh
 * still routes to until this node has taken it out of its rotation itself: the leader drops it
 * too, but a stop signal must never reach a container that still receives new connections.
 */
export class MeshLink {
  /** Withdrawals under way or done, per task: later updates of the task wait for the same one. */
  private readonly withdrawing = new Map<TaskId, Promise<void>>();

  constructor(private readonly mesh: AgentMesh | undefined) {}

  onMessage(msg: SessionMessage & { readonly mesh?: MeshState }): void {
    if (msg.mesh) this.mesh?.update(msg.mesh);
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

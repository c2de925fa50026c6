import { defineService, jsonCodec, serverStream, unary } from '../../rpc/index.js';
import type { TaskId } from '../ids.js';
import type { MeshState } from '../objects/mesh.js';
import type { NodeDescription } from '../objects/node.js';
import type { Task, TaskStatus } from '../objects/task.js';

/** One message of a worker's session: the full assignment set first, then changes. */
export interface SessionMessage {
  /** `full`: `tasks` is the whole set (anything not in it is no longer assigned). */
  readonly kind: 'full' | 'incremental';
  /** Assigned tasks, new or changed. */
  readonly tasks: readonly Task[];
  /** Tasks no longer assigned to the node (deleted, or moved). */
  readonly removed: readonly TaskId[];
  /** Every manager's address, so the worker can fail over. */
  readonly managers: readonly string[];
  readonly heartbeatPeriodMs: number;
  /**
   * The data plane's desired state, whole: in the first message of every session and whenever it
   * changes (absent means unchanged). It travels in the same message as, or before, the task
   * changes that made it change, so a node never stops a container still in the rotation it knows.
   */
  readonly mesh?: MeshState;
}

export interface SessionRequest {
  readonly description: NodeDescription;
  /**
   * The node's underlay address (its advertise address, `ip` or `ip:port`), where other nodes
   * reach its VXLAN endpoint; kept in `node.status.addr`. Without it a manager's Raft address
   * stands in, and a worker is left out of the mesh's peers.
   */
  readonly addr?: string;
}

export interface TaskStatusUpdate {
  readonly taskId: TaskId;
  readonly status: TaskStatus;
}

/**
 * Manager ↔ worker, on the inter-node listener (audience `node`): a worker acts only for the
 * node ID of its certificate. Followers refuse with NOT_LEADER and the leader's address.
 */
export const DispatcherService = defineService('swarmctl.dispatcher.Dispatcher', {
  Session: serverStream(jsonCodec<SessionRequest>(), jsonCodec<SessionMessage>()),
  Heartbeat: unary(jsonCodec<Record<string, never>>(), jsonCodec<{ periodMs: number }>()),
  UpdateTaskStatus: unary(
    jsonCodec<{ updates: readonly TaskStatusUpdate[] }>(),
    jsonCodec<{ applied: number }>(),
  ),
  /**
   * The MeshState revision the node's data plane has applied in full (its kernel converged, or
   * its proxy serving it). The leader holds the order to stop a task that was a backend until
   * every ready node with a session has applied a revision without it (bounded by a timeout).
   */
  MeshApplied: unary(jsonCodec<MeshAppliedRequest>(), jsonCodec<Record<string, never>>()),
});

export interface MeshAppliedRequest {
  /** `MeshState.revision` of the state applied; a node reports each new one once. */
  readonly revision: number;
}
export type DispatcherServiceMethods = (typeof DispatcherService)['methods'];

import type { NodeId } from '../ids.js';
import type { Labels, Meta } from './meta.js';
import type { ResourceAmounts } from './task-spec.js';

export type NodeRole = 'manager' | 'worker';
export type NodeAvailability = 'active' | 'pause' | 'drain';
export type NodeState = 'unknown' | 'down' | 'ready' | 'disconnected';
export type Reachability = 'unknown' | 'unreachable' | 'reachable';

/** What the user (or the control API) wants of the node. */
export interface NodeSpec {
  /** Optional display name; defaults to the hostname. Not unique. */
  readonly name?: string;
  readonly labels?: Labels;
  /** The role the node should have; `NodeStatus`-side role follows once certificates change. */
  readonly desiredRole: NodeRole;
  readonly availability: NodeAvailability;
}

/** Liveness as tracked by the dispatcher. */
export interface NodeStatus {
  readonly state: NodeState;
  /** Address the node connects from, as seen by the manager. */
  readonly addr?: string;
  readonly message?: string;
}

/** Reported by the agent at registration and whenever it changes. */
export interface NodeDescription {
  readonly hostname: string;
  readonly platform: { readonly os: string; readonly architecture: string };
  readonly resources: Required<ResourceAmounts>;
  readonly engine: { readonly version: string; readonly labels?: Labels };
  /**
   * The routing mesh's data plane on the node (absent from nodes that do not say): whether a
   * task behind its published ports sees the client's address depends on it.
   */
  readonly dataPlane?: 'nftables+vxlan' | 'userland';
}

export interface ManagerStatus {
  readonly raftId: string;
  /** Address other managers reach this one's Raft/API on. */
  readonly addr: string;
  readonly leader: boolean;
  readonly reachability: Reachability;
}

export interface Node {
  readonly id: NodeId;
  readonly meta: Meta;
  readonly spec: NodeSpec;
  /** The role the node's certificate carries now. */
  readonly role: NodeRole;
  readonly status: NodeStatus;
  readonly description?: NodeDescription;
  /** Present on managers only. */
  readonly managerStatus?: ManagerStatus;
}

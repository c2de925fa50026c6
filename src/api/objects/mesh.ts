import type { NetworkId, NodeId, ServiceId, TaskId } from '../ids.js';
import type { EndpointMode, PortConfig } from './service.js';

/**
 * What every node's data plane needs to know, computed by the leader from the store (networks,
 * nodes, services, tasks) and pushed to each worker over its dispatcher session whenever it
 * changes. The routing mesh programs the kernel from it; nothing in it is node-specific, so one
 * value serves every node (a node finds its own tasks by `nodeId`).
 */
export interface MeshState {
  /** Bumped by the leader on every change, so a node can skip a stale or repeated value. */
  readonly revision: number;
  readonly networks: readonly MeshNetwork[];
  /** Underlay addresses of every node that is not down: VXLAN peers. */
  readonly nodes: readonly MeshNode[];
  /** Services attached to at least one overlay, or publishing ports through the ingress. */
  readonly services: readonly MeshService[];
}

export interface MeshNetwork {
  readonly id: NetworkId;
  readonly name: string;
  /** VXLAN network identifier, unique in the cluster. */
  readonly vni: number;
  /** e.g. `10.0.1.0/24`. */
  readonly subnet: string;
  /** The network's gateway address (no prefix length), e.g. `10.0.1.1`. */
  readonly gateway: string;
  readonly ingress: boolean;
  readonly attachable: boolean;
}

export interface MeshNode {
  readonly nodeId: NodeId;
  /** The node's underlay IP (its advertise address without port). */
  readonly addr: string;
  /**
   * A per-node address on each network the node takes part in, for its bridge (bridges of one
   * network share a segment, so each needs its own); the ingress one is also where the mesh's
   * masquerade sources from.
   */
  readonly networkAddrs: readonly { readonly networkId: NetworkId; readonly addr: string }[];
}

export interface MeshService {
  readonly id: ServiceId;
  readonly name: string;
  readonly endpointMode: EndpointMode;
  /** One VIP per attached network (vip mode only), address without prefix length. */
  readonly vips: readonly { readonly networkId: NetworkId; readonly addr: string }[];
  /** Resolved ports (published port always set, never 0). */
  readonly ports: readonly PortConfig[];
  /** Tasks that should receive traffic: desired running, observed running and, if checked, healthy. */
  readonly backends: readonly MeshBackend[];
}

export interface MeshBackend {
  readonly taskId: TaskId;
  /** `<service>.<slot>.<task id>`, as the container is named. */
  readonly taskName: string;
  readonly nodeId: NodeId;
  /** Address on each network the task is attached to, without prefix length. */
  readonly addrs: readonly { readonly networkId: NetworkId; readonly addr: string }[];
}

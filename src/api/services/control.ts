import { defineService, emptyCodec, jsonCodec, serverStream, unary } from '../../rpc/index.js';
import type { Network, NetworkSpec } from '../objects/network.js';
import type { Node, NodeAvailability, NodeRole } from '../objects/node.js';
import type { Service, ServiceSpec } from '../objects/service.js';
import type { Task } from '../objects/task.js';
import type { ServiceLogsMessage, ServiceLogsRequest } from './logs.js';

export interface ClusterInfo {
  clusterId: string;
  /** The manager that answered. */
  nodeId: string;
  leader: string | null;
  raftTerm: number;
  managers: { nodeId: string; addr: string; leader: boolean; reachability: string }[];
  nodes: number;
  autolock: boolean;
  certExpiryMs: number;
  rootCaDigest: string;
  /** Present while a root rotation is under way. */
  rootRotation?: { nodesOnNewRoot: number; nodes: number };
}

export interface UpdateNodeRequest {
  id: string;
  availability?: NodeAvailability;
  role?: NodeRole;
  labelAdd?: Record<string, string>;
  labelRm?: string[];
}

/** Services and their tasks (`src/manager/control/services.ts`). */
function serviceMethods() {
  return {
    CreateService: unary(jsonCodec<{ spec: ServiceSpec }>(), jsonCodec<Service>()),
    ListServices: unary(emptyCodec, jsonCodec<{ services: Service[]; tasks: Task[] }>()),
    InspectService: unary(jsonCodec<{ id: string }>(), jsonCodec<Service>()),
    /**
     * `version` is the service's meta.version read by the caller (optimistic concurrency). A
     * change of the task template (or `taskTemplate.forceUpdate` bumped, for `--force`) starts a
     * rolling update: previousSpec := old spec, specVersion + 1, updateStatus `updating`.
     * With `specVersion` (the service's specVersion read by the caller) the check is on the spec
     * only: the updater's status writes during a rollout then do not make the call conflict.
     */
    UpdateService: unary(
      jsonCodec<{ id: string; version: number; spec: ServiceSpec; specVersion?: number }>(),
      jsonCodec<Service>(),
    ),
    RemoveService: unary(jsonCodec<{ id: string }>(), emptyCodec),
    /**
     * spec := previousSpec (and previousSpec := the current spec); the updater rolls it out with
     * the rollback config, state `rollback_started`. FAILED_PRECONDITION without a previous spec.
     */
    RollbackService: unary(jsonCodec<{ id: string }>(), jsonCodec<Service>()),
    /** Continues a rollout held in state `canary`; FAILED_PRECONDITION from any other state. */
    PromoteService: unary(jsonCodec<{ id: string }>(), jsonCodec<Service>()),
    /** Tasks of the given services (all when empty), with the nodes they reference. */
    ListTasks: unary(jsonCodec<{ serviceIds?: string[] }>(), jsonCodec<{ tasks: Task[]; nodes: Node[] }>()),
  } as const;
}
export type ServiceControlMethods = ReturnType<typeof serviceMethods>;

/** `service logs` (`src/manager/logbroker`): lines of a service's or a task's containers, every node. */
function logMethods() {
  return {
    ServiceLogs: serverStream(jsonCodec<ServiceLogsRequest>(), jsonCodec<ServiceLogsMessage>()),
  } as const;
}
export type LogControlMethods = ReturnType<typeof logMethods>;

/** Overlay networks (`src/manager/control/networks.ts`). */
function networkMethods() {
  return {
    CreateNetwork: unary(jsonCodec<{ spec: NetworkSpec }>(), jsonCodec<Network>()),
    ListNetworks: unary(emptyCodec, jsonCodec<{ networks: Network[] }>()),
    /** By id, name or unique id prefix. */
    InspectNetwork: unary(jsonCodec<{ id: string }>(), jsonCodec<Network>()),
    RemoveNetwork: unary(jsonCodec<{ id: string }>(), emptyCodec),
  } as const;
}
export type NetworkControlMethods = ReturnType<typeof networkMethods>;

/**
 * The API the CLI drives: on every manager, over the local unix socket, or over TCP with a
 * manager's client certificate. Writes on a follower are forwarded to the leader by Raft.
 */
export const ControlService = defineService('swarmctl.control.Control', {
  Info: unary(emptyCodec, jsonCodec<ClusterInfo>()),
  GetJoinToken: unary(jsonCodec<{ role: NodeRole; rotate?: boolean }>(), jsonCodec<{ token: string }>()),
  GetUnlockKey: unary(jsonCodec<{ rotate?: boolean }>(), jsonCodec<{ unlockKey: string | null }>()),
  UpdateCluster: unary(
    jsonCodec<{ autolock?: boolean; certExpiryMs?: number }>(),
    jsonCodec<{ unlockKey: string | null }>(),
  ),
  RotateRootCA: unary(emptyCodec, jsonCodec<{ rootCaDigest: string }>()),
  /** The served root certificate (`swarmctl ca`). */
  GetRootCACertificate: unary(emptyCodec, jsonCodec<{ rootCaPem: string }>()),
  ListNodes: unary(emptyCodec, jsonCodec<{ nodes: Node[] }>()),
  InspectNode: unary(jsonCodec<{ id: string }>(), jsonCodec<Node>()),
  UpdateNode: unary(jsonCodec<UpdateNodeRequest>(), jsonCodec<Node>()),
  RemoveNode: unary(jsonCodec<{ id: string; force?: boolean }>(), emptyCodec),
  ...serviceMethods(),
  ...logMethods(),
  ...networkMethods(),
});
export type ControlServiceMethods = (typeof ControlService)['methods'];

export interface JoinManagerRequest {
  nodeId: string;
  /** Where the other managers reach the new member's Raft, `host:port`. */
  raftAddr: string;
}

/** Raft membership, between managers only. */
export const MembershipService = defineService('swarmctl.raft.Membership', {
  /** Adds the caller as a learner; it is promoted to voter once caught up. */
  Join: unary(jsonCodec<JoinManagerRequest>(), jsonCodec<{ members: { nodeId: string; addr: string }[] }>()),
  /** Removes the caller (a manager leaving or being demoted) from the Raft group. */
  Leave: unary(jsonCodec<{ nodeId: string }>(), emptyCodec),
});
export type MembershipServiceMethods = (typeof MembershipService)['methods'];

import type { NetworkId, NodeId, ServiceId, TaskId } from '../ids.js';
import type { TaskState } from '../task-state.js';
import type { Meta } from './meta.js';
import type { Endpoint, PortConfig } from './service.js';
import type { TaskSpec } from './task-spec.js';

export interface ContainerStatus {
  readonly containerId?: string;
  readonly pid?: number;
  readonly exitCode?: number;
}

export type HealthState = 'none' | 'starting' | 'healthy' | 'unhealthy';

/** Observed by the agent (from ACCEPTED on) or by the manager's components before that. */
export interface TaskStatus {
  readonly state: TaskState;
  /** When the state was observed, ms since the epoch (the reporter's clock). */
  readonly timestamp: number;
  /** Short human text shown by `service ps` ("pending task scheduling", "started"). */
  readonly message: string;
  /** Why the task failed or could not be placed ("no suitable node (…)"). */
  readonly err?: string;
  readonly containerStatus?: ContainerStatus;
  /** Host-mode ports actually published on the node. */
  readonly portStatus?: readonly PortConfig[];
  readonly health?: HealthState;
}

export interface NetworkAttachment {
  readonly networkId: NetworkId;
  /** CIDR addresses allocated for this task on the network, e.g. `10.0.1.5/24`. */
  readonly addresses: readonly string[];
  readonly aliases?: readonly string[];
}

export interface Task {
  readonly id: TaskId;
  readonly meta: Meta;
  readonly serviceId: ServiceId;
  /** Replica identity, 1-based, for replicated services and jobs; 0 for global ones. */
  readonly slot: number;
  /** Set by the scheduler (replicated) or at creation (global); absent while unplaced. */
  readonly nodeId?: NodeId;
  /** What the manager wants; only ever moves forward, like the observed state. */
  readonly desiredState: TaskState;
  /** A copy of the service's task template at creation: a task never changes what it runs. */
  readonly spec: TaskSpec;
  /** The service's `specVersion` the task was created from. */
  readonly specVersion: number;
  /** For jobs: which run of the job this task belongs to. */
  readonly jobIteration?: number;
  readonly status: TaskStatus;
  readonly networks?: readonly NetworkAttachment[];
  /** The service's endpoint as allocated when the task was created. */
  readonly endpoint?: Endpoint;
  /** Service name, denormalised for logs and container names (`<service>.<slot>.<task id>`). */
  readonly serviceName: string;
  /**
   * A stop-first replacement held at desired `ready`: the tasks of its slot that may still run.
   * The agent of a node that ran all of them may start the prepared task as soon as their
   * containers have exited there, ahead of the manager raising the desired state to `running`.
   */
  readonly startAfter?: readonly TaskId[];
}

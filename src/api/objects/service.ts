import type { NetworkId, ServiceId } from '../ids.js';
import type { Labels, Meta } from './meta.js';
import type { TaskSpec } from './task-spec.js';

export type ServiceMode =
  | { readonly type: 'replicated'; readonly replicas: number }
  | { readonly type: 'global' }
  | {
      readonly type: 'replicated-job';
      /** Tasks running at once; 0 means as many as totalCompletions. */
      readonly maxConcurrent: number;
      readonly totalCompletions: number;
    }
  | { readonly type: 'global-job' };

export type ServiceModeType = ServiceMode['type'];

export type FailureAction = 'pause' | 'continue' | 'rollback';
export type UpdateOrder = 'stop-first' | 'start-first';

export interface UpdateConfig {
  /** Slots updated at once; 0 means all. @default 1 */
  readonly parallelism: number;
  readonly delayMs: number;
  /** @default 'pause' */
  readonly failureAction: FailureAction;
  /** How long a new task is watched for failure after it runs. @default 5 s */
  readonly monitorMs: number;
  /** Tolerated failed fraction of the updated slots, in [0, 1]. */
  readonly maxFailureRatio: number;
  /** @default 'stop-first' */
  readonly order: UpdateOrder;
  /** Beyond swarm: update this many slots, then hold in state `canary` until promoted. 0 = off. */
  readonly canary?: number;
  /** Promote the canaries by itself once they have stayed healthy this long. 0 = manual only. */
  readonly canaryAutoPromoteMs?: number;
}

export type EndpointMode = 'vip' | 'dnsrr';
export type PortProtocol = 'tcp' | 'udp';
export type PublishMode = 'ingress' | 'host';

export interface PortConfig {
  readonly name?: string;
  readonly protocol: PortProtocol;
  readonly targetPort: number;
  /** 0 (ingress only) lets the allocator pick from 30000–32767. */
  readonly publishedPort: number;
  readonly publishMode: PublishMode;
}

export interface EndpointSpec {
  /** @default 'vip' */
  readonly mode: EndpointMode;
  readonly ports?: readonly PortConfig[];
}

export interface ServiceSpec {
  /** Unique among services (case-insensitive); docker's name rules. */
  readonly name: string;
  readonly labels?: Labels;
  readonly taskTemplate: TaskSpec;
  readonly mode: ServiceMode;
  readonly updateConfig?: UpdateConfig;
  readonly rollbackConfig?: UpdateConfig;
  readonly endpointSpec?: EndpointSpec;
}

export type UpdateState =
  | 'updating'
  | 'paused'
  | 'completed'
  | 'rollback_started'
  | 'rollback_paused'
  | 'rollback_completed'
  | 'canary';

/**
 * The rolling updater's state, in the store so a new leader continues the same update. Written by
 * the control API (a new update, rollback, promote) and by the updater (progress, outcome).
 */
export interface UpdateStatus {
  readonly state: UpdateState;
  readonly startedAt?: number;
  readonly completedAt?: number;
  readonly message?: string;
  /** Tasks of this update that counted as failed (ids, so each counts once across leaders). */
  readonly failedTasks?: readonly string[];
  /** Tasks the updater created held at desired `ready` until the task they replace has stopped. */
  readonly heldTasks?: readonly string[];
  /** When the service entered state `canary` (manager clock), for auto-promotion. */
  readonly canarySince?: number;
  /** Set by PromoteService: the canaries were accepted, the rollout goes on to every slot. */
  readonly canaryPromoted?: boolean;
}

/** What the allocator gave the service: resolved ports and one VIP per attached network. */
export interface Endpoint {
  readonly spec: EndpointSpec;
  readonly ports: readonly PortConfig[];
  readonly virtualIps: readonly { readonly networkId: NetworkId; readonly addr: string }[];
}

export interface ServiceStatus {
  readonly updateStatus?: UpdateStatus;
  readonly endpoint?: Endpoint;
}

export interface Service {
  readonly id: ServiceId;
  readonly meta: Meta;
  readonly spec: ServiceSpec;
  /** The spec before the last update, for rollback. */
  readonly previousSpec?: ServiceSpec;
  /** 1 at creation, +1 on every spec change (set by the control API); tasks record it. */
  readonly specVersion: number;
  readonly status: ServiceStatus;
}

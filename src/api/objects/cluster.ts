import type { ClusterId } from '../ids.js';
import type { Labels, Meta } from './meta.js';

/**
 * Cluster-wide tunables live here (not in flags) so every manager sees the same values;
 * defaults are in `defaults.ts` (DEFAULT_CLUSTER_SPEC).
 */
export interface OrchestrationConfig {
  /** Terminal tasks kept per slot (or per node for global services); negative = keep all. @default 5 */
  readonly taskHistoryRetentionLimit: number;
}

export interface RaftConfig {
  /** Applied entries between snapshots. @default 10000 */
  readonly snapshotInterval: number;
  /** @default 0 */
  readonly keepOldSnapshots: number;
  /** Entries kept behind a snapshot so slow followers can catch up from the log. @default 500 */
  readonly logEntriesForSlowFollowers: number;
  /** In ticks. @default 1 */
  readonly heartbeatTick: number;
  /** In ticks. @default 10 */
  readonly electionTick: number;
}

export interface DispatcherConfig {
  /** @default 5 s */
  readonly heartbeatPeriodMs: number;
}

export interface CaConfig {
  /** @default 90 days */
  readonly nodeCertExpiryMs: number;
}

export interface EncryptionConfig {
  /** Managers need the unlock key after a restart. @default false */
  readonly autoLockManagers: boolean;
}

export interface DefaultAddressPool {
  /** CIDRs networks without `--subnet` are carved from. @default ['10.0.0.0/8'] */
  readonly subnets: readonly string[];
  /** @default 24 */
  readonly maskLength: number;
}

export interface ClusterSpec {
  /** Always `default` today; unique like other names. */
  readonly name: string;
  readonly labels?: Labels;
  readonly orchestration: OrchestrationConfig;
  readonly raft: RaftConfig;
  readonly dispatcher: DispatcherConfig;
  readonly caConfig: CaConfig;
  readonly encryption: EncryptionConfig;
  readonly defaultAddrPool: DefaultAddressPool;
}

export interface JoinTokens {
  /** `SWMTKN-1-<root CA digest>-<secret>` */
  readonly worker: string;
  readonly manager: string;
}

/** Only public CA material is stored; keys stay on disk and in the CA module. */
export interface RootCaInfo {
  /** PEM of the current root certificate. */
  readonly caCertPem: string;
  /** sha256 of the DER certificate, hex: the digest join tokens pin. */
  readonly caCertDigest: string;
  /** PEM of a root being rotated in, if any. */
  readonly nextCaCertPem?: string;
}

export interface Cluster {
  readonly id: ClusterId;
  readonly meta: Meta;
  readonly spec: ClusterSpec;
  readonly joinTokens: JoinTokens;
  readonly rootCa: RootCaInfo;
  /**
   * The CA's private state (root key, join token secrets, removed node IDs, unlock key),
   * serialised by the ca module. Lives only in the replicated store, whose log and snapshots
   * are encrypted at rest; never sent to workers.
   */
  readonly caState?: string;
  /** Nothing is observed about the cluster yet; kept for the common object shape. */
  readonly status: Readonly<Record<string, never>>;
}

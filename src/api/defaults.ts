import type { ClusterSpec } from './objects/cluster.js';
import type { UpdateConfig } from './objects/service.js';
import type { RestartPolicy } from './objects/task-spec.js';

/** Docker's and swarmkit's defaults (swarm-mode.md §4), applied where a spec leaves a field out. */

export const DEFAULT_CLUSTER_NAME = 'default';
export const DEFAULT_STOP_GRACE_PERIOD_MS = 10_000;
export const DEFAULT_TASK_HISTORY_RETENTION_LIMIT = 5;
export const DEFAULT_HEARTBEAT_PERIOD_MS = 5_000;
export const DEFAULT_NODE_CERT_EXPIRY_MS = 90 * 24 * 3_600_000;
export const MIN_NODE_CERT_EXPIRY_MS = 3_600_000;

export const DEFAULT_RESTART_POLICY: RestartPolicy = {
  condition: 'any',
  delayMs: 5_000,
  maxAttempts: 0,
  windowMs: 0,
};

export const DEFAULT_UPDATE_CONFIG: UpdateConfig = {
  parallelism: 1,
  delayMs: 0,
  failureAction: 'pause',
  monitorMs: 5_000,
  maxFailureRatio: 0,
  order: 'stop-first',
};

export const DEFAULT_ROLLBACK_CONFIG: UpdateConfig = DEFAULT_UPDATE_CONFIG;

export const DEFAULT_CLUSTER_SPEC: ClusterSpec = {
  name: DEFAULT_CLUSTER_NAME,
  orchestration: { taskHistoryRetentionLimit: DEFAULT_TASK_HISTORY_RETENTION_LIMIT },
  raft: {
    snapshotInterval: 10_000,
    keepOldSnapshots: 0,
    logEntriesForSlowFollowers: 500,
    heartbeatTick: 1,
    electionTick: 10,
  },
  dispatcher: { heartbeatPeriodMs: DEFAULT_HEARTBEAT_PERIOD_MS },
  caConfig: { nodeCertExpiryMs: DEFAULT_NODE_CERT_EXPIRY_MS },
  encryption: { autoLockManagers: false },
  defaultAddrPool: { subnets: ['10.0.0.0/8'], maskLength: 24 },
};

import { MIN_NODE_CERT_EXPIRY_MS } from '../defaults.js';
import type { ClusterSpec } from '../objects/cluster.js';
import {
  checkBoolean,
  checkCidr,
  checkDurationMs,
  checkInt,
  checkLabels,
  checkName,
  invalid,
} from './rules.js';

export function validateClusterSpec(spec: ClusterSpec): void {
  if (typeof spec !== 'object' || spec === null) throw invalid('spec', spec, 'is required');
  checkName('name', spec.name);
  checkLabels('labels', spec.labels);
  // Negative means "keep all history", as in swarmkit.
  checkInt('orchestration.taskHistoryRetentionLimit', spec.orchestration?.taskHistoryRetentionLimit);
  const r = spec.raft;
  if (!r) throw invalid('raft', r, 'is required');
  checkInt('raft.snapshotInterval', r.snapshotInterval, { min: 1 });
  checkInt('raft.keepOldSnapshots', r.keepOldSnapshots, { min: 0 });
  checkInt('raft.logEntriesForSlowFollowers', r.logEntriesForSlowFollowers, { min: 0 });
  checkInt('raft.heartbeatTick', r.heartbeatTick, { min: 1 });
  checkInt('raft.electionTick', r.electionTick, { min: 1 });
  if (r.electionTick <= r.heartbeatTick)
    throw invalid('raft.electionTick', r.electionTick, 'must be greater than raft.heartbeatTick');
  checkDurationMs('dispatcher.heartbeatPeriodMs', spec.dispatcher?.heartbeatPeriodMs, false);
  if (spec.dispatcher.heartbeatPeriodMs === 0)
    throw invalid('dispatcher.heartbeatPeriodMs', 0, 'must be greater than 0');
  checkDurationMs('caConfig.nodeCertExpiryMs', spec.caConfig?.nodeCertExpiryMs, false);
  if (spec.caConfig.nodeCertExpiryMs < MIN_NODE_CERT_EXPIRY_MS)
    throw invalid('caConfig.nodeCertExpiryMs', spec.caConfig.nodeCertExpiryMs, 'must be at least 1 hour');
  checkBoolean('encryption.autoLockManagers', spec.encryption?.autoLockManagers);
  const pool = spec.defaultAddrPool;
  if (!pool || pool.subnets.length === 0)
    throw invalid('defaultAddrPool.subnets', pool?.subnets, 'needs at least one CIDR');
  pool.subnets.forEach((s, i) => {
    checkCidr(`defaultAddrPool.subnets[${i}]`, s);
  });
  checkInt('defaultAddrPool.maskLength', pool.maskLength, { min: 1, max: 32 });
  for (const [i, s] of pool.subnets.entries()) {
    if (Number(s.split('/')[1]) > pool.maskLength)
      throw invalid(
        `defaultAddrPool.subnets[${i}]`,
        s,
        `is smaller than the mask length /${pool.maskLength}`,
      );
  }
}

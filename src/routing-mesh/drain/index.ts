export {
  type ConntrackReader,
  type ConntrackTcpEntry,
  LIVE_TCP_STATES,
  liveConnectionsTo,
  parseConntrack,
  procConntrackReader,
} from './conntrack.js';
export {
  DRAIN_LIMIT_MS,
  DRAIN_POLL_MS,
  type DrainDeps,
  type DrainResult,
  drainConnections,
  resolveDrainLimit,
} from './drain.js';
export { netlinkPurger } from './netlink-purge.js';
export { type ConntrackPurger, conntrackCliPurger, firstAvailablePurger, type PurgeResult } from './purge.js';

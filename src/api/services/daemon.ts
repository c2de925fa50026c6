import { defineService, emptyCodec, jsonCodec, unary } from '../../rpc/index.js';

export interface DaemonStatus {
  nodeId: string;
  role: 'manager' | 'worker';
  /** An autolocked manager that restarted serves nothing until unlocked. */
  locked: boolean;
  /** Joined (or initialised) and serving. */
  ready: boolean;
  clusterId: string;
  listenAddr: string;
  advertiseAddr: string;
  stateDir: string;
  pid: number;
  /** The data plane this node's agent runs (absent until the agent started it), and why the fallback if so. */
  dataPlane?: { kind: 'nftables+vxlan' | 'userland'; reason?: string; covers?: string };
}

/** The node process itself, on its local control socket only (root-only, mode 0600). */
export const DaemonService = defineService('swarmctl.daemon.Daemon', {
  Status: unary(emptyCodec, jsonCodec<DaemonStatus>()),
  Unlock: unary(jsonCodec<{ unlockKey: string }>(), emptyCodec),
  /** Stops the node; `force` lets the last managers leave even if that breaks quorum. */
  Leave: unary(jsonCodec<{ force?: boolean }>(), emptyCodec),
});
export type DaemonServiceMethods = (typeof DaemonService)['methods'];

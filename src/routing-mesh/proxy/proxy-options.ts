import type { NodeId } from '../../api/index.js';
import { InvalidArgumentError } from '../../common/index.js';

export interface UserlandMeshOptions {
  /** This node: its tasks are the local backends, the other nodes' addresses are peers. */
  nodeId: NodeId;
  /** Address the published ports listen on. @default '0.0.0.0' (every address of the node) */
  host?: string;
  /**
   * How backends on other nodes are reached. `via-node` (no overlay between nodes): through
   * that node's published port, where its proxy picks among its own tasks. `overlay`: directly
   * at the task's ingress-network address (the overlay carries it). @default 'via-node'
   */
  remote?: 'via-node' | 'overlay';
  /** A UDP flow idle for this long is forgotten. @default 30000 */
  udpIdleMs?: number;
  /** UDP flows per port at once. @default 4096 */
  maxUdpFlows?: number;
  /** A backend that does not accept within this long is given up for another. @default 2000 */
  connectTimeoutMs?: number;
  /** A port that could not be bound is tried again after this long. @default 1000 */
  bindRetryMs?: number;
}

export interface ResolvedUserlandMeshOptions {
  readonly nodeId: NodeId;
  readonly host: string;
  readonly remote: 'via-node' | 'overlay';
  readonly udpIdleMs: number;
  readonly maxUdpFlows: number;
  readonly connectTimeoutMs: number;
  readonly bindRetryMs: number;
}

export const DEFAULT_UDP_IDLE_MS = 30_000;
export const DEFAULT_MAX_UDP_FLOWS = 4_096;
export const DEFAULT_CONNECT_TIMEOUT_MS = 2_000;
export const DEFAULT_PROXY_BIND_RETRY_MS = 1_000;

export function resolveUserlandMeshOptions(o: UserlandMeshOptions): ResolvedUserlandMeshOptions {
  const remote = o.remote ?? 'via-node';
  if (remote !== 'via-node' && remote !== 'overlay') {
    throw new InvalidArgumentError(
      'proxy.remote',
      `proxy.remote must be via-node or overlay, got ${String(remote)}`,
    );
  }
  if (typeof o.nodeId !== 'string' || o.nodeId === '') {
    throw new InvalidArgumentError('proxy.nodeId', `proxy.nodeId must be a node id, got ${String(o.nodeId)}`);
  }
  return {
    nodeId: o.nodeId,
    host: o.host ?? '0.0.0.0',
    remote,
    udpIdleMs: intIn('proxy.udpIdleMs', o.udpIdleMs ?? DEFAULT_UDP_IDLE_MS, 1, 3_600_000),
    maxUdpFlows: intIn('proxy.maxUdpFlows', o.maxUdpFlows ?? DEFAULT_MAX_UDP_FLOWS, 1, 1_000_000),
    connectTimeoutMs: intIn(
      'proxy.connectTimeoutMs',
      o.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
      1,
      600_000,
    ),
    bindRetryMs: intIn('proxy.bindRetryMs', o.bindRetryMs ?? DEFAULT_PROXY_BIND_RETRY_MS, 1, 3_600_000),
  };
}

function intIn(field: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new InvalidArgumentError(field, `${field} must be an integer from ${min} to ${max}, got ${value}`);
  }
  return value;
}

import type { NodeId } from '../../api/index.js';
import { InvalidArgumentError } from '../../common/index.js';

export interface DnsServerOptions {
  /** Port every binding listens on unless it names its own. @default 53 */
  port?: number;
  /** TTL of our answers; 0 or 1 keeps caches within 1 s of the mesh. @default 0 */
  ttlSeconds?: number;
  /** How long one upstream gets to answer a forwarded query. @default 2000 */
  upstreamTimeoutMs?: number;
  /** Forwarded queries in flight at once; beyond it, SERVFAIL at once. @default 256 */
  maxForwarded?: number;
  /** Largest UDP answer we send to an EDNS0 client (RFC 9715's safe size). @default 1232 */
  maxUdpPayload?: number;
  /** A DNS-over-TCP connection with no query for this long is closed. @default 10000 */
  tcpIdleMs?: number;
  /** TCP connections per binding. @default 64 */
  maxTcpConnections?: number;
  /** A binding that failed (address not up yet) is tried again after this long. @default 1000 */
  bindRetryMs?: number;
  /**
   * When set, the bindings follow each MeshState: this node's address on every non-ingress
   * network it takes part in (`MeshNode.networkAddrs`), on `port`. Unset: `setBindings` only.
   */
  nodeId?: NodeId;
}

export interface ResolvedDnsServerOptions {
  readonly port: number;
  readonly ttlSeconds: number;
  readonly upstreamTimeoutMs: number;
  readonly maxForwarded: number;
  readonly maxUdpPayload: number;
  readonly tcpIdleMs: number;
  readonly maxTcpConnections: number;
  readonly bindRetryMs: number;
  readonly nodeId: NodeId | undefined;
}

export const DEFAULT_DNS_PORT = 53;
export const DEFAULT_DNS_TTL_SECONDS = 0;
export const DEFAULT_UPSTREAM_TIMEOUT_MS = 2_000;
export const DEFAULT_MAX_FORWARDED = 256;
export const DEFAULT_MAX_UDP_PAYLOAD = 1_232;
export const DEFAULT_DNS_TCP_IDLE_MS = 10_000;
export const DEFAULT_MAX_TCP_CONNECTIONS = 64;
export const DEFAULT_BIND_RETRY_MS = 1_000;

export function resolveDnsServerOptions(o: DnsServerOptions = {}): ResolvedDnsServerOptions {
  return {
    port: intIn('dns.port', o.port ?? DEFAULT_DNS_PORT, 0, 65_535),
    ttlSeconds: intIn('dns.ttlSeconds', o.ttlSeconds ?? DEFAULT_DNS_TTL_SECONDS, 0, 3_600),
    upstreamTimeoutMs: intIn(
      'dns.upstreamTimeoutMs',
      o.upstreamTimeoutMs ?? DEFAULT_UPSTREAM_TIMEOUT_MS,
      1,
      60_000,
    ),
    maxForwarded: intIn('dns.maxForwarded', o.maxForwarded ?? DEFAULT_MAX_FORWARDED, 1, 65_536),
    maxUdpPayload: intIn('dns.maxUdpPayload', o.maxUdpPayload ?? DEFAULT_MAX_UDP_PAYLOAD, 512, 65_535),
    tcpIdleMs: intIn('dns.tcpIdleMs', o.tcpIdleMs ?? DEFAULT_DNS_TCP_IDLE_MS, 1, 3_600_000),
    maxTcpConnections: intIn(
      'dns.maxTcpConnections',
      o.maxTcpConnections ?? DEFAULT_MAX_TCP_CONNECTIONS,
      1,
      65_536,
    ),
    bindRetryMs: intIn('dns.bindRetryMs', o.bindRetryMs ?? DEFAULT_BIND_RETRY_MS, 1, 3_600_000),
    nodeId: o.nodeId,
  };
}

export function intIn(field: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new InvalidArgumentError(field, `${field} must be an integer from ${min} to ${max}, got ${value}`);
  }
  return value;
}

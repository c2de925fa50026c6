import type { Node, Service } from '../../api/index.js';

/** Whether a task behind the service's published (ingress) ports sees its client's address. */
export interface ClientAddressInfo {
  /** `no`: never; `partly`: in the cases `detail` names; `unknown`: nodes did not say. */
  readonly kept: 'no' | 'partly' | 'unknown';
  readonly detail: string;
  /** Nodes running the userland proxy (by hostname or ID). */
  readonly userlandNodes?: readonly string[];
}

const KERNEL_LIMIT =
  'kept, except for a client that is itself a swarm node reaching a task on another node, and on nodes without br_netfilter (masqueraded there)';

/**
 * Derived from the data plane each node reports (`description.dataPlane`): the userland proxy
 * opens a new connection to the task, which sees the proxy node's address; the kernel data
 * plane keeps the address but for the cases in KERNEL_LIMIT. Undefined for a service without
 * ingress-published ports (host-mode ports are the engine's own and keep it).
 */
export function clientAddressInfo(service: Service, nodes: readonly Node[]): ClientAddressInfo | undefined {
  const ports = service.status.endpoint?.ports ?? service.spec.endpointSpec?.ports ?? [];
  if (!ports.some((p) => p.publishMode === 'ingress')) return undefined;
  const live = nodes.filter((n) => n.status.state !== 'down');
  const userland = live
    .filter((n) => n.description?.dataPlane === 'userland')
    .map((n) => n.description?.hostname || n.id);
  const unknown = live.filter((n) => n.description?.dataPlane === undefined).length;
  if (userland.length > 0) {
    const all = userland.length === live.length;
    return {
      kept: all ? 'no' : 'partly',
      detail: all
        ? 'not kept: every node runs the userland proxy, so the task sees the address of the node that relayed the connection'
        : `not kept through the userland proxy of ${userland.join(', ')} (the task sees that node's address); elsewhere ${KERNEL_LIMIT}`,
      userlandNodes: userland,
    };
  }
  if (unknown > 0 && unknown === live.length) {
    return { kept: 'unknown', detail: 'unknown: no node reported its data plane' };
  }
  return { kept: 'partly', detail: KERNEL_LIMIT };
}

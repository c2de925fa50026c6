import type { MeshState, NodeId } from '../../api/index.js';
import type { ProxyBackend } from './port-proxy.js';
import type { PlannedPort, PlanOptions } from './userland-mesh.js';

/**
 * The VIP listeners of this node (userland overlays): for each vip-mode service whose VIP a
 * bridge here holds, one listener per declared port on `<vip>:<target port>`. A VIP has no
 * "any port" in user space: only the ports the service declares are known. Local tasks are
 * reached at their address on that network; a task on another node through that node's
 * published port (a relay, from this node's address), so only ingress-published ports reach
 * tasks elsewhere.
 */
export function planVipPorts(
  mesh: MeshState,
  nodeId: NodeId,
  { remote, withdrawn = new Set(), localAddress, vips }: PlanOptions,
): Map<string, PlannedPort> {
  const out = new Map<string, PlannedPort>();
  if (!vips || vips.size === 0) return out;
  const nodeAddr = new Map(mesh.nodes.map((n) => [n.nodeId, n.addr]));
  const own = nodeAddr.get(nodeId);
  for (const svc of mesh.services) {
    if (svc.endpointMode !== 'vip') continue;
    for (const vip of svc.vips) {
      if (!vips.has(vip.addr)) continue;
      for (const p of svc.ports) {
        const backends: ProxyBackend[] = [];
        for (const b of svc.backends) {
          if (withdrawn.has(b.taskId)) continue;
          const onNet = b.addrs.find((a) => a.networkId === vip.networkId)?.addr;
          if (b.nodeId === nodeId || remote === 'overlay') {
            const addr = onNet ?? (b.nodeId === nodeId ? localAddress?.(b.taskId) : undefined);
            if (addr !== undefined) backends.push({ host: addr, port: p.targetPort, local: true });
            continue;
          }
          const host = nodeAddr.get(b.nodeId);
          if (p.publishMode !== 'ingress' || host === undefined) continue;
          backends.push({
            host,
            port: p.publishedPort,
            local: false,
            ...(own === undefined ? {} : { source: own }),
          });
        }
        out.set(`${p.protocol}/${vip.addr}:${p.targetPort}`, {
          protocol: p.protocol,
          port: p.targetPort,
          host: vip.addr,
          backends,
        });
      }
    }
  }
  return out;
}

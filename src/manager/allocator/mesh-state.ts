import type {
  MeshBackend,
  MeshNetwork,
  MeshNode,
  MeshService,
  MeshState,
  NetworkId,
  Task,
} from '../../api/index.js';
import { by, type ReadTx } from '../store/index.js';
import { addrOf } from './ipv4.js';

/**
 * A task that should receive traffic: placed, wanted running, running, and healthy if it has a
 * healthcheck. A task whose desired state moved past running drops out here at once, before its
 * node is even told to stop it (docs/allocator.md, "Leaving the rotation").
 */
export function isBackend(t: Task): boolean {
  return (
    t.nodeId !== undefined &&
    t.desiredState === 'running' &&
    t.status.state === 'running' &&
    (t.status.health === undefined || t.status.health === 'none' || t.status.health === 'healthy') &&
    (t.networks?.length ?? 0) > 0
  );
}

/** The cluster's data plane as every node must program it (`MeshState` in api/objects/mesh.ts). */
export function computeMeshState(tx: ReadTx, revision: number): MeshState {
  const networks: MeshNetwork[] = [];
  for (const n of tx.find('network', by.all())) {
    const c = n.status.ipam?.configs[0];
    if (n.status.vni === undefined || !c?.gateway) continue;
    networks.push({
      id: n.id,
      name: n.spec.name,
      vni: n.status.vni,
      subnet: c.subnet,
      gateway: c.gateway,
      ingress: n.spec.ingress === true,
      attachable: n.spec.attachable === true,
    });
  }
  const nodeAddrs = new Map<string, { networkId: NetworkId; addr: string }[]>();
  for (const n of tx.find('network', by.all()))
    for (const a of n.status.nodeAddrs ?? []) {
      const list = nodeAddrs.get(a.nodeId) ?? [];
      list.push({ networkId: n.id, addr: a.addr });
      nodeAddrs.set(a.nodeId, list);
    }
  const nodes: MeshNode[] = [];
  for (const n of tx.find('node', by.all())) {
    if (n.status.state === 'down' || !n.status.addr) continue;
    nodes.push({ nodeId: n.id, addr: hostOf(n.status.addr), networkAddrs: nodeAddrs.get(n.id) ?? [] });
  }
  const services: MeshService[] = [];
  for (const s of tx.find('service', by.all())) {
    const ep = s.status.endpoint;
    const ports = (ep?.ports ?? []).filter((p) => p.publishedPort !== 0);
    const attached = (s.spec.taskTemplate.networks?.length ?? 0) > 0;
    if (!attached && ports.length === 0 && (ep?.virtualIps.length ?? 0) === 0) continue;
    const backends: MeshBackend[] = tx
      .find('task', by.serviceId(s.id))
      .filter(isBackend)
      .map((t) => ({
        taskId: t.id,
        taskName: `${t.serviceName}.${t.slot > 0 ? t.slot : t.nodeId}.${t.id}`,
        nodeId: t.nodeId!,
        addrs: (t.networks ?? []).flatMap((a) =>
          a.addresses.map((c) => ({ networkId: a.networkId, addr: addrOf(c) })),
        ),
      }));
    services.push({
      id: s.id,
      name: s.spec.name,
      endpointMode: s.spec.endpointSpec?.mode ?? 'vip',
      vips: ep?.virtualIps ?? [],
      ports,
      backends,
    });
  }
  return { revision, networks, nodes, services };
}

/** `10.1.0.2:4242` or `10.1.0.2` → `10.1.0.2`. */
function hostOf(addr: string): string {
  const i = addr.lastIndexOf(':');
  return i > 0 && addr.indexOf(':') === i ? addr.slice(0, i) : addr;
}

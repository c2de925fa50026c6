import {
  type Cluster,
  DEFAULT_CLUSTER_SPEC,
  type Endpoint,
  generateId,
  type Network,
  type NetworkAttachment,
  type NetworkId,
  type RandomBytes,
  type Service,
  type Task,
} from '../../api/index.js';
import { jsonEqual } from '../orchestrator/index.js';
import { by, type WriteTx } from '../store/index.js';
import type { AllocatorState } from './allocator-state.js';
import { allocateNetworkStatus, INGRESS_NAME, INGRESS_SUBNET } from './network-allocation.js';
import { publishesIngress } from './ports.js';

export interface PassContext {
  readonly state: AllocatorState;
  readonly randomBytes: RandomBytes;
  readonly now: number;
  /** Writes per transaction; the caller runs another pass when `more` is returned. */
  readonly maxChanges: number;
}

export interface PassResult {
  readonly changes: number;
  readonly more: boolean;
}

/**
 * One allocation round over the store, inside one write transaction: the ingress network if it
 * is missing, node addresses on every network, service VIPs, and task addresses (which moves the
 * task from `new` to `pending`, so the scheduler only ever places tasks whose networks are
 * allocated). Idempotent: it writes only what differs from what the objects hold.
 */
export function allocatePass(tx: WriteTx, ctx: PassContext): PassResult {
  const cluster = tx.find('cluster', by.all())[0];
  if (!cluster) return { changes: 0, more: false };
  const networks = tx.find('network', by.all());
  const ingress = networks.find((n) => n.spec.ingress);
  if (!ingress) {
    createIngress(tx, cluster, networks, ctx.randomBytes);
    // The ingress pool comes with the commit's event; tasks needing it wait for the next pass.
    return { changes: 1, more: true };
  }
  let changes = 0;
  const publishing = tx.find('service', by.all()).some((s) => publishesIngress(s.spec));
  for (const n of networks) if (allocateNodeAddrs(tx, n, publishing, ctx)) changes++;
  for (const s of tx.find('service', by.all())) if (allocateVips(tx, s, ingress, ctx)) changes++;
  for (const t of tx.find('task', by.taskState('new'))) {
    if (changes >= ctx.maxChanges) return { changes, more: true };
    if (allocateTask(tx, t, ingress, ctx)) changes++;
  }
  return { changes, more: false };
}

function createIngress(
  tx: WriteTx,
  cluster: Cluster,
  networks: readonly Network[],
  randomBytes: RandomBytes,
) {
  const pool = cluster.spec.defaultAddrPool ?? DEFAULT_CLUSTER_SPEC.defaultAddrPool;
  // Docker's 10.0.0.0/24 with the default pool; a cluster given its own pool gets its first block.
  const ownPool = !jsonEqual(pool, DEFAULT_CLUSTER_SPEC.defaultAddrPool);
  const spec = {
    name: INGRESS_NAME,
    driver: { name: 'overlay' },
    ingress: true,
    ...(ownPool ? {} : { ipam: { configs: [{ subnet: INGRESS_SUBNET }] } }),
  };
  tx.create('network', {
    id: generateId<NetworkId>(randomBytes),
    spec,
    status: allocateNetworkStatus(spec, networks, pool),
  });
}

/**
 * A node takes part in a network (gets an address on it, so its data plane sets it up) while a
 * live task placed on it is attached to it; in the ingress network every node does while some
 * service publishes ingress ports. Addresses of nodes that left are dropped (and released once
 * that write commits).
 */
function allocateNodeAddrs(tx: WriteTx, n: Network, publishing: boolean, ctx: PassContext): boolean {
  const pool = ctx.state.pool(n.id);
  if (!pool) return false;
  const nodes = tx
    .find('node', by.all())
    .filter((node) => (n.spec.ingress ? publishing : ctx.state.isUsedOn(n.id, node.id)));
  const have = n.status.nodeAddrs ?? [];
  const next = nodes.flatMap((node) => {
    const held = have.find((a) => a.nodeId === node.id);
    if (held) return [held];
    const addr = pool.allocate();
    return addr ? [{ nodeId: node.id, addr }] : [];
  });
  if (jsonEqual(next, have)) return false;
  tx.update('network', { ...n, status: { ...n.status, nodeAddrs: next } });
  return true;
}

/** Networks a service's tasks attach to: its own (that exist), then ingress if it publishes there. */
function attachedNetworks(tx: WriteTx, s: Service, ingress: Network): NetworkId[] {
  const ids = (s.spec.taskTemplate.networks ?? []).map((a) => a.target);
  if (publishesIngress(s.spec)) ids.push(ingress.id);
  return [...new Set(ids)].filter((id) => tx.get('network', id) !== undefined);
}

function allocateVips(tx: WriteTx, s: Service, ingress: Network, ctx: PassContext): boolean {
  const spec = s.spec.endpointSpec ?? { mode: 'vip' as const };
  const current = s.status.endpoint?.virtualIps ?? [];
  const wanted = spec.mode === 'vip' ? attachedNetworks(tx, s, ingress) : [];
  const virtualIps = wanted.flatMap((networkId) => {
    const held = current.find((v) => v.networkId === networkId);
    if (held) return [held];
    const addr = ctx.state.pool(networkId)?.allocate();
    return addr ? [{ networkId, addr }] : [];
  });
  if (!s.status.endpoint && virtualIps.length === 0) return false;
  const endpoint: Endpoint = { spec, ports: s.status.endpoint?.ports ?? [], virtualIps };
  if (jsonEqual(endpoint, s.status.endpoint)) return false;
  tx.update('service', { ...s, status: { ...s.status, endpoint } });
  return true;
}

function allocateTask(tx: WriteTx, t: Task, ingress: Network, ctx: PassContext): boolean {
  const service = tx.get('service', t.serviceId);
  const pending = (extra: Partial<Task>): Task => ({
    ...t,
    ...extra,
    status: { state: 'pending', timestamp: ctx.now, message: 'pending task scheduling' },
  });
  if (t.desiredState !== 'running' && t.desiredState !== 'ready' && t.desiredState !== 'complete') {
    tx.update('task', pending({}));
    return true;
  }
  const targets = (t.spec.networks ?? []).map((a) => ({ id: a.target, aliases: a.aliases }));
  if (service && publishesIngress(service.spec) && !targets.some((a) => a.id === ingress.id))
    targets.push({ id: ingress.id, aliases: undefined });
  const taken: { pool: { release(a: string): void }; addr: string }[] = [];
  const attachments: NetworkAttachment[] = [];
  let blocked: string | undefined;
  for (const target of targets) {
    const network = tx.get('network', target.id);
    const pool = ctx.state.pool(target.id);
    const addr = pool?.allocate();
    if (!network || !pool || !addr) {
      blocked = !network
        ? `network ${target.id} not found`
        : `no address left on network ${network.spec.name}`;
      break;
    }
    taken.push({ pool, addr });
    attachments.push({
      networkId: target.id,
      addresses: [pool.withPrefix(addr)],
      ...(target.aliases?.length ? { aliases: target.aliases } : {}),
    });
  }
  if (blocked !== undefined) {
    // Nothing of this task is written: give back what it took in this pass.
    for (const a of taken) a.pool.release(a.addr);
    if (t.status.err === blocked) return false;
    tx.update('task', { ...t, status: { ...t.status, message: 'pending network allocation', err: blocked } });
    return true;
  }
  const endpoint = service?.status.endpoint;
  tx.update('task', pending({ networks: attachments, ...(endpoint ? { endpoint } : {}) }));
  return true;
}

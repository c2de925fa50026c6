import {
  isTerminalTaskState,
  type Network,
  type NetworkId,
  type NodeId,
  type ObjectEvent,
  type Service,
  type Task,
} from '../../api/index.js';
import type { Logger } from '../../common/index.js';
import { by, type ReadTx } from '../store/index.js';
import { addrOf } from './ipv4.js';
import { SubnetPool } from './subnet-pool.js';

/** A task holds its addresses from allocation until it ends or is deleted. */
export function holdsAddresses(t: Task | undefined): t is Task {
  return !!t && (t.networks?.length ?? 0) > 0 && !isTerminalTaskState(t.status.state);
}

type Addr = { readonly networkId: NetworkId; readonly addr: string };

function taskAddrs(t: Task): Addr[] {
  return (t.networks ?? []).flatMap((a) =>
    a.addresses.map((c) => ({ networkId: a.networkId, addr: addrOf(c) })),
  );
}

function vipsOf(s: Service | undefined): readonly Addr[] {
  return s?.status.endpoint?.virtualIps ?? [];
}

function nodeAddrsOf(n: Network | undefined): Addr[] {
  return (n?.status.nodeAddrs ?? []).map((a) => ({ networkId: n!.id, addr: a.addr }));
}

/**
 * The allocator's memory: one address bitmap per network. It is never the truth, only a cache
 * of what the store's objects hold (rebuilt from them on start, after a leader change or a failed
 * write). Allocations are reserved here when a transaction is built; releases happen only when a
 * committed event shows an object let go of an address, so an address is never handed out again
 * while a committed object still holds it.
 */
export class AllocatorState {
  private readonly pools = new Map<NetworkId, SubnetPool>();
  /** Per network, the nodes with live placed tasks on it and how many: where it must exist. */
  private readonly users = new Map<NetworkId, Map<NodeId, number>>();

  constructor(private readonly log: Logger) {}

  pool(networkId: NetworkId): SubnetPool | undefined {
    return this.pools.get(networkId);
  }

  /** Whether a live task on `nodeId` is attached to the network (the node then takes part in it). */
  isUsedOn(networkId: NetworkId, nodeId: NodeId): boolean {
    return (this.users.get(networkId)?.get(nodeId) ?? 0) > 0;
  }

  private countUse(t: Task | undefined, delta: 1 | -1): void {
    if (!holdsAddresses(t) || !t.nodeId) return;
    for (const a of t.networks ?? []) {
      const perNode = this.users.get(a.networkId) ?? new Map<NodeId, number>();
      const n = (perNode.get(t.nodeId) ?? 0) + delta;
      if (n > 0) perNode.set(t.nodeId, n);
      else perNode.delete(t.nodeId);
      this.users.set(a.networkId, perNode);
    }
  }

  rebuild(tx: ReadTx): void {
    this.pools.clear();
    this.users.clear();
    for (const n of tx.find('network', by.all())) this.addNetwork(n);
    for (const s of tx.find('service', by.all())) this.reserveAll(vipsOf(s), `service ${s.spec.name}`);
    for (const t of tx.find('task', by.all())) {
      if (!holdsAddresses(t)) continue;
      this.reserveAll(taskAddrs(t), `task ${t.id}`);
      this.countUse(t, 1);
    }
  }

  /** Keeps the bitmaps in step with committed changes (see the class comment). */
  observe(e: ObjectEvent): void {
    switch (e.kind) {
      case 'network': {
        if (!e.new) {
          this.pools.delete(e.old!.id);
          return;
        }
        if (!this.pools.has(e.new.id)) {
          this.addNetwork(e.new);
          return;
        }
        this.releaseGone(nodeAddrsOf(e.old), nodeAddrsOf(e.new));
        return;
      }
      case 'service':
        this.releaseGone(vipsOf(e.old), vipsOf(e.new));
        return;
      case 'task':
        this.countUse(e.old, -1);
        this.countUse(e.new, 1);
        if (holdsAddresses(e.old) && !holdsAddresses(e.new)) this.releaseGone(taskAddrs(e.old), []);
        return;
      default:
        return;
    }
  }

  private addNetwork(n: Network): void {
    const c = n.status.ipam?.configs[0];
    if (!c?.gateway) return;
    this.pools.set(n.id, new SubnetPool(c.subnet, c.gateway));
    this.reserveAll(nodeAddrsOf(n), `network ${n.spec.name}`);
  }

  private reserveAll(addrs: readonly Addr[], holder: string): void {
    for (const a of addrs) {
      const pool = this.pools.get(a.networkId);
      if (pool && !pool.reserve(a.addr))
        this.log.warn('address held twice or outside its subnet', {
          holder,
          addr: a.addr,
          network: a.networkId,
        });
    }
  }

  private releaseGone(before: readonly Addr[], after: readonly Addr[]): void {
    const kept = new Set(after.map((a) => `${a.networkId} ${a.addr}`));
    for (const a of before)
      if (!kept.has(`${a.networkId} ${a.addr}`)) this.pools.get(a.networkId)?.release(a.addr);
  }
}

import {
  isTerminalTaskState,
  type Network,
  type NetworkId,
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

  constructor(private readonly log: Logger) {}

  pool(networkId: NetworkId): SubnetPool | undefined {
    return this.pools.get(networkId);
  }

  rebuild(tx: ReadTx): void {
    this.pools.clear();
    for (const n of tx.find('network', by.all())) this.addNetwork(n);
    for (const s of tx.find('service', by.all())) this.reserveAll(vipsOf(s), `service ${s.spec.name}`);
    for (const t of tx.find('task', by.all()))
      if (holdsAddresses(t)) this.reserveAll(taskAddrs(t), `task ${t.id}`);
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

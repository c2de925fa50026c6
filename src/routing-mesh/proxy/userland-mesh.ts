import type { MeshState, NodeId, PortProtocol, TaskId } from '../../api/index.js';
import type { Clock, Component, Logger, Random } from '../../common/index.js';
import { errorMessage, SerialReconciler } from '../../common/index.js';
import { PortProxy, type ProxyBackend, unmapped } from './port-proxy.js';
import {
  type ResolvedUserlandMeshOptions,
  resolveUserlandMeshOptions,
  type UserlandMeshOptions,
} from './proxy-options.js';
import { planVipPorts } from './vip-plan.js';

export interface UserlandMeshDeps {
  readonly logger: Logger;
  readonly clock: Clock;
  readonly random: Random;
  /**
   * The address of a local task's container as reachable from this node (its Docker bridge
   * address, say), for tasks without an ingress-network address (no overlay on this node).
   * Call `refresh()` when it changes.
   */
  readonly localAddress?: (taskId: TaskId) => string | undefined;
  /** The VIPs this node's bridges hold now (userland overlays); absent: no VIP listeners. */
  readonly vips?: () => ReadonlySet<string>;
}

export interface PlanOptions {
  readonly remote: ResolvedUserlandMeshOptions['remote'];
  readonly withdrawn?: ReadonlySet<TaskId>;
  readonly localAddress?: (taskId: TaskId) => string | undefined;
  /** Service VIPs held by this node's bridges: the proxy listens on them too (userland overlays). */
  readonly vips?: ReadonlySet<string>;
}

/** One listener: on `host` (a VIP) or, without it, on every address of the node. */
export interface PlannedPort {
  readonly protocol: PortProtocol;
  readonly port: number;
  readonly host?: string;
  readonly backends: ProxyBackend[];
}

export interface PublishedPortStatus {
  readonly protocol: PortProtocol;
  /** Set for a VIP listener. */
  readonly host?: string;
  readonly port: number;
  readonly state: 'listening' | 'failed';
  readonly backends: number;
  readonly error?: string;
}

/** What this node listens on for one MeshState: `tcp/8080` → the backends of that port. */
export function planPublishedPorts(
  mesh: MeshState,
  nodeId: NodeId,
  { remote, withdrawn = new Set(), localAddress }: PlanOptions,
): Map<string, PlannedPort> {
  const ingress = mesh.networks.find((n) => n.ingress)?.id;
  const nodeAddr = new Map(mesh.nodes.map((n) => [n.nodeId, n.addr]));
  const own = nodeAddr.get(nodeId);
  const out = new Map<string, PlannedPort>();
  for (const svc of mesh.services) {
    for (const p of svc.ports) {
      if (p.publishMode !== 'ingress') continue;
      const backends: ProxyBackend[] = [];
      for (const b of svc.backends) {
        if (withdrawn.has(b.taskId)) continue;
        const local = b.nodeId === nodeId;
        const onIngress = b.addrs.find((a) => a.networkId === ingress)?.addr;
        // Without an overlay (via-node) a local task is not on the ingress: its bridge address.
        const addr =
          remote === 'overlay'
            ? (onIngress ?? (local ? localAddress?.(b.taskId) : undefined))
            : local
              ? (localAddress?.(b.taskId) ?? onIngress)
              : undefined;
        if (local || remote === 'overlay') {
          // In overlay mode every task is reached directly, so all count as local (no relays).
          if (addr !== undefined) backends.push({ host: addr, port: p.targetPort, local: true });
        } else {
          // Relayed to the task's node, whose proxy sends it to that node's own tasks only.
          const host = nodeAddr.get(b.nodeId);
          if (host === undefined) continue;
          // From our own node address, so the peer knows the connection is a relay.
          backends.push({
            host,
            port: p.publishedPort,
            local: false,
            ...(own === undefined ? {} : { source: own }),
          });
        }
      }
      out.set(`${p.protocol}/${p.publishedPort}`, { protocol: p.protocol, port: p.publishedPort, backends });
    }
  }
  return out;
}

function backendsKey(backends: readonly ProxyBackend[]): string {
  return backends
    .map((b) => `${b.host}:${b.port}`)
    .sort()
    .join(',');
}

interface Entry {
  readonly protocol: PortProtocol;
  readonly host?: string;
  readonly port: number;
  proxy?: PortProxy;
  backends: ProxyBackend[];
  error?: string;
}

/**
 * The ingress mesh in user space, for nodes where nftables or VXLAN is missing: listens on every
 * published (ingress-mode) port of the MeshState on all of this node's addresses and follows
 * each update, opening and closing listeners as ports come and go.
 */
export class UserlandMesh implements Component {
  readonly name = 'routing-mesh/userland';
  readonly kind = 'userland' as const;
  private readonly options: ResolvedUserlandMeshOptions;
  private latest: MeshState | undefined;
  private readonly withdrawn = new Set<TaskId>();
  private peers = new Set<string>();
  private readonly entries = new Map<string, Entry>();
  private readonly loop: SerialReconciler;

  constructor(
    private readonly deps: UserlandMeshDeps,
    options: UserlandMeshOptions,
  ) {
    this.options = resolveUserlandMeshOptions(options);
    this.loop = new SerialReconciler({
      clock: deps.clock,
      logger: deps.logger,
      reconcile: () => this.reconcile(),
      retryMs: this.options.bindRetryMs,
      failureMessage: 'published ports not reconciled',
    });
  }

  /** Follows a new MeshState; resolves once listeners and backends match it. */
  update(state: MeshState): Promise<void> {
    if (this.latest && state.revision < this.latest.revision) return this.loop.settled();
    this.latest = state;
    const own = state.nodes.find((n) => n.nodeId === this.options.nodeId)?.addr;
    this.peers = new Set(state.nodes.map((n) => n.addr).filter((a) => a !== own));
    // Withdrawals are for tasks about to stop: forget those the leader no longer lists.
    const listed = new Set(state.services.flatMap((s) => s.backends.map((b) => b.taskId)));
    for (const t of this.withdrawn) if (!listed.has(t)) this.withdrawn.delete(t);
    return this.loop.schedule();
  }

  /** Takes a local task out of every rotation now, before its container is stopped. */
  withdraw(taskId: TaskId): Promise<void> {
    this.withdrawn.add(taskId);
    return this.loop.schedule();
  }

  /** Recomputes backends from the latest state (after a `localAddress` answer changed). */
  refresh(): Promise<void> {
    return this.loop.schedule();
  }

  ports(): PublishedPortStatus[] {
    return [...this.entries.values()].map((e) => ({
      protocol: e.protocol,
      ...(e.host === undefined ? {} : { host: e.host }),
      port: e.proxy?.localPort ?? e.port,
      state: e.proxy ? 'listening' : 'failed',
      backends: e.backends.length,
      ...(e.error === undefined ? {} : { error: e.error }),
    }));
  }

  run(signal: AbortSignal): Promise<void> {
    return this.loop.run(signal, () => {
      for (const e of this.entries.values()) e.proxy?.close();
      this.entries.clear();
    });
  }

  /** One pass (serialised by the loop); true when a port could not be bound and must be retried. */
  private async reconcile(): Promise<boolean> {
    if (!this.latest) return false;
    const plan: PlanOptions = {
      remote: this.options.remote,
      withdrawn: this.withdrawn,
      ...(this.deps.localAddress && { localAddress: this.deps.localAddress }),
      ...(this.deps.vips && { vips: this.deps.vips() }),
    };
    const want = new Map([
      ...planPublishedPorts(this.latest, this.options.nodeId, plan),
      ...planVipPorts(this.latest, this.options.nodeId, plan),
    ]);
    for (const [key, entry] of this.entries) {
      if (want.has(key)) continue;
      entry.proxy?.close();
      this.entries.delete(key);
      this.deps.logger.info('published port closed', { protocol: entry.protocol, port: entry.port });
    }
    for (const [key, w] of want) {
      const entry = this.entries.get(key) ?? {
        protocol: w.protocol,
        port: w.port,
        backends: [],
        ...(w.host === undefined ? {} : { host: w.host }),
      };
      this.entries.set(key, entry);
      if (backendsKey(entry.backends) !== backendsKey(w.backends)) {
        // Info level: when a task entered or left the rotation is what one asks of a mesh.
        this.deps.logger.info('published port backends', {
          protocol: w.protocol,
          ...(w.host === undefined ? {} : { host: w.host }),
          port: w.port,
          backends: backendsKey(w.backends),
        });
      }
      entry.backends = w.backends;
      if (!entry.proxy) await this.open(entry);
      entry.proxy?.setBackends(w.backends);
    }
    return [...this.entries.values()].some((e) => !e.proxy);
  }

  private async open(entry: Entry): Promise<void> {
    const proxy = new PortProxy(
      entry.protocol,
      entry.host ?? this.options.host,
      entry.port,
      { ...this.deps, isPeer: (addr) => this.peers.has(unmapped(addr)) },
      {
        udpIdleMs: this.options.udpIdleMs,
        maxUdpFlows: this.options.maxUdpFlows,
        connectTimeoutMs: this.options.connectTimeoutMs,
      },
    );
    try {
      await proxy.listen();
      entry.proxy = proxy;
      delete entry.error;
      this.deps.logger.info('published port listening', { protocol: entry.protocol, port: entry.port });
    } catch (e) {
      if (entry.error === undefined) {
        this.deps.logger.warn('published port cannot listen', {
          protocol: entry.protocol,
          port: entry.port,
          error: errorMessage(e),
        });
      }
      entry.error = errorMessage(e);
    }
  }
}

export function createUserlandMesh(deps: UserlandMeshDeps, options: UserlandMeshOptions): UserlandMesh {
  return new UserlandMesh(deps, options);
}

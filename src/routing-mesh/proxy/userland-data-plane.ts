import type { MeshState, NetworkId, NodeId, TaskId } from '../../api/index.js';
import {
  type Clock,
  Emitter,
  errorMessage,
  FailedPreconditionError,
  type Logger,
  nextEvent,
  type Random,
  SwarmError,
  withTimeout,
} from '../../common/index.js';
import type { DnsServer } from '../dns/index.js';
import type { UserlandMeshOptions } from './proxy-options.js';
import { UserlandMesh } from './userland-mesh.js';
import type { UserlandOverlays } from './userland-overlays.js';

/** Finds where a local task's container answers from this node (its Docker bridge address). */
export type TaskAddressLookup = (taskId: TaskId) => Promise<string | undefined>;

export interface UserlandDataPlaneDeps {
  readonly nodeId: NodeId;
  readonly logger: Logger;
  readonly clock: Clock;
  readonly random: Random;
  readonly lookup: TaskAddressLookup;
  /** User overlays as per-node bridges with VIPs; absent: tasks on user overlays are refused. */
  readonly overlays?: UserlandOverlays;
  /**
   * Refuse every network, the ingress too: for a node sharing its namespace with a kernel-plane
   * node, which routes to tasks' ingress addresses that a task here would not have.
   */
  readonly refuseNetworks?: boolean;
  /** The service resolver for containers on those overlays. */
  readonly dns?: Pick<DnsServer, 'updateState' | 'withdraw' | 'run'>;
}

/** What the userland data plane covers, for `info` and the logs. */
export const USERLAND_COVERS =
  'published ports on every node, relayed between nodes; user overlays local to each node (VIPs on declared ports, DNS of local tasks), no container traffic between nodes; client address not kept';
/** The same without overlays (nodes sharing a namespace and an engine). */
export const USERLAND_COVERS_PORTS_ONLY =
  'published ports on every node, relayed between nodes; user overlays refused on this node; client address not kept';

/**
 * The userland proxy as the node's data plane, for nodes without nftables or VXLAN. Every node
 * listens on every published port and relays to healthy tasks: its own at their Docker bridge
 * address, other nodes' through those nodes' listeners. Tasks are not attached to the ingress
 * (there is none here). With `overlays`, a user overlay is a bridge per node (nothing joins the
 * nodes' bridges) holding the service VIPs, where the proxy listens on the declared ports; the
 * resolver answers for the node's own tasks. Without it, tasks on user overlays are refused.
 */
export class UserlandDataPlane {
  readonly name = 'mesh-data-plane';
  readonly kind = 'userland' as const;
  readonly mesh: UserlandMesh;
  /** What this node serves, for `info`. */
  readonly covers: string;
  private latest: MeshState | undefined;
  private readonly changed = new Emitter<void>();
  private readonly applied = new Emitter<number>();
  /** A state's revision once every listener follows it (the leader holds stops until then). */
  readonly onDidApply = this.applied.event;
  private readonly addresses = new Map<TaskId, string>();
  private readonly looking = new Set<TaskId>();
  private running = false;

  constructor(
    private readonly deps: UserlandDataPlaneDeps,
    readonly reason: string,
    options: Omit<UserlandMeshOptions, 'nodeId'> = {},
  ) {
    this.mesh = new UserlandMesh(
      {
        logger: deps.logger,
        clock: deps.clock,
        random: deps.random,
        localAddress: (taskId) => this.addresses.get(taskId),
        ...(deps.overlays && { vips: () => deps.overlays?.vips() ?? new Set<string>() }),
      },
      { ...options, nodeId: deps.nodeId },
    );
    this.covers = deps.overlays ? USERLAND_COVERS : USERLAND_COVERS_PORTS_ONLY;
  }

  update(state: MeshState): void {
    if (this.latest && state.revision < this.latest.revision) return;
    this.latest = state;
    void this.mesh.update(state).then(() => this.applied.fire(state.revision));
    void this.deps.overlays?.update(state);
    this.deps.dns?.updateState(localView(state, this.deps.nodeId));
    this.findAddresses(state);
    this.changed.fire();
  }

  withdraw(taskId: TaskId): Promise<void> {
    this.deps.dns?.withdraw(taskId);
    return this.mesh.withdraw(taskId);
  }

  resolverFor(ids: readonly NetworkId[] = []): string | undefined {
    return this.deps.overlays?.resolverFor(ids);
  }

  /**
   * The ingress needs no Docker network here (the proxy reaches tasks on their default bridge),
   * so it is left out of the answer and the task is not attached to it. A user overlay is this
   * node's bridge for it (with `overlays`), else refused.
   */
  async networkNames(
    ids: readonly NetworkId[],
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<Map<NetworkId, string>> {
    const known = (): boolean => ids.every((id) => this.latest?.networks.some((n) => n.id === id));
    if (!known()) {
      await withTimeout(
        nextEvent(this.changed.event, known, signal),
        timeoutMs,
        'the network list from the leader',
        this.deps.clock,
      ).catch((e: unknown) => {
        signal?.throwIfAborted();
        if (!(e instanceof SwarmError && e.code === 'DEADLINE_EXCEEDED')) throw e;
      });
    }
    const unknown = ids.filter((id) => !this.latest?.networks.some((n) => n.id === id));
    if (unknown.length > 0) {
      throw new FailedPreconditionError(
        `network(s) ${unknown.join(', ')} not in this node's mesh state after ${timeoutMs} ms`,
      );
    }
    const overlays = this.deps.refuseNetworks
      ? [...ids]
      : ids.filter((id) => !this.latest?.networks.some((n) => n.id === id && n.ingress));
    if (overlays.length > 0 && this.deps.overlays) {
      return this.deps.overlays.networkNames(overlays, timeoutMs, signal);
    }
    if (overlays.length > 0) {
      const names = overlays.map((id) => this.latest?.networks.find((n) => n.id === id)?.name ?? id);
      throw new FailedPreconditionError(
        `overlay network(s) ${names.join(', ')} need the kernel data plane, which cannot run on this node (${this.reason}); the userland data plane here serves ${this.covers}`,
      );
    }
    return new Map();
  }

  async run(signal: AbortSignal): Promise<void> {
    this.running = true;
    try {
      if (this.latest) this.findAddresses(this.latest);
      // A VIP that just appeared on a bridge can be listened on now.
      const sub = this.deps.overlays?.onDidConverge(() => void this.mesh.refresh());
      try {
        await Promise.all([
          this.mesh.run(signal),
          this.deps.overlays?.run(signal),
          this.deps.dns?.run(signal),
        ]);
      } finally {
        sub?.dispose();
      }
    } finally {
      this.running = false;
      this.changed.dispose();
      this.applied.dispose();
    }
  }

  /** Looks up the address of every local backend not known yet; forgets tasks no longer listed. */
  private findAddresses(state: MeshState): void {
    const local = new Set(
      state.services.flatMap((s) =>
        s.backends.filter((b) => b.nodeId === this.deps.nodeId).map((b) => b.taskId),
      ),
    );
    for (const t of this.addresses.keys()) if (!local.has(t)) this.addresses.delete(t);
    if (!this.running) return;
    for (const t of local) {
      if (this.addresses.has(t) || this.looking.has(t)) continue;
      this.looking.add(t);
      void this.deps
        .lookup(t)
        .then((addr) => {
          if (addr === undefined) {
            this.deps.logger.warn('no address for a local task: it gets no traffic', { 'task.id': t });
            return;
          }
          this.addresses.set(t, addr);
          return this.mesh.refresh();
        })
        .catch((e: unknown) =>
          this.deps.logger.warn('task address lookup failed', { 'task.id': t, error: errorMessage(e) }),
        )
        .finally(() => this.looking.delete(t));
    }
  }
}

/**
 * The state as this node's containers can use it: other nodes' tasks are unreachable without an
 * overlay between nodes, so `tasks.<service>` and dnsrr answers list this node's tasks only.
 */
function localView(state: MeshState, nodeId: NodeId): MeshState {
  return {
    ...state,
    services: state.services.map((s) => ({ ...s, backends: s.backends.filter((b) => b.nodeId === nodeId) })),
  };
}

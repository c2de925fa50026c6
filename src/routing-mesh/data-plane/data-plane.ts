import type { MeshState, NetworkId, NodeId, Task, TaskId } from '../../api/index.js';
import {
  type Clock,
  type Component,
  Emitter,
  type Event,
  errorMessage,
  type Logger,
  nextEvent,
  SwarmError,
  systemClock,
  withTimeout,
} from '../../common/index.js';
import type { CommandRunner } from './command-runner.js';
import {
  containerDefaultRoute,
  hostModeUdpPorts,
  type LoosenedFilter,
  looseHostReversePath,
  preferIngressSource,
  restoreHostReversePath,
} from './container-source.js';
import type { NetworkEngine } from './docker-networks.js';
import { diffReturnRoutes, runCommand, runNft, setForwardRule } from './kernel-ops.js';
import { deleteTableScript, diffTableScript, fullTableScript } from './nft-script.js';
import {
  type MeshPlan,
  type NetworkPlan,
  OVERLAY_MTU,
  planMesh,
  type ReturnRoute,
  type RulesPlan,
  stripPrefix,
  VXLAN_PORT,
} from './plan.js';
import { boundedEngine, removeStale, resolveEngineCallTimeout, teardownMesh } from './teardown.js';

export interface DataPlaneDeps {
  readonly nodeId: NodeId;
  readonly run: CommandRunner;
  readonly engine: NetworkEngine;
  readonly logger: Logger;
  /** Asked when the data plane stops: true removes networks and devices too (leave), false only the rules. */
  readonly removeAllOnStop?: () => boolean;
  /** Keep the client's address for remote backends; default: when bridged traffic is tracked. */
  readonly keepSourceIp?: boolean;
  /** Called once everything of ours is gone (releases the namespace lock). */
  readonly onStopped?: () => void;
  /** Times the retry after a failed convergence. @default systemClock */
  readonly clock?: Clock;
  /** Bound of each Docker call (convergence and teardown). @default ENGINE_CALL_TIMEOUT_MS */
  readonly engineCallTimeoutMs?: number;
}

/** A failed convergence is tried again after this long even if no new state arrives. */
export const CONVERGE_RETRY_MS = 1_000;

/** The data plane as the worker sees it, whichever implementation runs. */
export interface MeshDataPlane extends Component {
  readonly kind: 'nftables+vxlan' | 'userland';
  /** Why the userland fallback was chosen (absent for the kernel data plane). */
  readonly reason?: string;
  /** The latest state from the leader; older revisions are ignored. */
  update(state: MeshState): void;
  /** Takes a local task out of every rotation now (it is about to be stopped). */
  withdraw(taskId: TaskId): Promise<void>;
  /**
   * Fires with a MeshState's revision once it is applied in full (the kernel converged): the
   * agent reports it to the leader, which holds stops until every node dropped the task. Absent:
   * a state counts as applied on receipt.
   */
  readonly onDidApply?: Event<number>;
  /** This node's address on the first of these overlays that is not the ingress: its containers' resolver. */
  resolverFor(ids: readonly NetworkId[]): string | undefined;
  /** Docker network names of these overlays on this node, once they exist (waits up to `timeoutMs`). */
  networkNames(
    ids: readonly NetworkId[],
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<Map<NetworkId, string>>;
  /**
   * Readies the namespace of a task's container once it runs (process `pid`), before it is
   * reported running (and so before the mesh sends it anything). Absent: nothing to do.
   */
  prepareContainer?(pid: number, task: Task): Promise<void>;
}

/**
 * Converges this node's kernel to the leader's MeshState: per overlay a Docker bridge network
 * (same subnet everywhere, this node's address as gateway), a VXLAN device enslaved to its bridge
 * with one all-zero fdb entry per peer (head-end replication), and an nftables table for the
 * ingress mesh. Diff-based: the same state twice runs nothing; each change runs only its commands.
 */
export class KernelDataPlane implements MeshDataPlane {
  readonly name = 'mesh-data-plane';
  readonly kind = 'nftables+vxlan' as const;
  private latest: MeshState | undefined;
  private readonly withdrawn = new Set<TaskId>();
  private applied: MeshPlan = { localAddr: undefined, networks: [], rules: undefined, returnRoutes: [] };
  private appliedRevision = -1;
  private wake = new Emitter<void>();
  private readonly converged = new Emitter<void>();
  /** Applied state, for tests and `info`. */
  readonly onDidConverge: Event<void> = this.converged.event;
  readonly onDidApply: Event<number> = (listener) =>
    this.converged.event(() => {
      if (this.appliedRevision >= 0) listener(this.appliedRevision);
    });
  private readonly log: Logger;
  private running = false;
  /** Set when `run` ends: a late state must not bring anything back. */
  private stopped = false;
  private keepSourceIp = false;
  /** Docker networks no longer wanted that Docker refused to remove (an endpoint still active): retried. */
  private readonly orphans = new Map<string, NetworkPlan>();
  private readonly clock: Clock;
  private readonly engineCallTimeoutMs: number;
  /** The engine with each call bounded, as the teardown has it: a hung call must not hang a leave. */
  private readonly engine: NetworkEngine;

  constructor(private readonly deps: DataPlaneDeps) {
    this.log = deps.logger.child({ module: 'mesh' });
    this.clock = deps.clock ?? systemClock;
    this.engineCallTimeoutMs = resolveEngineCallTimeout(deps.engineCallTimeoutMs);
    this.engine = boundedEngine(deps.engine, this.engineCallTimeoutMs, this.clock);
  }

  get plan(): MeshPlan {
    return this.applied;
  }

  /** Revision of the last state applied in full; -1 before the first or after a failure. */
  get revision(): number {
    return this.appliedRevision;
  }

  update(state: MeshState): void {
    if (this.stopped || (this.latest && state.revision < this.latest.revision)) return;
    this.latest = state;
    this.wake.fire();
  }

  async withdraw(taskId: TaskId): Promise<void> {
    if (this.withdrawn.has(taskId)) return;
    this.withdrawn.add(taskId);
    const carried = this.latest?.services.some((s) => s.backends.some((b) => b.taskId === taskId));
    if (!carried || !this.running) return;
    const done = nextEvent(this.converged.event);
    this.wake.fire();
    await withTimeout(done, 2_000, 'withdrawing a backend from the mesh').catch((e: unknown) =>
      this.log.warn('backend withdrawal not confirmed', { task: taskId, error: errorMessage(e) }),
    );
  }

  resolverFor(ids: readonly NetworkId[]): string | undefined {
    for (const id of ids) {
      const n = this.applied.networks.find((x) => x.id === id);
      if (n && !n.ingress) return n.localAddr;
    }
    return undefined;
  }

  async networkNames(
    ids: readonly NetworkId[],
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<Map<NetworkId, string>> {
    const find = (): Map<NetworkId, string> | undefined => {
      const out = new Map<NetworkId, string>();
      for (const id of ids) {
        const n = this.applied.networks.find((x) => x.id === id);
        if (!n) return undefined;
        out.set(id, n.dockerName);
      }
      return out;
    };
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = find();
      if (found) return found;
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new SwarmError('UNAVAILABLE', `overlay network(s) ${ids.join(', ')} not set up on this node`, {
          retryable: true,
        });
      }
      // The next convergence, the deadline or the caller's abort, whichever comes first.
      await new Promise<void>((resolve) => {
        const sub = this.converged.event(() => done());
        const timer = setTimeout(done, left);
        signal?.addEventListener('abort', done, { once: true });
        function done(): void {
          sub.dispose();
          clearTimeout(timer);
          signal?.removeEventListener('abort', done);
          resolve();
        }
      });
      signal?.throwIfAborted();
    }
  }

  /** Replies through the mesh leave from the container's ingress address (container-source.ts). */
  async prepareContainer(pid: number, task: Task): Promise<void> {
    const ingress = this.applied.networks.find((n) => n.ingress);
    const addr = ingress && task.networks?.find((a) => a.networkId === ingress.id)?.addresses[0];
    if (!addr) return;
    const route = await containerDefaultRoute(this.deps.run, pid);
    if (route?.gateway && !this.stopped) {
      const loosened = await looseHostReversePath(this.deps.run, route.gateway);
      if (loosened && !this.loosened.has(loosened.dev)) {
        this.loosened.set(loosened.dev, loosened);
        this.log.info(
          "reverse-path filtering on the bridge of tasks' default routes is loose while the mesh runs",
          {
            dev: loosened.dev,
            before: loosened.before,
          },
        );
      }
    }
    const hostUdp = hostModeUdpPorts(task);
    if (hostUdp.length > 0) {
      this.log.warn(
        'host-mode UDP ports keep their replies: UDP through the ingress mesh is answered from the bridge address',
        { task: task.id, ports: hostUdp.join(',') },
      );
      return;
    }
    await preferIngressSource(this.deps.run, pid, stripPrefix(addr), route);
  }

  async run(signal: AbortSignal): Promise<void> {
    this.running = true;
    try {
      // Replies of remote backends can return through the receiving node only if this node's
      // conntrack sees bridged traffic (br_netfilter); otherwise they are masqueraded.
      this.keepSourceIp =
        this.deps.keepSourceIp ??
        (await this.deps.run(['sysctl', '-n', 'net.bridge.bridge-nf-call-iptables'])).stdout.trim() === '1';
      await removeStale(this.deps.run);
      const clock = this.clock;
      let failed = false;
      while (!signal.aborted) {
        const state = this.latest;
        // Orphans (networks Docker would not remove yet) are retried without holding the
        // revision back: the rest of the state is applied, and the dispatcher waits for it.
        const pending = state && (state.revision !== this.appliedRevision || this.withdrawnPending(state));
        if (state && (pending || this.orphans.size > 0)) {
          try {
            const started = clock.monotonic();
            const plan = planMesh(this.deps.nodeId, this.effective(state), {
              keepSourceIp: this.keepSourceIp,
            });
            await this.converge(plan, signal);
            this.appliedRevision = state.revision;
            // What a lost request during an update is matched against: when each node routed where.
            this.log.debug('mesh applied', {
              revision: state.revision,
              ms: Math.round(clock.monotonic() - started),
              backends: state.services
                .map((s) => `${s.id}:${s.backends.map((b) => b.taskId).join(',')}`)
                .join(' '),
            });
            failed = this.orphans.size > 0;
          } catch (e) {
            // A stop cut the apply short: the teardown below removes whatever it had made.
            if (signal.aborted) break;
            failed = true;
            this.log.error('mesh convergence failed; retrying', {
              error: errorMessage(e),
              retryMs: CONVERGE_RETRY_MS,
            });
            this.appliedRevision = -1;
          }
          this.converged.fire();
          if (this.latest !== state) continue;
        }
        // After a failure, retry on a timer too: a node must not stay stale until the next change
        // (a replica's replacement would never be routed to if nothing else changes).
        const retry = failed;
        failed = false;
        await new Promise<void>((resolve) => {
          const sub = this.wake.event(() => done());
          const onAbort = (): void => done();
          const cancelTimer = retry ? clock.setTimer(CONVERGE_RETRY_MS, () => done()) : undefined;
          signal.addEventListener('abort', onAbort, { once: true });
          function done(): void {
            sub.dispose();
            cancelTimer?.();
            signal.removeEventListener('abort', onAbort);
            resolve();
          }
        });
      }
    } finally {
      // Teardown wins: no apply runs from here on (the loop has exited, the retry timer is
      // cancelled, a late update is ignored), and it finds what is ours by name and label, not
      // only from the last applied plan (an apply cut short may have made what it never recorded).
      this.running = false;
      this.stopped = true;
      const { returnRoutes, networks } = this.applied;
      const vxlans = [...networks, ...this.orphans.values()].map((n) => n.vxlan);
      this.applied = { localAddr: undefined, networks: [], rules: undefined, returnRoutes: [] };
      this.orphans.clear();
      await teardownMesh(
        {
          run: this.deps.run,
          engine: this.deps.engine,
          clock: this.clock,
          log: this.log,
          engineCallTimeoutMs: this.engineCallTimeoutMs,
        },
        { all: this.deps.removeAllOnStop?.() ?? true, returnRoutes, vxlans },
      );
      for (const f of this.loosened.values()) await restoreHostReversePath(this.deps.run, f);
      this.loosened.clear();
      this.wake.dispose();
      this.deps.onStopped?.();
    }
  }

  private appliedWithdrawn = new Set<TaskId>();
  /** Host interfaces whose strict reverse-path filtering we made loose; put back at stop. */
  private readonly loosened = new Map<string, LoosenedFilter>();
  private withdrawnPending(state: MeshState): boolean {
    return [...this.withdrawn].some(
      (t) =>
        !this.appliedWithdrawn.has(t) && state.services.some((s) => s.backends.some((b) => b.taskId === t)),
    );
  }

  /** The leader's state minus the backends withdrawn locally (forgotten once the leader drops them). */
  private effective(state: MeshState): MeshState {
    const present = new Set(state.services.flatMap((s) => s.backends.map((b) => b.taskId)));
    for (const t of this.withdrawn) if (!present.has(t)) this.withdrawn.delete(t);
    this.appliedWithdrawn = new Set(this.withdrawn);
    if (this.withdrawn.size === 0) return state;
    return {
      ...state,
      services: state.services.map((s) => ({
        ...s,
        backends: s.backends.filter((b) => !this.withdrawn.has(b.taskId)),
      })),
    };
  }

  /** Applies `next` over the last applied plan; stops between steps once `signal` aborts. */
  private async converge(next: MeshPlan, signal: AbortSignal): Promise<void> {
    const prev = this.applied;
    const byId = new Map(prev.networks.map((n) => [n.id, n]));
    const wanted = new Set(next.networks.map((n) => n.id));
    const wantedNames = new Set(next.networks.map((n) => n.dockerName));
    // Rules first when they go away (nothing points at a network being removed), last otherwise.
    if (!next.rules) await this.applyRules(prev.rules, undefined);
    for (const [name, n] of this.orphans) {
      signal.throwIfAborted();
      if (wantedNames.has(name)) this.orphans.delete(name);
      else await this.removeNetwork(n);
    }
    // A network being removed is no longer offered to containers (`networkNames`).
    this.applied = { ...prev, networks: prev.networks.filter((n) => wanted.has(n.id)) };
    for (const n of prev.networks) {
      signal.throwIfAborted();
      if (!wanted.has(n.id)) await this.removeNetwork(n);
    }
    const applied: NetworkPlan[] = [];
    let rebuilt = false;
    for (const n of next.networks) {
      signal.throwIfAborted();
      const old = byId.get(n.id);
      if (old && sameNetwork(old, n) && next.localAddr === prev.localAddr) {
        await this.updatePeers(old, n);
        await this.updateVips(old.vips, n);
      } else {
        if (old) await this.removeNetwork(old);
        this.orphans.delete(n.dockerName);
        await this.addNetwork(n, next.localAddr ?? '', signal);
        rebuilt = true;
      }
      applied.push(n);
      this.applied = { ...this.applied, localAddr: next.localAddr, networks: [...applied] };
    }
    signal.throwIfAborted();
    await this.applyReturnRoutes(rebuilt ? [] : prev.returnRoutes, next.returnRoutes);
    this.applied = {
      localAddr: next.localAddr,
      networks: next.networks,
      rules: prev.rules,
      returnRoutes: next.returnRoutes,
    };
    signal.throwIfAborted();
    if (next.rules) await this.applyRules(prev.rules, next.rules);
    this.applied = next;
  }

  private async applyRules(prev: RulesPlan | undefined, next: RulesPlan | undefined): Promise<void> {
    if (!next) {
      if (!prev) return;
      await this.nft(deleteTableScript);
      await this.forwardRule(false);
      this.applied = { ...this.applied, rules: undefined };
      return;
    }
    const script = prev ? diffTableScript(prev, next) : fullTableScript(next);
    if (!script) return;
    if (!prev) await this.forwardRule(true);
    await this.nft(script);
    this.applied = { ...this.applied, rules: next };
  }

  private async addNetwork(n: NetworkPlan, underlay: string, signal: AbortSignal): Promise<void> {
    const existing = (await this.engine.listOurs()).find((e) => e.name === n.dockerName);
    if (
      existing &&
      (existing.subnet !== n.subnet || existing.gateway !== n.localAddr || existing.bridge !== n.bridge)
    ) {
      await this.engine.remove(n.dockerName);
    }
    if (
      !existing ||
      existing.subnet !== n.subnet ||
      existing.gateway !== n.localAddr ||
      existing.bridge !== n.bridge
    ) {
      await this.engine.create(n);
    }
    signal.throwIfAborted();
    await this.cmd(['ip', 'link', 'del', n.vxlan], true);
    await this.cmd([
      'ip',
      'link',
      'add',
      n.vxlan,
      'type',
      'vxlan',
      'id',
      String(n.vni),
      'dstport',
      String(VXLAN_PORT),
      'local',
      underlay,
      'nolearning',
    ]);
    await this.cmd(['ip', 'link', 'set', n.vxlan, 'mtu', String(OVERLAY_MTU), 'master', n.bridge, 'up']);
    // A fixed MAC: the other nodes recognise connections this node DNATed by it.
    await this.cmd(['ip', 'link', 'set', n.bridge, 'address', n.mac]);
    for (const p of n.peers) await this.cmd(fdb('append', n.vxlan, p));
    await this.updateVips([], n);
    this.log.info('overlay network up', {
      network: n.name,
      vni: n.vni,
      addr: n.localAddr,
      peers: n.peers.length,
    });
  }

  /** Service VIPs as /32 addresses of the bridge: the node answers ARP for them and DNATs them. */
  private async updateVips(prev: readonly string[], n: NetworkPlan): Promise<void> {
    for (const v of prev)
      if (!n.vips.includes(v)) await this.cmd(['ip', 'addr', 'del', `${v}/32`, 'dev', n.bridge], true);
    for (const v of n.vips)
      if (!prev.includes(v)) await this.cmd(['ip', 'addr', 'replace', `${v}/32`, 'dev', n.bridge]);
  }

  private async updatePeers(old: NetworkPlan, n: NetworkPlan): Promise<void> {
    const before = new Set(old.peers);
    const after = new Set(n.peers);
    for (const p of n.peers) if (!before.has(p)) await this.cmd(fdb('append', n.vxlan, p));
    for (const p of old.peers) if (!after.has(p)) await this.cmd(fdb('del', n.vxlan, p), true);
  }

  /** A network Docker refuses to remove now (an endpoint still active) is kept as an orphan and retried. */
  private async removeNetwork(n: NetworkPlan): Promise<void> {
    await this.cmd(['ip', 'link', 'del', n.vxlan], true);
    try {
      await this.engine.remove(n.dockerName);
      this.orphans.delete(n.dockerName);
    } catch (e) {
      if (!this.orphans.has(n.dockerName))
        this.log.warn('could not remove a Docker network of ours yet', {
          network: n.dockerName,
          error: errorMessage(e),
        });
      this.orphans.set(n.dockerName, n);
    }
  }

  private async cmd(argv: readonly string[], tolerate = false): Promise<void> {
    await runCommand(this.deps.run, argv, tolerate);
  }

  private nft(script: string): Promise<void> {
    return runNft(this.deps.run, script);
  }

  private forwardRule(present: boolean): Promise<void> {
    return setForwardRule(this.deps.run, present);
  }

  private applyReturnRoutes(prev: readonly ReturnRoute[], next: readonly ReturnRoute[]): Promise<void> {
    return diffReturnRoutes(this.deps.run, prev, next);
  }
}

function fdb(op: 'append' | 'del', dev: string, dst: string): string[] {
  return ['bridge', 'fdb', op, '00:00:00:00:00:00', 'dev', dev, 'dst', dst];
}

function sameNetwork(a: NetworkPlan, b: NetworkPlan): boolean {
  return (
    a.vni === b.vni && a.subnet === b.subnet && a.localAddr === b.localAddr && a.dockerName === b.dockerName
  );
}

import type { MeshState, NetworkId, NodeId, TaskId } from '../../api/index.js';
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
import type { NetworkEngine } from './docker-networks.js';
import { deleteTableScript, diffTableScript, fullTableScript } from './nft-script.js';
import {
  IPTABLES_COMMENT,
  isOurLink,
  MESH_CT_MARK,
  type MeshPlan,
  type NetworkPlan,
  OVERLAY_MTU,
  planMesh,
  RETURN_RULE_PREF,
  RETURN_TABLE_BASE,
  type ReturnRoute,
  type RulesPlan,
  VXLAN_PORT,
} from './plan.js';

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
  /** This node's address on the first of these overlays that is not the ingress: its containers' resolver. */
  resolverFor(ids: readonly NetworkId[]): string | undefined;
  /** Docker network names of these overlays on this node, once they exist (waits up to `timeoutMs`). */
  networkNames(
    ids: readonly NetworkId[],
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<Map<NetworkId, string>>;
}

// The FORWARD rule is an iptables one: an nft `accept` ends only its own base chain, and Docker's
// FORWARD (policy DROP once Docker runs) would still drop a new DNATed connection to the bridge.
const MARK = `0x${MESH_CT_MARK.toString(16)}`;
const FORWARD_RULE = [
  'FORWARD',
  '-m',
  'connmark',
  '--mark',
  `${MARK}/${MARK}`,
  '-m',
  'comment',
  '--comment',
  IPTABLES_COMMENT,
  '-j',
  'ACCEPT',
];

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
  private readonly log: Logger;
  private running = false;
  private keepSourceIp = false;

  constructor(private readonly deps: DataPlaneDeps) {
    this.log = deps.logger.child({ module: 'mesh' });
  }

  get plan(): MeshPlan {
    return this.applied;
  }

  /** Revision of the last state applied in full; -1 before the first or after a failure. */
  get revision(): number {
    return this.appliedRevision;
  }

  update(state: MeshState): void {
    if (this.latest && state.revision < this.latest.revision) return;
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

  async run(signal: AbortSignal): Promise<void> {
    this.running = true;
    try {
      // Replies of remote backends can return through the receiving node only if this node's
      // conntrack sees bridged traffic (br_netfilter); otherwise they are masqueraded.
      this.keepSourceIp =
        this.deps.keepSourceIp ??
        (await this.deps.run(['sysctl', '-n', 'net.bridge.bridge-nf-call-iptables'])).stdout.trim() === '1';
      await this.removeStale();
      const clock = this.deps.clock ?? systemClock;
      let failed = false;
      while (!signal.aborted) {
        const state = this.latest;
        if (state && (state.revision !== this.appliedRevision || this.withdrawnPending(state))) {
          try {
            await this.converge(
              planMesh(this.deps.nodeId, this.effective(state), { keepSourceIp: this.keepSourceIp }),
            );
            this.appliedRevision = state.revision;
          } catch (e) {
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
      this.running = false;
      await this.teardown(this.deps.removeAllOnStop?.() ?? true);
      this.wake.dispose();
      this.deps.onStopped?.();
    }
  }

  private appliedWithdrawn = new Set<TaskId>();
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

  private async converge(next: MeshPlan): Promise<void> {
    const prev = this.applied;
    const byId = new Map(prev.networks.map((n) => [n.id, n]));
    const wanted = new Set(next.networks.map((n) => n.id));
    // Rules first when they go away (nothing points at a network being removed), last otherwise.
    if (!next.rules) await this.applyRules(prev.rules, undefined);
    for (const n of prev.networks) if (!wanted.has(n.id)) await this.removeNetwork(n);
    const applied: NetworkPlan[] = [];
    let rebuilt = false;
    for (const n of next.networks) {
      const old = byId.get(n.id);
      if (old && sameNetwork(old, n) && next.localAddr === prev.localAddr) {
        await this.updatePeers(old, n);
        await this.updateVips(old.vips, n);
      } else {
        if (old) await this.removeNetwork(old);
        await this.addNetwork(n, next.localAddr ?? '');
        rebuilt = true;
      }
      applied.push(n);
      this.applied = { ...this.applied, localAddr: next.localAddr, networks: [...applied] };
    }
    await this.applyReturnRoutes(rebuilt ? [] : prev.returnRoutes, next.returnRoutes);
    this.applied = {
      localAddr: next.localAddr,
      networks: next.networks,
      rules: prev.rules,
      returnRoutes: next.returnRoutes,
    };
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

  private async addNetwork(n: NetworkPlan, underlay: string): Promise<void> {
    const existing = (await this.deps.engine.listOurs()).find((e) => e.name === n.dockerName);
    if (
      existing &&
      (existing.subnet !== n.subnet || existing.gateway !== n.localAddr || existing.bridge !== n.bridge)
    ) {
      await this.deps.engine.remove(n.dockerName);
    }
    if (
      !existing ||
      existing.subnet !== n.subnet ||
      existing.gateway !== n.localAddr ||
      existing.bridge !== n.bridge
    ) {
      await this.deps.engine.create(n);
    }
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

  private async applyReturnRoutes(prev: readonly ReturnRoute[], next: readonly ReturnRoute[]): Promise<void> {
    const key = (r: ReturnRoute): string => `${r.mark} ${r.via} ${r.dev}`;
    const before = new Set(prev.map(key));
    const after = new Set(next.map(key));
    for (const r of prev) if (!after.has(key(r))) await this.returnRoute(r, false);
    for (const r of next) if (!before.has(key(r))) await this.returnRoute(r, true);
  }

  private async returnRoute(r: ReturnRoute, present: boolean): Promise<void> {
    const table = String(RETURN_TABLE_BASE + r.mark);
    const rule = [
      'fwmark',
      `0x${r.mark.toString(16)}/0xffff`,
      'lookup',
      table,
      'pref',
      String(RETURN_RULE_PREF),
    ];
    await this.cmd(['ip', 'rule', 'del', ...rule], true);
    if (!present) {
      await this.cmd(['ip', 'route', 'flush', 'table', table], true);
      return;
    }
    await this.cmd(['ip', 'rule', 'add', ...rule]);
    await this.cmd(['ip', 'route', 'replace', 'default', 'via', r.via, 'dev', r.dev, 'table', table]);
  }

  private async updatePeers(old: NetworkPlan, n: NetworkPlan): Promise<void> {
    const before = new Set(old.peers);
    const after = new Set(n.peers);
    for (const p of n.peers) if (!before.has(p)) await this.cmd(fdb('append', n.vxlan, p));
    for (const p of old.peers) if (!after.has(p)) await this.cmd(fdb('del', n.vxlan, p), true);
  }

  private async removeNetwork(n: NetworkPlan): Promise<void> {
    await this.cmd(['ip', 'link', 'del', n.vxlan], true);
    await this.deps.engine.remove(n.dockerName).catch((e: unknown) =>
      this.log.warn('could not remove a Docker network of ours', {
        network: n.dockerName,
        error: errorMessage(e),
      }),
    );
  }

  /** A crashed or killed predecessor may have left rules and devices: start from a known state. */
  private async removeStale(): Promise<void> {
    await this.nft(deleteTableScript).catch(() => {});
    await this.forwardRule(false);
    for (let i = 0; i < 64; i++) {
      if ((await this.deps.run(['ip', 'rule', 'del', 'pref', String(RETURN_RULE_PREF)])).code !== 0) break;
    }
    const links = await this.deps.run(['ip', '-o', 'link', 'show', 'type', 'vxlan']);
    for (const name of parseLinkNames(links.stdout))
      if (isOurLink(name)) await this.cmd(['ip', 'link', 'del', name], true);
  }

  private async teardown(all: boolean): Promise<void> {
    try {
      if (this.applied.rules) await this.nft(deleteTableScript);
      await this.forwardRule(false);
      await this.applyReturnRoutes(this.applied.returnRoutes, []);
      if (all) {
        for (const n of this.applied.networks) await this.removeNetwork(n);
        for (const e of await this.deps.engine.listOurs())
          await this.deps.engine.remove(e.name).catch(() => {});
      } else {
        // A restart adopts running containers, which stay on their networks; the devices and
        // networks nothing uses any more go now (the next start recreates what it needs).
        for (const n of this.applied.networks) {
          await this.cmd(['ip', 'link', 'del', n.vxlan], true);
          await this.deps.engine.remove(n.dockerName, { onlyIfUnused: true }).catch(() => {});
        }
      }
      this.applied = {
        localAddr: undefined,
        networks: all ? [] : this.applied.networks,
        rules: undefined,
        returnRoutes: [],
      };
    } catch (e) {
      this.log.error('mesh teardown incomplete', { error: errorMessage(e) });
    }
  }

  private async forwardRule(present: boolean): Promise<void> {
    // Also in DOCKER-USER, which Docker keeps ahead of its isolation chains: a reply that leaves a
    // task by its default bridge (docker0) and returns through the overlay would be dropped there.
    for (const chain of ['FORWARD', 'DOCKER-USER']) {
      const rule = [chain, ...FORWARD_RULE.slice(1)];
      if (present) {
        if (chain !== 'FORWARD' && (await this.deps.run(['iptables', '-S', chain])).code !== 0) continue;
        const has = await this.deps.run(['iptables', '-C', ...rule]);
        if (has.code !== 0) await this.cmd(['iptables', '-I', chain, '1', ...rule.slice(1)]);
        continue;
      }
      // Every copy (a predecessor may have added one more).
      for (let i = 0; i < 8; i++) if ((await this.deps.run(['iptables', '-D', ...rule])).code !== 0) break;
    }
  }

  private async nft(script: string): Promise<void> {
    const r = await this.deps.run(['nft', '-f', '-'], script);
    if (r.code !== 0) throw new SwarmError('IO', `nft failed: ${r.stderr.trim()}\n${script}`);
  }

  private async cmd(argv: readonly string[], tolerate = false): Promise<void> {
    const r = await this.deps.run(argv);
    if (r.code !== 0 && !tolerate) throw new SwarmError('IO', `${argv.join(' ')}: ${r.stderr.trim()}`);
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

/** Names from `ip -o link show` lines: `7: swmv4096: <…>` (a vxlan on a bridge shows `name@dev`). */
export function parseLinkNames(out: string): string[] {
  const names: string[] = [];
  for (const line of out.split('\n')) {
    const m = /^\d+:\s+([^:@\s]+)/.exec(line);
    if (m?.[1]) names.push(m[1]);
  }
  return names;
}

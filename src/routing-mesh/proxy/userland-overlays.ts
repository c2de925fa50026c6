import type { MeshState, NetworkId, NodeId } from '../../api/index.js';
import {
  type Clock,
  Emitter,
  errorMessage,
  type Logger,
  nextEvent,
  SerialReconciler,
  withTimeout,
} from '../../common/index.js';
import type { CommandRunner } from '../data-plane/command-runner.js';
import type { NetworkEngine } from '../data-plane/docker-networks.js';
import { type NetworkPlan, planMesh } from '../data-plane/plan.js';
import { boundedEngine } from '../data-plane/teardown.js';

export interface UserlandOverlaysDeps {
  readonly nodeId: NodeId;
  readonly engine: NetworkEngine;
  readonly run: CommandRunner;
  readonly logger: Logger;
  readonly clock: Clock;
  /** Asked at stop: true (leaving) removes every network of ours, else only unused ones. */
  readonly removeAllOnStop: () => boolean;
  /**
   * Bound of each engine call at stop (resolved by `resolveEngineCallTimeout`), so a hung engine
   * cannot hang `leave`; calls while running are not bounded (a slow create is retried anyway).
   */
  readonly engineCallTimeoutMs: number;
}

/** A failed convergence is tried again after this long even if no new state arrives. */
const RETRY_MS = 1_000;

/**
 * User overlays without VXLAN: each node gets a Docker bridge network per overlay it takes part
 * in (the overlay's subnet, the node's own address as gateway, as the kernel data plane makes
 * it) but no link between nodes, so a container reaches only its own node's containers directly.
 * The bridge also holds each vip-mode service's VIP as a /32, where the userland proxy listens;
 * the proxy relays to tasks on other nodes through their node's published port.
 */
export class UserlandOverlays {
  private latest: MeshState | undefined;
  private wanted: NetworkPlan[] = [];
  private readonly ready = new Map<NetworkId, string>();
  private vipsUp: ReadonlySet<string> = new Set<string>();
  private readonly changed = new Emitter<void>();
  private readonly loop: SerialReconciler;

  constructor(private readonly deps: UserlandOverlaysDeps) {
    this.loop = new SerialReconciler({
      clock: deps.clock,
      logger: deps.logger,
      reconcile: () => this.converge(),
      retryMs: RETRY_MS,
      failureMessage: 'overlays not converged',
    });
  }

  /** Fires after each convergence (networks or VIPs may have changed). */
  readonly onDidConverge = this.changed.event;

  update(state: MeshState): Promise<void> {
    this.latest = state;
    return this.loop.schedule();
  }

  /** VIPs present on a bridge now (the proxy binds only these). */
  vips(): ReadonlySet<string> {
    return this.vipsUp;
  }

  /** Docker network names of these overlays once they exist here; throws on timeout. */
  async networkNames(
    ids: readonly NetworkId[],
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<Map<NetworkId, string>> {
    const all = (): boolean => ids.every((id) => this.ready.has(id));
    if (!all()) {
      await withTimeout(
        nextEvent(this.changed.event, all, signal),
        timeoutMs,
        `overlay network(s) ${ids.join(', ')} on this node`,
        this.deps.clock,
      );
    }
    return new Map(ids.map((id) => [id, this.ready.get(id) as string]));
  }

  /** This node's address on the first of these overlays: its containers' resolver. */
  resolverFor(ids: readonly NetworkId[]): string | undefined {
    return this.wanted.find((p) => ids.includes(p.id))?.localAddr;
  }

  run(signal: AbortSignal): Promise<void> {
    return this.loop.run(signal, async () => {
      await this.teardown();
      this.changed.dispose();
    });
  }

  /** One pass (serialised by the loop); true when it failed and must be retried. */
  private async converge(): Promise<boolean> {
    if (!this.latest) return false;
    try {
      this.wanted = planMesh(this.deps.nodeId, this.latest).networks.filter((n) => !n.ingress);
      const existing = await this.deps.engine.listOurs();
      for (const e of existing) {
        const w = this.wanted.find((p) => p.dockerName === e.name);
        if (w && w.subnet === e.subnet && w.localAddr === e.gateway) continue;
        // Gone from the state, or made with another subnet or gateway: attached containers lose it.
        await this.deps.engine.remove(e.name);
        for (const [id, name] of this.ready) if (name === e.name) this.ready.delete(id);
      }
      for (const p of this.wanted) {
        if (
          !existing.some((e) => e.name === p.dockerName && e.subnet === p.subnet && e.gateway === p.localAddr)
        ) {
          await this.deps.engine.create(p);
          this.deps.logger.info('overlay network created (local bridge only)', { network: p.name });
        }
        this.ready.set(p.id, p.dockerName);
      }
      for (const id of this.ready.keys()) if (!this.wanted.some((p) => p.id === id)) this.ready.delete(id);
      await this.convergeVips();
      return false;
    } catch (e) {
      this.deps.logger.warn('overlays not converged; retrying', { error: errorMessage(e) });
      return true;
    } finally {
      this.changed.fire();
    }
  }

  /** Each bridge holds exactly the VIPs of its network's vip-mode services (as /32). */
  private async convergeVips(): Promise<void> {
    // Swapped in whole at the end: the proxy reading it meanwhile must not see a VIP vanish.
    const up = new Set<string>();
    for (const p of this.wanted) {
      const shown = await this.deps.run(['ip', '-o', '-4', 'addr', 'show', 'dev', p.bridge]);
      const have = new Set(
        [...shown.stdout.matchAll(/inet (\d+\.\d+\.\d+\.\d+)\/32/g)].map((m) => m[1] as string),
      );
      for (const vip of p.vips) {
        if (!have.has(vip)) {
          const r = await this.deps.run(['ip', 'addr', 'add', `${vip}/32`, 'dev', p.bridge]);
          if (r.code !== 0) {
            this.deps.logger.warn('service VIP not added', { vip, bridge: p.bridge, error: r.stderr.trim() });
            continue;
          }
        }
        up.add(vip);
      }
      for (const vip of have) {
        if (!p.vips.includes(vip)) await this.deps.run(['ip', 'addr', 'del', `${vip}/32`, 'dev', p.bridge]);
      }
    }
    this.vipsUp = up;
  }

  /** Leaving: every network of ours; a plain stop: those no container uses (VIPs go with them). */
  private async teardown(): Promise<void> {
    const all = this.deps.removeAllOnStop();
    const engine = boundedEngine(this.deps.engine, this.deps.engineCallTimeoutMs, this.deps.clock);
    try {
      for (const e of await engine.listOurs()) {
        await engine.remove(e.name, { onlyIfUnused: !all }).catch((err: unknown) =>
          this.deps.logger.warn('overlay network not removed', {
            network: e.name,
            error: errorMessage(err),
          }),
        );
      }
    } catch (e) {
      this.deps.logger.warn('overlay networks not listed at stop', { error: errorMessage(e) });
    }
    this.ready.clear();
    this.vipsUp = new Set<string>();
  }
}

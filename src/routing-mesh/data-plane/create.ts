import type Docker from 'dockerode';
import type { MeshState, NetworkId, NodeId, Task, TaskId } from '../../api/index.js';
import type { Clock, Event, Logger, Random } from '../../common/index.js';
import { DnsServer } from '../dns/index.js';
import { dockerTaskAddress, UserlandDataPlane, UserlandOverlays } from '../proxy/index.js';
import { type CommandRunner, systemCommandRunner } from './command-runner.js';
import { KernelDataPlane, type MeshDataPlane } from './data-plane.js';
import { type DataPlaneKind, detectDataPlane } from './detect.js';
import { dockerNetworkEngine } from './docker-networks.js';
import { lockNetns } from './netns-lock.js';
import { resolveEngineCallTimeout } from './teardown.js';

export interface CreateDataPlaneOptions {
  readonly nodeId: NodeId;
  /** The node's engine (dockerode options), where the overlays' networks are created. */
  readonly docker: Docker.DockerOptions | undefined;
  readonly logger: Logger;
  readonly clock: Clock;
  readonly random: Random;
  /** Asked at stop: true (leaving the swarm) removes networks and devices, not only the rules. */
  readonly removeAllOnStop: () => boolean;
  /** Forces one kind (the daemon's `--data-plane`); by default the kernel one where it can run (root, nft, VXLAN). */
  readonly force?: DataPlaneKind;
  /** What forced it, for the status ("chosen by …"); `--data-plane <kind>` when not given. */
  readonly forcedBy?: string;
  readonly run?: CommandRunner;
  readonly isRoot?: boolean;
}

/** Picks the node's data plane at start: nftables + VXLAN when the kernel allows, else the userland proxy. */
export async function createDataPlane(
  o: CreateDataPlaneOptions,
): Promise<MeshDataPlane & { readonly covers?: string }> {
  const run = o.run ?? systemCommandRunner;
  const force = o.force;
  let detected =
    force === 'userland'
      ? { kind: 'userland' as const, reason: `chosen by ${o.forcedBy ?? '--data-plane userland'}` }
      : await detectDataPlane(run, o.isRoot ?? process.getuid?.() === 0);
  const release = detected.kind === 'nftables+vxlan' ? lockNetns() : undefined;
  // Nodes sharing a namespace share an engine too: their overlays' Docker networks would clash.
  const shared = detected.kind === 'nftables+vxlan' && !release;
  if (shared) {
    detected = {
      kind: 'userland',
      reason: 'another node runs the kernel data plane in this network namespace',
    };
  }
  const log = o.logger.child({ module: 'mesh' });
  if (detected.kind === 'nftables+vxlan') {
    const { default: Dockerode } = await import('dockerode');
    log.info('data plane: nftables+vxlan');
    const kernel = new KernelDataPlane({
      nodeId: o.nodeId,
      run,
      engine: dockerNetworkEngine(new Dockerode(o.docker)),
      logger: o.logger,
      clock: o.clock,
      removeAllOnStop: o.removeAllOnStop,
      ...(release && { onStopped: release }),
    });
    // Containers on overlays ask this node's resolver, on its address on each overlay.
    const dns = new DnsServer({ logger: o.logger, clock: o.clock, random: o.random }, { nodeId: o.nodeId });
    return new WithDns(kernel, dns);
  }
  log.warn('data plane: userland proxy', { reason: detected.reason, covers: shared ? 'no overlays' : 'all' });
  const { default: Dockerode } = await import('dockerode');
  const docker = new Dockerode(o.docker);
  const userland: MeshDataPlane & { readonly covers: string } = new UserlandDataPlane(
    {
      nodeId: o.nodeId,
      logger: o.logger,
      clock: o.clock,
      random: o.random,
      lookup: dockerTaskAddress(docker),
      ...(shared && { refuseNetworks: true }),
      ...(!shared && {
        overlays: new UserlandOverlays({
          nodeId: o.nodeId,
          engine: dockerNetworkEngine(docker),
          run,
          logger: log,
          clock: o.clock,
          removeAllOnStop: o.removeAllOnStop,
          engineCallTimeoutMs: resolveEngineCallTimeout(undefined),
        }),
        dns: new DnsServer({ logger: o.logger, clock: o.clock, random: o.random }, { nodeId: o.nodeId }),
      }),
    },
    detected.reason,
  );
  return userland;
}

/** The kernel data plane and the service resolver, fed the same states and withdrawals. */
class WithDns implements MeshDataPlane {
  readonly name = 'mesh-data-plane';
  readonly kind = 'nftables+vxlan' as const;

  constructor(
    private readonly kernel: KernelDataPlane,
    private readonly dns: DnsServer,
  ) {}

  update(state: MeshState): void {
    this.kernel.update(state);
    this.dns.updateState(state);
  }

  async withdraw(taskId: TaskId): Promise<void> {
    this.dns.withdraw(taskId);
    await this.kernel.withdraw(taskId);
  }

  get onDidApply(): Event<number> {
    return this.kernel.onDidApply;
  }

  networkNames(
    ids: readonly NetworkId[],
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<Map<NetworkId, string>> {
    return this.kernel.networkNames(ids, timeoutMs, signal);
  }

  resolverFor(ids: readonly NetworkId[]): string | undefined {
    return this.kernel.resolverFor(ids);
  }

  prepareContainer(pid: number, task: Task): Promise<void> {
    return this.kernel.prepareContainer(pid, task);
  }

  async run(signal: AbortSignal): Promise<void> {
    await Promise.all([this.kernel.run(signal), this.dns.run(signal)]);
  }
}

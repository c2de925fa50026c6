import type Docker from 'dockerode';
import type { MeshState, NetworkId, NodeId, TaskId } from '../../api/index.js';
import { type Clock, FailedPreconditionError, type Logger, type Random } from '../../common/index.js';
import { DnsServer } from '../dns/index.js';
import { createUserlandMesh, type UserlandMesh } from '../proxy/index.js';
import { type CommandRunner, systemCommandRunner } from './command-runner.js';
import { KernelDataPlane, type MeshDataPlane } from './data-plane.js';
import { type DataPlaneKind, detectDataPlane } from './detect.js';
import { dockerNetworkEngine } from './docker-networks.js';
import { lockNetns } from './netns-lock.js';

export interface CreateDataPlaneOptions {
  readonly nodeId: NodeId;
  /** The node's engine (dockerode options), where the overlays' networks are created. */
  readonly docker: Docker.DockerOptions | undefined;
  readonly logger: Logger;
  readonly clock: Clock;
  readonly random: Random;
  /** Asked at stop: true (leaving the swarm) removes networks and devices, not only the rules. */
  readonly removeAllOnStop: () => boolean;
  /** Forces one kind; by default the kernel one where it can run (root, nft, VXLAN). */
  readonly force?: DataPlaneKind;
  readonly run?: CommandRunner;
  readonly isRoot?: boolean;
}

/** Picks the node's data plane at start: nftables + VXLAN when the kernel allows, else the userland proxy. */
export async function createDataPlane(o: CreateDataPlaneOptions): Promise<MeshDataPlane> {
  const run = o.run ?? systemCommandRunner;
  const force = o.force ?? forcedByEnv();
  let detected =
    force === 'userland'
      ? { kind: 'userland' as const, reason: 'chosen by configuration' }
      : await detectDataPlane(run, o.isRoot ?? process.getuid?.() === 0);
  const release = detected.kind === 'nftables+vxlan' ? lockNetns() : undefined;
  if (detected.kind === 'nftables+vxlan' && !release) {
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
      removeAllOnStop: o.removeAllOnStop,
      ...(release && { onStopped: release }),
    });
    // Containers on overlays ask this node's resolver, on its address on each overlay.
    const dns = new DnsServer({ logger: o.logger, clock: o.clock, random: o.random }, { nodeId: o.nodeId });
    return new WithDns(kernel, dns);
  }
  log.warn('data plane: userland proxy (no overlay networks)', { reason: detected.reason });
  return new UserlandDataPlane(
    createUserlandMesh({ logger: o.logger, clock: o.clock, random: o.random }, { nodeId: o.nodeId }),
    detected.reason,
  );
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

  async run(signal: AbortSignal): Promise<void> {
    await Promise.all([this.kernel.run(signal), this.dns.run(signal)]);
  }
}

/** `SWARMCTL_DATA_PLANE=userland` forces the fallback (tests of it, or a kernel we should not touch). */
function forcedByEnv(): DataPlaneKind | undefined {
  const v = process.env.SWARMCTL_DATA_PLANE;
  return v === 'userland' || v === 'nftables+vxlan' ? v : undefined;
}

/** The userland proxy as a data plane: published ports only; overlays need the kernel. */
class UserlandDataPlane implements MeshDataPlane {
  readonly name = 'mesh-data-plane';
  readonly kind = 'userland' as const;

  constructor(
    private readonly mesh: UserlandMesh,
    readonly reason: string,
  ) {}

  update(state: MeshState): void {
    void this.mesh.update(state);
  }

  withdraw(taskId: TaskId): Promise<void> {
    return this.mesh.withdraw(taskId);
  }

  resolverFor(): string | undefined {
    return undefined;
  }

  async networkNames(ids: readonly NetworkId[]): Promise<Map<NetworkId, string>> {
    throw new FailedPreconditionError(
      `overlay network(s) ${ids.join(', ')} need the kernel data plane, which cannot run on this node (${this.reason})`,
    );
  }

  run(signal: AbortSignal): Promise<void> {
    return this.mesh.run(signal);
  }
}

import type Docker from 'dockerode';
import { DOCKER_LABEL_MESH, DOCKER_LABEL_NETWORK_ID, type NetworkPlan, OVERLAY_MTU } from './plan.js';

export interface EngineNetwork {
  readonly id: string;
  readonly name: string;
  readonly subnet: string | undefined;
  readonly gateway: string | undefined;
  readonly bridge: string | undefined;
}

/** The few engine calls the data plane makes (a fake in unit tests). */
export interface NetworkEngine {
  /** Our networks (labelled), wherever they came from. */
  listOurs(): Promise<EngineNetwork[]>;
  create(plan: NetworkPlan): Promise<void>;
  /**
   * Disconnects whatever is still attached (forcibly), then removes the network; with
   * `onlyIfUnused`, a network that still has containers is left alone.
   */
  remove(name: string, options?: { onlyIfUnused?: boolean }): Promise<void>;
}

/**
 * Docker's bridge driver gives the bridge the network's gateway address, and no option sets a
 * bridge address other than the gateway. So each node creates the overlay's network with the
 * same subnet and its own per-node address as gateway: the containers of a node route through
 * their own node, and the bridges of the nodes, joined by VXLAN, share one segment without an
 * address conflict. Letting Docker own the bridge keeps its IPAM (the manager's addresses are
 * passed per container), its FORWARD rules for the bridge, and `docker network connect`.
 */
export function dockerNetworkEngine(docker: Docker): NetworkEngine {
  return {
    async listOurs() {
      const list = await docker.listNetworks({ filters: JSON.stringify({ label: [DOCKER_LABEL_MESH] }) });
      return list.map((n) => {
        const cfg = n.IPAM?.Config?.[0];
        return {
          id: n.Id,
          name: n.Name,
          subnet: cfg?.Subnet,
          gateway: cfg?.Gateway,
          bridge: n.Options?.['com.docker.network.bridge.name'],
        };
      });
    },
    async create(plan) {
      await docker.createNetwork({
        Name: plan.dockerName,
        Driver: 'bridge',
        CheckDuplicate: true,
        IPAM: { Driver: 'default', Config: [{ Subnet: plan.subnet, Gateway: plan.localAddr }] },
        Options: {
          'com.docker.network.bridge.name': plan.bridge,
          'com.docker.network.driver.mtu': String(OVERLAY_MTU),
        },
        Labels: { [DOCKER_LABEL_MESH]: '1', [DOCKER_LABEL_NETWORK_ID]: plan.id },
      });
    },
    async remove(name, options) {
      const net = docker.getNetwork(name);
      const info = (await net.inspect()) as { Containers?: Record<string, { Name?: string }> };
      const attached = Object.entries(info.Containers ?? {});
      if (options?.onlyIfUnused && attached.length > 0) return;
      for (const [id, endpoint] of attached) {
        // An endpoint whose container is gone (keyed `ep-…`) is force-deleted by its name.
        await net
          .disconnect({ Container: id, Force: true })
          .catch(() =>
            endpoint.Name ? net.disconnect({ Container: endpoint.Name, Force: true }) : undefined,
          )
          .catch(() => {});
      }
      await net.remove();
    },
  };
}

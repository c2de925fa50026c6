import type Docker from 'dockerode';
import type { NetworkId, Task } from '../../../api/index.js';
import { errorMessage } from '../../../common/index.js';
import { callEngine } from './docker-errors.js';

/** The data plane's side: the Docker network of each overlay, once it exists on this node. */
export interface OverlayNetworks {
  networkNames(
    ids: readonly NetworkId[],
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<Map<NetworkId, string>>;
  /** The node's resolver for containers on these overlays (its address on a non-ingress one). */
  resolverFor(ids: readonly NetworkId[]): string | undefined;
  /** Readies a started container's namespace (process `pid`) before it is reported running. */
  prepareContainer?(pid: number, task: Task): Promise<void>;
}

/** How long a task waits for its overlays to be set up here before it is rejected. */
export const OVERLAY_WAIT_MS = 15_000;

/**
 * Connects a created container to the Docker network of each overlay the task is attached to,
 * with the address the manager allocated: undefined when done, else why not (the task is then
 * rejected). Networks the container already has are skipped, so the step can be repeated.
 */
export async function attachNetworks(
  docker: Docker,
  networks: OverlayNetworks | undefined,
  task: Task,
  container: Docker.ContainerInspectInfo,
  signal?: AbortSignal,
): Promise<string | undefined> {
  const wanted = task.networks ?? [];
  if (wanted.length === 0) return undefined;
  if (!networks) return 'this node runs no overlay data plane';
  let names: Map<NetworkId, string>;
  try {
    names = await networks.networkNames(
      wanted.map((n) => n.networkId),
      OVERLAY_WAIT_MS,
      signal,
    );
  } catch (e) {
    signal?.throwIfAborted();
    return errorMessage(e);
  }
  const present = new Set(Object.keys(container.NetworkSettings?.Networks ?? {}));
  for (const a of wanted) {
    const name = names.get(a.networkId);
    if (!name || present.has(name)) continue;
    const ip = a.addresses[0]?.split('/')[0];
    const r = await callEngine('connect network', () =>
      docker.getNetwork(name).connect({
        Container: container.Id,
        EndpointConfig: {
          ...(ip && { IPAMConfig: { IPv4Address: ip } }),
          Aliases: [...(a.aliases ?? [])],
        },
      }),
    );
    if (!r.ok) return `could not attach to network ${name}: ${r.reply.message}`;
  }
  return undefined;
}

/**
 * Waits for the task's overlays on this node and returns the resolver its container gets (the
 * node's DNS server on a non-ingress overlay), or why the overlays are not there.
 */
export async function overlayResolver(
  networks: OverlayNetworks | undefined,
  task: Task,
  signal?: AbortSignal,
): Promise<{ ok: true; dns: string | undefined } | { ok: false; reason: string }> {
  const ids = (task.networks ?? []).map((n) => n.networkId);
  if (ids.length === 0) return { ok: true, dns: undefined };
  if (!networks) return { ok: false, reason: 'this node runs no overlay data plane' };
  try {
    await networks.networkNames(ids, OVERLAY_WAIT_MS, signal);
  } catch (e) {
    signal?.throwIfAborted();
    return { ok: false, reason: errorMessage(e) };
  }
  return { ok: true, dns: networks.resolverFor(ids) };
}

import type { Task } from '../../../api/index.js';
import { DEFAULT_STOP_GRACE_PERIOD_MS } from '../../../api/index.js';
import { type Clock, errorMessage, type Logger } from '../../../common/index.js';
import { type ConntrackPurger, type ConntrackReader, drainConnections } from '../../../routing-mesh/index.js';

/** The executor's drain settings (resolved with its other options: `resolveDrainLimit`). */
export interface MeshDrain {
  /** 0: no drain. */
  readonly limitMs: number;
  readonly read: ConntrackReader;
  /** Deletes the entries towards the task once drained, so that the engine's own purge finds none. */
  readonly purge?: ConntrackPurger;
}

/**
 * The overlay addresses of a task that was a mesh backend (an ingress-published port or a VIP):
 * the connections towards them are drained before its stop signal. Empty for any other task.
 */
export function meshBackendAddresses(task: Task): string[] {
  const ep = task.endpoint;
  const backend =
    ep !== undefined &&
    (ep.ports.some((p) => p.publishMode === 'ingress') ||
      (ep.spec.mode === 'vip' && ep.virtualIps.length > 0));
  if (!backend) return [];
  return (task.networks ?? []).flatMap((n) => n.addresses.map((a) => a.split('/')[0] ?? a));
}

/**
 * Lets requests already routed to the task finish (it has left every node's rotation by now),
 * for at most the drain limit and never longer than the task's stop grace; then deletes this
 * node's conntrack entries towards it (see ConntrackPurger: Docker's own purge at the stop would
 * otherwise kill a new connection that reuses a client port). A failed purge is logged, never
 * fatal: the stop goes on.
 */
export async function drainBeforeStop(
  task: Task,
  drain: MeshDrain | undefined,
  deps: { readonly clock: Clock; readonly logger: Logger },
  signal?: AbortSignal,
): Promise<void> {
  if (!drain) return;
  const addresses = meshBackendAddresses(task);
  if (addresses.length === 0) return;
  const grace = task.spec.container.stopGracePeriodMs ?? DEFAULT_STOP_GRACE_PERIOD_MS;
  const logger = deps.logger.child({ task: task.id });
  // A zero limit turns the wait off, not the purge: that protects other clients' connections.
  await drainConnections(
    addresses,
    Math.min(drain.limitMs, grace),
    { clock: deps.clock, read: drain.read, logger },
    signal,
  );
  if (!drain.purge || signal?.aborted) return;
  try {
    const r = await drain.purge(addresses);
    if (r.available)
      logger.debug('conntrack entries purged', { addresses: addresses.join(','), deleted: r.deleted });
    else if (!warnedUnavailable) {
      warnedUnavailable = true;
      logger.warn(
        'neither python3 nor conntrack (conntrack-tools) is installed: a stopping mesh backend is left to the engine, whose own conntrack purge can reset a client that reuses a port',
      );
    }
  } catch (e) {
    logger.warn('could not purge conntrack entries of a stopping mesh backend', { error: errorMessage(e) });
  }
}

/** The missing tool is said once per process, not at every stop. */
let warnedUnavailable = false;

import type { Task } from '../../../api/index.js';
import { DEFAULT_STOP_GRACE_PERIOD_MS } from '../../../api/index.js';
import type { Clock, Logger } from '../../../common/index.js';
import { type ConntrackReader, drainConnections } from '../../../routing-mesh/index.js';

/** The executor's drain settings (resolved with its other options: `resolveDrainLimit`). */
export interface MeshDrain {
  /** 0: no drain. */
  readonly limitMs: number;
  readonly read: ConntrackReader;
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
 * for at most the drain limit and never longer than the task's stop grace.
 */
export async function drainBeforeStop(
  task: Task,
  drain: MeshDrain | undefined,
  deps: { readonly clock: Clock; readonly logger: Logger },
  signal?: AbortSignal,
): Promise<void> {
  if (!drain || drain.limitMs === 0) return;
  const addresses = meshBackendAddresses(task);
  if (addresses.length === 0) return;
  const grace = task.spec.container.stopGracePeriodMs ?? DEFAULT_STOP_GRACE_PERIOD_MS;
  await drainConnections(
    addresses,
    Math.min(drain.limitMs, grace),
    { clock: deps.clock, read: drain.read, logger: deps.logger.child({ task: task.id }) },
    signal,
  );
}

import type { PortConfig, Service, ServiceSpec } from '../../api/index.js';
import { FailedPreconditionError, InvalidArgumentError } from '../../common/index.js';

/** Where ports published without a number are picked from (docker's dynamic range). */
export const DYNAMIC_PORT_FIRST = 30000;
export const DYNAMIC_PORT_LAST = 32767;

const keyOf = (p: PortConfig, port = p.publishedPort): string => `${p.protocol}/${port}`;

/** Ingress ports a service holds: its resolved ones, else the explicit ones of its spec. */
export function heldIngressPorts(s: Service): PortConfig[] {
  const ports = s.status.endpoint?.ports ?? s.spec.endpointSpec?.ports ?? [];
  return ports.filter((p) => p.publishMode === 'ingress' && p.publishedPort !== 0);
}

/**
 * The spec's ports with every ingress port resolved: an explicit one must be free in the cluster
 * (held by no other service), a missing one keeps what the service had for the same target and
 * protocol, or takes the lowest free port of 30000–32767. Host-mode ports pass through: they
 * are per node and the engine publishes them. Pure: the control API calls it in the
 * transaction that writes the service, so a conflict refuses the whole request.
 */
export function resolvePorts(
  spec: ServiceSpec,
  self: Service | undefined,
  others: readonly Service[],
): PortConfig[] {
  const owner = new Map<string, Service>();
  for (const s of others) {
    if (s.id === self?.id) continue;
    for (const p of heldIngressPorts(s)) owner.set(keyOf(p), s);
  }
  const ports = spec.endpointSpec?.ports ?? [];
  const previous = self?.status.endpoint?.ports ?? [];
  const out: PortConfig[] = [];
  const mine = new Set<string>();
  for (const p of ports) {
    if (p.publishMode !== 'ingress' || p.publishedPort === 0) continue;
    const holder = owner.get(keyOf(p));
    if (holder) {
      throw new InvalidArgumentError(
        'publish',
        `port '${p.publishedPort}' is already in use by service '${holder.spec.name}' (${holder.id}) as an ingress port`,
      );
    }
    mine.add(keyOf(p));
  }
  for (const p of ports) {
    if (p.publishMode !== 'ingress' || p.publishedPort !== 0) {
      out.push(p);
      continue;
    }
    const kept = previous.find(
      (q) =>
        q.publishMode === 'ingress' &&
        q.targetPort === p.targetPort &&
        q.protocol === p.protocol &&
        !owner.has(keyOf(q)) &&
        !mine.has(keyOf(q)),
    );
    let port = kept?.publishedPort;
    for (let c = DYNAMIC_PORT_FIRST; port === undefined && c <= DYNAMIC_PORT_LAST; c++) {
      if (!owner.has(keyOf(p, c)) && !mine.has(keyOf(p, c))) port = c;
    }
    if (port === undefined)
      throw new FailedPreconditionError(`no free port left in ${DYNAMIC_PORT_FIRST}-${DYNAMIC_PORT_LAST}`);
    mine.add(keyOf(p, port));
    out.push({ ...p, publishedPort: port });
  }
  return out;
}

export function publishesIngress(spec: ServiceSpec): boolean {
  return (spec.endpointSpec?.ports ?? []).some((p) => p.publishMode === 'ingress');
}

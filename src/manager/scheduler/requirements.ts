import type { PortConfig, Service, ServiceId, Task } from '../../api/index.js';
import { type Constraint, parseConstraints } from '../orchestrator/index.js';
import type { Resources } from './node-info.js';

/**
 * What the filters need to know about a task, worked out once per service spec (a task's spec is
 * a copy of its service's template, so tasks with the same service and spec version share it).
 */
export interface TaskRequirements {
  readonly serviceId: ServiceId;
  /** Undefined when the spec's constraints cannot be parsed: no node satisfies them. */
  readonly constraints: readonly Constraint[] | undefined;
  readonly reservations: Readonly<Resources>;
  /** `tcp/8080`-style keys of host-mode published ports. */
  readonly hostPorts: readonly string[];
  /** 0 means unlimited. */
  readonly maxReplicas: number;
}

export function requirementsOf(task: Task, service: Service | undefined): TaskRequirements {
  const placement = task.spec.placement;
  let constraints: readonly Constraint[] | undefined;
  try {
    constraints = parseConstraints(placement?.constraints ?? []);
  } catch {
    constraints = undefined;
  }
  const r = task.spec.resources?.reservations;
  return {
    serviceId: task.serviceId,
    constraints,
    reservations: { nanoCPUs: r?.nanoCPUs ?? 0, memoryBytes: r?.memoryBytes ?? 0 },
    hostPorts: taskHostPorts(task, service),
    maxReplicas: placement?.maxReplicasPerNode ?? 0,
  };
}

/**
 * Host-mode ports a task publishes on its node: from its endpoint when one was copied onto it,
 * else from its service's endpoint spec. Published port 0 lets the engine pick, so it never
 * conflicts.
 */
export function taskHostPorts(task: Task, service: Service | undefined): string[] {
  const ports: readonly PortConfig[] =
    task.endpoint?.ports ??
    task.endpoint?.spec.ports ??
    service?.status.endpoint?.ports ??
    service?.spec.endpointSpec?.ports ??
    [];
  const keys: string[] = [];
  for (const p of ports) {
    if (p.publishMode !== 'host' || p.publishedPort === 0) continue;
    const key = `${p.protocol}/${p.publishedPort}`;
    if (!keys.includes(key)) keys.push(key);
  }
  return keys;
}

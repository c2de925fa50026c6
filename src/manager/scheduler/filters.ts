import { nodeAcceptsNewTasks, nodeMatchesConstraints } from '../orchestrator/index.js';
import type { NodeInfo } from './node-info.js';
import type { TaskRequirements } from './requirements.js';

export type FilterName = 'ready' | 'resources' | 'constraints' | 'host-ports' | 'max-replicas';

/**
 * One scheduling rule. `applies` says whether the rule concerns the task at all (a task with no
 * reservations skips the resource check); `check` tells whether a node passes; `explain` words
 * the failure for `nodes` nodes, docker's way, for the task's "no suitable node (…)" message.
 */
export interface Filter {
  readonly name: FilterName;
  applies(req: TaskRequirements): boolean;
  check(req: TaskRequirements, node: NodeInfo): boolean;
  explain(nodes: number): string;
}

function onNodes(what: string, nodes: number): string {
  return `${what} on ${nodes} node${nodes === 1 ? '' : 's'}`;
}

/** The node is up (status ready) and takes new tasks (availability active, not pause or drain). */
export const readyFilter: Filter = {
  name: 'ready',
  applies: () => true,
  check: (_req, n) => nodeAcceptsNewTasks(n.node),
  explain: (nodes) => `${nodes} node${nodes === 1 ? '' : 's'} not available for new tasks`,
};

/** The task's CPU and memory reservations fit in what the node has left. */
export const resourceFilter: Filter = {
  name: 'resources',
  applies: (req) => req.reservations.nanoCPUs > 0 || req.reservations.memoryBytes > 0,
  check(req, n) {
    const free = n.available();
    return req.reservations.nanoCPUs <= free.nanoCPUs && req.reservations.memoryBytes <= free.memoryBytes;
  },
  explain: (nodes) => onNodes('insufficient resources', nodes),
};

/** `--constraint` expressions, all of them. Unparseable constraints match no node. */
export const constraintFilter: Filter = {
  name: 'constraints',
  applies: (req) => req.constraints === undefined || req.constraints.length > 0,
  check: (req, n) => req.constraints !== undefined && nodeMatchesConstraints(req.constraints, n.node),
  explain: (nodes) => onNodes('scheduling constraints not satisfied', nodes),
};

/** Two tasks publishing the same host-mode port cannot share a node. */
export const hostPortFilter: Filter = {
  name: 'host-ports',
  applies: (req) => req.hostPorts.length > 0,
  check: (req, n) => req.hostPorts.every((key) => !n.isHostPortUsed(key)),
  explain: (nodes) => onNodes('host-mode port already in use', nodes),
};

/** `--replicas-max-per-node`. */
export const maxReplicasFilter: Filter = {
  name: 'max-replicas',
  applies: (req) => req.maxReplicas > 0,
  check: (req, n) => n.activeTasksOf(req.serviceId) < req.maxReplicas,
  explain: (nodes) => onNodes('max replicas per node limit exceeded', nodes),
};

/** swarmkit's order: cheap, common reasons first, so each node is blamed on its likeliest cause. */
export const DEFAULT_FILTERS: readonly Filter[] = [
  readyFilter,
  resourceFilter,
  constraintFilter,
  hostPortFilter,
  maxReplicasFilter,
];

import { describe, expect, it } from 'vitest';
import type { NodeId, ServiceId, Task, TaskId } from '../../api/index.js';
import { parseConstraints } from '../orchestrator/index.js';
import {
  constraintFilter,
  DEFAULT_FILTERS,
  type Filter,
  hostPortFilter,
  maxReplicasFilter,
  readyFilter,
  resourceFilter,
} from './filters.js';
import type { NodeInfo } from './node-info.js';
import { Pipeline } from './pipeline.js';
import { requirementsOf, type TaskRequirements } from './requirements.js';
import {
  idSource,
  type NodeOptions,
  nodeInfo,
  type ServiceOptions,
  serviceInput,
  stored,
  taskInput,
} from './test-fixtures.js';

const ids = idSource(7);
const NODE = ids<NodeId>();
const SERVICE = ids<ServiceId>();
const OTHER_SERVICE = ids<ServiceId>();
const GiB = 2 ** 30;

function req(o: Partial<TaskRequirements> = {}): TaskRequirements {
  return {
    serviceId: SERVICE,
    constraints: [],
    reservations: { nanoCPUs: 0, memoryBytes: 0 },
    hostPorts: [],
    maxReplicas: 0,
    ...o,
  };
}

function task(o: ServiceOptions = {}): Task {
  return stored(taskInput(ids<TaskId>(), stored(serviceInput(SERVICE, 'web', o)), 1));
}

/** A node with `tasks` running tasks of `serviceId`, each reserving `each` and publishing `ports`. */
function busyNode(
  o: NodeOptions & {
    tasks?: number;
    serviceId?: ServiceId;
    each?: { nanoCPUs?: number; memoryBytes?: number };
    ports?: string[];
  } = {},
): NodeInfo {
  const n = nodeInfo(NODE, o);
  const service = stored(serviceInput(o.serviceId ?? SERVICE, 'web', { reservations: o.each }));
  for (let i = 0; i < (o.tasks ?? 0); i++) {
    const t = stored(taskInput(ids<TaskId>(), service, i + 1, { nodeId: NODE, state: 'running' })) as Task;
    n.addTask(t, o.ports ?? []);
  }
  return n;
}

describe('scheduler filters', () => {
  it.each<[string, NodeOptions, boolean]>([
    ['ready and active', {}, true],
    ['down', { state: 'down' }, false],
    ['unknown', { state: 'unknown' }, false],
    ['disconnected', { state: 'disconnected' }, false],
    ['paused', { availability: 'pause' }, false],
    ['drained', { availability: 'drain' }, false],
  ])('ready filter: a node that is %s passes: %s', (_what, o, passes) => {
    expect(readyFilter.check(req(), nodeInfo(NODE, o))).toBe(passes);
  });

  it.each<[string, TaskRequirements['reservations'], Parameters<typeof busyNode>[0], boolean]>([
    [
      'fits an empty node',
      { nanoCPUs: 1e9, memoryBytes: GiB },
      { nanoCPUs: 2e9, memoryBytes: 2 * GiB },
      true,
    ],
    ['fits exactly', { nanoCPUs: 2e9, memoryBytes: 2 * GiB }, { nanoCPUs: 2e9, memoryBytes: 2 * GiB }, true],
    ['too much memory', { memoryBytes: 3 * GiB, nanoCPUs: 0 }, { memoryBytes: 2 * GiB }, false],
    ['too much CPU', { nanoCPUs: 3e9, memoryBytes: 0 }, { nanoCPUs: 2e9 }, false],
    [
      'memory taken by tasks already there',
      { nanoCPUs: 0, memoryBytes: GiB },
      { memoryBytes: 2 * GiB, tasks: 2, each: { memoryBytes: GiB } },
      false,
    ],
    [
      'what is left after tasks already there',
      { nanoCPUs: 1e9, memoryBytes: 0 },
      { nanoCPUs: 2e9, tasks: 1, each: { nanoCPUs: 1e9 } },
      true,
    ],
  ])('resource filter: %s', (_what, reservations, node, passes) => {
    const r = req({ reservations });
    expect(resourceFilter.applies(r)).toBe(true);
    expect(resourceFilter.check(r, busyNode(node))).toBe(passes);
  });

  it('resource filter does not apply to a task without reservations', () => {
    expect(resourceFilter.applies(req())).toBe(false);
  });

  const labelled: NodeOptions = {
    hostname: 'Worker-1',
    role: 'worker',
    labels: { zone: 'eu-1', ssd: 'true' },
    engineLabels: { os: 'ubuntu' },
  };
  it.each<[string, boolean]>([
    [`node.id==${NODE}`, true],
    [`node.id!=${NODE}`, false],
    ['node.id==aaaaaaaaaaaaaaaaaaaaaaaaa', false],
    ['node.hostname==worker-1', true],
    ['node.hostname!=worker-1', false],
    ['node.hostname==worker-2', false],
    ['node.role==worker', true],
    ['node.role==manager', false],
    ['node.role!=manager', true],
    ['node.labels.zone==eu-1', true],
    ['node.labels.zone == EU-1', true],
    ['node.labels.zone==eu-2', false],
    ['node.labels.zone!=eu-2', true],
    ['node.labels.missing==x', false],
    ['node.labels.missing!=x', true],
    ['node.labels.ZONE==eu-1', false],
    ['engine.labels.os==ubuntu', true],
    ['engine.labels.os!=ubuntu', false],
    ['engine.labels.zone==eu-1', false],
    ['node.platform.os==linux', true],
    ['node.platform.arch!=x86_64', false],
  ])('constraint filter: %s matches: %s', (expr, passes) => {
    const r = req({ constraints: parseConstraints([expr]) });
    expect(constraintFilter.check(r, nodeInfo(NODE, labelled))).toBe(passes);
  });

  it('constraint filter ANDs constraints', () => {
    const node = nodeInfo(NODE, labelled);
    const both = req({ constraints: parseConstraints(['node.role==worker', 'node.labels.ssd==true']) });
    const one = req({ constraints: parseConstraints(['node.role==worker', 'node.labels.ssd==false']) });
    expect(constraintFilter.check(both, node)).toBe(true);
    expect(constraintFilter.check(one, node)).toBe(false);
  });

  it('constraint filter refuses every node for constraints it cannot parse', () => {
    const r = req({ constraints: undefined });
    expect(constraintFilter.applies(r)).toBe(true);
    expect(constraintFilter.check(r, nodeInfo(NODE))).toBe(false);
  });

  it.each(['node.role=worker', 'node.color==red', 'node.labels.==x'])(
    'leaves tasks whose constraint %s cannot be parsed with no node',
    (expr) => {
      const r = requirementsOf(task({ placement: { constraints: [expr] } }), undefined);
      expect(r.constraints).toBeUndefined();
      expect(constraintFilter.check(r, nodeInfo(NODE))).toBe(false);
    },
  );

  it('takes host-mode ports from the task endpoint, else the service, skipping engine-picked ones', () => {
    const ports = [
      { protocol: 'tcp', targetPort: 80, publishedPort: 8080, publishMode: 'host' },
      { protocol: 'udp', targetPort: 53, publishedPort: 5353, publishMode: 'host' },
      { protocol: 'tcp', targetPort: 81, publishedPort: 0, publishMode: 'host' },
      { protocol: 'tcp', targetPort: 82, publishedPort: 9000, publishMode: 'ingress' },
    ] as const;
    const service = stored(serviceInput(SERVICE, 'web', { ports: [...ports] }));
    const t = task();
    expect(requirementsOf(t, undefined).hostPorts).toEqual([]);
    expect(requirementsOf(t, service).hostPorts).toEqual(['tcp/8080', 'udp/5353']);
    const own: Task = {
      ...t,
      endpoint: { spec: { mode: 'vip' }, ports: [{ ...ports[0], publishedPort: 7000 }], virtualIps: [] },
    };
    expect(requirementsOf(own, service).hostPorts).toEqual(['tcp/7000']);
  });

  it.each<[string, string[], string[], boolean]>([
    ['a free port', ['tcp/8080'], ['tcp/9090'], true],
    ['a port in use', ['tcp/8080'], ['tcp/8080'], false],
    ['the same number over another protocol', ['udp/8080'], ['tcp/8080'], true],
    ['one of several in use', ['tcp/80', 'tcp/443'], ['tcp/443'], false],
  ])('host port filter: %s passes: %s', (_what, wanted, used, passes) => {
    const r = req({ hostPorts: wanted });
    expect(hostPortFilter.check(r, busyNode({ tasks: 1, ports: used }))).toBe(passes);
  });

  it.each<[string, number, number, ServiceId, boolean]>([
    ['under the limit', 2, 1, SERVICE, true],
    ['at the limit', 2, 2, SERVICE, false],
    ['other services do not count', 1, 3, OTHER_SERVICE, true],
  ])('max replicas filter: %s', (_what, max, tasks, serviceId, passes) => {
    const r = req({ maxReplicas: max });
    expect(maxReplicasFilter.check(r, busyNode({ tasks, serviceId }))).toBe(passes);
  });

  it.each<[string, Filter, number, string]>([
    ['ready', readyFilter, 1, '1 node not available for new tasks'],
    ['ready', readyFilter, 3, '3 nodes not available for new tasks'],
    ['resources', resourceFilter, 1, 'insufficient resources on 1 node'],
    ['resources', resourceFilter, 2, 'insufficient resources on 2 nodes'],
    ['constraints', constraintFilter, 2, 'scheduling constraints not satisfied on 2 nodes'],
    ['host ports', hostPortFilter, 1, 'host-mode port already in use on 1 node'],
    ['max replicas', maxReplicasFilter, 4, 'max replicas per node limit exceeded on 4 nodes'],
  ])('%s filter explains %i nodes as "%s"', (_name, filter, nodes, text) => {
    expect(filter.explain(nodes)).toBe(text);
  });

  it('pipeline blames each node on its first failing filter and lists the worst first', () => {
    const check = new Pipeline(DEFAULT_FILTERS).forTask(
      req({
        constraints: parseConstraints(['node.labels.zone==a']),
        reservations: { nanoCPUs: 0, memoryBytes: GiB },
      }),
    );
    const nodes = [
      nodeInfo(ids<NodeId>(), { labels: { zone: 'b' } }),
      nodeInfo(ids<NodeId>(), { labels: { zone: 'c' } }),
      nodeInfo(ids<NodeId>(), { labels: { zone: 'a' }, memoryBytes: GiB / 2 }),
      // Down and too small: counted once, as not available (ready runs first).
      nodeInfo(ids<NodeId>(), { labels: { zone: 'b' }, memoryBytes: GiB / 2, state: 'down' }),
    ];
    expect(check.explain(nodes)).toBe(
      // Ties keep pipeline order: ready before resources.
      'scheduling constraints not satisfied on 2 nodes; 1 node not available for new tasks; insufficient resources on 1 node',
    );
    expect(check.explain([nodeInfo(ids<NodeId>(), { labels: { zone: 'a' } })])).toBe('');
  });
});

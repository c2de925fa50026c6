import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../common/index.js';
import { DEFAULT_CLUSTER_SPEC, DEFAULT_RESTART_POLICY, DEFAULT_UPDATE_CONFIG } from '../defaults.js';
import type { ClusterSpec } from '../objects/cluster.js';
import type { NetworkSpec } from '../objects/network.js';
import type { NodeSpec } from '../objects/node.js';
import type { ServiceSpec } from '../objects/service.js';
import { validateClusterSpec } from './cluster.js';
import { validateNetworkSpec } from './network.js';
import { validateNodeSpec } from './node.js';
import { validateConfigSpec, validateSecretSpec } from './payload.js';
import { validateServiceSpec } from './service.js';

const base: ServiceSpec = {
  name: 'web',
  labels: { team: 'a' },
  mode: { type: 'replicated', replicas: 3 },
  taskTemplate: {
    container: {
      image: 'busybox:1.36',
      command: ['httpd'],
      args: ['-f'],
      env: ['A=1', 'B'],
      mounts: [
        { type: 'bind', source: '/srv', target: '/data', readOnly: true },
        { type: 'volume', source: 'v1', target: '/v' },
        { type: 'tmpfs', target: '/tmp', tmpfsOptions: { sizeBytes: 1024 } },
      ],
      workdir: '/app',
      stopGracePeriodMs: 10_000,
      healthcheck: { test: ['CMD-SHELL', 'true'], intervalMs: 1000, retries: 3 },
    },
    resources: { reservations: { nanoCPUs: 500_000_000, memoryBytes: 64 << 20 } },
    restartPolicy: DEFAULT_RESTART_POLICY,
    placement: {
      constraints: ['node.role==worker', 'node.labels.zone != a', 'engine.labels.os==linux'],
      preferences: [{ spread: 'node.labels.zone' }],
      maxReplicasPerNode: 2,
    },
  },
  updateConfig: { ...DEFAULT_UPDATE_CONFIG, canary: 1 },
  rollbackConfig: DEFAULT_UPDATE_CONFIG,
  endpointSpec: {
    mode: 'vip',
    ports: [{ protocol: 'tcp', targetPort: 80, publishedPort: 8080, publishMode: 'host' }],
  },
};

type Patch = (s: ServiceSpec) => unknown;
const container = (s: ServiceSpec, c: object): unknown => ({
  ...s,
  taskTemplate: { ...s.taskTemplate, container: { ...s.taskTemplate.container, ...c } },
});
const template = (s: ServiceSpec, t: object): unknown => ({
  ...s,
  taskTemplate: { ...s.taskTemplate, ...t },
});

function thrown(fn: () => void): InvalidArgumentError {
  try {
    fn();
  } catch (e) {
    if (e instanceof InvalidArgumentError) return e;
    throw e;
  }
  throw new Error('expected an InvalidArgumentError');
}

describe('validateServiceSpec', () => {
  it('accepts a full spec', () => {
    expect(() => validateServiceSpec(base)).not.toThrow();
  });

  it.each<[string, Patch, string, string]>([
    ['empty name', (s) => ({ ...s, name: '' }), 'name', '""'],
    ['name with a space', (s) => ({ ...s, name: 'my web' }), 'name', '"my web"'],
    ['name starting with a dash', (s) => ({ ...s, name: '-web' }), 'name', '"-web"'],
    ['name of 64 chars', (s) => ({ ...s, name: 'a'.repeat(64) }), 'name', 'aaaa'],
    [
      'negative replicas',
      (s) => ({ ...s, mode: { type: 'replicated', replicas: -1 } }),
      'mode.replicas',
      '-1',
    ],
    [
      'fractional replicas',
      (s) => ({ ...s, mode: { type: 'replicated', replicas: 1.5 } }),
      'mode.replicas',
      '1.5',
    ],
    ['replicas with global', (s) => ({ ...s, mode: { type: 'global', replicas: 3 } }), 'mode.replicas', '3'],
    ['unknown mode', (s) => ({ ...s, mode: { type: 'daemon' } }), 'mode.type', '"daemon"'],
    [
      'update config on a job',
      (s) => ({ ...s, mode: { type: 'global-job' } }),
      'updateConfig',
      'parallelism',
    ],
    ['empty image', (s) => container(s, { image: '' }), 'taskTemplate.container.image', '""'],
    [
      'negative grace',
      (s) => container(s, { stopGracePeriodMs: -1 }),
      'taskTemplate.container.stopGracePeriodMs',
      '-1',
    ],
    ['relative workdir', (s) => container(s, { workdir: 'app' }), 'taskTemplate.container.workdir', '"app"'],
    ['env without key', (s) => container(s, { env: ['=x'] }), 'taskTemplate.container.env[0]', '"=x"'],
    [
      'relative mount target',
      (s) => container(s, { mounts: [{ type: 'volume', target: 'data' }] }),
      'taskTemplate.container.mounts[0].target',
      '"data"',
    ],
    [
      'bind without source',
      (s) => container(s, { mounts: [{ type: 'bind', target: '/x' }] }),
      'taskTemplate.container.mounts[0].source',
      'undefined',
    ],
    [
      'unknown mount type',
      (s) => container(s, { mounts: [{ type: 'nfs', target: '/x' }] }),
      'taskTemplate.container.mounts[0].type',
      '"nfs"',
    ],
    [
      'bad health test',
      (s) => container(s, { healthcheck: { test: ['RUN', 'x'] } }),
      'taskTemplate.container.healthcheck.test',
      '"RUN"',
    ],
    [
      'negative health retries',
      (s) => container(s, { healthcheck: { test: ['CMD', 'x'], retries: -2 } }),
      'taskTemplate.container.healthcheck.retries',
      '-2',
    ],
    [
      'negative memory reservation',
      (s) => template(s, { resources: { reservations: { memoryBytes: -5 } } }),
      'taskTemplate.resources.reservations.memoryBytes',
      '-5',
    ],
    [
      'unknown restart condition',
      (s) => template(s, { restartPolicy: { ...DEFAULT_RESTART_POLICY, condition: 'always' } }),
      'taskTemplate.restartPolicy.condition',
      '"always"',
    ],
    [
      'negative restart delay',
      (s) => template(s, { restartPolicy: { ...DEFAULT_RESTART_POLICY, delayMs: -1 } }),
      'taskTemplate.restartPolicy.delayMs',
      '-1',
    ],
    [
      'constraint without operator',
      (s) => template(s, { placement: { constraints: ['node.role=worker'] } }),
      'taskTemplate.placement.constraints[0]',
      '"node.role=worker"',
    ],
    [
      'constraint on an unknown attribute',
      (s) => template(s, { placement: { constraints: ['node.color==red'] } }),
      'taskTemplate.placement.constraints[0]',
      'node.color',
    ],
    [
      'bad role constraint',
      (s) => template(s, { placement: { constraints: ['node.role==boss'] } }),
      'taskTemplate.placement.constraints[0]',
      'boss',
    ],
    [
      'negative max replicas per node',
      (s) => template(s, { placement: { maxReplicasPerNode: -1 } }),
      'taskTemplate.placement.maxReplicasPerNode',
      '-1',
    ],
    [
      'network target that is not an id',
      (s) => template(s, { networks: [{ target: 'frontend' }] }),
      'taskTemplate.networks[0].target',
      '"frontend"',
    ],
    [
      'failure ratio above 1',
      (s) => ({ ...s, updateConfig: { ...DEFAULT_UPDATE_CONFIG, maxFailureRatio: 1.5 } }),
      'updateConfig.maxFailureRatio',
      '1.5',
    ],
    [
      'unknown update order',
      (s) => ({ ...s, updateConfig: { ...DEFAULT_UPDATE_CONFIG, order: 'random' } }),
      'updateConfig.order',
      '"random"',
    ],
    [
      'rollback failure action rollback',
      (s) => ({ ...s, rollbackConfig: { ...DEFAULT_UPDATE_CONFIG, failureAction: 'rollback' } }),
      'rollbackConfig.failureAction',
      '"rollback"',
    ],
    [
      'negative canary',
      (s) => ({ ...s, updateConfig: { ...DEFAULT_UPDATE_CONFIG, canary: -1 } }),
      'updateConfig.canary',
      '-1',
    ],
    [
      'port 0 as target',
      (s) => ({
        ...s,
        endpointSpec: {
          mode: 'vip',
          ports: [{ protocol: 'tcp', targetPort: 0, publishedPort: 80, publishMode: 'host' }],
        },
      }),
      'endpointSpec.ports[0].targetPort',
      '0',
    ],
    [
      'ingress port with dnsrr',
      (s) => ({
        ...s,
        endpointSpec: {
          mode: 'dnsrr',
          ports: [{ protocol: 'tcp', targetPort: 80, publishedPort: 80, publishMode: 'ingress' }],
        },
      }),
      'endpointSpec.ports[0].publishMode',
      '"ingress"',
    ],
    [
      'duplicate published port',
      (s) => ({
        ...s,
        endpointSpec: {
          mode: 'vip',
          ports: [
            { protocol: 'tcp', targetPort: 80, publishedPort: 8080, publishMode: 'host' },
            { protocol: 'tcp', targetPort: 81, publishedPort: 8080, publishMode: 'host' },
          ],
        },
      }),
      'endpointSpec.ports[1].publishedPort',
      '8080',
    ],
  ])('rejects %s, naming field and value', (_what, patch, field, value) => {
    const e = thrown(() => validateServiceSpec(patch(base) as ServiceSpec));
    expect(e.code).toBe('INVALID_ARGUMENT');
    expect(e.field).toBe(field);
    expect(e.message).toContain(field);
    expect(e.message).toContain(value);
  });

  it.each([
    { type: 'global' },
    { type: 'global-job' },
    { type: 'replicated-job', maxConcurrent: 2, totalCompletions: 10 },
    { type: 'replicated', replicas: 0 },
  ])('accepts mode %j', (mode) => {
    const spec = { ...base, mode, updateConfig: undefined, rollbackConfig: undefined } as ServiceSpec;
    expect(() => validateServiceSpec(spec)).not.toThrow();
  });
});

describe('other specs', () => {
  const node: NodeSpec = { desiredRole: 'worker', availability: 'active', labels: { zone: 'a' } };
  const net: NetworkSpec = {
    name: 'front',
    driver: { name: 'overlay' },
    ipam: { configs: [{ subnet: '10.0.1.0/24', gateway: '10.0.1.1' }] },
  };
  const cluster: ClusterSpec = DEFAULT_CLUSTER_SPEC;

  it('accepts valid node, network, cluster, secret and config specs', () => {
    expect(() => validateNodeSpec(node)).not.toThrow();
    expect(() => validateNetworkSpec(net)).not.toThrow();
    expect(() => validateClusterSpec(cluster)).not.toThrow();
    expect(() => validateSecretSpec({ name: 's', data: 'aGVsbG8=' })).not.toThrow();
    expect(() => validateConfigSpec({ name: 'c', data: 'aGk=' })).not.toThrow();
  });

  it.each<[string, () => void, string, string]>([
    [
      'node availability',
      () => validateNodeSpec({ ...node, availability: 'off' as 'drain' }),
      'availability',
      '"off"',
    ],
    [
      'node role',
      () => validateNodeSpec({ ...node, desiredRole: 'boss' as 'worker' }),
      'desiredRole',
      '"boss"',
    ],
    [
      'network subnet',
      () => validateNetworkSpec({ ...net, ipam: { configs: [{ subnet: '10.0.1.0' }] } }),
      'ipam.configs[0].subnet',
      '"10.0.1.0"',
    ],
    [
      'network gateway',
      () =>
        validateNetworkSpec({
          ...net,
          ipam: { configs: [{ subnet: '10.0.0.0/24', gateway: '10.0.0.300' }] },
        }),
      'ipam.configs[0].gateway',
      '10.0.0.300',
    ],
    ['network name', () => validateNetworkSpec({ ...net, name: 'a b' }), 'name', '"a b"'],
    [
      'heartbeat period',
      () => validateClusterSpec({ ...cluster, dispatcher: { heartbeatPeriodMs: -5 } }),
      'dispatcher.heartbeatPeriodMs',
      '-5',
    ],
    [
      'cert expiry',
      () => validateClusterSpec({ ...cluster, caConfig: { nodeCertExpiryMs: 60_000 } }),
      'caConfig.nodeCertExpiryMs',
      '60000',
    ],
    [
      'election tick',
      () => validateClusterSpec({ ...cluster, raft: { ...cluster.raft, electionTick: 1 } }),
      'raft.electionTick',
      '1',
    ],
    ['secret data', () => validateSecretSpec({ name: 's', data: 'not base64!' }), 'data', 'not base64!'],
    ['config name', () => validateConfigSpec({ name: '', data: 'aGk=' }), 'name', '""'],
  ])('rejects bad %s', (_what, fn, field, value) => {
    const e = thrown(fn);
    expect(e.field).toBe(field);
    expect(e.message).toContain(value);
  });
});

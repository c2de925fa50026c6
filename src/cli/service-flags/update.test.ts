import { describe, expect, it } from 'vitest';
import type { ServiceSpec } from '../../api/index.js';
import { isSwarmError } from '../../common/index.js';
import type { ServiceFlagValues } from './options.js';
import { applyServiceUpdate, wantsRollback } from './update.js';

const BASE: ServiceSpec = {
  name: 'web',
  labels: { team: 'a', tier: 'front' },
  mode: { type: 'replicated', replicas: 3 },
  taskTemplate: {
    container: {
      image: 'web:v1',
      command: ['serve'],
      args: ['--port', '80'],
      env: ['A=1', 'B=2', 'C=3'],
      labels: { x: '1' },
      mounts: [
        { type: 'volume', source: 'data', target: '/data' },
        { type: 'bind', source: '/etc/app', target: '/conf', readOnly: true },
      ],
      healthcheck: { test: ['CMD-SHELL', 'true'], intervalMs: 5000 },
    },
    placement: {
      constraints: ['node.labels.zone==a', 'node.role==worker'],
      preferences: [{ spread: 'node.labels.zone' }],
    },
    resources: { limits: { memoryBytes: 1024 ** 3 } },
    restartPolicy: { condition: 'on-failure', delayMs: 1000, maxAttempts: 2, windowMs: 0 },
  },
  endpointSpec: {
    mode: 'vip',
    ports: [
      { protocol: 'tcp', targetPort: 80, publishedPort: 8080, publishMode: 'host' },
      { protocol: 'udp', targetPort: 53, publishedPort: 53, publishMode: 'ingress' },
    ],
  },
};

function errorOf(fn: () => unknown): { field: unknown; message: string } {
  try {
    fn();
  } catch (e) {
    if (isSwarmError(e, 'INVALID_ARGUMENT')) return { field: e.details.field, message: e.message };
    throw e;
  }
  throw new Error('expected an InvalidArgumentError');
}

describe('applyServiceUpdate: add/rm semantics', () => {
  it.each<[string, ServiceFlagValues, (s: ServiceSpec) => unknown, unknown]>([
    ['no flags: unchanged', {}, (s) => s, BASE],
    ['--image', { image: 'web:v2' }, (s) => s.taskTemplate.container.image, 'web:v2'],
    [
      '--args replaces COMMAND and ARGs',
      { args: 'serve --port 90' },
      (s) => [s.taskTemplate.container.command, s.taskTemplate.container.args],
      [['serve'], ['--port', '90']],
    ],
    [
      '--args "" clears them',
      { args: '' },
      (s) => [s.taskTemplate.container.command, s.taskTemplate.container.args],
      [undefined, undefined],
    ],
    [
      '--env-add replaces a key in place and appends a new one',
      { envAdd: ['B=20', 'D=4'] },
      (s) => s.taskTemplate.container.env,
      ['A=1', 'B=20', 'C=3', 'D=4'],
    ],
    ['--env-rm by key', { envRm: ['A', 'C', 'NOPE'] }, (s) => s.taskTemplate.container.env, ['B=2']],
    ['--env-rm of everything', { envRm: ['A', 'B', 'C'] }, (s) => s.taskTemplate.container.env, undefined],
    [
      '--env-rm then --env-add of the same key',
      { envRm: ['A'], envAdd: ['A=9'] },
      (s) => s.taskTemplate.container.env,
      ['B=2', 'C=3', 'A=9'],
    ],
    [
      '--label-add/--label-rm',
      { labelAdd: ['team=b', 'new=1'], labelRm: ['tier', 'absent'] },
      (s) => s.labels,
      { team: 'b', new: '1' },
    ],
    ['--label-rm of all labels', { labelRm: ['team', 'tier'] }, (s) => s.labels, undefined],
    [
      '--container-label-add/-rm',
      { containerLabelAdd: ['y=2'], containerLabelRm: ['x'] },
      (s) => s.taskTemplate.container.labels,
      { y: '2' },
    ],
    [
      '--constraint-add appends, drops duplicates and sorts (docker)',
      { constraintAdd: ['engine.labels.ssd==true', 'node.role==worker'] },
      (s) => s.taskTemplate.placement?.constraints,
      ['engine.labels.ssd==true', 'node.labels.zone==a', 'node.role==worker'],
    ],
    [
      '--constraint-rm by exact string',
      { constraintRm: ['node.role==worker', 'node.role == worker'] },
      (s) => s.taskTemplate.placement?.constraints,
      ['node.labels.zone==a'],
    ],
    [
      '--placement-pref-rm by spread descriptor, --placement-pref-add appends',
      { placementPrefRm: ['spread=node.labels.zone'], placementPrefAdd: ['spread=node.labels.rack'] },
      (s) => s.taskTemplate.placement?.preferences,
      [{ spread: 'node.labels.rack' }],
    ],
    [
      '--mount-add replaces the mount at the same target; result sorted by source then target',
      { mountAdd: ['type=tmpfs,target=/data', 'type=volume,source=cache,target=/cache'] },
      (s) => s.taskTemplate.container.mounts,
      [
        { type: 'tmpfs', target: '/data' },
        { type: 'bind', source: '/etc/app', target: '/conf', readOnly: true },
        { type: 'volume', source: 'cache', target: '/cache' },
      ],
    ],
    [
      '--mount-rm by target',
      { mountRm: ['/data', '/missing'] },
      (s) => s.taskTemplate.container.mounts,
      [{ type: 'bind', source: '/etc/app', target: '/conf', readOnly: true }],
    ],
    [
      '--publish-rm by target port (any mode when the value names none)',
      { publishRm: ['80'] },
      (s) => s.endpointSpec,
      {
        mode: 'vip',
        ports: [{ protocol: 'udp', targetPort: 53, publishedPort: 53, publishMode: 'ingress' }],
      },
    ],
    [
      '--publish-rm needs the protocol to match',
      { publishRm: ['53'] },
      (s) => s.endpointSpec?.ports?.length,
      2,
    ],
    [
      '--publish-rm with a mode only removes that mode',
      { publishRm: ['target=80,mode=ingress'] },
      (s) => s.endpointSpec?.ports?.length,
      2,
    ],
    [
      '--publish-rm of every port drops the endpoint spec',
      { publishRm: ['80', '53/udp'] },
      (s) => s.endpointSpec,
      undefined,
    ],
    [
      '--publish-add appends and sorts, skipping an identical entry',
      { publishAdd: ['published=9090,target=90,mode=host', 'published=8080,target=80,mode=host'] },
      (s) => s.endpointSpec?.ports?.map((p) => `${p.publishedPort}:${p.targetPort}`),
      ['53:53', '8080:80', '9090:90'],
    ],
    ['--replicas', { replicas: '5' }, (s) => s.mode, { type: 'replicated', replicas: 5 }],
    [
      '--replicas-max-per-node 0 clears it',
      { replicasMaxPerNode: '0' },
      (s) => s.taskTemplate.placement?.maxReplicasPerNode,
      undefined,
    ],
    [
      '--limit-cpu keeps the memory limit',
      { limitCpu: '1.5' },
      (s) => s.taskTemplate.resources,
      { limits: { memoryBytes: 1024 ** 3, nanoCPUs: 1_500_000_000 } },
    ],
    ['--limit-memory 0 removes the limit', { limitMemory: '0' }, (s) => s.taskTemplate.resources, undefined],
    [
      '--reserve-memory adds a reservation',
      { reserveMemory: '256m' },
      (s) => s.taskTemplate.resources?.reservations,
      { memoryBytes: 256 * 1024 ** 2 },
    ],
    [
      '--restart-delay keeps the rest of the current policy',
      { restartDelay: '3s' },
      (s) => s.taskTemplate.restartPolicy,
      { condition: 'on-failure', delayMs: 3000, maxAttempts: 2, windowMs: 0 },
    ],
    [
      '--update-parallelism starts from the defaults when the spec has none',
      { updateParallelism: '0' },
      (s) => s.updateConfig,
      {
        parallelism: 0,
        delayMs: 0,
        failureAction: 'pause',
        monitorMs: 5000,
        maxFailureRatio: 0,
        order: 'stop-first',
      },
    ],
    ['--rollback-order', { rollbackOrder: 'start-first' }, (s) => s.rollbackConfig?.order, 'start-first'],
    [
      '--health-retries keeps the command',
      { healthRetries: '4' },
      (s) => s.taskTemplate.container.healthcheck,
      { test: ['CMD-SHELL', 'true'], intervalMs: 5000, retries: 4 },
    ],
    [
      '--no-healthcheck',
      { healthcheck: false },
      (s) => s.taskTemplate.container.healthcheck,
      { test: ['NONE'] },
    ],
    [
      '--health-cmd "" falls back to the image test',
      { healthCmd: '' },
      (s) => s.taskTemplate.container.healthcheck,
      { test: [], intervalMs: 5000 },
    ],
    ['--init=false', { init: false }, (s) => s.taskTemplate.container.init, false],
    ['--force bumps forceUpdate', { force: true }, (s) => s.taskTemplate.forceUpdate, 1],
    ['--force=false leaves it', { force: false }, (s) => s.taskTemplate.forceUpdate, undefined],
    ['--workdir "" clears it', { workdir: '' }, (s) => 'workdir' in s.taskTemplate.container, false],
    ['--entrypoint', { entrypoint: 'tini --' }, (s) => s.taskTemplate.container.entrypoint, ['tini', '--']],
    [
      '--stop-grace-period',
      { stopGracePeriod: '30s' },
      (s) => s.taskTemplate.container.stopGracePeriodMs,
      30_000,
    ],
    ['-d/-q change nothing', { detach: true, quiet: true }, (s) => s, BASE],
  ])('%s', (_title, opts, pick, expected) => {
    expect(pick(applyServiceUpdate(BASE, opts))).toEqual(expected);
  });

  it('--force twice counts up', () => {
    const once = applyServiceUpdate(BASE, { force: true });
    expect(applyServiceUpdate(once, { force: true }).taskTemplate.forceUpdate).toBe(2);
  });

  it('does not modify the spec it is given', () => {
    const before = JSON.stringify(BASE);
    applyServiceUpdate(BASE, { envAdd: ['Z=1'], labelRm: ['team'], mountRm: ['/data'], force: true });
    expect(JSON.stringify(BASE)).toBe(before);
  });

  it('updates a replicated job: --replicas sets total completions, --max-concurrent the concurrency', () => {
    const job: ServiceSpec = {
      ...BASE,
      mode: { type: 'replicated-job', maxConcurrent: 1, totalCompletions: 1 },
    };
    const { updateConfig: _u, ...jobSpec } = job;
    expect(applyServiceUpdate(jobSpec, { replicas: '6', maxConcurrent: '3' }).mode).toEqual({
      type: 'replicated-job',
      maxConcurrent: 3,
      totalCompletions: 6,
    });
  });
});

describe('applyServiceUpdate: errors', () => {
  const global: ServiceSpec = { ...BASE, mode: { type: 'global' } };
  it.each<[ServiceSpec, ServiceFlagValues, string, string]>([
    [
      global,
      { replicas: '2' },
      '--replicas',
      '--replicas can only be used with replicated or replicated-job mode',
    ],
    [
      global,
      { replicasMaxPerNode: '2' },
      '--replicas-max-per-node',
      '--replicas-max-per-node can only be used with replicated or replicated-job mode',
    ],
    [
      BASE,
      { maxConcurrent: '2' },
      '--max-concurrent',
      '--max-concurrent can only be used with replicated-job mode',
    ],
    [
      BASE,
      { replicas: '-1' },
      '--replicas',
      'invalid argument "-1" for "--replicas" flag: must be a non-negative integer',
    ],
    [
      BASE,
      { constraintAdd: ['node.role=manager'] },
      '--constraint-add',
      'invalid constraint expression "node.role=manager" for "--constraint-add" flag: use key==value or key!=value',
    ],
    [
      BASE,
      { mountAdd: ['target=/a', 'type=tmpfs,target=/a'] },
      '--mount-add',
      'invalid argument "/a" for "--mount-add" flag: duplicate mount target',
    ],
    [
      BASE,
      { publishAdd: ['published=8080,target=81,mode=host'] },
      '--publish-add',
      'invalid argument "8080/tcp" for "--publish-add" flag: published port 8080/tcp is used twice',
    ],
    [
      BASE,
      { image: 'web v2' },
      '--image',
      'invalid value for "--image": invalid taskTemplate.container.image "web v2": must not contain whitespace',
    ],
    [
      BASE,
      { healthcheck: false, healthInterval: '1s' },
      '--no-healthcheck',
      '--no-healthcheck conflicts with --health-* options',
    ],
    [
      BASE,
      { rollbackFailureAction: 'rollback' },
      '--rollback-failure-action',
      'invalid argument "rollback" for "--rollback-failure-action" flag: must be one of "pause", "continue"',
    ],
    [
      BASE,
      { updateMonitor: 'soon' },
      '--update-monitor',
      'invalid duration "soon" for --update-monitor: unknown unit',
    ],
    [
      BASE,
      { rollback: true, image: 'web:v2' },
      '--rollback',
      'other flags may not be combined with --rollback',
    ],
  ])('%#: %j → %s', (spec, opts, field, message) => {
    expect(errorOf(() => applyServiceUpdate(spec, opts))).toEqual({ field, message });
  });
});

describe('wantsRollback', () => {
  it.each<[ServiceFlagValues, boolean]>([
    [{}, false],
    [{ rollback: true }, true],
    [{ rollback: true, detach: true, quiet: true }, true],
    [{ rollback: true, healthcheck: true }, true],
    [{ rollback: false, image: 'x' }, false],
  ])('%j → %s', (opts, expected) => {
    expect(wantsRollback(opts)).toBe(expected);
  });

  it.each<ServiceFlagValues>([
    { rollback: true, replicas: '2' },
    { rollback: true, healthcheck: false },
  ])('%j is refused', (opts) => {
    expect(errorOf(() => wantsRollback(opts))).toEqual({
      field: '--rollback',
      message: 'other flags may not be combined with --rollback',
    });
  });
});

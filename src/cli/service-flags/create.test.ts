import { describe, expect, it } from 'vitest';
import type { ServiceSpec } from '../../api/index.js';
import { parseServiceCreate } from './create.js';
import type { ServiceFlagValues } from './options.js';

function create(opts: ServiceFlagValues, positionals: readonly string[] = ['nginx']): ServiceSpec {
  return parseServiceCreate({ name: 'web', ...opts }, positionals);
}

describe('parseServiceCreate: defaults', () => {
  it('builds the smallest spec: one replica, nothing else set', () => {
    expect(create({})).toEqual({
      name: 'web',
      taskTemplate: { container: { image: 'nginx' } },
      mode: { type: 'replicated', replicas: 1 },
    });
  });

  it('splits COMMAND and ARGs', () => {
    expect(create({}, ['busybox', 'sh', '-c', 'sleep 1']).taskTemplate.container).toEqual({
      image: 'busybox',
      command: ['sh'],
      args: ['-c', 'sleep 1'],
    });
  });

  it('uses the default name generator when --name is absent', () => {
    const spec = parseServiceCreate({}, ['nginx'], { defaultName: () => 'jolly_hopper' });
    expect(spec.name).toBe('jolly_hopper');
  });
});

describe('parseServiceCreate: each flag', () => {
  it.each<[string, ServiceFlagValues, (s: ServiceSpec) => unknown, unknown]>([
    ['--replicas', { replicas: '3' }, (s) => s.mode, { type: 'replicated', replicas: 3 }],
    ['--replicas 0', { replicas: '0' }, (s) => s.mode, { type: 'replicated', replicas: 0 }],
    ['--mode global', { mode: 'global' }, (s) => s.mode, { type: 'global' }],
    ['--mode GLOBAL', { mode: 'GLOBAL' }, (s) => s.mode, { type: 'global' }],
    [
      '--mode replicated-job',
      { mode: 'replicated-job', replicas: '4' },
      (s) => s.mode,
      { type: 'replicated-job', maxConcurrent: 4, totalCompletions: 4 },
    ],
    [
      '--max-concurrent',
      { mode: 'replicated-job', replicas: '4', maxConcurrent: '2' },
      (s) => s.mode,
      { type: 'replicated-job', maxConcurrent: 2, totalCompletions: 4 },
    ],
    ['--mode global-job', { mode: 'global-job' }, (s) => s.mode, { type: 'global-job' }],
    ['--label', { label: ['a=1', 'b', 'c=x=y'] }, (s) => s.labels, { a: '1', b: '', c: 'x=y' }],
    [
      '--container-label',
      { containerLabel: ['tier=web'] },
      (s) => s.taskTemplate.container.labels,
      { tier: 'web' },
    ],
    ['--env', { env: ['A=1', 'B=2', 'A=3'] }, (s) => s.taskTemplate.container.env, ['B=2', 'A=3']],
    [
      '--constraint',
      { constraint: ['node.role==manager', 'node.labels.zone!=a', 'engine.labels.ssd==true'] },
      (s) => s.taskTemplate.placement,
      { constraints: ['node.role==manager', 'node.labels.zone!=a', 'engine.labels.ssd==true'] },
    ],
    [
      '--placement-pref',
      { placementPref: ['spread=node.labels.zone'] },
      (s) => s.taskTemplate.placement,
      { preferences: [{ spread: 'node.labels.zone' }] },
    ],
    [
      '--replicas-max-per-node',
      { replicasMaxPerNode: '2' },
      (s) => s.taskTemplate.placement,
      { maxReplicasPerNode: 2 },
    ],
    [
      '--reserve-cpu/--reserve-memory',
      { reserveCpu: '0.5', reserveMemory: '512m' },
      (s) => s.taskTemplate.resources,
      { reservations: { nanoCPUs: 500_000_000, memoryBytes: 512 * 1024 ** 2 } },
    ],
    [
      '--limit-cpu/--limit-memory',
      { limitCpu: '2', limitMemory: '1g' },
      (s) => s.taskTemplate.resources,
      { limits: { nanoCPUs: 2_000_000_000, memoryBytes: 1024 ** 3 } },
    ],
    [
      '--restart-condition',
      { restartCondition: 'on-failure' },
      (s) => s.taskTemplate.restartPolicy,
      { condition: 'on-failure', delayMs: 5000, maxAttempts: 0, windowMs: 0 },
    ],
    [
      '--restart-delay/--restart-max-attempts/--restart-window',
      { restartDelay: '1s', restartMaxAttempts: '3', restartWindow: '1m' },
      (s) => s.taskTemplate.restartPolicy,
      { condition: 'any', delayMs: 1000, maxAttempts: 3, windowMs: 60_000 },
    ],
    [
      '--health-cmd and friends',
      {
        healthCmd: 'curl -f localhost',
        healthInterval: '2s',
        healthTimeout: '1s',
        healthRetries: '3',
        healthStartPeriod: '500ms',
      },
      (s) => s.taskTemplate.container.healthcheck,
      {
        test: ['CMD-SHELL', 'curl -f localhost'],
        intervalMs: 2000,
        timeoutMs: 1000,
        retries: 3,
        startPeriodMs: 500,
      },
    ],
    [
      '--health-interval alone keeps the image test',
      { healthInterval: '10s' },
      (s) => s.taskTemplate.container.healthcheck,
      { test: [], intervalMs: 10_000 },
    ],
    [
      '--no-healthcheck',
      { healthcheck: false },
      (s) => s.taskTemplate.container.healthcheck,
      { test: ['NONE'] },
    ],
    [
      '--mount',
      { mount: ['type=bind,source=/a,target=/b,readonly', 'type=tmpfs,target=/t'] },
      (s) => s.taskTemplate.container.mounts,
      [
        { type: 'bind', source: '/a', target: '/b', readOnly: true },
        { type: 'tmpfs', target: '/t' },
      ],
    ],
    [
      '--publish',
      { publish: ['published=8080,target=80,mode=host', '53:53/udp'] },
      (s) => s.endpointSpec,
      {
        mode: 'vip',
        ports: [
          { protocol: 'tcp', targetPort: 80, publishedPort: 8080, publishMode: 'host' },
          { protocol: 'udp', targetPort: 53, publishedPort: 53, publishMode: 'ingress' },
        ],
      },
    ],
    [
      '--entrypoint',
      { entrypoint: '/bin/sh -c' },
      (s) => s.taskTemplate.container.entrypoint,
      ['/bin/sh', '-c'],
    ],
    ['--workdir', { workdir: '/srv' }, (s) => s.taskTemplate.container.workdir, '/srv'],
    ['--user', { user: '1000:1000' }, (s) => s.taskTemplate.container.user, '1000:1000'],
    ['--hostname', { hostname: 'box' }, (s) => s.taskTemplate.container.hostname, 'box'],
    ['--init', { init: true }, (s) => s.taskTemplate.container.init, true],
    ['--init=false', { init: false }, (s) => s.taskTemplate.container.init, undefined],
    ['--stop-signal', { stopSignal: 'SIGINT' }, (s) => s.taskTemplate.container.stopSignal, 'SIGINT'],
    [
      '--stop-grace-period',
      { stopGracePeriod: '1m30s' },
      (s) => s.taskTemplate.container.stopGracePeriodMs,
      90_000,
    ],
    [
      '--update-* over the defaults',
      { updateParallelism: '2', updateDelay: '10s', updateOrder: 'start-first' },
      (s) => s.updateConfig,
      {
        parallelism: 2,
        delayMs: 10_000,
        failureAction: 'pause',
        monitorMs: 5000,
        maxFailureRatio: 0,
        order: 'start-first',
      },
    ],
    [
      '--update-parallelism 0 (all at once)',
      { updateParallelism: '0' },
      (s) => s.updateConfig?.parallelism,
      0,
    ],
    [
      '--update-failure-action/--update-monitor/--update-max-failure-ratio',
      { updateFailureAction: 'rollback', updateMonitor: '30s', updateMaxFailureRatio: '0.2' },
      (s) => [s.updateConfig?.failureAction, s.updateConfig?.monitorMs, s.updateConfig?.maxFailureRatio],
      ['rollback', 30_000, 0.2],
    ],
    [
      '--update-canary/--update-canary-auto',
      { updateCanary: '1', updateCanaryAuto: '2m' },
      (s) => [s.updateConfig?.canary, s.updateConfig?.canaryAutoPromoteMs],
      [1, 120_000],
    ],
    [
      '--rollback-*',
      {
        rollbackParallelism: '0',
        rollbackDelay: '1s',
        rollbackMonitor: '2s',
        rollbackFailureAction: 'continue',
        rollbackMaxFailureRatio: '1',
        rollbackOrder: 'start-first',
      },
      (s) => s.rollbackConfig,
      {
        parallelism: 0,
        delayMs: 1000,
        failureAction: 'continue',
        monitorMs: 2000,
        maxFailureRatio: 1,
        order: 'start-first',
      },
    ],
    [
      '-d/-q do not reach the spec',
      { detach: true, quiet: true },
      (s) => Object.keys(s).sort(),
      ['mode', 'name', 'taskTemplate'],
    ],
  ])('%s', (_title, opts, pick, expected) => {
    expect(pick(create(opts))).toEqual(expected);
  });

  it('reads --env-file before -e, the later key winning', () => {
    const spec = parseServiceCreate(
      { name: 'web', envFile: ['a.env'], env: ['A=from-flag', 'C'] },
      ['nginx'],
      {
        readFile: () => 'A=from-file\nB=2\n',
        lookupEnv: (n) => (n === 'C' ? 'from-cli-env' : undefined),
      },
    );
    expect(spec.taskTemplate.container.env).toEqual(['B=2', 'A=from-flag', 'C=from-cli-env']);
  });
});

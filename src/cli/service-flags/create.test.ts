import { describe, expect, it } from 'vitest';
import type { ServiceSpec } from '../../api/index.js';
import { isSwarmError } from '../../common/index.js';
import { parseServiceCreate } from './create.js';
import type { ServiceFlagValues } from './options.js';

function create(opts: ServiceFlagValues, positionals: readonly string[] = ['nginx']): ServiceSpec {
  return parseServiceCreate({ name: 'web', ...opts }, positionals);
}

function errorOf(fn: () => unknown): { field: unknown; message: string } {
  try {
    fn();
  } catch (e) {
    if (isSwarmError(e, 'INVALID_ARGUMENT')) return { field: e.details.field, message: e.message };
    throw e;
  }
  throw new Error('expected an InvalidArgumentError');
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

describe('parseServiceCreate: bad input names the flag and the value', () => {
  it.each<[ServiceFlagValues, string, string]>([
    [
      { replicas: '-1' },
      '--replicas',
      'invalid argument "-1" for "--replicas" flag: must be a non-negative integer',
    ],
    [
      { replicas: 'three' },
      '--replicas',
      'invalid argument "three" for "--replicas" flag: must be a non-negative integer',
    ],
    [
      { mode: 'global', replicas: '2' },
      '--replicas',
      '--replicas can only be used with replicated or replicated-job mode',
    ],
    [
      { mode: 'global-job', replicas: '2' },
      '--replicas',
      '--replicas can only be used with replicated or replicated-job mode',
    ],
    [
      { mode: 'global', replicasMaxPerNode: '1' },
      '--replicas-max-per-node',
      '--replicas-max-per-node can only be used with replicated or replicated-job mode',
    ],
    [
      { maxConcurrent: '2' },
      '--max-concurrent',
      '--max-concurrent can only be used with replicated-job mode',
    ],
    [
      { mode: 'daemonset' },
      '--mode',
      'invalid argument "daemonset" for "--mode" flag: must be one of "replicated", "global", "replicated-job", "global-job"',
    ],
    [
      { constraint: ['node.role=manager'] },
      '--constraint',
      'invalid constraint expression "node.role=manager" for "--constraint" flag: use key==value or key!=value',
    ],
    [
      { constraint: ['node.colour==red'] },
      '--constraint',
      'invalid --constraint "node.colour==red": unknown attribute node.colour',
    ],
    [
      { constraint: ['node.role==boss'] },
      '--constraint',
      'invalid --constraint "node.role==boss": node.role must be manager or worker',
    ],
    [
      { placementPref: ['node.labels.zone'] },
      '--placement-pref',
      'invalid argument "node.labels.zone" for "--placement-pref" flag: placement preference must be of the format "<strategy>=<arg>"',
    ],
    [
      { placementPref: ['binpack=node.labels.zone'] },
      '--placement-pref',
      'invalid argument "binpack=node.labels.zone" for "--placement-pref" flag: unsupported placement preference binpack (only spread is supported)',
    ],
    [
      { placementPref: ['spread=zone'] },
      '--placement-pref',
      'invalid value for "--placement-pref": invalid taskTemplate.placement.preferences[0].spread "zone": must name a node attribute such as node.labels.zone',
    ],
    [
      { restartCondition: 'sometimes' },
      '--restart-condition',
      'invalid argument "sometimes" for "--restart-condition" flag: must be one of "none", "on-failure", "any"',
    ],
    [{ restartDelay: '5x' }, '--restart-delay', 'invalid duration "5x" for --restart-delay: unknown unit'],
    [
      { updateDelay: '10' },
      '--update-delay',
      'invalid duration "10" for --update-delay: missing unit (use ms, s, m or h)',
    ],
    [
      { healthInterval: '-1s' },
      '--health-interval',
      'invalid duration "-1s" for --health-interval: must not be negative',
    ],
    [
      { healthRetries: '-2' },
      '--health-retries',
      'invalid argument "-2" for "--health-retries" flag: must be a non-negative integer',
    ],
    [
      { healthcheck: false, healthCmd: 'true' },
      '--no-healthcheck',
      '--no-healthcheck conflicts with --health-* options',
    ],
    [
      { reserveMemory: '1x' },
      '--reserve-memory',
      `invalid argument "1x" for "--reserve-memory" flag: invalid suffix: 'x'`,
    ],
    [
      { limitCpu: 'lots' },
      '--limit-cpu',
      'invalid argument "lots" for "--limit-cpu" flag: failed to parse lots as a rational number',
    ],
    [
      { updateFailureAction: 'explode' },
      '--update-failure-action',
      'invalid argument "explode" for "--update-failure-action" flag: must be one of "pause", "continue", "rollback"',
    ],
    [
      { rollbackFailureAction: 'rollback' },
      '--rollback-failure-action',
      'invalid argument "rollback" for "--rollback-failure-action" flag: must be one of "pause", "continue"',
    ],
    [
      { updateOrder: 'random' },
      '--update-order',
      'invalid argument "random" for "--update-order" flag: must be one of "stop-first", "start-first"',
    ],
    [
      { updateMaxFailureRatio: '2' },
      '--update-max-failure-ratio',
      'invalid argument "2" for "--update-max-failure-ratio" flag: must be a number between 0 and 1',
    ],
    [
      { updateCanaryAuto: '1m' },
      '--update-canary-auto',
      '--update-canary-auto needs --update-canary N with N > 0',
    ],
    [
      { mount: ['type=bind,source=/a'] },
      '--mount',
      'invalid argument "type=bind,source=/a" for "--mount" flag: target is required',
    ],
    [
      { mount: ['target=/a', 'type=tmpfs,target=/a'] },
      '--mount',
      'invalid argument "/a" for "--mount" flag: duplicate mount target',
    ],
    [
      { publish: ['8080:80', '8080:81'] },
      '--publish',
      'invalid argument "8080/tcp" for "-p, --publish" flag: published port 8080/tcp is used twice',
    ],
    [
      { publish: ['published=80'] },
      '--publish',
      `invalid argument "published=80" for "-p, --publish" flag: missing mandatory field 'target'`,
    ],
    [
      { stopSignal: 'KILL ME' },
      '--stop-signal',
      'invalid argument "KILL ME" for "--stop-signal" flag: invalid signal: KILL ME',
    ],
    [
      { name: 'bad name' },
      '--name',
      'invalid value for "--name": invalid name "bad name": must start with a letter or digit and contain only [a-zA-Z0-9_.-]',
    ],
    [
      { name: '-web' },
      '--name',
      'invalid value for "--name": invalid name "-web": must start with a letter or digit and contain only [a-zA-Z0-9_.-]',
    ],
    [
      { workdir: 'relative' },
      '--workdir',
      'invalid value for "--workdir": invalid taskTemplate.container.workdir "relative": must be an absolute path',
    ],
    [
      { mode: 'replicated-job', updateParallelism: '2' },
      '--update-parallelism',
      '--update-parallelism cannot be used with replicated-job mode: jobs are not rolled out',
    ],
    [
      { mode: 'global-job', rollbackOrder: 'start-first' },
      '--rollback-order',
      '--rollback-order cannot be used with global-job mode: jobs are not rolled out',
    ],
    [
      { label: ['=x'] },
      '--label',
      `invalid argument "=x" for "-l, --label" flag: invalid label '=x': empty name`,
    ],
    [
      { env: ['=x'] },
      '--env',
      'invalid argument "=x" for "-e, --env" flag: invalid environment variable: empty name',
    ],
    [
      { entrypoint: '"unterminated' },
      '--entrypoint',
      'invalid argument "\\"unterminated" for "--entrypoint" flag: EOF found when expecting closing quote',
    ],
  ])('%j → %s', (opts, field, message) => {
    expect(errorOf(() => create(opts))).toEqual({ field, message });
  });

  it.each<[readonly string[], string]>([
    [[], '"service create" requires at least 1 argument: IMAGE'],
    [[' '], '"service create" requires at least 1 argument: IMAGE'],
    [
      ['ngi nx'],
      'invalid value for "IMAGE": invalid taskTemplate.container.image "ngi nx": must not contain whitespace',
    ],
  ])('positionals %j are refused', (positionals, message) => {
    expect(errorOf(() => create({}, positionals))).toEqual({ field: 'IMAGE', message });
  });

  it('asks for --name when there is no default name', () => {
    expect(errorOf(() => parseServiceCreate({}, ['nginx']))).toEqual({
      field: '--name',
      message: 'a service name is required: use --name NAME',
    });
  });
});

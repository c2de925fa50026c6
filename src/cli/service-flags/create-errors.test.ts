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

import { type ServiceSpec, validateServiceSpec } from '../../api/index.js';
import { InvalidArgumentError, isSwarmError } from '../../common/index.js';

/**
 * Spec paths (as the api validators name them) and the flag that sets each. The first match wins,
 * so longer prefixes come first.
 */
const FIELD_FLAGS: readonly (readonly [prefix: string, create: string, update: string])[] = [
  ['name', 'name', 'name'],
  ['labels', 'label', 'label-add'],
  ['mode.maxConcurrent', 'max-concurrent', 'max-concurrent'],
  ['mode', 'replicas', 'replicas'],
  ['taskTemplate.container.image', 'IMAGE', 'image'],
  ['taskTemplate.container.entrypoint', 'entrypoint', 'entrypoint'],
  ['taskTemplate.container.command', 'COMMAND', 'args'],
  ['taskTemplate.container.args', 'ARG', 'args'],
  ['taskTemplate.container.env', 'env', 'env-add'],
  ['taskTemplate.container.labels', 'container-label', 'container-label-add'],
  ['taskTemplate.container.mounts', 'mount', 'mount-add'],
  ['taskTemplate.container.user', 'user', 'user'],
  ['taskTemplate.container.workdir', 'workdir', 'workdir'],
  ['taskTemplate.container.hostname', 'hostname', 'hostname'],
  ['taskTemplate.container.stopSignal', 'stop-signal', 'stop-signal'],
  ['taskTemplate.container.stopGracePeriodMs', 'stop-grace-period', 'stop-grace-period'],
  ['taskTemplate.container.healthcheck', 'health-cmd', 'health-cmd'],
  ['taskTemplate.resources.limits.nanoCPUs', 'limit-cpu', 'limit-cpu'],
  ['taskTemplate.resources.limits.memoryBytes', 'limit-memory', 'limit-memory'],
  ['taskTemplate.resources.reservations.nanoCPUs', 'reserve-cpu', 'reserve-cpu'],
  ['taskTemplate.resources.reservations.memoryBytes', 'reserve-memory', 'reserve-memory'],
  ['taskTemplate.restartPolicy.condition', 'restart-condition', 'restart-condition'],
  ['taskTemplate.restartPolicy.delayMs', 'restart-delay', 'restart-delay'],
  ['taskTemplate.restartPolicy.maxAttempts', 'restart-max-attempts', 'restart-max-attempts'],
  ['taskTemplate.restartPolicy.windowMs', 'restart-window', 'restart-window'],
  ['taskTemplate.placement.constraints', 'constraint', 'constraint-add'],
  ['taskTemplate.placement.preferences', 'placement-pref', 'placement-pref-add'],
  ['taskTemplate.placement.maxReplicasPerNode', 'replicas-max-per-node', 'replicas-max-per-node'],
  ['updateConfig.canary', 'update-canary', 'update-canary'],
  ['updateConfig', 'update-parallelism', 'update-parallelism'],
  ['rollbackConfig', 'rollback-parallelism', 'rollback-parallelism'],
  ['endpointSpec.ports', 'publish', 'publish-add'],
];

const UPDATE_CONFIG_FLAGS: Readonly<Record<string, string>> = {
  parallelism: 'parallelism',
  delayMs: 'delay',
  failureAction: 'failure-action',
  monitorMs: 'monitor',
  maxFailureRatio: 'max-failure-ratio',
  order: 'order',
};

export function flagForField(field: string, command: 'create' | 'update'): string | undefined {
  const cfg = /^(update|rollback)Config\.(\w+)$/.exec(field);
  if (cfg && UPDATE_CONFIG_FLAGS[cfg[2]!]) return `${cfg[1]}-${UPDATE_CONFIG_FLAGS[cfg[2]!]}`;
  for (const [prefix, create, update] of FIELD_FLAGS) {
    if (field === prefix || field.startsWith(`${prefix}.`) || field.startsWith(`${prefix}[`))
      return command === 'create' ? create : update;
  }
  return undefined;
}

/**
 * Runs the api's spec validation, so the CLI refuses exactly what the manager would, and names
 * the flag (or positional) behind the failing field.
 */
export function validateAgainstApi(spec: ServiceSpec, command: 'create' | 'update'): ServiceSpec {
  try {
    validateServiceSpec(spec);
  } catch (e) {
    if (!isSwarmError(e, 'INVALID_ARGUMENT') || !(e instanceof InvalidArgumentError)) throw e;
    const flag = flagForField(e.field, command);
    if (flag === undefined) throw e;
    const shown = /^[A-Z]+$/.test(flag) ? flag : `--${flag}`;
    throw new InvalidArgumentError(shown, `invalid value for ${JSON.stringify(shown)}: ${e.message}`, {
      cause: e,
    });
  }
  return spec;
}

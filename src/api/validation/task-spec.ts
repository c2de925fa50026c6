import type {
  ContainerSpec,
  HealthConfig,
  Mount,
  Placement,
  ResourceAmounts,
  TaskSpec,
} from '../objects/task-spec.js';
import {
  checkBoolean,
  checkDurationMs,
  checkIdField,
  checkInt,
  checkLabels,
  checkOneOf,
  checkString,
  checkStrings,
  invalid,
} from './rules.js';

export function validateTaskSpec(spec: TaskSpec, field = 'taskTemplate'): void {
  if (typeof spec !== 'object' || spec === null) throw invalid(field, spec, 'is required');
  validateContainerSpec(spec.container, `${field}.container`);
  if (spec.resources) {
    validateAmounts(spec.resources.limits, `${field}.resources.limits`);
    validateAmounts(spec.resources.reservations, `${field}.resources.reservations`);
  }
  const rp = spec.restartPolicy;
  if (rp) {
    checkOneOf(`${field}.restartPolicy.condition`, rp.condition, ['none', 'on-failure', 'any']);
    checkDurationMs(`${field}.restartPolicy.delayMs`, rp.delayMs, false);
    checkInt(`${field}.restartPolicy.maxAttempts`, rp.maxAttempts, { min: 0 });
    checkDurationMs(`${field}.restartPolicy.windowMs`, rp.windowMs, false);
  }
  if (spec.placement) validatePlacement(spec.placement, `${field}.placement`);
  spec.networks?.forEach((n, i) => {
    checkIdField(`${field}.networks[${i}].target`, n.target);
    checkStrings(`${field}.networks[${i}].aliases`, n.aliases);
  });
  checkInt(`${field}.forceUpdate`, spec.forceUpdate, { min: 0, optional: true });
}

function validateContainerSpec(c: ContainerSpec, field: string): void {
  if (typeof c !== 'object' || c === null) throw invalid(field, c, 'is required');
  checkString(`${field}.image`, c.image, { required: true });
  if (/\s/.test(c.image)) throw invalid(`${field}.image`, c.image, 'must not contain whitespace');
  checkStrings(`${field}.entrypoint`, c.entrypoint);
  checkStrings(`${field}.command`, c.command);
  checkStrings(`${field}.args`, c.args);
  checkStrings(`${field}.env`, c.env);
  c.env?.forEach((e, i) => {
    if (e === '' || e.startsWith('='))
      throw invalid(`${field}.env[${i}]`, e, 'must be KEY=value with a non-empty KEY');
  });
  checkLabels(`${field}.labels`, c.labels);
  c.mounts?.forEach((m, i) => {
    validateMount(m, `${field}.mounts[${i}]`);
  });
  checkString(`${field}.user`, c.user);
  checkString(`${field}.workdir`, c.workdir);
  if (c.workdir !== undefined && c.workdir !== '' && !c.workdir.startsWith('/'))
    throw invalid(`${field}.workdir`, c.workdir, 'must be an absolute path');
  checkString(`${field}.hostname`, c.hostname);
  checkBoolean(`${field}.init`, c.init);
  checkString(`${field}.stopSignal`, c.stopSignal);
  checkDurationMs(`${field}.stopGracePeriodMs`, c.stopGracePeriodMs);
  if (c.healthcheck) validateHealth(c.healthcheck, `${field}.healthcheck`);
}

function validateMount(m: Mount, field: string): void {
  checkOneOf(`${field}.type`, m.type, ['bind', 'volume', 'tmpfs']);
  checkString(`${field}.target`, m.target, { required: true });
  if (!m.target.startsWith('/')) throw invalid(`${field}.target`, m.target, 'must be an absolute path');
  checkBoolean(`${field}.readOnly`, m.readOnly);
  if (m.type === 'bind') {
    checkString(`${field}.source`, m.source, { required: true });
    if (!m.source?.startsWith('/'))
      throw invalid(`${field}.source`, m.source, 'a bind source must be an absolute path');
  }
  if (m.type === 'tmpfs' && m.source !== undefined && m.source !== '')
    throw invalid(`${field}.source`, m.source, 'a tmpfs mount has no source');
  if (m.bindOptions && m.type !== 'bind')
    throw invalid(`${field}.bindOptions`, m.bindOptions, `not allowed for ${m.type} mounts`);
  if (m.volumeOptions && m.type !== 'volume')
    throw invalid(`${field}.volumeOptions`, m.volumeOptions, `not allowed for ${m.type} mounts`);
  if (m.tmpfsOptions) {
    if (m.type !== 'tmpfs')
      throw invalid(`${field}.tmpfsOptions`, m.tmpfsOptions, `not allowed for ${m.type} mounts`);
    checkInt(`${field}.tmpfsOptions.sizeBytes`, m.tmpfsOptions.sizeBytes, { min: 0, optional: true });
    checkInt(`${field}.tmpfsOptions.mode`, m.tmpfsOptions.mode, { min: 0, max: 0o7777, optional: true });
  }
}

function validateHealth(h: HealthConfig, field: string): void {
  checkStrings(`${field}.test`, h.test);
  const kind = h.test[0];
  if (kind !== undefined && !['NONE', 'CMD', 'CMD-SHELL'].includes(kind))
    throw invalid(`${field}.test`, h.test, 'must start with NONE, CMD or CMD-SHELL');
  if ((kind === 'CMD' || kind === 'CMD-SHELL') && h.test.length < 2)
    throw invalid(`${field}.test`, h.test, `${kind} needs a command`);
  checkDurationMs(`${field}.intervalMs`, h.intervalMs);
  checkDurationMs(`${field}.timeoutMs`, h.timeoutMs);
  checkDurationMs(`${field}.startPeriodMs`, h.startPeriodMs);
  checkInt(`${field}.retries`, h.retries, { min: 0, optional: true });
}

function validateAmounts(a: ResourceAmounts | undefined, field: string): void {
  if (!a) return;
  checkInt(`${field}.nanoCPUs`, a.nanoCPUs, { min: 0, optional: true });
  checkInt(`${field}.memoryBytes`, a.memoryBytes, { min: 0, optional: true });
}

const CONSTRAINT_RE = /^\s*([A-Za-z0-9_.-]+)\s*(==|!=)\s*(\S(?:.*\S)?)\s*$/;
const CONSTRAINT_KEYS = ['node.id', 'node.hostname', 'node.role', 'node.platform.os', 'node.platform.arch'];

/** Syntax only: `key==value` / `key!=value` over the attributes the scheduler knows. */
export function validateConstraint(field: string, value: string): void {
  const m = CONSTRAINT_RE.exec(value);
  if (!m) throw invalid(field, value, 'must be of the form key==value or key!=value');
  const key = m[1]!;
  const known =
    CONSTRAINT_KEYS.includes(key) || (/^(node|engine)\.labels\.[^.].*$/.test(key) && !key.endsWith('.'));
  if (!known) throw invalid(field, value, `unknown attribute ${key}`);
  if (key === 'node.role' && !['manager', 'worker'].includes(m[3]!))
    throw invalid(field, value, 'node.role must be manager or worker');
}

function validatePlacement(p: Placement, field: string): void {
  checkStrings(`${field}.constraints`, p.constraints);
  p.constraints?.forEach((c, i) => {
    validateConstraint(`${field}.constraints[${i}]`, c);
  });
  p.preferences?.forEach((pref, i) => {
    checkString(`${field}.preferences[${i}].spread`, pref.spread, { required: true });
    if (!/^(node|engine)\.labels\.\S+$/.test(pref.spread) && !CONSTRAINT_KEYS.includes(pref.spread))
      throw invalid(
        `${field}.preferences[${i}].spread`,
        pref.spread,
        'must name a node attribute such as node.labels.zone',
      );
  });
  checkInt(`${field}.maxReplicasPerNode`, p.maxReplicasPerNode, { min: 0, optional: true });
}

import type { EndpointSpec, ServiceMode, ServiceSpec, UpdateConfig } from '../objects/service.js';
import {
  checkDurationMs,
  checkInt,
  checkLabels,
  checkName,
  checkOneOf,
  checkRatio,
  checkString,
  invalid,
} from './rules.js';
import { validateTaskSpec } from './task-spec.js';

/** Checks a whole service spec; throws InvalidArgumentError naming the first bad field and value. */
export function validateServiceSpec(spec: ServiceSpec): void {
  if (typeof spec !== 'object' || spec === null) throw invalid('spec', spec, 'is required');
  checkName('name', spec.name);
  checkLabels('labels', spec.labels);
  validateMode(spec.mode);
  validateTaskSpec(spec.taskTemplate);
  const isJob = spec.mode.type === 'replicated-job' || spec.mode.type === 'global-job';
  if (spec.updateConfig) {
    if (isJob) throw invalid('updateConfig', spec.updateConfig, 'jobs do not have an update config');
    validateUpdateConfig(spec.updateConfig, 'updateConfig', false);
  }
  if (spec.rollbackConfig) {
    if (isJob) throw invalid('rollbackConfig', spec.rollbackConfig, 'jobs do not have a rollback config');
    validateUpdateConfig(spec.rollbackConfig, 'rollbackConfig', true);
  }
  if (spec.endpointSpec) validateEndpointSpec(spec.endpointSpec);
}

function validateMode(mode: ServiceMode): void {
  if (typeof mode !== 'object' || mode === null) throw invalid('mode', mode, 'is required');
  checkOneOf('mode.type', mode.type, ['replicated', 'global', 'replicated-job', 'global-job']);
  // The union forbids these at compile time; specs decoded from the wire are checked here.
  const raw = mode as unknown as Readonly<Record<string, unknown>>;
  switch (mode.type) {
    case 'replicated':
      checkInt('mode.replicas', mode.replicas, { min: 0 });
      break;
    case 'replicated-job':
      checkInt('mode.maxConcurrent', mode.maxConcurrent, { min: 0 });
      checkInt('mode.totalCompletions', mode.totalCompletions, { min: 0 });
      break;
    case 'global':
    case 'global-job':
      if (raw.replicas !== undefined)
        throw invalid('mode.replicas', raw.replicas, `replicas cannot be set in ${mode.type} mode`);
      if (mode.type === 'global' && raw.maxConcurrent !== undefined)
        throw invalid('mode.maxConcurrent', raw.maxConcurrent, 'max-concurrent is only for replicated jobs');
      break;
  }
  if (mode.type !== 'replicated-job' && raw.totalCompletions !== undefined)
    throw invalid(
      'mode.totalCompletions',
      raw.totalCompletions,
      'only replicated jobs have total completions',
    );
}

export function validateUpdateConfig(u: UpdateConfig, field: string, isRollback: boolean): void {
  checkInt(`${field}.parallelism`, u.parallelism, { min: 0 });
  checkDurationMs(`${field}.delayMs`, u.delayMs, false);
  checkOneOf(
    `${field}.failureAction`,
    u.failureAction,
    isRollback ? ['pause', 'continue'] : ['pause', 'continue', 'rollback'],
  );
  checkDurationMs(`${field}.monitorMs`, u.monitorMs, false);
  checkRatio(`${field}.maxFailureRatio`, u.maxFailureRatio);
  checkOneOf(`${field}.order`, u.order, ['stop-first', 'start-first']);
  if (isRollback && (u.canary !== undefined || u.canaryAutoPromoteMs !== undefined))
    throw invalid(`${field}.canary`, u.canary, 'canaries apply to updates, not rollbacks');
  checkInt(`${field}.canary`, u.canary, { min: 0, optional: true });
  checkDurationMs(`${field}.canaryAutoPromoteMs`, u.canaryAutoPromoteMs);
}

function validateEndpointSpec(e: EndpointSpec): void {
  checkOneOf('endpointSpec.mode', e.mode, ['vip', 'dnsrr']);
  const seen = new Set<string>();
  e.ports?.forEach((p, i) => {
    const field = `endpointSpec.ports[${i}]`;
    checkString(`${field}.name`, p.name);
    checkOneOf(`${field}.protocol`, p.protocol, ['tcp', 'udp']);
    checkInt(`${field}.targetPort`, p.targetPort, { min: 1, max: 65535 });
    checkInt(`${field}.publishedPort`, p.publishedPort, { min: 0, max: 65535 });
    checkOneOf(`${field}.publishMode`, p.publishMode, ['ingress', 'host']);
    if (e.mode === 'dnsrr' && p.publishMode === 'ingress')
      throw invalid(
        `${field}.publishMode`,
        p.publishMode,
        'a port published in ingress mode cannot be used with dnsrr mode',
      );
    if (p.publishedPort !== 0) {
      const key = `${p.publishedPort}/${p.protocol}`;
      if (seen.has(key))
        throw invalid(`${field}.publishedPort`, p.publishedPort, `published port ${key} is used twice`);
      seen.add(key);
    }
  });
}

import type {
  ContainerSpec,
  EndpointSpec,
  Mount,
  Placement,
  PortConfig,
  ServiceMode,
  ServiceSpec,
  TaskSpec,
} from '../../api/index.js';
import { InvalidArgumentError } from '../../common/index.js';
import { flagConflict, flagError } from './errors.js';
import { parseMount } from './mount.js';
import { parseNetwork } from './networks.js';
import type { ServiceFlagValues } from './options.js';
import { parsePublish } from './publish.js';
import {
  buildHealth,
  buildResources,
  buildRestartPolicy,
  buildUpdateConfig,
  nonEmpty,
  nonEmptyMap,
  parseConstraint,
  parsePlacementPref,
  parseStopSignal,
  parseWords,
  splitCommand,
} from './spec-parts.js';
import { validateAgainstApi } from './validate.js';
import {
  envKey,
  type ParseEnvironment,
  parseChoice,
  parseEnvFile,
  parseFlagDuration,
  parseLabels,
  parseUint,
  resolveEnvEntry,
} from './values.js';

export interface CreateContext extends ParseEnvironment {
  /** Name for a service created without `--name` (docker lets the daemon pick a random one). */
  readonly defaultName?: () => string;
}

const MODES = ['replicated', 'global', 'replicated-job', 'global-job'] as const;

/**
 * `service create [OPTIONS] IMAGE [COMMAND] [ARG...]` → a ServiceSpec. Pure: every bad value
 * throws an InvalidArgumentError naming the flag and the value, before anything is created.
 */
export function parseServiceCreate(
  opts: ServiceFlagValues,
  positionals: readonly string[],
  ctx: CreateContext = {},
): ServiceSpec {
  const [image, ...rest] = positionals;
  if (image === undefined || image.trim() === '')
    throw new InvalidArgumentError('IMAGE', '"service create" requires at least 1 argument: IMAGE');
  const name = opts.name ?? ctx.defaultName?.();
  if (name === undefined) throw flagConflict('name', 'a service name is required: use --name NAME');

  const mode = parseMode(opts);
  const labels = nonEmptyMap(parseLabels('label', opts.label ?? []));
  const taskTemplate = buildTaskTemplate(opts, image, rest, ctx);
  const updateConfig = buildUpdateConfig(opts, 'update', undefined);
  const rollbackConfig = buildUpdateConfig(opts, 'rollback', undefined);
  if ((mode.type === 'replicated-job' || mode.type === 'global-job') && (updateConfig || rollbackConfig)) {
    const flag = kebab(
      Object.keys(opts).find((k) => /^(update|rollback)[A-Z]/.test(k)) ?? 'updateParallelism',
    );
    throw flagConflict(flag, `--${flag} cannot be used with ${mode.type} mode: jobs are not rolled out`);
  }
  const ports = (opts.publish ?? []).flatMap((p) => parsePublish('publish', p));
  checkDuplicatePorts(ports);
  const endpointMode =
    opts.endpointMode === undefined
      ? 'vip'
      : parseChoice('endpoint-mode', opts.endpointMode, ['vip', 'dnsrr'] as const);
  const endpointSpec: EndpointSpec | undefined =
    ports.length > 0 || opts.endpointMode !== undefined
      ? { mode: endpointMode, ...(ports.length > 0 && { ports }) }
      : undefined;

  const spec: ServiceSpec = {
    name,
    ...(labels && { labels }),
    taskTemplate,
    mode,
    ...(updateConfig && { updateConfig }),
    ...(rollbackConfig && { rollbackConfig }),
    ...(endpointSpec && { endpointSpec }),
  };
  const networks = (opts.network ?? []).map((n) => parseNetwork('network', n));
  const valid = validateAgainstApi(spec, 'create');
  // Names are resolved to ids by the manager (docker's CLI looks them up first): added after the
  // API check, which wants ids.
  return networks.length > 0 ? { ...valid, taskTemplate: { ...valid.taskTemplate, networks } } : valid;
}

/** Docker's mode rules: which of --replicas, --max-concurrent, --replicas-max-per-node fit which mode. */
export function parseMode(opts: ServiceFlagValues): ServiceMode {
  const type = opts.mode === undefined ? 'replicated' : parseChoice('mode', opts.mode, MODES);
  const replicas = opts.replicas === undefined ? undefined : parseUint('replicas', opts.replicas);
  const maxConcurrent =
    opts.maxConcurrent === undefined ? undefined : parseUint('max-concurrent', opts.maxConcurrent);
  const maxPerNode =
    opts.replicasMaxPerNode === undefined ? 0 : parseUint('replicas-max-per-node', opts.replicasMaxPerNode);
  const notForGlobal = (): void => {
    if (replicas !== undefined)
      throw flagConflict('replicas', '--replicas can only be used with replicated or replicated-job mode');
    if (maxPerNode > 0)
      throw flagConflict(
        'replicas-max-per-node',
        '--replicas-max-per-node can only be used with replicated or replicated-job mode',
      );
  };
  const notConcurrent = (): void => {
    if (maxConcurrent !== undefined)
      throw flagConflict('max-concurrent', '--max-concurrent can only be used with replicated-job mode');
  };
  switch (type) {
    case 'replicated':
      notConcurrent();
      return { type, replicas: replicas ?? 1 };
    case 'global':
      notForGlobal();
      notConcurrent();
      return { type };
    case 'replicated-job':
      return { type, maxConcurrent: maxConcurrent ?? replicas ?? 1, totalCompletions: replicas ?? 1 };
    case 'global-job':
      notForGlobal();
      notConcurrent();
      return { type };
  }
}

function buildTaskTemplate(
  opts: ServiceFlagValues,
  image: string,
  commandWords: readonly string[],
  ctx: ParseEnvironment,
): TaskSpec {
  const entrypoint = opts.entrypoint === undefined ? undefined : parseWords('entrypoint', opts.entrypoint);
  const env = buildEnv(opts, ctx);
  const containerLabels = nonEmptyMap(parseLabels('container-label', opts.containerLabel ?? []));
  const mounts = (opts.mount ?? []).map((m) => parseMount('mount', m));
  checkDuplicateMounts('mount', mounts);
  const healthcheck = buildHealth(opts, undefined);
  const container: ContainerSpec = {
    image,
    ...(entrypoint && { entrypoint }),
    ...splitCommand(commandWords),
    ...(env && { env }),
    ...(containerLabels && { labels: containerLabels }),
    ...(mounts.length > 0 && { mounts }),
    ...(opts.user !== undefined && { user: opts.user }),
    ...(opts.workdir !== undefined && { workdir: opts.workdir }),
    ...(opts.hostname !== undefined && { hostname: opts.hostname }),
    ...(opts.init === true && { init: true }),
    ...(opts.stopSignal !== undefined && { stopSignal: parseStopSignal(opts.stopSignal) }),
    ...(opts.stopGracePeriod !== undefined && {
      stopGracePeriodMs: parseFlagDuration('stop-grace-period', opts.stopGracePeriod),
    }),
    ...(healthcheck && { healthcheck }),
  };
  const resources = buildResources(opts, undefined);
  const restartPolicy = buildRestartPolicy(opts, undefined);
  const placement = buildPlacement(opts);
  return {
    container,
    ...(resources && { resources }),
    ...(restartPolicy && { restartPolicy }),
    ...(placement && { placement }),
  };
}

/** Env files first, then `-e`, each key once at its last position (docker's makeEnv). */
function buildEnv(opts: ServiceFlagValues, ctx: ParseEnvironment): readonly string[] | undefined {
  const entries = [
    ...(opts.envFile ?? []).flatMap((path) => parseEnvFile('env-file', path, ctx)),
    ...(opts.env ?? []).map((e) => resolveEnvEntry('env', e, ctx)),
  ];
  const out: string[] = [];
  for (const entry of entries) {
    const key = envKey(entry);
    const at = out.findIndex((e) => envKey(e) === key);
    if (at >= 0) out.splice(at, 1);
    out.push(entry);
  }
  return nonEmpty(out);
}

function buildPlacement(opts: ServiceFlagValues): Placement | undefined {
  const constraints = (opts.constraint ?? []).map((c) => parseConstraint('constraint', c));
  const preferences = (opts.placementPref ?? []).map((p) => parsePlacementPref('placement-pref', p));
  const maxReplicasPerNode =
    opts.replicasMaxPerNode === undefined ? 0 : parseUint('replicas-max-per-node', opts.replicasMaxPerNode);
  if (constraints.length === 0 && preferences.length === 0 && maxReplicasPerNode === 0) return undefined;
  return {
    ...(constraints.length > 0 && { constraints }),
    ...(preferences.length > 0 && { preferences }),
    ...(maxReplicasPerNode > 0 && { maxReplicasPerNode }),
  };
}

function kebab(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

export function checkDuplicateMounts(flag: string, mounts: readonly Mount[]): void {
  const seen = new Set<string>();
  for (const m of mounts) {
    if (seen.has(m.target)) throw flagError(flag, m.target, 'duplicate mount target');
    seen.add(m.target);
  }
}

export function checkDuplicatePorts(ports: readonly PortConfig[], flag = 'publish'): void {
  const seen = new Set<string>();
  for (const p of ports) {
    if (p.publishedPort === 0) continue;
    const key = `${p.publishedPort}/${p.protocol}`;
    if (seen.has(key)) throw flagError(flag, key, `published port ${key} is used twice`);
    seen.add(key);
  }
}

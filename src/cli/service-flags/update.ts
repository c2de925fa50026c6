import type {
  ContainerSpec,
  Mount,
  Placement,
  PlacementPreference,
  PortConfig,
  ServiceMode,
  ServiceSpec,
  TaskSpec,
} from '../../api/index.js';
import { checkDuplicateMounts, checkDuplicatePorts } from './create.js';
import { flagConflict } from './errors.js';
import { parseMount } from './mount.js';
import { updateNetworks } from './networks.js';
import type { ServiceFlagValues } from './options.js';
import { parsePublish, portKey } from './publish.js';
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
  parseFlagDuration,
  parseLabels,
  parseUint,
  resolveEnvEntry,
} from './values.js';

/** Flags that do not change the spec: they may accompany `--rollback`. */
const WAIT_FLAGS: readonly (keyof ServiceFlagValues)[] = ['detach', 'quiet', 'rollback'];

/**
 * True for `service update --rollback SERVICE`, which the manager serves from the previous spec;
 * like docker, refuses `--rollback` with any flag that would change the spec.
 */
export function wantsRollback(opts: ServiceFlagValues): boolean {
  if (opts.rollback !== true) return false;
  const others = (Object.keys(opts) as (keyof ServiceFlagValues)[]).filter(
    (k) => !WAIT_FLAGS.includes(k) && opts[k] !== undefined && !(k === 'healthcheck' && opts[k] === true),
  );
  if (others.length > 0) throw flagConflict('rollback', 'other flags may not be combined with --rollback');
  return true;
}

/**
 * `service update` flags applied to the current spec, with docker's add/remove semantics: removals
 * first, then additions; `--env-add K=V` replaces K; `--mount-add` replaces the mount at the same
 * target; `--*-rm` of something absent is ignored. Pure; throws before anything is sent.
 */
export function applyServiceUpdate(
  spec: ServiceSpec,
  opts: ServiceFlagValues,
  env: ParseEnvironment = {},
): ServiceSpec {
  if (wantsRollback(opts))
    throw flagConflict('rollback', '--rollback is served by the manager, not applied here');
  const labels = updateMap(spec.labels, opts.labelRm, parseLabels('label-add', opts.labelAdd ?? []));
  const mode = updateMode(spec.mode, opts);
  const updateConfig = buildUpdateConfig(opts, 'update', spec.updateConfig);
  const rollbackConfig = buildUpdateConfig(opts, 'rollback', spec.rollbackConfig);
  const ports = updatePorts(spec.endpointSpec?.ports ?? [], opts);
  const endpointSpec =
    ports === undefined
      ? spec.endpointSpec
      : ports.length > 0
        ? { mode: spec.endpointSpec?.mode ?? 'vip', ports }
        : spec.endpointSpec?.mode === 'dnsrr'
          ? { mode: 'dnsrr' as const }
          : undefined;
  const { labels: _l, updateConfig: _u, rollbackConfig: _r, endpointSpec: _e, ...rest } = spec;
  const next: ServiceSpec = {
    ...rest,
    ...(labels && { labels }),
    mode,
    taskTemplate: updateTaskTemplate(spec.taskTemplate, opts, env),
    ...(updateConfig && { updateConfig }),
    ...(rollbackConfig && { rollbackConfig }),
    ...(endpointSpec && { endpointSpec }),
  };
  // Added network names are resolved by the manager; the API check wants ids, so it runs without.
  const { networks, ...template } = next.taskTemplate;
  const valid = validateAgainstApi({ ...next, taskTemplate: template }, 'update');
  return networks ? { ...valid, taskTemplate: { ...valid.taskTemplate, networks } } : valid;
}

function updateMode(mode: ServiceMode, opts: ServiceFlagValues): ServiceMode {
  if (opts.replicasMaxPerNode !== undefined && (mode.type === 'global' || mode.type === 'global-job'))
    throw flagConflict(
      'replicas-max-per-node',
      '--replicas-max-per-node can only be used with replicated or replicated-job mode',
    );
  if (opts.maxConcurrent !== undefined && mode.type !== 'replicated-job')
    throw flagConflict('max-concurrent', '--max-concurrent can only be used with replicated-job mode');
  if (opts.replicas === undefined && opts.maxConcurrent === undefined) return mode;
  const replicas = opts.replicas === undefined ? undefined : parseUint('replicas', opts.replicas);
  switch (mode.type) {
    case 'replicated':
      return { ...mode, replicas: replicas ?? mode.replicas };
    case 'replicated-job':
      return {
        ...mode,
        totalCompletions: replicas ?? mode.totalCompletions,
        ...(opts.maxConcurrent !== undefined && {
          maxConcurrent: parseUint('max-concurrent', opts.maxConcurrent),
        }),
      };
    default:
      throw flagConflict('replicas', '--replicas can only be used with replicated or replicated-job mode');
  }
}

function updateTaskTemplate(t: TaskSpec, opts: ServiceFlagValues, env: ParseEnvironment): TaskSpec {
  const resources = buildResources(opts, t.resources);
  const restartPolicy = buildRestartPolicy(opts, t.restartPolicy);
  const placement = updatePlacement(t.placement, opts);
  const networks =
    opts.networkAdd === undefined && opts.networkRm === undefined
      ? t.networks
      : updateNetworks(t.networks ?? [], opts, env);
  const { resources: _r, restartPolicy: _p, placement: _l, networks: _n, forceUpdate, ...rest } = t;
  const force = opts.force === true ? (forceUpdate ?? 0) + 1 : forceUpdate;
  return {
    ...rest,
    container: updateContainer(t.container, opts, env),
    ...(resources && { resources }),
    ...(restartPolicy && { restartPolicy }),
    ...(placement && { placement }),
    ...(networks && { networks }),
    ...(force !== undefined && { forceUpdate: force }),
  };
}

function updateContainer(c: ContainerSpec, opts: ServiceFlagValues, env: ParseEnvironment): ContainerSpec {
  let next: ContainerSpec = { ...c };
  const set = <K extends keyof ContainerSpec>(key: K, value: ContainerSpec[K] | undefined): void => {
    const { [key]: _old, ...others } = next;
    next = (value === undefined ? others : { ...others, [key]: value }) as ContainerSpec;
  };
  if (opts.image !== undefined) set('image', opts.image);
  if (opts.args !== undefined) {
    const { command, args } = splitCommand(parseWords('args', opts.args) ?? []);
    set('command', command);
    set('args', args);
  }
  if (opts.entrypoint !== undefined) set('entrypoint', parseWords('entrypoint', opts.entrypoint));
  if (opts.envAdd !== undefined || opts.envRm !== undefined) set('env', updateEnv(c.env, opts, env));
  if (opts.containerLabelAdd !== undefined || opts.containerLabelRm !== undefined)
    set(
      'labels',
      updateMap(
        c.labels,
        opts.containerLabelRm,
        parseLabels('container-label-add', opts.containerLabelAdd ?? []),
      ),
    );
  if (opts.mountAdd !== undefined || opts.mountRm !== undefined)
    set('mounts', updateMounts(c.mounts ?? [], opts));
  if (opts.workdir !== undefined) set('workdir', opts.workdir === '' ? undefined : opts.workdir);
  if (opts.user !== undefined) set('user', opts.user === '' ? undefined : opts.user);
  if (opts.hostname !== undefined) set('hostname', opts.hostname === '' ? undefined : opts.hostname);
  if (opts.init !== undefined) set('init', opts.init);
  if (opts.stopSignal !== undefined)
    set('stopSignal', opts.stopSignal === '' ? undefined : parseStopSignal(opts.stopSignal));
  if (opts.stopGracePeriod !== undefined)
    set('stopGracePeriodMs', parseFlagDuration('stop-grace-period', opts.stopGracePeriod));
  set('healthcheck', buildHealth(opts, c.healthcheck));
  return next;
}

/** Removes by key, then adds or replaces in place (new keys go last, so the order stays stable). */
function updateEnv(
  current: readonly string[] | undefined,
  opts: ServiceFlagValues,
  env: ParseEnvironment,
): readonly string[] | undefined {
  const remove = new Set(opts.envRm ?? []);
  const out = (current ?? []).filter((e) => !remove.has(envKey(e)));
  for (const raw of opts.envAdd ?? []) {
    const entry = resolveEnvEntry('env-add', raw, env);
    const at = out.findIndex((e) => envKey(e) === envKey(entry));
    if (at >= 0) out[at] = entry;
    else out.push(entry);
  }
  return nonEmpty(out);
}

function updateMap(
  current: Readonly<Record<string, string>> | undefined,
  remove: readonly string[] | undefined,
  add: Readonly<Record<string, string>>,
): Record<string, string> | undefined {
  const out: Record<string, string> = { ...current };
  for (const k of remove ?? []) delete out[k];
  Object.assign(out, add);
  return nonEmptyMap(out);
}

/** Docker's order: added mounts win their target, then the old ones, minus removed targets; sorted. */
function updateMounts(current: readonly Mount[], opts: ServiceFlagValues): readonly Mount[] | undefined {
  const added = (opts.mountAdd ?? []).map((m) => parseMount('mount-add', m));
  checkDuplicateMounts('mount-add', added);
  const byTarget = new Map<string, Mount>(added.map((m) => [m.target, m]));
  for (const m of current) if (!byTarget.has(m.target)) byTarget.set(m.target, m);
  for (const target of opts.mountRm ?? []) byTarget.delete(target);
  const sorted = [...byTarget.values()].sort((a, b) =>
    (a.source ?? '') === (b.source ?? '') ? cmp(a.target, b.target) : cmp(a.source ?? '', b.source ?? ''),
  );
  return nonEmpty(sorted);
}

function updatePlacement(current: Placement | undefined, opts: ServiceFlagValues): Placement | undefined {
  const touched =
    opts.constraintAdd !== undefined ||
    opts.constraintRm !== undefined ||
    opts.placementPrefAdd !== undefined ||
    opts.placementPrefRm !== undefined ||
    opts.replicasMaxPerNode !== undefined;
  if (!touched) return current;
  let constraints = current?.constraints ?? [];
  if (opts.constraintAdd !== undefined || opts.constraintRm !== undefined) {
    const added = (opts.constraintAdd ?? []).map((c) => parseConstraint('constraint-add', c));
    const remove = new Set(opts.constraintRm ?? []);
    // Exact strings, duplicates dropped, sorted: docker's result without its duplicates.
    constraints = [...new Set([...constraints, ...added])].filter((c) => !remove.has(c)).sort(cmp);
  }
  let preferences: readonly PlacementPreference[] = current?.preferences ?? [];
  if (opts.placementPrefRm !== undefined) {
    const remove = new Set(
      opts.placementPrefRm.map((p) => parsePlacementPref('placement-pref-rm', p).spread),
    );
    preferences = preferences.filter((p) => !remove.has(p.spread));
  }
  if (opts.placementPrefAdd !== undefined)
    preferences = [
      ...preferences,
      ...opts.placementPrefAdd.map((p) => parsePlacementPref('placement-pref-add', p)),
    ];
  const maxReplicasPerNode =
    opts.replicasMaxPerNode === undefined
      ? (current?.maxReplicasPerNode ?? 0)
      : parseUint('replicas-max-per-node', opts.replicasMaxPerNode);
  if (constraints.length === 0 && preferences.length === 0 && maxReplicasPerNode === 0) return undefined;
  return {
    ...(constraints.length > 0 && { constraints }),
    ...(preferences.length > 0 && { preferences }),
    ...(maxReplicasPerNode > 0 && { maxReplicasPerNode }),
  };
}

/**
 * `--publish-rm` removes by target port and protocol, as docker's does ("by its target port"); the
 * publish mode must match only when the value names one (`mode=host,target=80`), so that `80`
 * also removes a host-mode port. `--publish-add` skips an identical entry. Sorted like docker.
 */
function updatePorts(current: readonly PortConfig[], opts: ServiceFlagValues): PortConfig[] | undefined {
  if (opts.publishAdd === undefined && opts.publishRm === undefined) return undefined;
  const removals = (opts.publishRm ?? []).map((v) => ({
    ports: parsePublish('publish-rm', v),
    modeGiven: /(^|,)\s*mode\s*=/i.test(v),
  }));
  const kept = dedupe(current).filter(
    (p) =>
      !removals.some((r) =>
        r.ports.some(
          (q) =>
            q.targetPort === p.targetPort &&
            q.protocol === p.protocol &&
            (!r.modeGiven || q.publishMode === p.publishMode),
        ),
      ),
  );
  const keys = new Set(current.map(portKey));
  const added = (opts.publishAdd ?? [])
    .flatMap((v) => parsePublish('publish-add', v))
    .filter((p) => !keys.has(portKey(p)));
  const out = dedupe([...kept, ...added]).sort((a, b) => cmp(portKey(a), portKey(b)));
  checkDuplicatePorts(out, 'publish-add');
  return out;
}

function dedupe(ports: readonly PortConfig[]): PortConfig[] {
  const seen = new Set<string>();
  return ports.filter((p) => {
    const k = portKey(p);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

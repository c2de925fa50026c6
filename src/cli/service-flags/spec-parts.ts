import {
  DEFAULT_RESTART_POLICY,
  DEFAULT_ROLLBACK_CONFIG,
  DEFAULT_UPDATE_CONFIG,
  type HealthConfig,
  type PlacementPreference,
  type ResourceAmounts,
  type ResourceRequirements,
  type RestartPolicy,
  type UpdateConfig,
  validateConstraint,
} from '../../api/index.js';
import { InvalidArgumentError } from '../../common/index.js';
import { flagConflict, flagError } from './errors.js';
import type { ServiceFlagValues } from './options.js';
import {
  parseChoice,
  parseFlagDuration,
  parseMemoryBytes,
  parseNanoCpus,
  parseRatio,
  parseUint,
  splitShellWords,
} from './values.js';

/** Spec pieces built the same way by `service create` and `service update`. */

export function anyGiven(opts: ServiceFlagValues, keys: readonly (keyof ServiceFlagValues)[]): boolean {
  return keys.some((k) => opts[k] !== undefined);
}

const HEALTH_KEYS = [
  'healthCmd',
  'healthInterval',
  'healthTimeout',
  'healthRetries',
  'healthStartPeriod',
] as const;

/**
 * Docker's healthcheck flags over an existing config (none on create). `--no-healthcheck` sets
 * `['NONE']` and refuses any `--health-*`; a health flag without `--health-cmd` keeps the image's test.
 */
export function buildHealth(
  opts: ServiceFlagValues,
  base: HealthConfig | undefined,
): HealthConfig | undefined {
  const noHealthcheck = opts.healthcheck === false;
  const anyHealth = anyGiven(opts, HEALTH_KEYS);
  if (noHealthcheck) {
    if (anyHealth) throw flagConflict('no-healthcheck', '--no-healthcheck conflicts with --health-* options');
    return { test: ['NONE'] };
  }
  if (!anyHealth) return base;
  let h: HealthConfig = base && base.test[0] !== 'NONE' ? base : { ...base, test: [] };
  if (opts.healthInterval !== undefined)
    h = { ...h, intervalMs: parseFlagDuration('health-interval', opts.healthInterval) };
  if (opts.healthTimeout !== undefined)
    h = { ...h, timeoutMs: parseFlagDuration('health-timeout', opts.healthTimeout) };
  if (opts.healthStartPeriod !== undefined)
    h = { ...h, startPeriodMs: parseFlagDuration('health-start-period', opts.healthStartPeriod) };
  if (opts.healthRetries !== undefined)
    h = { ...h, retries: parseUint('health-retries', opts.healthRetries) };
  if (opts.healthCmd !== undefined)
    h = { ...h, test: opts.healthCmd === '' ? [] : ['CMD-SHELL', opts.healthCmd] };
  return h;
}

const RESTART_CONDITIONS = ['none', 'on-failure', 'any'] as const;

export function buildRestartPolicy(
  opts: ServiceFlagValues,
  base: RestartPolicy | undefined,
): RestartPolicy | undefined {
  if (!anyGiven(opts, ['restartCondition', 'restartDelay', 'restartMaxAttempts', 'restartWindow']))
    return base;
  let p: RestartPolicy = base ?? DEFAULT_RESTART_POLICY;
  if (opts.restartCondition !== undefined)
    p = { ...p, condition: parseChoice('restart-condition', opts.restartCondition, RESTART_CONDITIONS) };
  if (opts.restartDelay !== undefined)
    p = { ...p, delayMs: parseFlagDuration('restart-delay', opts.restartDelay) };
  if (opts.restartMaxAttempts !== undefined)
    p = { ...p, maxAttempts: parseUint('restart-max-attempts', opts.restartMaxAttempts) };
  if (opts.restartWindow !== undefined)
    p = { ...p, windowMs: parseFlagDuration('restart-window', opts.restartWindow) };
  return p;
}

/** `--update-*` (with the canary flags) or `--rollback-*` over the current config or the defaults. */
export function buildUpdateConfig(
  opts: ServiceFlagValues,
  which: 'update' | 'rollback',
  base: UpdateConfig | undefined,
): UpdateConfig | undefined {
  const v =
    which === 'update'
      ? {
          parallelism: opts.updateParallelism,
          delay: opts.updateDelay,
          monitor: opts.updateMonitor,
          failureAction: opts.updateFailureAction,
          maxFailureRatio: opts.updateMaxFailureRatio,
          order: opts.updateOrder,
          canary: opts.updateCanary,
          canaryAuto: opts.updateCanaryAuto,
        }
      : {
          parallelism: opts.rollbackParallelism,
          delay: opts.rollbackDelay,
          monitor: opts.rollbackMonitor,
          failureAction: opts.rollbackFailureAction,
          maxFailureRatio: opts.rollbackMaxFailureRatio,
          order: opts.rollbackOrder,
          canary: undefined,
          canaryAuto: undefined,
        };
  if (Object.values(v).every((x) => x === undefined)) return base;
  const f = (name: string) => `${which}-${name}`;
  let c: UpdateConfig = base ?? (which === 'update' ? DEFAULT_UPDATE_CONFIG : DEFAULT_ROLLBACK_CONFIG);
  if (v.parallelism !== undefined) c = { ...c, parallelism: parseUint(f('parallelism'), v.parallelism) };
  if (v.delay !== undefined) c = { ...c, delayMs: parseFlagDuration(f('delay'), v.delay) };
  if (v.monitor !== undefined) c = { ...c, monitorMs: parseFlagDuration(f('monitor'), v.monitor) };
  if (v.failureAction !== undefined) {
    const actions =
      which === 'update' ? (['pause', 'continue', 'rollback'] as const) : (['pause', 'continue'] as const);
    c = { ...c, failureAction: parseChoice(f('failure-action'), v.failureAction, actions) };
  }
  if (v.maxFailureRatio !== undefined)
    c = { ...c, maxFailureRatio: parseRatio(f('max-failure-ratio'), v.maxFailureRatio) };
  if (v.order !== undefined)
    c = { ...c, order: parseChoice(f('order'), v.order, ['stop-first', 'start-first']) };
  if (v.canary !== undefined) c = { ...c, canary: parseUint('update-canary', v.canary) };
  if (v.canaryAuto !== undefined)
    c = { ...c, canaryAutoPromoteMs: parseFlagDuration('update-canary-auto', v.canaryAuto) };
  if ((c.canaryAutoPromoteMs ?? 0) > 0 && (c.canary ?? 0) === 0)
    throw flagConflict('update-canary-auto', '--update-canary-auto needs --update-canary N with N > 0');
  return c;
}

export function buildResources(
  opts: ServiceFlagValues,
  base: ResourceRequirements | undefined,
): ResourceRequirements | undefined {
  const amounts = (
    current: ResourceAmounts | undefined,
    cpuFlag: string,
    cpu: string | undefined,
    memFlag: string,
    mem: string | undefined,
  ): ResourceAmounts | undefined => {
    if (cpu === undefined && mem === undefined) return current;
    const next: ResourceAmounts = {
      ...current,
      ...(cpu !== undefined && { nanoCPUs: parseNanoCpus(cpuFlag, cpu) }),
      ...(mem !== undefined && { memoryBytes: parseMemoryBytes(memFlag, mem) }),
    };
    // 0 means "no limit/reservation", as in docker; keep the spec free of empty entries.
    const pruned: ResourceAmounts = {
      ...(next.nanoCPUs ? { nanoCPUs: next.nanoCPUs } : {}),
      ...(next.memoryBytes ? { memoryBytes: next.memoryBytes } : {}),
    };
    return Object.keys(pruned).length > 0 ? pruned : undefined;
  };
  const limits = amounts(base?.limits, 'limit-cpu', opts.limitCpu, 'limit-memory', opts.limitMemory);
  const reservations = amounts(
    base?.reservations,
    'reserve-cpu',
    opts.reserveCpu,
    'reserve-memory',
    opts.reserveMemory,
  );
  if (!limits && !reservations) return undefined;
  return { ...(limits && { limits }), ...(reservations && { reservations }) };
}

/** A constraint in the form the scheduler understands: `node.role==manager`, `node.labels.x!=y`. */
export function parseConstraint(flag: string, value: string): string {
  if (!/(==|!=)/.test(value))
    throw new InvalidArgumentError(
      `--${flag}`,
      `invalid constraint expression ${JSON.stringify(value)} for "--${flag}" flag: use key==value or key!=value`,
    );
  validateConstraint(`--${flag}`, value);
  return value;
}

export function parsePlacementPref(flag: string, value: string): PlacementPreference {
  const eq = value.indexOf('=');
  if (eq <= 0) throw flagError(flag, value, 'placement preference must be of the format "<strategy>=<arg>"');
  const strategy = value.slice(0, eq);
  if (strategy !== 'spread')
    throw flagError(flag, value, `unsupported placement preference ${strategy} (only spread is supported)`);
  return { spread: value.slice(eq + 1) };
}

const SIGNAL_RE = /^(SIG)?[A-Z][A-Z0-9]*([+-]\d+)?$|^\d+$/;

export function parseStopSignal(value: string): string {
  if (!SIGNAL_RE.test(value.toUpperCase())) throw flagError('stop-signal', value, `invalid signal: ${value}`);
  return value;
}

/** Entrypoint or args: shell words; an empty string clears. */
export function parseWords(flag: string, value: string): string[] | undefined {
  const words = splitShellWords(flag, value);
  return words.length > 0 ? words : undefined;
}

/** `COMMAND [ARG...]` split the way ContainerSpec holds it. */
export function splitCommand(words: readonly string[]): { command?: string[]; args?: string[] } {
  if (words.length === 0) return {};
  return { command: [words[0]!], ...(words.length > 1 && { args: words.slice(1) }) };
}

/** Keeps `undefined` and empty collections out of specs, so "unset" has one representation. */
export function nonEmpty<T>(items: readonly T[] | undefined): readonly T[] | undefined {
  return items && items.length > 0 ? items : undefined;
}

export function nonEmptyMap(
  map: Readonly<Record<string, string>> | undefined,
): Record<string, string> | undefined {
  return map && Object.keys(map).length > 0 ? { ...map } : undefined;
}

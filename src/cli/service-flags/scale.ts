import type { NodeSpec, ServiceMode } from '../../api/index.js';
import { validateNodeSpec } from '../../api/index.js';
import { InvalidArgumentError } from '../../common/index.js';
import { flagConflict } from './errors.js';
import type { NodeUpdateFlagValues } from './options.js';
import { parseChoice, parseLabels } from './values.js';

export interface ScaleRequest {
  readonly service: string;
  readonly replicas: number;
}

/**
 * `service scale web=3 api=5`: every argument is checked before any service is touched, so one
 * bad specifier scales nothing.
 */
export function parseScaleArgs(args: readonly string[]): ScaleRequest[] {
  if (args.length === 0)
    throw new InvalidArgumentError('SERVICE=REPLICAS', '"service scale" requires at least 1 argument');
  return args.map((arg) => {
    const eq = arg.indexOf('=');
    const service = eq < 0 ? '' : arg.slice(0, eq);
    const value = eq < 0 ? '' : arg.slice(eq + 1);
    if (service === '' || value === '')
      throw new InvalidArgumentError(
        'SERVICE=REPLICAS',
        `invalid scale specifier '${arg}': use SERVICE=REPLICAS, e.g. web=3`,
      );
    if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value)))
      throw new InvalidArgumentError(
        'SERVICE=REPLICAS',
        `${service}: invalid replicas value ${value}: must be a non-negative integer`,
      );
    return { service, replicas: Number(value) };
  });
}

/** The mode after `scale`: replicas for replicated services, total completions for replicated jobs. */
export function scaleMode(mode: ServiceMode, replicas: number): ServiceMode {
  switch (mode.type) {
    case 'replicated':
      return { ...mode, replicas };
    case 'replicated-job':
      return { ...mode, totalCompletions: replicas };
    default:
      throw flagConflict('replicas', 'scale can only be used with replicated or replicated-job mode');
  }
}

/**
 * `node update`: `--availability`, `--role`, `--label-add k=v`, `--label-rm k`. Removing a
 * label the node does not have is an error, as in docker.
 */
export function applyNodeUpdate(spec: NodeSpec, opts: NodeUpdateFlagValues): NodeSpec {
  const labels: Record<string, string> = { ...spec.labels };
  for (const key of opts.labelRm ?? []) {
    if (!(key in labels))
      throw new InvalidArgumentError('--label-rm', `key ${key} doesn't exist in node's labels`);
    delete labels[key];
  }
  Object.assign(labels, parseLabels('label-add', opts.labelAdd ?? []));
  const { labels: _old, ...rest } = spec;
  const next: NodeSpec = {
    ...rest,
    ...(Object.keys(labels).length > 0 && { labels }),
    ...(opts.availability !== undefined && {
      availability: parseChoice('availability', opts.availability, ['active', 'pause', 'drain']),
    }),
    ...(opts.role !== undefined && { desiredRole: parseChoice('role', opts.role, ['worker', 'manager']) }),
  };
  validateNodeSpec(next);
  return next;
}

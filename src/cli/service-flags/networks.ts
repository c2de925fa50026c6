import type { NetworkAttachmentConfig, NetworkId } from '../../api/index.js';
import { flagError } from './errors.js';
import type { ServiceFlagValues } from './options.js';
import type { KnownNetwork, ParseEnvironment } from './values.js';

/** `--network NAME` or `--network name=NAME[,alias=A]…` (also `--network-add`). */
export function parseNetwork(flag: string, value: string): NetworkAttachmentConfig {
  if (!value.includes('=')) {
    if (value.trim() === '') throw flagError(flag, value, 'network name is empty');
    return { target: value as NetworkId };
  }
  let target = '';
  const aliases: string[] = [];
  for (const part of value.split(',')) {
    const [k, v = ''] = part.split('=', 2) as [string, string?];
    if (k === 'name' || k === 'target') target = v;
    else if (k === 'alias') aliases.push(v);
    else throw flagError(flag, value, `invalid field key ${k}`);
  }
  if (target === '') throw flagError(flag, value, 'network name is empty');
  return { target: target as NetworkId, ...(aliases.length > 0 && { aliases }) };
}

/**
 * Docker's `--network-rm` then `--network-add` over the attachments (which hold ids: the manager
 * resolved them). A removed network must exist but need not be attached (ignored then); an added
 * one already attached is refused. Names are matched through `env.networks`; without it only ids
 * and unique id prefixes are. Names still unresolved are sent as they are: the manager resolves
 * them (and refuses a network attached twice). Sorted by target, as docker does.
 */
export function updateNetworks(
  current: readonly NetworkAttachmentConfig[],
  opts: ServiceFlagValues,
  env: ParseEnvironment,
): readonly NetworkAttachmentConfig[] | undefined {
  const removed = new Set((opts.networkRm ?? []).map((ref) => resolveRemoved(ref, current, env)));
  const out = current.filter((a) => !removed.has(a.target));
  for (const raw of opts.networkAdd ?? []) {
    const added = parseNetwork('network-add', raw);
    const id = idOf(added.target, env.networks);
    if (out.some((a) => a.target === added.target || (id !== undefined && a.target === id)))
      throw flagError('network-add', raw, `service is already attached to network ${added.target}`);
    out.push(id === undefined ? added : { ...added, target: id as NetworkId });
  }
  const sorted = out.sort((a, b) => (a.target < b.target ? -1 : a.target > b.target ? 1 : 0));
  return sorted.length > 0 ? sorted : undefined;
}

/** The id a `--network-rm` value names; an unknown network is an error, as in docker. */
function resolveRemoved(
  ref: string,
  current: readonly NetworkAttachmentConfig[],
  env: ParseEnvironment,
): string {
  if (ref.trim() === '') throw flagError('network-rm', ref, 'network name is empty');
  if (env.networks !== undefined) {
    const id = idOf(ref, env.networks);
    if (id === undefined) throw flagError('network-rm', ref, `network ${ref} not found`);
    return id;
  }
  const attached = current.filter((a) => a.target === ref || a.target.startsWith(ref));
  if (attached.length === 1) return attached[0]!.target;
  throw flagError(
    'network-rm',
    ref,
    `no attached network has id ${ref} (names are resolved only with the cluster's network list)`,
  );
}

/** Docker's lookup order: full id, then name, then unique id prefix. */
function idOf(ref: string, known: readonly KnownNetwork[] | undefined): string | undefined {
  if (known === undefined) return undefined;
  const exact = known.find((n) => n.id === ref) ?? known.find((n) => n.name === ref);
  if (exact) return exact.id;
  const prefixed = known.filter((n) => n.id.startsWith(ref));
  return prefixed.length === 1 ? prefixed[0]!.id : undefined;
}

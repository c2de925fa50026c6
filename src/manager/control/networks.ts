import {
  DEFAULT_CLUSTER_SPEC,
  generateId,
  isTerminalTaskState,
  type Network,
  type NetworkControlMethods,
  type NetworkId,
  type RandomBytes,
  type Service,
  type ServiceSpec,
  validateNetworkSpec,
} from '../../api/index.js';
import { FailedPreconditionError, InvalidArgumentError, NotFoundError } from '../../common/index.js';
import type { Handlers } from '../../rpc/index.js';
import { allocateNetworkStatus, publishesIngress, resolvePorts } from '../allocator/index.js';
import { by, type MemoryStore, type ReadTx, type WriteTx } from '../store/index.js';

export interface NetworkControlDeps {
  readonly store: MemoryStore;
  readonly randomBytes: RandomBytes;
}

/** By full id, name, or unique id prefix, as docker's CLI does. */
export function resolveNetwork(tx: ReadTx, ref: string): Network {
  const exact = tx.get('network', ref);
  if (exact) return exact;
  const named = tx.find('network', by.name(ref));
  if (named.length === 1) return named[0]!;
  const prefixed = tx.find('network', by.idPrefix(ref));
  if (prefixed.length === 1) return prefixed[0]!;
  if (prefixed.length > 1)
    throw new InvalidArgumentError('network', `network ${ref} is ambiguous (${prefixed.length} matches)`);
  throw new NotFoundError('network', ref);
}

/**
 * Writes that allocate something cluster-wide (a subnet, a VNI, a published port) also rewrite
 * the ingress network unchanged: two such transactions racing on different managers then
 * conflict on its version, and the loser re-runs and sees the winner's allocation.
 */
function serialise(tx: WriteTx): void {
  const ingress = tx.find('network', by.all()).find((n) => n.spec.ingress);
  if (ingress) tx.update('network', ingress);
}

/** `--network NAME` → the network's id; the ingress network cannot be named (docker's rule). */
export function resolveServiceNetworks(tx: ReadTx, spec: ServiceSpec): ServiceSpec {
  const attachments = spec.taskTemplate?.networks;
  if (!attachments?.length) return spec;
  const seen = new Set<string>();
  const networks = attachments.map((a, i) => {
    let n: Network;
    try {
      n = resolveNetwork(tx, a.target);
    } catch (e) {
      if (e instanceof NotFoundError)
        throw new InvalidArgumentError(`taskTemplate.networks[${i}].target`, `network ${a.target} not found`);
      throw e;
    }
    if (n.spec.ingress) {
      throw new InvalidArgumentError(
        `taskTemplate.networks[${i}].target`,
        `service cannot be explicitly attached to the ingress network "${n.spec.name}"`,
      );
    }
    if (seen.has(n.id))
      throw new InvalidArgumentError(
        `taskTemplate.networks[${i}].target`,
        `network ${a.target} is attached twice`,
      );
    seen.add(n.id);
    return { ...a, target: n.id };
  });
  return { ...spec, taskTemplate: { ...spec.taskTemplate, networks } };
}

/**
 * The service's endpoint as written at create/update/rollback, inside that transaction: ports
 * resolved and checked against every other service (a conflict refuses the whole request),
 * the VIPs it already has kept (the allocator adds and drops them as its networks change).
 */
export function serviceEndpoint(
  tx: WriteTx,
  spec: ServiceSpec,
  self: Service | undefined,
): Service['status'] {
  for (const [i, a] of (spec.taskTemplate.networks ?? []).entries()) {
    const n = tx.get('network', a.target);
    if (!n)
      throw new InvalidArgumentError(`taskTemplate.networks[${i}].target`, `network ${a.target} not found`);
  }
  const es = spec.endpointSpec;
  const virtualIps = self?.status.endpoint?.virtualIps ?? [];
  if (!es && virtualIps.length === 0 && !self?.status.endpoint) return {};
  const ports = resolvePorts(spec, self, tx.find('service', by.all()));
  if (publishesIngress(spec)) serialise(tx);
  return { endpoint: { spec: es ?? { mode: 'vip' }, ports, virtualIps } };
}

function checkNetworkSpec(spec: Network['spec']): void {
  validateNetworkSpec(spec);
  if (spec.ingress)
    throw new InvalidArgumentError(
      'ingress',
      'the ingress network is created by the swarm and cannot be added',
    );
}

export function networkHandlers(deps: NetworkControlDeps): Handlers<NetworkControlMethods> {
  const { store } = deps;
  return {
    CreateNetwork: async (req) => {
      checkNetworkSpec(req.spec);
      const id = generateId<NetworkId>(deps.randomBytes);
      return store.update(
        (tx) => {
          const existing = tx.find('network', by.all());
          const clash = existing.find((n) => n.spec.name.toLowerCase() === req.spec.name.toLowerCase());
          if (clash)
            throw new InvalidArgumentError('name', `network with name ${req.spec.name} already exists`);
          const pool =
            tx.find('cluster', by.all())[0]?.spec.defaultAddrPool ?? DEFAULT_CLUSTER_SPEC.defaultAddrPool;
          const status = allocateNetworkStatus(req.spec, existing, pool);
          serialise(tx);
          return tx.create('network', { id, spec: req.spec, status });
        },
        { retries: 3 },
      );
    },

    ListNetworks: async () => store.view((tx) => ({ networks: tx.find('network', by.all()) })),

    InspectNetwork: async (req) => store.view((tx) => resolveNetwork(tx, req.id)),

    RemoveNetwork: async (req) => {
      await store.update(
        (tx) => {
          const n = resolveNetwork(tx, req.id);
          const services = tx.find('service', by.all());
          if (n.spec.ingress) {
            const user = services.find((s) => publishesIngress(s.spec));
            if (user)
              throw new FailedPreconditionError(
                `ingress network cannot be removed because service ${user.id} depends on it`,
              );
          }
          const user = services.find((s) => s.spec.taskTemplate.networks?.some((a) => a.target === n.id));
          if (user)
            throw new FailedPreconditionError(`network ${n.spec.name} is in use by service ${user.id}`);
          const task = tx
            .find('task', by.all())
            .find(
              (t) => t.networks?.some((a) => a.networkId === n.id) && !isTerminalTaskState(t.status.state),
            );
          if (task) throw new FailedPreconditionError(`network ${n.spec.name} is in use by task ${task.id}`);
          tx.delete('network', n.id);
        },
        { retries: 3 },
      );
      return {};
    },
  };
}

import {
  generateId,
  type RandomBytes,
  type Service,
  type ServiceControlMethods,
  type ServiceId,
  type ServiceSpec,
  type UpdateState,
  type UpdateStatus,
  validateServiceSpec,
} from '../../api/index.js';
import {
  type Clock,
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
  SwarmError,
} from '../../common/index.js';
import type { Handlers } from '../../rpc/index.js';
import { jsonEqual } from '../orchestrator/index.js';
import { by, type MemoryStore, type ReadTx } from '../store/index.js';
import { resolveServiceNetworks, serviceEndpoint } from './networks.js';

export interface ServiceControlDeps {
  readonly store: MemoryStore;
  /** Stamps update status times (the updater's clock). */
  readonly clock: Clock;
  readonly randomBytes: RandomBytes;
}

/** Finds a service by full id, name, or unique id prefix, as docker's CLI does. */
export function resolveService(tx: ReadTx, ref: string): Service {
  const exact = tx.get('service', ref);
  if (exact) return exact;
  const named = tx.find('service', by.name(ref));
  if (named.length === 1) return named[0]!;
  const prefixed = tx.find('service', by.idPrefix(ref));
  if (prefixed.length === 1) return prefixed[0]!;
  if (prefixed.length > 1)
    throw new InvalidArgumentError('service', `service ${ref} is ambiguous (${prefixed.length} matches)`);
  throw new NotFoundError('service', ref);
}

/** Ingress ports need a VIP to balance over, which dnsrr has none of (docker's rule). */
function checkPublishing(spec: ServiceSpec): void {
  const es = spec.endpointSpec;
  if (es?.mode === 'dnsrr' && (es.ports ?? []).some((p) => p.publishMode === 'ingress')) {
    throw new InvalidArgumentError(
      'endpointSpec',
      "EndpointSpec: port published with ingress mode can't be used with dnsrr mode",
    );
  }
}

/** Whether tasks must be replaced: what they run or the endpoint they were given changed. */
function tasksChange(from: ServiceSpec, to: ServiceSpec): boolean {
  return !jsonEqual(from.taskTemplate, to.taskTemplate) || !jsonEqual(from.endpointSpec, to.endpointSpec);
}

function isJob(spec: ServiceSpec): boolean {
  return spec.mode.type === 'replicated-job' || spec.mode.type === 'global-job';
}

/** A paused update is resumed by any update of the service (docker's rule). */
function isHeld(s: Service): boolean {
  const state = s.status.updateStatus?.state;
  return state === 'paused' || state === 'rollback_paused';
}

/** A fresh update status: the updater's progress (failures, held tasks, canary) starts over. */
function startedStatus(state: UpdateState, now: number): UpdateStatus {
  return {
    state,
    startedAt: now,
    message: state === 'updating' ? 'update in progress' : 'rollback in progress',
  };
}

export function serviceHandlers(deps: ServiceControlDeps): Handlers<ServiceControlMethods> {
  const { store } = deps;
  return {
    CreateService: async (req) => {
      const spec = store.view((tx) => resolveServiceNetworks(tx, req.spec));
      validateServiceSpec(spec);
      checkPublishing(spec);
      const id = generateId<ServiceId>(deps.randomBytes);
      return store.update(
        (tx) =>
          tx.create('service', { id, spec, specVersion: 1, status: serviceEndpoint(tx, spec, undefined) }),
        { retries: 3 },
      );
    },

    ListServices: async () =>
      store.view((tx) => ({ services: tx.find('service', by.all()), tasks: tx.find('task', by.all()) })),

    InspectService: async (req) => store.view((tx) => resolveService(tx, req.id)),

    UpdateService: async (req) => {
      const spec = store.view((tx) => resolveServiceNetworks(tx, req.spec));
      validateServiceSpec(spec);
      checkPublishing(spec);
      return store.update(
        (tx) => {
          const s = resolveService(tx, req.id);
          if (
            req.specVersion !== undefined ? s.specVersion !== req.specVersion : s.meta.version !== req.version
          ) {
            const [at, asked] =
              req.specVersion !== undefined
                ? [s.specVersion, req.specVersion]
                : [s.meta.version, req.version];
            throw new SwarmError(
              'VERSION_CONFLICT',
              `update out of sequence: service ${s.spec.name} is at version ${at}, not ${asked}`,
            );
          }
          if (spec.name !== s.spec.name)
            throw new InvalidArgumentError('name', `renaming services is not supported (${s.spec.name})`);
          if (spec.mode.type !== s.spec.mode.type) {
            throw new InvalidArgumentError(
              'mode',
              `service mode change is not allowed (${s.spec.mode.type} → ${spec.mode.type})`,
            );
          }
          // Jobs are not rolled out: a spec change starts a new run (the jobs orchestrator).
          const rollout = !isJob(spec) && (tasksChange(s.spec, spec) || isHeld(s));
          const updateStatus = rollout ? startedStatus('updating', deps.clock.now()) : s.status.updateStatus;
          return tx.update('service', {
            ...s,
            previousSpec: s.spec,
            spec: spec,
            specVersion: s.specVersion + 1,
            status: {
              ...s.status,
              ...serviceEndpoint(tx, spec, s),
              ...(updateStatus ? { updateStatus } : {}),
            },
          });
        },
        { retries: 3 },
      );
    },

    RollbackService: async (req) =>
      store.update((tx) => {
        const s = resolveService(tx, req.id);
        if (!s.previousSpec)
          throw new FailedPreconditionError(`service ${s.spec.name} has no previous spec to roll back to`);
        return tx.update('service', {
          ...s,
          spec: s.previousSpec,
          previousSpec: s.spec,
          specVersion: s.specVersion + 1,
          status: {
            ...s.status,
            ...serviceEndpoint(tx, s.previousSpec, s),
            updateStatus: {
              ...startedStatus('rollback_started', deps.clock.now()),
              message: 'manually requested rollback',
            },
          },
        });
      }),

    PromoteService: async (req) =>
      store.update((tx) => {
        const s = resolveService(tx, req.id);
        const u = s.status.updateStatus;
        if (u?.state !== 'canary') {
          throw new FailedPreconditionError(
            `service ${s.spec.name} is not holding canaries (update state: ${u?.state ?? 'none'})`,
          );
        }
        const { canarySince: _, ...rest } = u;
        return tx.update('service', {
          ...s,
          status: {
            ...s.status,
            updateStatus: { ...rest, state: 'updating', canaryPromoted: true, message: 'canaries promoted' },
          },
        });
      }),

    RemoveService: async (req) => {
      await store.update((tx) => tx.delete('service', resolveService(tx, req.id).id));
      return {};
    },

    ListTasks: async (req) =>
      store.view((tx) => {
        const ids = (req.serviceIds ?? []).map((ref) => resolveService(tx, ref).id);
        const tasks =
          ids.length === 0
            ? tx.find('task', by.all())
            : ids.flatMap((id) => tx.find('task', by.serviceId(id)));
        const nodeIds = new Set(tasks.flatMap((t) => (t.nodeId ? [t.nodeId] : [])));
        const nodes = tx.find('node', by.all()).filter((n) => nodeIds.has(n.id));
        return { tasks, nodes };
      }),
  };
}

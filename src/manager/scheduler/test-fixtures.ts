/** Builders shared by the scheduler's tests (not part of the module's API). */
import {
  DEFAULT_RESTART_POLICY,
  generateId,
  type Meta,
  type Node,
  type NodeId,
  type Placement,
  type PortConfig,
  type ResourceAmounts,
  type Service,
  type ServiceId,
  type TaskId,
  type TaskState,
} from '../../api/index.js';
import { ManualClock, SeededRandom } from '../../common/index.js';
import {
  type ChangeSet,
  type ChangeSetApplier,
  type CreateInput,
  LocalProposer,
  MemoryStore,
  type Proposer,
} from '../store/index.js';
import { NodeInfo } from './node-info.js';

export function idSource(seed = 1): <I extends ServiceId | TaskId | NodeId>() => I {
  const r = new SeededRandom(seed);
  const bytes = (n: number): Uint8Array => Uint8Array.from({ length: n }, () => r.int(0, 256));
  return () => generateId(bytes);
}

export interface NodeOptions {
  hostname?: string;
  role?: Node['role'];
  state?: Node['status']['state'];
  availability?: Node['spec']['availability'];
  labels?: Record<string, string>;
  engineLabels?: Record<string, string>;
  nanoCPUs?: number;
  memoryBytes?: number;
}

export function nodeInput(id: NodeId, o: NodeOptions = {}): CreateInput<'node'> {
  const role = o.role ?? 'worker';
  return {
    id,
    spec: { desiredRole: role, availability: o.availability ?? 'active', labels: o.labels },
    role,
    status: { state: o.state ?? 'ready' },
    description: {
      hostname: o.hostname ?? `host-${id.slice(0, 4)}`,
      platform: { os: 'linux', architecture: 'x86_64' },
      resources: { nanoCPUs: o.nanoCPUs ?? 4e9, memoryBytes: o.memoryBytes ?? 8 * 2 ** 30 },
      engine: { version: '27.0.0', labels: o.engineLabels },
    },
  };
}

export interface ServiceOptions {
  replicas?: number;
  global?: boolean;
  placement?: Placement;
  reservations?: ResourceAmounts;
  ports?: PortConfig[];
}

export function serviceInput(id: ServiceId, name: string, o: ServiceOptions = {}): CreateInput<'service'> {
  return {
    id,
    spec: {
      name,
      mode: o.global ? { type: 'global' } : { type: 'replicated', replicas: o.replicas ?? 1 },
      taskTemplate: {
        container: { image: 'swarmctl-test/web:v1' },
        restartPolicy: DEFAULT_RESTART_POLICY,
        placement: o.placement,
        resources: o.reservations ? { reservations: o.reservations } : undefined,
      },
      endpointSpec: o.ports ? { mode: 'vip', ports: o.ports } : undefined,
    },
    specVersion: 1,
    status: {},
  };
}

export function taskInput(
  id: TaskId,
  service: Pick<Service, 'id' | 'spec' | 'specVersion'>,
  slot: number,
  o: { nodeId?: NodeId; state?: TaskState; desired?: TaskState } = {},
): CreateInput<'task'> {
  return {
    id,
    serviceId: service.id,
    serviceName: service.spec.name,
    slot,
    nodeId: o.nodeId,
    desiredState: o.desired ?? 'running',
    spec: service.spec.taskTemplate,
    specVersion: service.specVersion,
    status: { state: o.state ?? 'pending', timestamp: 0, message: 'pending task scheduling' },
  };
}

/** A stored-looking object (meta filled) for pure tests that need no store. */
export function stored<T>(input: T, version = 1): T & { meta: Meta } {
  return { ...input, meta: { version, createdAt: 0, updatedAt: 0 } };
}

export function nodeInfo(id: NodeId, o: NodeOptions = {}): NodeInfo {
  return new NodeInfo(stored(nodeInput(id, o)));
}

/** Counts and records every change set proposed, then applies it like LocalProposer. */
export class CountingProposer implements Proposer {
  readonly proposals: ChangeSet[] = [];
  private readonly local: LocalProposer;
  /** Runs before a proposal is applied: lets a test slip a concurrent write in first. */
  beforeApply?: (changes: ChangeSet) => void;

  constructor(readonly applier: ChangeSetApplier) {
    this.local = new LocalProposer(applier);
  }

  propose(changes: ChangeSet, signal?: AbortSignal): Promise<void> {
    this.proposals.push(changes);
    this.beforeApply?.(changes);
    return this.local.propose(changes, signal);
  }
}

export function countingStore(clock = new ManualClock(1_000)): {
  store: MemoryStore;
  proposer: CountingProposer;
} {
  let proposer!: CountingProposer;
  const store = new MemoryStore({
    clock,
    proposer: (s) => {
      proposer = new CountingProposer(s);
      return proposer;
    },
  });
  return { store, proposer };
}

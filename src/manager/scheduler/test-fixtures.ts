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
  type Task,
  type TaskId,
  type TaskState,
} from '../../api/index.js';
import { type Clock, captureLogger, ManualClock, SeededRandom, waitFor } from '../../common/index.js';
import {
  by,
  type ChangeSet,
  type ChangeSetApplier,
  type CreateInput,
  LocalProposer,
  MemoryStore,
  type Proposer,
} from '../store/index.js';
import { NodeInfo } from './node-info.js';
import type { SchedulerOptions } from './options.js';
import { type PassReport, Scheduler } from './scheduler.js';

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

export const QUIET_MS = 50;

/** A scheduler over a counting store with a manual clock; `settle` drives the debounce timers. */
export class SchedulerHarness {
  readonly clock = new ManualClock(1_000);
  readonly store: MemoryStore;
  readonly proposer: CountingProposer;
  readonly scheduler: Scheduler;
  readonly reports: PassReport[] = [];
  /** Warnings and errors the scheduler logged. */
  readonly logs = captureLogger('warn');
  private controller?: AbortController;
  private running?: Promise<void>;
  private readonly ids = idSource(11);

  /** `monotonic` replaces the manual clock's for the scheduler only (benchmarks measure real time). */
  constructor(options: SchedulerOptions = {}, monotonic?: () => number) {
    ({ store: this.store, proposer: this.proposer } = countingStore(this.clock));
    const manual = this.clock;
    const clock: Clock = monotonic
      ? { now: () => manual.now(), monotonic, setTimer: (ms, fn) => manual.setTimer(ms, fn) }
      : manual;
    this.scheduler = new Scheduler(
      { store: this.store, clock, logger: this.logs.logger },
      { quietPeriodMs: QUIET_MS, ...options },
    );
    this.scheduler.onDidPass((r) => this.reports.push(r));
  }

  id<I extends ServiceId | TaskId | NodeId>(): I {
    return this.ids<I>();
  }

  start(): void {
    this.controller = new AbortController();
    this.running = this.scheduler.run(this.controller.signal);
  }

  async stop(): Promise<void> {
    this.controller?.abort();
    await this.running;
  }

  /** Change sets proposed by the scheduler (those that set a task's status or node). */
  schedulerProposals(): ChangeSet[] {
    return this.proposals.filter((cs) =>
      cs.changes.every(
        (c) =>
          c.action === 'update' &&
          c.kind === 'task' &&
          (c.object.status.state === 'assigned' || !!c.object.status.err),
      ),
    );
  }

  /** How often the scheduler had to re-read the store because its watch failed. */
  resyncs(): number {
    return this.logs.records.filter((r) => r.msg === 'scheduler resyncing with the store').length;
  }

  get proposals(): ChangeSet[] {
    return this.proposer.proposals;
  }

  async addNode(o: NodeOptions = {}): Promise<Node> {
    return this.store.update((tx) => tx.create('node', nodeInput(this.id<NodeId>(), o)));
  }

  /** Creates a service and `count` pending tasks in one transaction. */
  async addService(
    name: string,
    count: number,
    o: ServiceOptions & { nodeIds?: NodeId[] } = {},
  ): Promise<Service> {
    return this.store.update((tx) => {
      const service = tx.create('service', serviceInput(this.id<ServiceId>(), name, o));
      for (let i = 0; i < count; i++)
        tx.create(
          'task',
          taskInput(this.id<TaskId>(), service, o.global ? 0 : i + 1, { nodeId: o.nodeIds?.[i] }),
        );
      return service;
    });
  }

  tasks(serviceId?: ServiceId): Task[] {
    return this.store.view((tx) => tx.find('task', serviceId ? by.serviceId(serviceId) : by.all()));
  }

  /** Assigned tasks of the service per node id. */
  perNode(serviceId: ServiceId): Map<NodeId, number> {
    const counts = new Map<NodeId, number>();
    for (const t of this.tasks(serviceId))
      if (t.nodeId && t.status.state === 'assigned') counts.set(t.nodeId, (counts.get(t.nodeId) ?? 0) + 1);
    return counts;
  }

  /** Advances the manual clock past the debounce until `check` holds (polled, with a deadline). */
  async settle(what: string, check: () => string | true, timeoutMs = 5000): Promise<void> {
    await waitFor(
      () => {
        this.clock.advance(QUIET_MS);
        const r = check();
        return r === true ? { done: true, value: undefined } : { done: false, state: r };
      },
      { timeoutMs, intervalMs: 1, what },
    );
  }

  /** Waits until the service's tasks are all assigned or carry an error. */
  async settleService(serviceId: ServiceId): Promise<Task[]> {
    await this.settle(`tasks of ${serviceId} decided`, () => {
      const open = this.tasks(serviceId).filter((t) => t.status.state === 'pending' && !t.status.err);
      return open.length === 0 || `${open.length} tasks still undecided`;
    });
    return this.tasks(serviceId);
  }
}

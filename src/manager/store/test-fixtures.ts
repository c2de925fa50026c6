/** Builders and test doubles shared by the store's tests (not part of the module's API). */
import {
  DEFAULT_RESTART_POLICY,
  generateId,
  type Node,
  type NodeId,
  type Service,
  type ServiceId,
  type TaskId,
  type TaskState,
} from '../../api/index.js';
import { deferred, ManualClock, SeededRandom } from '../../common/index.js';
import { type ChangeSet, decodeChangeSet, encodeChangeSet } from './change-set.js';
import { MemoryStore } from './memory-store.js';
import { type ChangeSetApplier, LocalProposer, type Proposer } from './proposer.js';
import type { CreateInput } from './transaction.js';

export function idSource(seed = 1): <I extends ServiceId | TaskId | NodeId>() => I {
  const r = new SeededRandom(seed);
  const bytes = (n: number): Uint8Array => Uint8Array.from({ length: n }, () => r.int(0, 256));
  return () => generateId(bytes);
}

export function localStore(clock = new ManualClock(1_000)): MemoryStore {
  return new MemoryStore({ clock, proposer: (s) => new LocalProposer(s) });
}

export function newService(id: ServiceId, name: string, replicas = 1): CreateInput<'service'> {
  return {
    id,
    spec: {
      name,
      mode: { type: 'replicated', replicas },
      taskTemplate: {
        container: { image: 'busybox:1.36', command: ['sleep', '1d'] },
        restartPolicy: DEFAULT_RESTART_POLICY,
      },
    },
    specVersion: 1,
    status: {},
  };
}

export function newTask(
  id: TaskId,
  service: Pick<Service, 'id' | 'spec'>,
  slot: number,
  opts: { nodeId?: NodeId; state?: TaskState; desired?: TaskState } = {},
): CreateInput<'task'> {
  return {
    id,
    serviceId: service.id,
    serviceName: service.spec.name,
    slot,
    nodeId: opts.nodeId,
    desiredState: opts.desired ?? 'running',
    spec: service.spec.taskTemplate,
    specVersion: 1,
    status: { state: opts.state ?? 'new', timestamp: 0, message: 'created' },
  };
}

export function newNode(id: NodeId, hostname: string, role: Node['role'] = 'worker'): CreateInput<'node'> {
  return {
    id,
    spec: { desiredRole: role, availability: 'active' },
    role,
    status: { state: 'ready' },
    description: {
      hostname,
      platform: { os: 'linux', architecture: 'x86_64' },
      resources: { nanoCPUs: 2e9, memoryBytes: 2 ** 31 },
      engine: { version: '27.0.0' },
    },
  };
}

/**
 * Stands in for Raft: proposals wait in a log until `commitAll` applies them in order (or, in
 * auto mode, on the next microtask turn, batching everything proposed in the same turn). Every
 * change set is encoded and decoded, as it would be on the wire, and applied to each replica.
 */
export class LogProposer implements Proposer {
  readonly log: Uint8Array[] = [];
  private pending: { data: Uint8Array; done: ReturnType<typeof deferred<void>> }[] = [];
  private scheduled = false;
  private readonly replicas: ChangeSetApplier[] = [];

  constructor(
    private readonly leader: ChangeSetApplier,
    private readonly auto = false,
  ) {}

  addReplica(replica: ChangeSetApplier): void {
    this.replicas.push(replica);
  }

  propose(changes: ChangeSet): Promise<void> {
    const done = deferred<void>();
    this.pending.push({ data: encodeChangeSet(changes), done });
    if (this.auto && !this.scheduled) {
      this.scheduled = true;
      queueMicrotask(() => {
        this.scheduled = false;
        this.commitAll();
      });
    }
    return done.promise;
  }

  get queued(): number {
    return this.pending.length;
  }

  commitAll(): void {
    this.commit(this.pending.length);
  }

  /** Commits and applies the oldest `n` pending proposals. */
  commit(n: number): void {
    const batch = this.pending.slice(0, n);
    this.pending = this.pending.slice(n);
    for (const { data, done } of batch) {
      this.log.push(data);
      for (const r of this.replicas) r.applyCommitted(decodeChangeSet(data));
      const result = this.leader.applyCommitted(decodeChangeSet(data));
      if (result.ok) done.resolve();
      else done.reject(result.error);
    }
  }
}

export function logStore(
  auto = false,
  clock = new ManualClock(1_000),
): { store: MemoryStore; proposer: LogProposer } {
  let proposer!: LogProposer;
  const store = new MemoryStore({
    clock,
    proposer: (s) => {
      proposer = new LogProposer(s, auto);
      return proposer;
    },
  });
  return { store, proposer };
}

/** Reads exactly `n` items from an async iterator (they must already be queued or arrive). */
export async function take<T>(it: AsyncIterator<T>, n: number): Promise<T[]> {
  const out: T[] = [];
  while (out.length < n) {
    const r = await it.next();
    if (r.done) throw new Error(`iterator ended after ${out.length} of ${n} items`);
    out.push(r.value);
  }
  return out;
}

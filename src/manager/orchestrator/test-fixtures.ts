/**
 * Test harness for the orchestration components (not part of the module's API): a MemoryStore on
 * a LocalProposer and a ManualClock, seeded ids, components started and stopped together, and a
 * `settle` that waits until every component has handled every change (no sleeps). The worker and
 * scheduler sides are simulated by writing task fields directly: `simulateScheduler`,
 * `simulateAgentReport`.
 */
import {
  canTransition,
  DEFAULT_RESTART_POLICY,
  generateId,
  type Node,
  type NodeId,
  type Service,
  type ServiceId,
  type ServiceMode,
  type Task,
  type TaskId,
  type TaskSpec,
  type TaskState,
} from '../../api/index.js';
import { ManualClock, noopLogger, SeededRandom } from '../../common/index.js';
import { by, type CreateInput, LocalProposer, MemoryStore } from '../store/index.js';
import type { OrchestratorDeps } from './options.js';

export interface HarnessComponent {
  readonly name: string;
  run(signal: AbortSignal): Promise<void>;
  whenIdle(): Promise<void>;
  isIdle(): boolean;
}

export class OrchestrationHarness {
  readonly clock = new ManualClock(1_700_000_000_000);
  readonly store = new MemoryStore({ clock: this.clock, proposer: (s) => new LocalProposer(s) });
  private readonly random: SeededRandom;
  private readonly running: {
    component: HarnessComponent;
    controller: AbortController;
    done: Promise<void>;
  }[] = [];
  private failure: Promise<never> | undefined;

  constructor(seed = 7) {
    this.random = new SeededRandom(seed);
  }

  readonly randomBytes = (n: number): Uint8Array =>
    Uint8Array.from({ length: n }, () => this.random.int(0, 256));

  get deps(): OrchestratorDeps {
    return { store: this.store, clock: this.clock, logger: noopLogger, randomBytes: this.randomBytes };
  }

  id<I extends ServiceId | NodeId | TaskId>(): I {
    return generateId<I>(this.randomBytes);
  }

  /** Starts components; `settle` then fails fast if one of them fails. */
  start(...components: HarnessComponent[]): void {
    for (const component of components) {
      const controller = new AbortController();
      const done = component.run(controller.signal);
      const failed = done.then(
        () => new Promise<never>(() => {}),
        (e: unknown) => Promise.reject(new Error(`${component.name} failed: ${String(e)}`, { cause: e })),
      );
      this.failure = this.failure ? Promise.race([this.failure, failed]) : failed;
      this.running.push({ component, controller, done });
    }
  }

  /** Stops one component (the rest go on) and waits for its loop to exit. */
  async stopComponent(component: HarnessComponent): Promise<void> {
    const i = this.running.findIndex((r) => r.component === component);
    const entry = this.running[i];
    if (!entry) return;
    this.running.splice(i, 1);
    entry.controller.abort();
    await entry.done;
  }

  async stop(): Promise<void> {
    const all = this.running.splice(0);
    for (const r of all) r.controller.abort();
    await Promise.all(all.map((r) => r.done));
  }

  /** Waits until every running component has seen every applied change and has nothing due. */
  async settle(): Promise<void> {
    for (let round = 0; round < 1_000; round++) {
      const idle = Promise.all(this.running.map((r) => r.component.whenIdle()));
      await (this.failure ? Promise.race([idle, this.failure]) : idle);
      if (this.running.every((r) => r.component.isIdle())) return;
    }
    throw new Error('components did not settle after 1000 rounds');
  }

  /** Advances the manual clock, then settles (timers fire during the advance). */
  async advance(ms: number): Promise<void> {
    this.clock.advance(ms);
    await this.settle();
  }

  // ---- objects ----

  async addNode(
    hostname: string,
    opts: {
      labels?: Record<string, string>;
      role?: Node['role'];
      state?: Node['status']['state'];
      availability?: Node['spec']['availability'];
    } = {},
  ): Promise<Node> {
    const id = this.id<NodeId>();
    const input: CreateInput<'node'> = {
      id,
      spec: {
        desiredRole: opts.role ?? 'worker',
        availability: opts.availability ?? 'active',
        ...(opts.labels ? { labels: opts.labels } : {}),
      },
      role: opts.role ?? 'worker',
      status: { state: opts.state ?? 'ready' },
      description: {
        hostname,
        platform: { os: 'linux', architecture: 'x86_64' },
        resources: { nanoCPUs: 2e9, memoryBytes: 2 ** 31 },
        engine: { version: '27.0.0' },
      },
    };
    return this.store.update((tx) => tx.create('node', input)).then(() => this.node(id));
  }

  async updateNode(id: NodeId, change: (n: Node) => Node): Promise<void> {
    await this.store.update((tx) => tx.update('node', change(tx.get('node', id)!)));
  }

  async setNodeState(id: NodeId, state: Node['status']['state']): Promise<void> {
    await this.updateNode(id, (n) => ({ ...n, status: { ...n.status, state } }));
  }

  async setAvailability(id: NodeId, availability: Node['spec']['availability']): Promise<void> {
    await this.updateNode(id, (n) => ({ ...n, spec: { ...n.spec, availability } }));
  }

  async addService(name: string, mode: ServiceMode, template: Partial<TaskSpec> = {}): Promise<Service> {
    const id = this.id<ServiceId>();
    await this.store.update((tx) =>
      tx.create('service', {
        id,
        spec: {
          name,
          mode,
          taskTemplate: {
            container: { image: 'swarmctl-test/web:v1' },
            restartPolicy: DEFAULT_RESTART_POLICY,
            ...template,
          },
        },
        specVersion: 1,
        status: {},
      }),
    );
    return this.service(id);
  }

  /** A spec change as the control API makes it: previous spec kept, spec version bumped. */
  async updateService(id: ServiceId, change: (spec: Service['spec']) => Service['spec']): Promise<void> {
    await this.store.update((tx) => {
      const s = tx.get('service', id)!;
      tx.update('service', {
        ...s,
        previousSpec: s.spec,
        spec: change(s.spec),
        specVersion: s.specVersion + 1,
      });
    });
  }

  async scale(id: ServiceId, replicas: number): Promise<void> {
    await this.updateService(id, (spec) => ({ ...spec, mode: { type: 'replicated', replicas } }));
  }

  async deleteService(id: ServiceId): Promise<void> {
    await this.store.update((tx) => tx.delete('service', id));
  }

  node(id: NodeId): Node {
    return this.store.view((tx) => tx.get('node', id))!;
  }

  service(id: ServiceId): Service {
    return this.store.view((tx) => tx.get('service', id))!;
  }

  task(id: TaskId): Task | undefined {
    return this.store.view((tx) => tx.get('task', id));
  }

  tasks(serviceId: ServiceId): Task[] {
    return this.store.view((tx) => tx.find('task', by.serviceId(serviceId)));
  }

  /** Tasks the manager still wants (desired ready, running or complete). */
  liveTasks(serviceId: ServiceId): Task[] {
    return this.tasks(serviceId).filter((t) => ['ready', 'running', 'complete'].includes(t.desiredState));
  }

  // ---- simulated scheduler and agents ----

  /**
   * Stands in for the scheduler: unplaced pending tasks go to `pick(task, i)`, preset ones
   * (global) are accepted as they are; both move to `assigned`.
   */
  async simulateScheduler(pick: (task: Task, index: number) => NodeId | undefined): Promise<void> {
    await this.store.update((tx) => {
      let i = 0;
      for (const t of tx.find('task', by.taskState('pending'))) {
        if (!['ready', 'running', 'complete'].includes(t.desiredState)) continue;
        const nodeId = t.nodeId ?? pick(t, i++);
        if (!nodeId) continue;
        tx.update('task', { ...t, nodeId, status: { ...t.status, state: 'assigned', message: 'assigned' } });
      }
    });
    await this.settle();
  }

  /** Stands in for an agent's status report (ignored if it would move the state backwards). */
  async simulateAgentReport(id: TaskId, state: TaskState, extra: { exitCode?: number } = {}): Promise<void> {
    await this.store.update((tx) => {
      const t = tx.get('task', id);
      if (!t || !canTransition(t.status.state, state)) return;
      tx.update('task', {
        ...t,
        status: {
          state,
          timestamp: this.clock.now(),
          message: state,
          ...(extra.exitCode !== undefined ? { containerStatus: { exitCode: extra.exitCode } } : {}),
        },
      });
    });
    await this.settle();
  }

  /**
   * Stands in for the agents of `nodes` (all nodes if absent): assigned tasks whose desired
   * state is running or complete start running; tasks asked to stop report shutdown.
   */
  async simulateAgents(nodes?: readonly NodeId[]): Promise<void> {
    await this.store.update((tx) => {
      for (const t of tx.find('task', by.all())) {
        if (!t.nodeId || (nodes && !nodes.includes(t.nodeId))) continue;
        const stop = t.desiredState === 'shutdown' || t.desiredState === 'remove';
        const next: TaskState | undefined = stop
          ? 'shutdown'
          : (t.desiredState === 'running' || t.desiredState === 'complete') && t.status.state === 'assigned'
            ? 'running'
            : undefined;
        if (!next || !canTransition(t.status.state, next)) continue;
        tx.update('task', { ...t, status: { state: next, timestamp: this.clock.now(), message: next } });
      }
    });
    await this.settle();
  }
}

/** Slot → node id, for readable placement assertions. */
export function placement(tasks: readonly Task[]): Record<number, NodeId | undefined> {
  const out: Record<number, NodeId | undefined> = {};
  for (const t of tasks) out[t.slot] = t.nodeId;
  return out;
}

export function slotsOf(tasks: readonly Task[]): number[] {
  return tasks.map((t) => t.slot).sort((a, b) => a - b);
}

/**
 * Rollout test helpers (not part of the module's API): a replicated service on three simulated
 * nodes with the replicated orchestrator, the restart supervisor and the updater; agents whose
 * behaviour depends on the image tag (`:fail` exits at once, `:sick` runs but never becomes
 * healthy, `:unhealthy` runs then turns unhealthy), and invariants checked after every change
 * of observed state.
 */
import {
  canTransition,
  type NodeId,
  type Service,
  type ServiceId,
  type ServiceSpec,
  type Task,
  type TaskState,
  type UpdateConfig,
  type UpdateStatus,
} from '../../../api/index.js';
import { by } from '../../store/index.js';
import { GlobalOrchestrator } from '../global/global-orchestrator.js';
import { ReplicatedOrchestrator } from '../replicated/replicated-orchestrator.js';
import { RestartSupervisor } from '../restart/restart-supervisor.js';
import { OrchestrationHarness } from '../test-fixtures.js';
import { Updater } from './updater.js';

export interface Observation {
  /** Most slots without a running task seen at once. */
  maxDown: number;
  /** Fewest running tasks seen at once (after the update started). */
  minRunning: number;
  /** Most running tasks seen in one slot. */
  maxPerSlot: number;
}

export class RolloutRig {
  readonly h = new OrchestrationHarness();
  updater = new Updater(this.h.deps);
  restarts = new RestartSupervisor(this.h.deps);
  nodes: NodeId[] = [];
  serviceId!: ServiceId;
  replicas = 0;
  readonly seen: Observation = { maxDown: 0, minRunning: Number.POSITIVE_INFINITY, maxPerSlot: 0 };
  /** Task id → when the rig first saw it asked to stop (a stop-first batch's start, for old tasks). */
  readonly stopAskedAt = new Map<string, number>();
  /** Tasks seen started: running, complete or failed (a prepared task that never ran is not). */
  readonly started = new Set<string>();
  private watching = false;

  /** `replicas` 0 makes a global service (one task on each of the three nodes). */
  async start(replicas: number, updateConfig: Partial<UpdateConfig>, healthcheck = false): Promise<void> {
    const global = replicas === 0;
    this.replicas = global ? 3 : replicas;
    this.h.start(
      global ? new GlobalOrchestrator(this.h.deps) : new ReplicatedOrchestrator(this.h.deps),
      this.restarts,
      this.updater,
    );
    for (const name of ['a', 'b', 'c']) this.nodes.push((await this.h.addNode(name)).id);
    const s = await this.h.addService('web', global ? { type: 'global' } : { type: 'replicated', replicas }, {
      container: { image: 'web:v1', ...(healthcheck ? { healthcheck: { test: ['CMD', 'true'] } } : {}) },
    });
    this.serviceId = s.id;
    await this.h.store.update((tx) => {
      const cur = tx.get('service', s.id)!;
      tx.update('service', {
        ...cur,
        spec: { ...cur.spec, updateConfig: { ...baseConfig, ...updateConfig } },
        specVersion: cur.specVersion + 1,
      });
    });
    await this.h.settle();
    await this.cycle();
    this.watching = true;
  }

  get service(): Service {
    return this.h.service(this.serviceId);
  }

  get status(): UpdateStatus | undefined {
    return this.service.status.updateStatus;
  }

  /** As the control API's UpdateService does it. */
  async update(change: (spec: ServiceSpec) => ServiceSpec): Promise<void> {
    await this.h.store.update((tx) => {
      const s = tx.get('service', this.serviceId)!;
      tx.update('service', {
        ...s,
        previousSpec: s.spec,
        spec: change(s.spec),
        specVersion: s.specVersion + 1,
        status: { ...s.status, updateStatus: { state: 'updating', startedAt: this.h.clock.now() } },
      });
    });
    await this.h.settle();
  }

  async image(image: string, extra: Partial<UpdateConfig> = {}): Promise<void> {
    await this.update((spec) => ({
      ...spec,
      taskTemplate: { ...spec.taskTemplate, container: { ...spec.taskTemplate.container, image } },
      updateConfig: { ...baseConfig, ...spec.updateConfig, ...extra },
    }));
  }

  /** As RollbackService / PromoteService do it. */
  async setStatus(change: (s: Service) => Service): Promise<void> {
    await this.h.store.update((tx) => tx.update('service', change(tx.get('service', this.serviceId)!)));
    await this.h.settle();
  }

  /** One round of scheduler and agents, checking the invariants after each. */
  async cycle(): Promise<void> {
    await this.h.simulateScheduler((t) => this.nodes[(t.slot - 1) % this.nodes.length]);
    this.observe();
    await this.agents();
    this.observe();
  }

  /** Cycles, advancing the clock `stepMs` each time, until `done` or `maxSteps`. */
  async runUntil(done: () => boolean, stepMs = 100, maxSteps = 500): Promise<void> {
    for (let i = 0; i < maxSteps && !done(); i++) {
      await this.cycle();
      if (done()) return;
      await this.h.advance(stepMs);
    }
    if (!done()) throw new Error(`rollout did not get there; status ${JSON.stringify(this.status)}`);
  }

  running(): Task[] {
    return this.h.tasks(this.serviceId).filter((t) => t.status.state === 'running');
  }

  images(): string[] {
    return this.running()
      .map((t) => t.spec.container.image)
      .sort();
  }

  private observe(): void {
    if (!this.watching) return;
    for (const t of this.h.tasks(this.serviceId)) {
      if (t.desiredState === 'shutdown' && !this.stopAskedAt.has(t.id))
        this.stopAskedAt.set(t.id, this.h.clock.now());
      if (['running', 'complete', 'failed'].includes(t.status.state)) this.started.add(t.id);
    }
    const running = this.running();
    const perSlot = new Map<string, number>();
    for (const t of running) {
      const key = t.slot > 0 ? String(t.slot) : String(t.nodeId);
      perSlot.set(key, (perSlot.get(key) ?? 0) + 1);
    }
    this.seen.maxPerSlot = Math.max(this.seen.maxPerSlot, ...perSlot.values());
    this.seen.maxDown = Math.max(this.seen.maxDown, this.replicas - perSlot.size);
    this.seen.minRunning = Math.min(this.seen.minRunning, running.length);
  }

  private async agents(): Promise<void> {
    await this.h.store.update((tx) => {
      for (const t of tx.find('task', by.serviceId(this.serviceId))) {
        const next = agentStep(t, this.h.clock.now());
        if (
          next &&
          (next.status.state === t.status.state || canTransition(t.status.state, next.status.state))
        )
          tx.update('task', next);
      }
    });
    await this.h.settle();
  }
}

function report(t: Task, state: TaskState, now: number, extra: Partial<Task['status']> = {}): Task {
  return { ...t, status: { state, timestamp: now, message: state, ...extra } };
}

/** What a simulated agent does with a task this round, by image tag. */
function agentStep(t: Task, now: number): Task | undefined {
  if (!t.nodeId) return undefined;
  if (t.desiredState === 'shutdown' || t.desiredState === 'remove') {
    return t.status.state === 'shutdown' || !canTransition(t.status.state, 'shutdown')
      ? undefined
      : report(t, 'shutdown', now);
  }
  const image = t.spec.container.image;
  // An image the node cannot prepare (missing, no registry): rejected before it could start.
  if (image.endsWith(':unprepared') && t.status.state === 'assigned')
    return report(t, 'rejected', now, { err: 'No such image' });
  if (t.desiredState !== 'running') return undefined;
  const hc = t.spec.container.healthcheck !== undefined;
  if (t.status.state === 'assigned') {
    if (image.endsWith(':fail')) return report(t, 'failed', now, { err: 'exit code 1' });
    const health = image.endsWith(':sick') || image.endsWith(':unhealthy') || hc ? 'starting' : undefined;
    return report(t, 'running', now, health ? { health } : {});
  }
  if (t.status.state === 'running' && t.status.health === 'starting') {
    if (image.endsWith(':unhealthy')) return report(t, 'running', now, { health: 'unhealthy' });
    if (!image.endsWith(':sick')) return report(t, 'running', now, { health: 'healthy' });
  }
  return undefined;
}

const baseConfig: UpdateConfig = {
  parallelism: 1,
  delayMs: 0,
  failureAction: 'pause',
  monitorMs: 500,
  maxFailureRatio: 0,
  order: 'stop-first',
};

import type Docker from 'dockerode';
import type { NodeId, Task, TaskState, TaskStatus } from '../../../api/index.js';
import { canTransition, isPastRunning } from '../../../api/index.js';
import {
  type Clock,
  type Disposable,
  Emitter,
  type Event,
  errorMessage,
  type Logger,
  StoppedError,
  UnavailableError,
} from '../../../common/index.js';
import type { ContainerEvent, ContainerState, Controller } from '../executor.js';
import { containerCreateOptions, stopTimeoutSeconds } from './container-config.js';
import { callEngine, callEngineWithin, type EngineReply } from './docker-errors.js';
import { LABEL_TASK_ID, taskName } from './labels.js';
import { drainBeforeStop, type MeshDrain } from './mesh-drain.js';
import { attachNetworks, type OverlayNetworks, overlayResolver } from './networks.js';
import { mapStatus, type ObservedContainer, observe } from './status.js';

export interface DockerControllerDeps {
  readonly docker: Docker;
  readonly nodeId: NodeId;
  readonly clock: Clock;
  readonly logger: Logger;
  /** The executor's engine events (one stream for every controller). */
  readonly events: Event<ContainerEvent>;
  /** The node's overlays, for tasks attached to networks; absent: such tasks are rejected. */
  readonly networks?: OverlayNetworks;
  /**
   * Bound of each inspect, kill and remove call, and of a stop beyond the task's stop grace
   * (resolved by the executor: `resolveEngineCallTimeout`).
   */
  readonly engineCallTimeoutMs: number;
  /** Connection draining of a mesh backend before its stop signal; absent: none. */
  readonly drain?: MeshDrain;
}

interface Waiter {
  predicate: (s: TaskStatus) => boolean;
  resolve: (s: TaskStatus) => void;
  reject: (e: unknown) => void;
}

/**
 * One task's container. Every step inspects the container afterwards and reports the mapped
 * status, latched so that it only moves forward; engine events for the task trigger the same
 * inspect-and-map, which is how exits and health changes arrive within a second.
 */
export class DockerController implements Controller {
  readonly name: string;
  private readonly changes = new Emitter<TaskStatus>();
  readonly onDidChangeStatus: Event<TaskStatus> = this.changes.event;
  private last: TaskStatus | undefined;
  private readonly intent = { stopRequested: false, removeRequested: false, seen: false };
  private containerId: string | undefined;
  private readonly subscription: Disposable;
  private readonly waiters = new Set<Waiter>();
  private refreshing = false;
  private refreshAgain = false;
  private disposed = false;

  constructor(
    readonly task: Task,
    private readonly deps: DockerControllerDeps,
  ) {
    this.name = taskName(task, deps.nodeId);
    this.subscription = deps.events((e) => {
      if (e.kind === 'resync' ? this.intent.seen : e.taskId === task.id) this.refresh();
    });
  }

  get lastStatus(): TaskStatus | undefined {
    return this.last;
  }

  async prepare(signal?: AbortSignal): Promise<TaskStatus> {
    const existing = await this.inspectRaw(signal);
    if (existing) {
      if (existing.Config.Labels?.[LABEL_TASK_ID] !== this.task.id) {
        return this.fail(
          'rejected',
          `container name ${this.name} is taken by a container swarmctl does not manage`,
        );
      }
      return this.observeAndRecord(this.adopt(existing));
    }
    const image = this.task.spec.container.image;
    signal?.throwIfAborted();
    // dockerode's image inspect takes no abort signal (its options become query parameters).
    const found = await callEngine('inspect image', () => this.deps.docker.getImage(image).inspect());
    if (!found.ok) {
      // There is no registry to pull from: a missing image fails the task, as a failed pull would.
      return this.fail(
        'rejected',
        found.reply.statusCode === 404 ? `No such image: ${image}` : found.reply.message,
      );
    }
    const overlays = await overlayResolver(this.deps.networks, this.task, signal);
    if (!overlays.ok) return this.fail('rejected', overlays.reason);
    const options = containerCreateOptions(this.task, this.deps.nodeId);
    const created = await callEngine('create container', () =>
      this.deps.docker.createContainer({
        ...options,
        // The mesh's resolver answers service names and forwards the rest.
        ...(overlays.dns && { HostConfig: { ...options.HostConfig, Dns: [overlays.dns] } }),
        abortSignal: signal,
      }),
    );
    // 409: created meanwhile by an earlier attempt of this very step; inspect below finds it.
    if (!created.ok && created.reply.statusCode !== 409) return this.fail('rejected', created.reply.message);
    const raw = await this.inspectRaw(signal);
    if (!raw) return this.fail('rejected', `container ${this.name} vanished right after its creation`);
    // Overlays before the start, with the manager's addresses: the container starts attached.
    const notAttached = await attachNetworks(this.deps.docker, this.deps.networks, this.task, raw, signal);
    if (notAttached) return this.fail('rejected', notAttached);
    return this.observeAndRecord(this.adopt(raw));
  }

  async start(signal?: AbortSignal): Promise<TaskStatus> {
    // Prepared here and nothing heard of it since (engine events would have moved `last` on): start
    // without inspecting first, one engine call less while the slot waits.
    const prepared = this.last?.state === 'ready' ? this.containerId : undefined;
    const before = prepared ? undefined : await this.inspect(signal);
    if (!prepared && !before) return this.fail('failed', `No such container: ${this.name}`);
    const id = prepared ?? before?.id;
    let started = false;
    if (id && (prepared || (before?.state === 'created' && !before.error))) {
      const r = await callEngine('start container', () =>
        this.deps.docker.getContainer(id).start({ abortSignal: signal }),
      );
      // 304: already started by an earlier attempt.
      if (!r.ok && r.reply.statusCode !== 304) return this.startFailed(r.reply, signal);
      started = true;
    }
    // Already started, exited or failed: starting is idempotent, report what is there.
    const after = await this.inspect(signal);
    if (started && after?.state === 'running') await this.prepareNamespace(after.pid);
    return this.observeAndRecord(after);
  }

  /**
   * The data plane's part of a start, before the task is reported running. A failure is logged,
   * not fatal: the container runs and TCP through the mesh works; retrying would not help.
   */
  private async prepareNamespace(pid: number): Promise<void> {
    if (pid <= 0 || !this.task.networks?.length || !this.deps.networks?.prepareContainer) return;
    try {
      await this.deps.networks.prepareContainer(pid, this.task);
    } catch (e) {
      this.deps.logger.warn('could not prepare the container for the mesh', {
        task: this.task.id,
        container: this.name,
        error: errorMessage(e),
      });
    }
  }

  async status(signal?: AbortSignal): Promise<TaskStatus | undefined> {
    const next = mapStatus(await this.inspect(signal), this.intent, this.deps.clock.now());
    return next ? this.record(next) : this.last;
  }

  waitUntil(predicate: (status: TaskStatus) => boolean, signal?: AbortSignal): Promise<TaskStatus> {
    if (this.last && predicate(this.last)) return Promise.resolve(this.last);
    if (this.disposed) return Promise.reject(new StoppedError(`controller of ${this.name}`));
    return new Promise<TaskStatus>((resolve, reject) => {
      const onAbort = (): void => {
        this.waiters.delete(waiter);
        reject(signal?.reason);
      };
      const waiter: Waiter = {
        predicate,
        resolve: (s) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(s);
        },
        reject: (e) => {
          signal?.removeEventListener('abort', onAbort);
          reject(e);
        },
      };
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.add(waiter);
      // Catch a change that happened between the caller's last step and now.
      this.refresh();
    });
  }

  wait(signal?: AbortSignal): Promise<TaskStatus> {
    return this.waitUntil((s) => isPastRunning(s.state), signal);
  }

  async shutdown(signal?: AbortSignal): Promise<TaskStatus> {
    this.intent.stopRequested = true;
    const c = await this.inspect(signal);
    if (c && isUp(c.state)) {
      await drainBeforeStop(this.task, this.deps.drain, this.deps, signal);
      signal?.throwIfAborted();
      // The engine sends the container's stop signal, then SIGKILL after `t` seconds.
      const t = stopTimeoutSeconds(this.task.spec.container.stopGracePeriodMs);
      const r = await this.bounded('stop container', t * 1000 + this.deps.engineCallTimeoutMs, signal, (s) =>
        this.deps.docker.getContainer(c.id).stop({ t, abortSignal: s }),
      );
      // 304: already stopped; 404: already gone. Anything else is the engine failing us.
      if (!r.ok && r.reply.statusCode !== 304 && r.reply.statusCode !== 404)
        throw engineFailure('stop', r.reply);
    }
    return this.observeAndRecord(await this.inspect(signal));
  }

  async terminate(signal?: AbortSignal): Promise<void> {
    this.intent.stopRequested = true;
    const target = this.containerId ?? this.name;
    const r = await this.bounded('kill container', this.deps.engineCallTimeoutMs, signal, (s) =>
      this.deps.docker.getContainer(target).kill({ signal: 'SIGKILL', abortSignal: s }),
    );
    // 404: gone; 409: not running. Both mean there is nothing left to kill.
    if (!r.ok && r.reply.statusCode !== 404 && r.reply.statusCode !== 409)
      throw engineFailure('kill', r.reply);
    await this.status(signal);
  }

  async remove(signal?: AbortSignal): Promise<void> {
    // Like docker's executor: a running container gets its stop signal and grace period first.
    const c = await this.inspect(signal);
    if (c && isUp(c.state)) await this.shutdown(signal);
    this.intent.removeRequested = true;
    const target = this.containerId ?? this.name;
    const r = await this.bounded('remove container', this.deps.engineCallTimeoutMs, signal, (s) =>
      this.deps.docker.getContainer(target).remove({ force: true, v: true, abortSignal: s }),
    );
    // 404: already gone; 409: a removal is already in progress.
    if (!r.ok && r.reply.statusCode !== 404 && r.reply.statusCode !== 409)
      throw engineFailure('remove', r.reply);
    await this.status(signal);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.subscription.dispose();
    const stopped = new StoppedError(`controller of ${this.name}`);
    for (const w of [...this.waiters]) w.reject(stopped);
    this.waiters.clear();
    this.changes.dispose();
  }

  /** Event-driven re-inspection, coalesced: at most one inspect in flight, one more queued. */
  private refresh(): void {
    if (this.disposed) return;
    if (this.refreshing) {
      this.refreshAgain = true;
      return;
    }
    this.refreshing = true;
    void (async () => {
      try {
        do {
          this.refreshAgain = false;
          try {
            await this.status();
          } catch (e) {
            this.deps.logger.debug('container refresh failed', {
              task: this.task.id,
              error: errorMessage(e),
            });
          }
        } while (this.refreshAgain && !this.disposed);
      } finally {
        this.refreshing = false;
      }
    })();
  }

  private bounded<T>(
    what: string,
    ms: number,
    signal: AbortSignal | undefined,
    fn: (signal: AbortSignal) => Promise<T>,
  ): ReturnType<typeof callEngineWithin<T>> {
    return callEngineWithin(`${what} ${this.name}`, ms, this.deps.clock, signal, fn);
  }

  private async startFailed(reply: EngineReply, signal: AbortSignal | undefined): Promise<TaskStatus> {
    const mapped = mapStatus(await this.inspect(signal), this.intent, this.deps.clock.now());
    if (mapped && isPastRunning(mapped.state)) return this.record(mapped);
    return this.fail('failed', reply.message);
  }

  private async inspectRaw(signal?: AbortSignal): Promise<Docker.ContainerInspectInfo | undefined> {
    const target = this.containerId ?? this.name;
    const r = await this.bounded('inspect container', this.deps.engineCallTimeoutMs, signal, (s) =>
      this.deps.docker.getContainer(target).inspect({ abortSignal: s }),
    );
    if (r.ok) return r.value;
    if (r.reply.statusCode === 404) return undefined;
    throw engineFailure('inspect', r.reply);
  }

  private async inspect(signal?: AbortSignal): Promise<ObservedContainer | undefined> {
    const info = await this.inspectRaw(signal);
    return info && this.adopt(info);
  }

  private adopt(info: Docker.ContainerInspectInfo): ObservedContainer {
    this.intent.seen = true;
    this.containerId = info.Id;
    return observe(info);
  }

  private observeAndRecord(c: ObservedContainer | undefined): TaskStatus {
    const next = mapStatus(c, this.intent, this.deps.clock.now());
    return next ? this.record(next) : this.fail('failed', `No such container: ${this.name}`);
  }

  /** A task failure found by a step itself (not by inspecting the container). */
  private fail(state: TaskState, err: string): TaskStatus {
    return this.record({ state, message: state, err, timestamp: this.deps.clock.now() });
  }

  /** Keeps `next` if it moves the task forward; returns the status in force afterwards. */
  private record(next: TaskStatus): TaskStatus {
    if (this.disposed) return this.last ?? next;
    const prev = this.last;
    if (prev && prev.state === next.state) {
      // Same state, fresher details (health, ports, pid): keep them without announcing.
      this.last = next;
      return next;
    }
    if (prev && !canTransition(prev.state, next.state)) return prev;
    this.last = next;
    this.deps.logger.debug('task status', { task: this.task.id, from: prev?.state, to: next.state });
    this.changes.fire(next);
    for (const w of [...this.waiters]) {
      if (w.predicate(next)) {
        this.waiters.delete(w);
        w.resolve(next);
      }
    }
    return next;
  }
}

function isUp(state: ContainerState): boolean {
  return state === 'running' || state === 'paused' || state === 'restarting';
}

function engineFailure(what: string, reply: EngineReply): UnavailableError {
  return new UnavailableError(`docker engine: ${what}: ${reply.message}`, {
    details: { statusCode: reply.statusCode },
  });
}

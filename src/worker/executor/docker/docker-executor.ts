import type Docker from 'dockerode';
import type { NodeDescription, NodeId, ServiceId, Task, TaskId } from '../../../api/index.js';
import {
  type Clock,
  type Component,
  type Event,
  errorMessage,
  InvalidArgumentError,
  isSwarmError,
  type Logger,
  NotFoundError,
  noopLogger,
  type Random,
  resolveMillis,
  systemClock,
  systemRandom,
} from '../../../common/index.js';
import {
  type ConntrackPurger,
  type ConntrackReader,
  conntrackCliPurger,
  firstAvailablePurger,
  netlinkPurger,
  procConntrackReader,
  resolveDrainLimit,
} from '../../../routing-mesh/index.js';
import type {
  ContainerEvent,
  Controller,
  Executor,
  LogLine,
  LogOptions,
  ManagedContainer,
} from '../executor.js';
import { DockerController } from './controller.js';
import { callEngine, callEngineWithin, mustCallEngine } from './docker-errors.js';
import { EngineEvents } from './engine-events.js';
import { ExitLog } from './exit-log.js';
import {
  LABEL_NODE_ID,
  LABEL_SERVICE_ID,
  LABEL_SERVICE_NAME,
  LABEL_TASK_ID,
  managedLabelFilter,
} from './labels.js';
import { dockerSince, LogDemuxer } from './log-stream.js';
import type { MeshDrain } from './mesh-drain.js';
import type { OverlayNetworks } from './networks.js';
import { toContainerState } from './status.js';

export interface DockerExecutorOptions {
  /** This node's id: written on every container and used to find ours again. */
  readonly nodeId: NodeId;
  /** `unix:///path`, `tcp://host:port` or a socket path; default: DOCKER_HOST, else /var/run/docker.sock. */
  readonly dockerHost?: string;
  readonly clock?: Clock;
  readonly random?: Random;
  readonly logger?: Logger;
  /** The node's overlay data plane: containers of tasks on overlays are attached through it. */
  readonly networks?: OverlayNetworks;
  /**
   * Bound of each engine call that stops, kills, inspects or removes a container (a stop gets
   * the task's stop grace on top). @default ENGINE_CALL_TIMEOUT_MS
   */
  readonly engineCallTimeoutMs?: number;
  /**
   * How long a stopping mesh backend's open connections (this node's conntrack) may hold its stop
   * signal; capped by the task's stop grace; 0: no wait (the purge still runs). @default DRAIN_LIMIT_MS
   */
  readonly drainLimitMs?: number;
  /** The conntrack table's text (tests). @default procConntrackReader */
  readonly readConntrack?: ConntrackReader;
  /** Deletes a drained backend's conntrack entries (tests; null: none). @default netlink (python3), else conntrack-tools */
  readonly purgeConntrack?: ConntrackPurger | null;
}

/** A hung engine must not hold a task's removal, a leave or a stop forever. */
export const ENGINE_CALL_TIMEOUT_MS = 15_000;

/** `engineCallTimeoutMs` as given (undefined: the default), checked where the options are read. */
export function resolveEngineCallTimeout(ms: number | undefined): number {
  return resolveMillis('engineCallTimeoutMs', ms, ENGINE_CALL_TIMEOUT_MS);
}

/**
 * The Executor over one Docker engine. It is also the Component that owns the engine's event
 * stream: run it (under the agent's supervisor) for controllers to hear about exits and health.
 */
export class DockerExecutor implements Executor, Component {
  readonly name = 'docker-executor';
  readonly nodeId: NodeId;
  private readonly engineEvents: EngineEvents;
  readonly onDidContainerEvent: Event<ContainerEvent>;
  /** True while the event stream is up (false before `run`, and while reconnecting). */
  readonly onDidChangeConnection: Event<boolean>;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly networks: OverlayNetworks | undefined;
  private readonly exits: ExitLog;
  private readonly engineCallTimeoutMs: number;
  private readonly drain: MeshDrain;

  /** Loads dockerode only now, so that CLI verbs that never touch an engine do not pay for it. */
  static async create(options: DockerExecutorOptions): Promise<DockerExecutor> {
    const { default: Dockerode } = await import('dockerode');
    return new DockerExecutor(new Dockerode(dockerOptions(options.dockerHost)), options);
  }

  constructor(
    private readonly docker: Docker,
    options: DockerExecutorOptions,
  ) {
    this.nodeId = options.nodeId;
    this.engineCallTimeoutMs = resolveEngineCallTimeout(options.engineCallTimeoutMs);
    this.drain = {
      limitMs: resolveDrainLimit(options.drainLimitMs),
      read: options.readConntrack ?? procConntrackReader,
      ...(options.purgeConntrack !== null && {
        purge: options.purgeConntrack ?? firstAvailablePurger(netlinkPurger(), conntrackCliPurger()),
      }),
    };
    this.networks = options.networks;
    this.clock = options.clock ?? systemClock;
    this.logger = (options.logger ?? noopLogger).child({ component: 'docker-executor' });
    this.engineEvents = new EngineEvents({
      docker,
      nodeId: this.nodeId,
      clock: this.clock,
      random: options.random ?? systemRandom,
      logger: this.logger,
    });
    this.onDidContainerEvent = this.engineEvents.onDidEvent;
    this.onDidChangeConnection = this.engineEvents.onDidChangeConnection;
    this.exits = new ExitLog(this.onDidContainerEvent, (signal) => this.listManagedContainers(signal));
  }

  get eventsConnected(): boolean {
    return this.engineEvents.connected;
  }

  run(signal: AbortSignal): Promise<void> {
    return this.engineEvents.run(signal);
  }

  dispose(): void {
    this.exits.dispose();
    this.engineEvents.dispose();
  }

  waitExited(taskIds: readonly TaskId[], signal: AbortSignal): Promise<boolean> {
    return this.exits.waitExited(taskIds, signal);
  }

  async describe(signal?: AbortSignal): Promise<NodeDescription> {
    signal?.throwIfAborted();
    const info = await mustCallEngine('info', () => this.docker.info());
    return {
      hostname: String(info.Name ?? ''),
      platform: { os: String(info.OSType ?? ''), architecture: String(info.Architecture ?? '') },
      resources: { nanoCPUs: Number(info.NCPU ?? 0) * 1e9, memoryBytes: Number(info.MemTotal ?? 0) },
      engine: { version: String(info.ServerVersion ?? ''), labels: parseEngineLabels(info.Labels) },
    };
  }

  controller(task: Task): Controller {
    return new DockerController(task, {
      docker: this.docker,
      nodeId: this.nodeId,
      clock: this.clock,
      logger: this.logger,
      events: this.onDidContainerEvent,
      engineCallTimeoutMs: this.engineCallTimeoutMs,
      drain: this.drain,
      ...(this.networks && { networks: this.networks }),
    });
  }

  async listManagedContainers(signal?: AbortSignal): Promise<ManagedContainer[]> {
    const list = await mustCallEngine('list containers', () =>
      this.docker.listContainers({
        all: true,
        filters: { label: managedLabelFilter(this.nodeId) },
        abortSignal: signal,
      }),
    );
    return list.map(toManagedContainer);
  }

  async removeUnownedContainers(
    owned: ReadonlySet<TaskId>,
    signal?: AbortSignal,
  ): Promise<ManagedContainer[]> {
    const unowned = (await this.listManagedContainers(signal)).filter((c) => !owned.has(c.taskId));
    const results = await Promise.all(unowned.map((c) => this.removeContainer(c, signal)));
    return unowned.filter((_, i) => results[i]);
  }

  /** Stop (the container's own stop signal and timeout), then remove; false if the engine refused. */
  private async removeContainer(c: ManagedContainer, signal: AbortSignal | undefined): Promise<boolean> {
    const container = this.docker.getContainer(c.containerId);
    if (c.state === 'running' || c.state === 'paused' || c.state === 'restarting') {
      // Errors are left to the remove below, which forces the matter.
      await callEngine('stop container', () => container.stop({ abortSignal: signal }));
    }
    // The forced remove is bounded: a hung engine must not hold a leave (the stop above is left
    // to the caller's signal: its grace period is the container's own, unknown here).
    const r = await callEngineWithin(
      `remove container ${c.containerId}`,
      this.engineCallTimeoutMs,
      this.clock,
      signal,
      (s) => container.remove({ force: true, v: true, abortSignal: s }),
    ).catch((e: unknown) => {
      // One hung removal must not hide what the others did (they run side by side).
      if (!isSwarmError(e, 'DEADLINE_EXCEEDED')) throw e;
      return { ok: false as const, reply: { statusCode: 0, message: errorMessage(e) } };
    });
    // 404: gone meanwhile; 409: a removal already under way. Either way it is going.
    if (r.ok || r.reply.statusCode === 404 || r.reply.statusCode === 409) {
      this.logger.info('removed container of a task this node no longer owns', {
        task: c.taskId,
        container: c.containerId,
      });
      return true;
    }
    this.logger.warn('could not remove unowned container', {
      container: c.containerId,
      error: r.reply.message,
    });
    return false;
  }

  async *logs(taskId: TaskId, options: LogOptions = {}): AsyncIterable<LogLine> {
    const { signal } = options;
    const [found] = await mustCallEngine('list containers', () =>
      this.docker.listContainers({
        all: true,
        filters: { label: [...managedLabelFilter(this.nodeId), `${LABEL_TASK_ID}=${taskId}`] },
        abortSignal: signal,
      }),
    );
    if (!found) throw new NotFoundError('container of task', taskId);
    const container = this.docker.getContainer(found.Id);
    const info = await mustCallEngine('inspect container', () => container.inspect({ abortSignal: signal }));
    const demux = new LogDemuxer(!info.Config.Tty);
    const base = {
      stdout: true,
      stderr: true,
      timestamps: true,
      ...(options.tail !== undefined && { tail: options.tail }),
      ...(options.since !== undefined && { since: dockerSince(options.since) }),
      abortSignal: signal,
    };
    if (!options.follow) {
      const buf = await mustCallEngine('container logs', () => container.logs({ ...base, follow: false }));
      yield* demux.push(Buffer.isBuffer(buf) ? buf : Buffer.from(String(buf)));
      yield* demux.flush();
      return;
    }
    const stream = await mustCallEngine('container logs', () => container.logs({ ...base, follow: true }));
    const onAbort = (): void => destroyStream(stream);
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      for await (const chunk of stream) {
        yield* demux.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
      }
      yield* demux.flush();
    } catch (e) {
      // Aborting the follow is how a reader stops; the stream then errors or ends.
      if (!signal?.aborted) throw e;
    } finally {
      signal?.removeEventListener('abort', onAbort);
      destroyStream(stream);
    }
  }
}

function destroyStream(stream: NodeJS.ReadableStream): void {
  const d = (stream as { destroy?: () => void }).destroy;
  if (typeof d === 'function') d.call(stream);
}

function toManagedContainer(c: Docker.ContainerInfo): ManagedContainer {
  const labels = c.Labels ?? {};
  return {
    containerId: c.Id,
    name: (c.Names[0] ?? '').replace(/^\//, ''),
    taskId: (labels[LABEL_TASK_ID] ?? '') as TaskId,
    serviceId: (labels[LABEL_SERVICE_ID] ?? '') as ServiceId,
    serviceName: labels[LABEL_SERVICE_NAME] ?? '',
    nodeId: (labels[LABEL_NODE_ID] ?? '') as NodeId,
    state: toContainerState(c.State),
    statusText: c.Status,
    createdAt: c.Created * 1000,
  };
}

/** The engine's `--label k=v` list as a map (a label without `=` has an empty value). */
function parseEngineLabels(labels: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!Array.isArray(labels)) return out;
  for (const l of labels) {
    if (typeof l !== 'string') continue;
    const eq = l.indexOf('=');
    if (eq < 0) out[l] = '';
    else out[l.slice(0, eq)] = l.slice(eq + 1);
  }
  return out;
}

/** DOCKER_HOST syntax → dockerode options; undefined lets dockerode read DOCKER_HOST itself. */
export function dockerOptions(dockerHost: string | undefined): Docker.DockerOptions | undefined {
  if (dockerHost === undefined || dockerHost === '') return undefined;
  if (dockerHost.startsWith('/')) return { socketPath: dockerHost };
  if (dockerHost.startsWith('unix://')) return { socketPath: dockerHost.slice('unix://'.length) };
  const m = /^tcp:\/\/([^:/]+|\[[^\]]+\]):(\d+)\/?$/.exec(dockerHost);
  if (m) return { protocol: 'http', host: m[1]!.replace(/^\[|\]$/g, ''), port: Number(m[2]) };
  throw new InvalidArgumentError(
    'docker-host',
    `invalid --docker-host ${JSON.stringify(dockerHost)}: expected unix:///path/to/docker.sock or tcp://HOST:PORT`,
  );
}

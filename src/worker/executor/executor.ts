import type { NodeDescription, NodeId, ServiceId, Task, TaskId, TaskStatus } from '../../api/index.js';
import type { Event } from '../../common/index.js';

/**
 * What the agent drives (swarmkit's agent/exec): an Executor per node and a Controller per task.
 *
 * Task failures are data: every step resolves with the task's observed `TaskStatus` (a missing
 * image is `rejected`, a non-zero exit `failed`…). A step rejects only when the infrastructure
 * itself fails: the engine does not answer (`UNAVAILABLE`, retryable) or the caller aborted.
 * Steps are idempotent, so an agent that lost track (restart, retry after a timeout) simply
 * calls them again.
 */
export interface Controller {
  readonly task: Task;
  /**
   * Fires when the observed state moves forward (never backwards, never out of a terminal
   * state), from engine events: exits and health changes arrive within a second.
   */
  readonly onDidChangeStatus: Event<TaskStatus>;
  /** The newest status observed so far; undefined before anything was observed. */
  readonly lastStatus: TaskStatus | undefined;

  /** Checks the image is present (there is no registry: no pull) and creates the container. → `ready` | `rejected` */
  prepare(signal?: AbortSignal): Promise<TaskStatus>;
  /** Starts the created container. → `starting` (healthcheck pending) | `running` | `failed` */
  start(signal?: AbortSignal): Promise<TaskStatus>;
  /** Inspects the container now; undefined when it does not exist and never did. */
  status(signal?: AbortSignal): Promise<TaskStatus | undefined>;
  /** Resolves with the first status (the current one included) that satisfies `predicate`. */
  waitUntil(predicate: (status: TaskStatus) => boolean, signal?: AbortSignal): Promise<TaskStatus>;
  /** Resolves once the task has left `running` for good: complete, failed (exit, unhealthy) or shutdown. */
  wait(signal?: AbortSignal): Promise<TaskStatus>;
  /** Sends the stop signal, waits the stop grace period, then kills. → `shutdown` (or the terminal state it already had) */
  shutdown(signal?: AbortSignal): Promise<TaskStatus>;
  /** Kills the container at once (SIGKILL). */
  terminate(signal?: AbortSignal): Promise<void>;
  /** Deletes the container and its anonymous volumes; a running one is shut down gracefully first. */
  remove(signal?: AbortSignal): Promise<void>;
  /** Stops listening to engine events; the container is left alone. */
  dispose(): void;
}

/** Docker's container states. */
export type ContainerState = 'created' | 'running' | 'paused' | 'restarting' | 'removing' | 'exited' | 'dead';

/** A container on this node's engine that carries our labels (for adoption after a restart). */
export interface ManagedContainer {
  readonly containerId: string;
  readonly name: string;
  readonly taskId: TaskId;
  readonly serviceId: ServiceId;
  readonly serviceName: string;
  readonly nodeId: NodeId;
  readonly state: ContainerState;
  /** Docker's human text: "Up 3 minutes (healthy)", "Exited (1) 2 seconds ago". */
  readonly statusText: string;
  /** Creation time, ms since the epoch. */
  readonly createdAt: number;
}

/** What the engine reported about one of our containers (typed from Docker's events). */
export type ContainerEvent =
  /** `stop`: a stop call finished, the engine lists the container as stopped from then on. */
  | (ContainerEventBase & { readonly kind: 'start' | 'oom' | 'destroy' | 'stop' })
  | (ContainerEventBase & { readonly kind: 'die'; readonly exitCode: number })
  | (ContainerEventBase & { readonly kind: 'health'; readonly health: 'healthy' | 'unhealthy' })
  /** The event stream (re)connected: events may have been lost, so re-inspect. */
  | { readonly kind: 'resync' };

/** The events about one container (everything but `resync`). */
export type TaskContainerEvent = Exclude<ContainerEvent, { readonly kind: 'resync' }>;

export interface ContainerEventBase {
  readonly containerId: string;
  readonly taskId: TaskId;
  /** The engine's time of the event, ms since the epoch. */
  readonly time: number;
}

export interface LogOptions {
  /** Keep streaming new lines until the container stops or `signal` aborts. */
  readonly follow?: boolean;
  /** Only the last N lines of what exists. */
  readonly tail?: number;
  /** Only lines after this time, ms since the epoch. */
  readonly since?: number;
  readonly signal?: AbortSignal;
}

export interface LogLine {
  readonly stream: 'stdout' | 'stderr';
  /** The line without its trailing newline. */
  readonly line: string;
  /** When the engine received the line, ms since the epoch. */
  readonly timestamp: number;
}

export interface Executor {
  /** What the node offers, for the manager's scheduler and constraints. */
  describe(signal?: AbortSignal): Promise<NodeDescription>;
  /** The controller of one task; cheap, no I/O until a step is called. */
  controller(task: Task): Controller;
  /** Every container of this node carrying our labels, running or not. */
  listManagedContainers(signal?: AbortSignal): Promise<ManagedContainer[]>;
  /** Stops (stop signal, grace period) and removes our containers whose task is not in `owned`; returns them. */
  removeUnownedContainers(owned: ReadonlySet<TaskId>, signal?: AbortSignal): Promise<ManagedContainer[]>;
  /** The task's container output, demultiplexed into lines. */
  logs(taskId: TaskId, options?: LogOptions): AsyncIterable<LogLine>;
  /**
   * True once the containers of all these tasks were stopped on this node (the stop-first
   * handover, Task.startAfter); false when one has no container here, or on abort. Optional: an
   * executor without it leaves held tasks to the manager.
   */
  waitExited?(taskIds: readonly TaskId[], signal: AbortSignal): Promise<boolean>;
  /** Engine events for our containers, and `resync` after each (re)connection of the stream. */
  readonly onDidContainerEvent: Event<ContainerEvent>;
}

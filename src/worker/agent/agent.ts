import {
  DEFAULT_HEARTBEAT_PERIOD_MS,
  type DispatcherServiceMethods,
  type LogsServiceMethods,
  type NodeDescription,
  type SessionMessage,
  TASK_STATE_RANK,
  type Task,
  type TaskId,
  type TaskStatus,
} from '../../api/index.js';
import {
  type Clock,
  type Component,
  type Disposable,
  errorMessage,
  isSwarmError,
  type Logger,
} from '../../common/index.js';
import type { RpcClient } from '../../rpc/index.js';
import type { Executor } from '../executor/index.js';
import { LogPublisher } from './logs/index.js';
import { type AgentMesh, MeshLink } from './mesh-link.js';
import { TaskRunner } from './task-runner.js';

export interface AgentDeps {
  readonly clock: Clock;
  readonly logger: Logger;
  readonly executor: Executor;
  /** Dials a manager's inter-node listener with this node's certificate. */
  readonly connect: (addr: string) => RpcClient<DispatcherServiceMethods>;
  /** Managers known at start (the node record); sessions add the cluster's current list. */
  readonly managers: () => readonly string[];
  /** Dials the session's manager for log subscriptions (`service logs`); none: no logs served. */
  readonly connectLogs?: (addr: string) => RpcClient<LogsServiceMethods>;
  /** The node's data plane, fed the leader's MeshState; absent when the node runs none. */
  readonly mesh?: AgentMesh;
  /** This node's underlay address (host:port), sent at session start: the mesh's VXLAN peers. */
  readonly advertiseAddr?: string;
}

/**
 * Status reports wait this long before one UpdateTaskStatus call when none is on its way (those of
 * one moment go together); while a call is on its way the next ones gather behind it. A rollout's
 * next batch waits for the running report, so no fixed batching delay.
 */
export const REPORT_BATCH_MS = 0;
/** Wait before resending status reports after a failed delivery. */
const REPORT_RETRY_MS = 500;
/** Pause before trying the next manager after a session ends. */
export const RECONNECT_DELAY_MS = 300;

/**
 * The worker side of the dispatcher protocol, on every node: one session at a time with the
 * leader (found through NOT_LEADER answers, failing over through the known managers), heartbeats,
 * reconciliation of the assignment set with the executor, and batched status reports.
 */
export class Agent implements Component {
  readonly name = 'agent';
  private readonly runners = new Map<TaskId, TaskRunner>();
  private readonly pending = new Map<TaskId, TaskStatus>();
  private known: string[] = [];
  private leaderHint: string | undefined;
  private client: RpcClient<DispatcherServiceMethods> | undefined;
  private flushTimer: (() => void) | undefined;
  private flushing = false;
  private readonly log: Logger;
  private readonly logs: LogPublisher | undefined;
  private readonly meshLink: MeshLink;

  constructor(private readonly deps: AgentDeps) {
    this.log = deps.logger.child({ module: 'agent' });
    this.meshLink = new MeshLink(deps.mesh);
    const connectLogs = deps.connectLogs;
    this.logs = connectLogs
      ? new LogPublisher({
          clock: deps.clock,
          logger: deps.logger,
          executor: deps.executor,
          connect: connectLogs,
        })
      : undefined;
  }

  async run(signal: AbortSignal): Promise<void> {
    let attempt = 0;
    const applied = this.meshLink.attach();
    try {
      while (!signal.aborted) {
        const addr = this.nextManager(attempt++);
        if (!addr) {
          await delay(this.deps.clock, RECONNECT_DELAY_MS, signal);
          continue;
        }
        await this.session(addr, signal).catch((e: unknown) => {
          if (signal.aborted) return;
          if (isSwarmError(e, 'NOT_LEADER') && typeof e.details.leaderAddr === 'string') {
            this.leaderHint = e.details.leaderAddr;
            return;
          }
          this.leaderHint = undefined;
          this.log.info('session ended', { manager: addr, error: errorMessage(e) });
        });
        await delay(this.deps.clock, this.leaderHint ? 0 : RECONNECT_DELAY_MS, signal);
      }
    } finally {
      applied.dispose();
      this.flushTimer?.();
      for (const r of this.runners.values()) r.dispose();
      this.runners.clear();
    }
  }

  private nextManager(attempt: number): string | undefined {
    if (this.leaderHint) {
      const hint = this.leaderHint;
      this.leaderHint = undefined;
      return hint;
    }
    const all = [...new Set([...this.deps.managers(), ...this.known])];
    return all.length === 0 ? undefined : all[attempt % all.length];
  }

  private async session(addr: string, outer: AbortSignal): Promise<void> {
    const stop = new AbortController();
    const signal = AbortSignal.any([outer, stop.signal]);
    const client = this.deps.connect(addr);
    let beating: Promise<void> | undefined;
    let publishing: Promise<void> | undefined;
    let heartbeatFailure: unknown;
    let meshAcks: Disposable | undefined;
    try {
      const kind = this.deps.mesh?.kind;
      const description: NodeDescription = {
        ...(await this.deps.executor.describe(signal)),
        ...(kind && { dataPlane: kind }),
      };
      const stream = client.call.Session(
        { description, ...(this.deps.advertiseAddr && { addr: this.deps.advertiseAddr }) },
        { signal },
      );
      let periodMs = DEFAULT_HEARTBEAT_PERIOD_MS;
      try {
        for await (const msg of stream) {
          if (!beating) {
            this.log.info('session opened', { manager: addr });
            this.client = client;
            // A failed heartbeat (a silent link never resets the stream) ends the session: the
            // agent reconnects, possibly to another manager. Its error is the session's.
            beating = this.heartbeats(client, () => periodMs, signal).catch((e: unknown) => {
              heartbeatFailure = e;
              stop.abort();
            });
            this.scheduleFlush();
            // Log subscriptions come from the same manager, for as long as the session lasts.
            publishing = this.logs?.run(addr, signal).catch((e: unknown) => {
              this.log.warn('log publisher failed', { error: errorMessage(e) });
            });
          }
          periodMs = msg.heartbeatPeriodMs;
          this.known = [...msg.managers];
          this.apply(msg, signal);
          // After the first message: the leader counts this node's reports from its session on.
          meshAcks ??= this.meshLink.bindSession(
            (revision) => client.call.MeshApplied({ revision }, { signal, timeoutMs: 5_000 }),
            this.log,
          );
        }
      } catch (e) {
        throw heartbeatFailure ?? e;
      }
      if (heartbeatFailure) throw heartbeatFailure;
    } finally {
      meshAcks?.dispose();
      stop.abort();
      await beating;
      await publishing;
      if (this.client === client) this.client = undefined;
      client.close();
    }
  }

  private async heartbeats(
    client: RpcClient<DispatcherServiceMethods>,
    period: () => number,
    signal: AbortSignal,
  ): Promise<void> {
    while (!signal.aborted) {
      await delay(this.deps.clock, period() / 2, signal);
      if (signal.aborted) return;
      await client.call.Heartbeat({}, { signal, timeoutMs: period() });
    }
  }

  private apply(msg: SessionMessage, signal: AbortSignal): void {
    this.meshLink.onMessage(msg);
    const removed = new Set<TaskId>(msg.removed);
    if (msg.kind === 'full') {
      const owned = new Set(msg.tasks.map((t) => t.id));
      for (const id of this.runners.keys()) if (!owned.has(id)) removed.add(id);
    }
    for (const t of msg.tasks) {
      let r = this.runners.get(t.id);
      if (!r) {
        r = new TaskRunner(
          t,
          this.deps.executor,
          (task, s) => this.report(task, s),
          this.log,
          this.deps.clock,
        );
        this.runners.set(t.id, r);
      }
      const runner = r;
      this.meshLink.beforeUpdate(t, () => {
        if (this.runners.get(t.id) === runner) runner.update(t, signal);
      });
    }
    for (const id of removed) {
      const r = this.runners.get(id);
      this.runners.delete(id);
      this.pending.delete(id);
      this.meshLink.forget(id);
      void r?.remove(signal);
    }
    if (msg.kind === 'full') {
      // Containers of tasks this node no longer owns (deleted while we were away).
      // Not awaited: stopping them takes their grace periods, and new assignments must not wait.
      const owned = new Set(msg.tasks.map((t) => t.id));
      void this.deps.executor.removeUnownedContainers(owned, signal).then(
        (gone) => {
          if (gone.length > 0)
            this.log.info('removed containers of tasks no longer assigned', { count: gone.length });
        },
        (e: unknown) => {
          if (!signal.aborted)
            this.log.warn('could not remove unowned containers', { error: errorMessage(e) });
        },
      );
    }
  }

  private report(task: Task, status: TaskStatus): void {
    if (!this.runners.has(task.id)) return;
    const prev = this.pending.get(task.id);
    if (prev && TASK_STATE_RANK[prev.state] > TASK_STATE_RANK[status.state]) return;
    this.pending.set(task.id, status);
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushTimer || this.flushing || this.pending.size === 0) return;
    this.flushTimer = this.deps.clock.setTimer(REPORT_BATCH_MS, () => {
      this.flushTimer = undefined;
      void this.flush();
    });
  }

  private async flush(): Promise<void> {
    const client = this.client;
    if (!client || this.pending.size === 0) return;
    const batch = [...this.pending].map(([taskId, status]) => ({ taskId, status }));
    this.pending.clear();
    this.flushing = true;
    try {
      await client.call.UpdateTaskStatus({ updates: batch }, { timeoutMs: 10_000 });
    } catch (e) {
      this.flushing = false;
      // Keep what was not delivered unless something newer arrived meanwhile; the next session resends.
      for (const u of batch) if (!this.pending.has(u.taskId)) this.pending.set(u.taskId, u.status);
      this.log.info('status report failed', { error: errorMessage(e) });
      // Retry on our own: nothing else may report soon, and a lost failure report would leave a
      // dead task counted as running (no replacement) until the node goes down.
      if (!this.flushTimer) {
        this.flushTimer = this.deps.clock.setTimer(REPORT_RETRY_MS, () => {
          this.flushTimer = undefined;
          void this.flush();
        });
      }
      return;
    }
    this.flushing = false;
    this.scheduleFlush();
  }
}

function delay(clock: Clock, ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const cancel = clock.setTimer(ms, done);
    signal.addEventListener('abort', done, { once: true });
    function done(): void {
      cancel();
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}

import {
  canTransition,
  DEFAULT_HEARTBEAT_PERIOD_MS,
  type DispatcherServiceMethods,
  isObjectEvent,
  type NodeDescription,
  type NodeId,
  type SessionMessage,
  type StoreEvent,
  TASK_STATE_RANK,
  type Task,
  type TaskId,
  type TaskStatus,
  type TaskStatusUpdate,
} from '../../api/index.js';
import {
  type Clock,
  type Component,
  errorMessage,
  InvalidArgumentError,
  type Logger,
  NotFoundError,
  SwarmError,
} from '../../common/index.js';
import type { CallContext, Handlers } from '../../rpc/index.js';
import type { MeshSource } from '../allocator/index.js';
import { jsonEqual } from '../orchestrator/index.js';
import { by, type MemoryStore } from '../store/index.js';
import { nextCheckDelayMs } from './heartbeat-deadline.js';
import { MeshAcks } from './mesh-acks.js';
import { SessionMesh } from './session-mesh.js';
import { SessionQueue } from './session-queue.js';

export interface DispatcherDeps {
  readonly store: MemoryStore;
  readonly clock: Clock;
  readonly logger: Logger;
  /** The leader's node id as Raft knows it now (null during an election). */
  readonly leader: () => string | null;
  readonly nodeId: string;
  /** The leader's MeshState, pushed to every session (absent: no mesh field is sent). */
  readonly mesh?: MeshSource;
  /**
   * Longest a node's order to stop a task that was receiving traffic waits for every ready node
   * with a session to report a mesh revision without it applied; 0 holds nothing.
   * @default MESH_STOP_TIMEOUT_MS
   */
  readonly meshStopTimeoutMs?: number;
}

/** Bound on waiting for the nodes' mesh acknowledgements: one dead node cannot hold stops forever. */
export const MESH_STOP_TIMEOUT_MS = 2_000;

/** A node missing this many heartbeat periods is marked down (swarmkit's grace multiplier). */
export const HEARTBEAT_GRACE_PERIODS = 3;

/** Tasks a node is told about: placed on it and past the scheduler. */
function isAssignment(t: Task, nodeId: string): boolean {
  return t.nodeId === nodeId && TASK_STATE_RANK[t.status.state] >= TASK_STATE_RANK.assigned;
}

/**
 * The worker-facing side of the manager (swarmkit's dispatcher). Sessions, heartbeats and status
 * updates are served by the leader only: followers refuse with NOT_LEADER and the leader's
 * address. Heartbeat times live in the leader's memory, not in the store; `monitor()` is the
 * leader-group component that marks silent nodes down and ends sessions when leadership goes.
 */
export class Dispatcher {
  private readonly lastSeen = new Map<NodeId, number>();
  /** The mesh revision each node with a session has applied: stops wait on it. */
  private readonly meshAcks: MeshAcks;
  /** Aborted when this manager stops leading; sessions are bound to it. */
  private epoch: AbortController | undefined;
  private readonly log: Logger;

  constructor(private readonly deps: DispatcherDeps) {
    this.log = deps.logger.child({ module: 'dispatcher' });
    this.meshAcks = new MeshAcks((ids) =>
      deps.store.view((tx) => ids.filter((id) => tx.get('node', id)?.status.state === 'ready')),
    );
  }

  heartbeatPeriodMs(): number {
    return this.deps.store.view(
      (tx) =>
        tx.find('cluster', by.all())[0]?.spec.dispatcher.heartbeatPeriodMs ?? DEFAULT_HEARTBEAT_PERIOD_MS,
    );
  }

  managerAddrs(): string[] {
    return this.deps.store.view((tx) =>
      tx.find('node', by.role('manager')).flatMap((n) => (n.managerStatus ? [n.managerStatus.addr] : [])),
    );
  }

  private leaderAddr(): string | undefined {
    const leader = this.deps.leader();
    if (!leader) return undefined;
    return this.deps.store.view((tx) => tx.get('node', leader)?.managerStatus?.addr);
  }

  /** The current leadership epoch's signal; throws NOT_LEADER (with the leader's address) elsewhere. */
  private requireLeader(): AbortSignal {
    if (this.epoch && this.deps.leader() === this.deps.nodeId) return this.epoch.signal;
    const addr = this.leaderAddr();
    throw new SwarmError(
      'NOT_LEADER',
      `this manager is not the leader${addr ? `; the leader is ${addr}` : ''}`,
      {
        retryable: true,
        details: addr ? { leaderAddr: addr } : {},
      },
    );
  }

  handlers(): Handlers<DispatcherServiceMethods> {
    return {
      Session: (req, ctx) => this.session(req.description, ctx, req.addr),
      Heartbeat: async (_req, ctx) => {
        this.requireLeader();
        const nodeId = callerOf(ctx);
        this.lastSeen.set(nodeId, this.deps.clock.monotonic());
        const node = this.deps.store.view((tx) => tx.get('node', nodeId));
        if (!node) throw new NotFoundError('node', nodeId);
        if (node.status.state !== 'ready') await this.markReady(nodeId, undefined, ctx.signal);
        return { periodMs: this.heartbeatPeriodMs() };
      },
      UpdateTaskStatus: async (req, ctx) => {
        this.requireLeader();
        const nodeId = callerOf(ctx);
        return { applied: await this.applyStatuses(nodeId, req.updates, ctx.signal) };
      },
      MeshApplied: async (req, ctx) => {
        this.requireLeader();
        const nodeId = callerOf(ctx);
        if (!Number.isSafeInteger(req.revision)) {
          throw new InvalidArgumentError('revision', `invalid mesh revision ${String(req.revision)}`);
        }
        this.meshAcks.report(nodeId, req.revision);
        return {};
      },
    };
  }

  /** Writes the reported statuses that move their task forward; stale or foreign reports are dropped. */
  private async applyStatuses(
    nodeId: NodeId,
    updates: readonly TaskStatusUpdate[],
    signal: AbortSignal,
  ): Promise<number> {
    return this.deps.store.update(
      (tx) => {
        let applied = 0;
        for (const u of updates) {
          const t = tx.get('task', u.taskId);
          if (!t || t.nodeId !== nodeId) continue;
          const from = t.status.state;
          const to = u.status.state;
          if (from === to ? sameStatus(t.status, u.status) : !canTransition(from, to)) continue;
          tx.update('task', { ...t, status: u.status });
          applied++;
        }
        return applied;
      },
      { signal, retries: 3 },
    );
  }

  private async markReady(
    nodeId: NodeId,
    description: NodeDescription | undefined,
    signal: AbortSignal,
    reportedAddr?: string,
  ) {
    await this.deps.store.update(
      (tx) => {
        const n = tx.get('node', nodeId);
        if (!n) throw new NotFoundError('node', nodeId);
        const sameDescription = !description || jsonEqual(n.description, description);
        // The underlay address the mesh peers with: reported at session start, else a manager's
        // Raft address; a heartbeat (no address) keeps what is there.
        const addr = reportedAddr ?? n.status.addr ?? n.managerStatus?.addr;
        if (n.status.state === 'ready' && sameDescription && addr === n.status.addr) return;
        tx.update('node', {
          ...n,
          ...(description ? { description } : {}),
          status: { ...n.status, state: 'ready', message: '', ...(addr ? { addr } : {}) },
        });
      },
      { signal, retries: 3 },
    );
  }

  private async *session(
    description: NodeDescription,
    ctx: CallContext,
    addr: string | undefined,
  ): AsyncIterable<SessionMessage> {
    const epoch = this.requireLeader();
    const nodeId = callerOf(ctx);
    const signal = AbortSignal.any([ctx.signal, epoch]);
    await this.markReady(nodeId, description, signal, addr);
    this.lastSeen.set(nodeId, this.deps.clock.monotonic());
    this.log.info('worker session opened', { 'node.id': nodeId });
    const { result, watch } = this.deps.store.viewAndWatch(
      (tx) => tx.find('task', by.nodeId(nodeId)).filter((t) => isAssignment(t, nodeId)),
      { kinds: ['task', 'node'] },
      signal,
    );
    // One loop over every source: store events, "the mesh changed" from the feed, and "look at
    // the held stops again" (a node's mesh acknowledgement, or a hold's timeout).
    const queue = new SessionQueue<StoreEvent | 'mesh' | 'held'>();
    const source = this.deps.mesh;
    const view = source
      ? new SessionMesh({
          nodeId,
          source,
          acks: this.meshAcks,
          clock: this.deps.clock,
          logger: this.log,
          timeoutMs: this.deps.meshStopTimeoutMs ?? MESH_STOP_TIMEOUT_MS,
          wake: () => queue.push('held'),
        })
      : undefined;
    const meshSub = source?.onDidChange(() => queue.push('mesh'));
    const ackSub = this.meshAcks.onDidChange(() => {
      if (view?.holding) queue.push('held');
    });
    this.meshAcks.open(nodeId);
    const pump = (async () => {
      try {
        for await (const e of watch) queue.push(e);
      } finally {
        queue.end();
      }
    })();
    try {
      const known = new Set<TaskId>(result.map((t) => t.id));
      let managers = this.managerAddrs();
      // Read at the moment of sending, so a message's mesh reflects at least its tasks' changes.
      const message = (
        kind: SessionMessage['kind'],
        tasks: Task[],
        removed: TaskId[],
        mesh = view?.next(),
      ): SessionMessage => ({
        kind,
        tasks,
        removed,
        managers,
        heartbeatPeriodMs: this.heartbeatPeriodMs(),
        ...(mesh && { mesh }),
      });
      yield message('full', result, []);
      const changed = new Map<TaskId, Task>();
      const removed = new Set<TaskId>();
      let managersChanged = false;
      for await (const e of queue) {
        if (e === 'mesh' || e === 'held') {
          const mesh = view?.next();
          const ready = view?.release() ?? [];
          if (mesh || ready.length > 0) yield message('incremental', ready, [], mesh);
          continue;
        }
        if (isObjectEvent(e)) {
          if (e.kind === 'node') {
            if (e.new?.managerStatus?.addr !== e.old?.managerStatus?.addr) managersChanged = true;
            // A node marked down no longer holds stops.
            if (view?.holding && e.new?.status.state !== e.old?.status.state) queue.push('held');
            continue;
          }
          if (e.kind !== 'task') continue;
          const t = e.new;
          if (t && isAssignment(t, nodeId)) {
            // A change of status alone is mostly the worker's own report coming back: it tells the
            // worker nothing and made it re-inspect the container (swarmkit skips these too).
            if (e.old && known.has(t.id) && !changed.has(t.id) && statusChangeOnly(e.old, t)) continue;
            changed.set(t.id, t);
            removed.delete(t.id);
            known.add(t.id);
          } else if (known.has(e.old?.id ?? t?.id ?? ('' as TaskId))) {
            const id = (e.old?.id ?? t?.id) as TaskId;
            known.delete(id);
            changed.delete(id);
            view?.forget(id);
            removed.add(id);
          }
          continue;
        }
        if (changed.size === 0 && removed.size === 0 && !managersChanged) continue;
        const managersMoved = managersChanged;
        if (managersChanged) managers = this.managerAddrs();
        managersChanged = false;
        // A task that was taking traffic is stopped only once every node has applied a mesh
        // without it: that mesh goes first, in a message of its own, and the stop is held until
        // the nodes report it applied (or MESH_STOP_TIMEOUT_MS); the other changes go out now.
        let mesh = view?.next();
        if (view) {
          for (const t of changed.values()) if (view.hold(t)) changed.delete(t.id);
          if (view.holding > 0 && mesh) {
            yield message('incremental', [], [], mesh);
            mesh = undefined;
          }
        }
        const tasks = [...changed.values(), ...(view?.holding ? view.release() : [])];
        if (tasks.length > 0 || removed.size > 0 || mesh || managersMoved) {
          yield message('incremental', tasks, [...removed], mesh);
        }
        changed.clear();
        removed.clear();
      }
    } finally {
      view?.dispose();
      ackSub.dispose();
      meshSub?.dispose();
      this.meshAcks.close(nodeId);
      watch.dispose();
      queue.end();
      await pump;
      this.log.info('worker session closed', { 'node.id': nodeId });
    }
  }

  /** Leader-only: opens the epoch, gives every node a full grace period, then marks silent ones down. */
  monitor(): Component {
    return {
      name: 'dispatcher-heartbeats',
      run: async (signal) => {
        const epoch = new AbortController();
        this.epoch = epoch;
        const start = this.deps.clock.monotonic();
        this.lastSeen.clear();
        try {
          while (!signal.aborted) {
            const period = this.heartbeatPeriodMs();
            await delay(this.deps.clock, this.nextCheckMs(start, period), signal);
            if (signal.aborted) break;
            await this.markSilentDown(start, period, signal).catch((e: unknown) => {
              if (!signal.aborted) this.log.warn('could not mark nodes down', { error: errorMessage(e) });
            });
          }
        } finally {
          if (this.epoch === epoch) this.epoch = undefined;
          epoch.abort(new SwarmError('LOST_LEADERSHIP', 'this manager stopped leading'));
        }
      },
    };
  }

  private nextCheckMs(start: number, period: number): number {
    const seen = this.deps.store.view((tx) =>
      tx
        .find('node', by.all())
        .filter((n) => n.status.state !== 'down')
        .map((n) => this.lastSeen.get(n.id) ?? start),
    );
    const limit = HEARTBEAT_GRACE_PERIODS * period;
    return nextCheckDelayMs(seen, this.deps.clock.monotonic(), limit, Math.max(100, period / 2));
  }

  private async markSilentDown(start: number, period: number, signal: AbortSignal): Promise<void> {
    const now = this.deps.clock.monotonic();
    const limit = HEARTBEAT_GRACE_PERIODS * period;
    const silent = this.deps.store.view((tx) =>
      tx
        .find('node', by.all())
        .filter((n) => n.status.state !== 'down' && now - (this.lastSeen.get(n.id) ?? start) > limit)
        .map((n) => n.id),
    );
    if (silent.length === 0) return;
    await this.deps.store.update(
      (tx) => {
        for (const id of silent) {
          const n = tx.get('node', id);
          if (!n || n.status.state === 'down') continue;
          tx.update('node', { ...n, status: { ...n.status, state: 'down', message: 'heartbeat failure' } });
        }
      },
      { signal, retries: 3 },
    );
    this.log.warn('nodes marked down after missed heartbeats', { nodes: silent.join(',') });
  }
}

/** The same task but for its observed status (and the version that change bumped). */
function statusChangeOnly(a: Task, b: Task): boolean {
  if (TASK_STATE_RANK[b.status.state] <= TASK_STATE_RANK.assigned) return false;
  return jsonEqual({ ...a, meta: null, status: null }, { ...b, meta: null, status: null });
}

/** Equal but for the time it was observed: re-reports of an unchanged state are not written. */
function sameStatus(a: TaskStatus, b: TaskStatus): boolean {
  return jsonEqual({ ...a, timestamp: 0 }, { ...b, timestamp: 0 });
}

function callerOf(ctx: CallContext): NodeId {
  if (!ctx.peer) throw new SwarmError('UNAUTHENTICATED', 'the dispatcher needs a node certificate');
  return ctx.peer.nodeId as NodeId;
}

/** Waits `ms`, or less when the signal aborts. */
function delay(clock: Clock, ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted || ms <= 0) return resolve();
    const cancel = clock.setTimer(ms, done);
    signal.addEventListener('abort', done, { once: true });
    function done(): void {
      cancel();
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}

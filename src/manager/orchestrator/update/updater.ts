import type {
  Node,
  ObjectEvent,
  Service,
  ServiceId,
  Task,
  TaskId,
  UpdateStatus,
} from '../../../api/index.js';
import { by, type ReadTx, type WriteTx } from '../../store/index.js';
import { jsonEqual } from '../common/dirty.js';
import { LoopComponent } from '../common/loop-component.js';
import { newTask } from '../common/task-factory.js';
import { isGlobalMode, isJobMode, nodeMatchesService, serviceConstraints } from '../common/task-rules.js';
import { setDesiredState } from '../common/task-writes.js';
import type { OrchestratorDeps, OrchestratorOptions } from '../options.js';
import {
  hasRunningReplacement,
  type Instance,
  isInFlight,
  isStaged,
  type MonitorMemory,
  mayBeRunning,
  type RolloutView,
  viewRollout,
} from './rollout-view.js';
import { effectiveUpdateConfig, isActiveUpdate, isRollback, isTrackedUpdate } from './update-config.js';

/** What one step decided beyond its writes: when to look again. */
interface StepResult {
  readonly wakeAt?: number | undefined;
  readonly more?: boolean;
}

function earliest(a: number, b: number | undefined): number {
  return b === undefined ? a : Math.min(a, b);
}

/**
 * The rolling updater (swarmkit's update supervisor, with its state in the store).
 *
 * - Owns: replacing tasks whose spec is out of date (`isTaskDirty`) while the service's
 *   `status.updateStatus` is `updating` or `rollback_started`, `parallelism` slots (nodes, for
 *   global services) at a time, one batch after the other with `delayMs` in between, and the
 *   update status itself from then on (paused, canary, completed, rolled back).
 * - stop-first: the old task → desired `shutdown` and, in the same transaction, the new one at
 *   desired `ready` (listed in `heldTasks`), promoted to `running` once the old one has stopped.
 *   start-first: the new task runs first; the old one is shut down once the new one is running
 *   and healthy. Either way a slot never keeps two running tasks.
 * - Failures: a new task that stops by itself, or is not running and healthy `monitorMs` after it
 *   started running. Their ids go to `failedTasks`; once failed/updated > maxFailureRatio the
 *   failure action runs: pause, continue, or rollback (spec := previousSpec, state
 *   `rollback_started`); a rollback that fails pauses (`rollback_paused`).
 * - Canary: with `canary: N` the rollout holds in state `canary` once N slots run the new spec
 *   (PromoteService, or `canaryAutoPromoteMs` of health, lets it go on).
 * - Leader change: everything that decides the rollout is in the store (status, failed and held
 *   tasks, canary time); a new leader only restarts open monitor windows and the batch delay.
 * - Watches: services, tasks, nodes (of services with an update in progress).
 */
export class Updater extends LoopComponent {
  readonly name = 'updater';
  private readonly pending = new Set<ServiceId>();
  /** Services with an update in progress (the only ones whose task events matter). */
  private readonly active = new Set<ServiceId>();
  private readonly memory: MonitorMemory = { runningSince: new Map(), passed: new Set() };
  /** Per service: when its last batch finished (the next one waits `delayMs` from there). */
  private readonly batchDone = new Map<ServiceId, number>();
  private readonly inFlightSeen = new Set<ServiceId>();
  private readonly timers = new Map<ServiceId, { at: number; cancel: () => void }>();

  constructor(deps: OrchestratorDeps, options: OrchestratorOptions = {}) {
    super(deps, options, 'manager/orchestrator/update');
  }

  resync(tx: ReadTx): void {
    this.pending.clear();
    this.active.clear();
    this.memory.runningSince.clear();
    this.memory.passed.clear();
    this.batchDone.clear();
    this.inFlightSeen.clear();
    for (const t of this.timers.values()) t.cancel();
    this.timers.clear();
    const now = this.clock.now();
    for (const s of tx.find('service', by.all())) {
      if (!isTrackedUpdate(s.status.updateStatus?.state)) continue;
      this.pending.add(s.id);
      this.active.add(s.id);
      // A new leader waits a whole delay before its first batch.
      this.batchDone.set(s.id, now);
    }
  }

  onEvent(event: ObjectEvent): void {
    if (event.kind === 'service') {
      if (event.action === 'delete') this.forget(event.old.id);
      else if (isTrackedUpdate(event.new.status.updateStatus?.state)) {
        this.pending.add(event.new.id);
        this.active.add(event.new.id);
      }
    } else if (event.kind === 'task') {
      const id = event.action === 'delete' ? event.old.serviceId : event.new.serviceId;
      if (this.active.has(id)) this.pending.add(id);
    } else if (event.kind === 'node') {
      for (const id of this.active) this.pending.add(id);
    }
  }

  async tick(signal: AbortSignal): Promise<void> {
    for (const id of [...this.pending]) {
      this.pending.delete(id);
      const r = await this.write('roll out service', (tx) => this.step(tx, id), signal, { 'service.id': id });
      if (!r.ok) {
        if (r.retry) this.pending.add(id);
        continue;
      }
      if (r.value.more) {
        this.pending.add(id);
        this.wake();
      }
      this.wakeAt(id, r.value.wakeAt);
    }
  }

  private forget(id: ServiceId): void {
    this.pending.delete(id);
    this.active.delete(id);
    this.batchDone.delete(id);
    this.inFlightSeen.delete(id);
    this.timers.get(id)?.cancel();
    this.timers.delete(id);
  }

  private wakeAt(id: ServiceId, at: number | undefined): void {
    const current = this.timers.get(id);
    if (current && (at === undefined || current.at !== at)) {
      current.cancel();
      this.timers.delete(id);
    }
    if (at === undefined || this.timers.has(id)) return;
    const cancel = this.setTimer(Math.max(0, at - this.clock.now()), () => {
      this.timers.delete(id);
      this.pending.add(id);
      this.wake();
    });
    this.timers.set(id, { at, cancel });
  }

  /** One pass over a service, in one transaction; re-runnable (decides from what it reads). */
  private step(tx: WriteTx, id: ServiceId): StepResult {
    const service = tx.get('service', id);
    const u = service?.status.updateStatus;
    if (!service || !u || !isTrackedUpdate(u.state) || isJobMode(service.spec.mode)) {
      this.forget(id);
      return {};
    }
    const now = this.clock.now();
    const config = effectiveUpdateConfig(service);
    const nodeOf = (t: Task) => (t.nodeId ? tx.get('node', t.nodeId) : undefined);
    const view = viewRollout(
      service,
      tx.find('task', by.serviceId(id)),
      nodeOf,
      now,
      config.monitorMs,
      this.memory,
    );
    const status = { ...u };
    const failed = new Set(u.failedTasks ?? []);
    for (const [taskId, outcome] of view.outcomes) if (outcome === 'failed') failed.add(taskId);
    const held = new Set(u.heldTasks ?? []);

    // Finish started slots: shut dirty tasks down behind healthy replacements, start held tasks.
    for (const inst of view.instances) {
      if (inst.dirtyLive.length > 0 && hasRunningReplacement(inst, view.outcomes)) {
        for (const t of inst.dirtyLive) setDesiredState(tx, t, 'shutdown');
      } else if (inst.dirtyLive.length > 0) {
        // start-first: a new task that failed its monitor window while still running (never
        // healthy) makes way, the old task keeps the slot.
        for (const t of inst.cleanLive)
          if (view.outcomes.get(t.id) === 'failed' && t.desiredState === 'running')
            setDesiredState(tx, t, 'shutdown');
      }
      // A staged slot's old task was not asked to stop yet: its batch starts it.
      if (inst.dirtyLive.length > 0) continue;
      for (const t of inst.cleanLive) {
        if (t.desiredState !== 'ready' || !held.has(t.id)) continue;
        const waiting = inst.tasks.some((o) => o.id !== t.id && mayBeRunning(o, nodeOf));
        // From the slot's start (a staged task was written then), not from its creation.
        if (waiting && now < t.meta.updatedAt + this.options.oldTaskTimeoutMs) continue;
        setDesiredState(tx, t, 'running');
        held.delete(t.id);
      }
    }
    for (const taskId of held) {
      const t = tx.get('task', taskId as TaskId);
      if (t?.desiredState !== 'ready') held.delete(taskId);
    }

    if (!isActiveUpdate(u.state)) {
      // Paused: nothing new starts; slots already started are finished above, staged ones
      // give their prepared task up (the old one keeps the slot).
      for (const inst of view.instances) {
        if (!isStaged(inst, held)) continue;
        for (const t of inst.cleanLive) {
          setDesiredState(tx, t, 'shutdown');
          held.delete(t.id);
        }
      }
      return { ...this.writeProgress(tx, service, status, failed, held), wakeAt: view.nextWindowEnd };
    }

    const staged = new Set(view.instances.filter((i) => isStaged(i, held)));
    const updated = view.instances.filter((i) => i.newTasks.length > 0 && !staged.has(i)).length;
    const inFlight = view.instances.filter((i) => !staged.has(i) && isInFlight(i, view.outcomes));
    const newFailures = [...failed].filter((f) => !(u.failedTasks ?? []).includes(f));
    const write = (next: UpdateStatus): StepResult => this.writeProgress(tx, service, next, failed, held);

    // Too many failures: the failure action.
    if (failed.size > 0 && failed.size / Math.max(1, updated) > config.maxFailureRatio) {
      const culprit = newFailures[0] ?? [...failed][0]!;
      const reason = this.failureReason(tx, culprit);
      if (isRollback(u.state)) {
        if (config.failureAction !== 'continue') {
          return write({ ...status, state: 'rollback_paused', message: `rollback paused: ${reason}` });
        }
      } else if (config.failureAction === 'pause') {
        return write({ ...status, state: 'paused', message: `update paused: ${reason}` });
      } else if (config.failureAction === 'rollback') {
        if (!service.previousSpec) {
          return write({
            ...status,
            state: 'paused',
            message: `update paused (no previous spec): ${reason}`,
          });
        }
        tx.update('service', {
          ...service,
          spec: service.previousSpec,
          previousSpec: service.spec,
          specVersion: service.specVersion + 1,
          status: {
            ...service.status,
            updateStatus: {
              state: 'rollback_started',
              startedAt: now,
              message: `update rolled back: ${reason}`,
            },
          },
        });
        this.batchDone.delete(id);
        return { more: true };
      }
    }

    const candidates = view.instances.filter(
      (i) => i.dirtyLive.length > 0 && (i.cleanLive.length === 0 || staged.has(i)),
    );
    const canaryTarget = this.canaryTarget(service, config.canary, view);

    // Canary hold: promote by itself after enough healthy time, else wait.
    if (u.state === 'canary') {
      const since = u.canarySince ?? now;
      if (config.canaryAutoPromoteMs > 0 && failed.size === 0) {
        const at = since + config.canaryAutoPromoteMs;
        if (now >= at) {
          const { canarySince: _, ...rest } = status;
          write({
            ...rest,
            state: 'updating',
            canaryPromoted: true,
            message: 'canaries promoted automatically',
          });
          return { more: true };
        }
        return { ...write(status), wakeAt: earliest(at, view.nextWindowEnd) };
      }
      return { ...write(status), wakeAt: view.nextWindowEnd };
    }

    if (inFlight.length > 0) this.inFlightSeen.add(id);
    else if (this.inFlightSeen.delete(id)) this.batchDone.set(id, now);

    if (canaryTarget !== undefined && updated >= canaryTarget && inFlight.length === 0) {
      return write({
        ...status,
        state: 'canary',
        canarySince: now,
        message: `${updated} canaries running; promote or roll back`,
      });
    }

    // The next batch, once the previous one is done and the delay has passed.
    if (candidates.length > 0 && inFlight.length === 0) {
      const doneAt = this.batchDone.get(id);
      const readyAt = doneAt === undefined ? now : doneAt + config.delayMs;
      if (now < readyAt) return { ...write(status), wakeAt: earliest(readyAt, view.nextWindowEnd) };
      let size = config.parallelism === 0 ? candidates.length : config.parallelism;
      if (canaryTarget !== undefined) size = Math.min(size, canaryTarget - updated);
      size = Math.min(size, Math.max(1, Math.floor(this.options.maxChangesPerTransaction / 2)));
      for (const inst of candidates.slice(0, size)) {
        if (staged.has(inst)) this.startStaged(tx, inst, held, nodeOf);
        else this.startSlot(tx, service, inst, config.order, held, nodeOf);
      }
      // stop-first with a delay: the next batch's replacements are prepared meanwhile, so that its
      // slots are down only from the old task's stop to the new one's start. Without a delay the
      // next batch's creates happen during its old tasks' stop anyway (the start waits for the
      // stop), and preparing them earlier only slowed this batch's starts (bench:update).
      const ahead = Math.min(size, this.options.maxChangesPerTransaction - 2 * size);
      const prepareAhead = config.order === 'stop-first' && config.delayMs > 0;
      if (prepareAhead && canaryTarget === undefined && !isGlobalMode(service.spec.mode)) {
        for (const inst of candidates.slice(size, size + Math.max(0, ahead)))
          if (!staged.has(inst)) this.stageSlot(tx, service, inst, held, nodeOf);
      }
      this.inFlightSeen.add(id);
      return write(status);
    }

    const open = view.instances.some((i) => i.dirtyLive.length > 0) || inFlight.length > 0 || held.size > 0;
    if (open) return { ...write(status), wakeAt: view.nextWindowEnd };
    // Every slot runs the spec: done once the last monitor windows are over.
    if (view.nextWindowEnd !== undefined) return { ...write(status), wakeAt: view.nextWindowEnd };
    const rollback = isRollback(u.state);
    const { canarySince: _, ...rest } = status;
    write({
      ...rest,
      state: rollback ? 'rollback_completed' : 'completed',
      completedAt: now,
      // A rollback keeps why it started (the failed task, or a manual request) for scripts.
      message: rollback ? `rollback completed${u.message ? ` (${u.message})` : ''}` : 'update completed',
    });
    this.forget(id);
    return {};
  }

  /** Writes the status with the failed and held task lists, if anything changed. */
  private writeProgress(
    tx: WriteTx,
    service: Service,
    next: UpdateStatus,
    failed: ReadonlySet<string>,
    held: ReadonlySet<string>,
  ): StepResult {
    const { failedTasks: _f, heldTasks: _h, ...base } = next;
    const withProgress: UpdateStatus = {
      ...base,
      ...(failed.size > 0 ? { failedTasks: [...failed] } : {}),
      ...(held.size > 0 ? { heldTasks: [...held] } : {}),
    };
    if (!jsonEqual(withProgress, service.status.updateStatus)) {
      tx.update('service', { ...service, status: { ...service.status, updateStatus: withProgress } });
    }
    return {};
  }

  /** Slots to update before holding as canaries; undefined when there is no canary hold. */
  private canaryTarget(service: Service, canary: number, view: RolloutView): number | undefined {
    const u = service.status.updateStatus;
    if (canary <= 0 || u?.canaryPromoted || isRollback(u?.state)) return undefined;
    return canary < view.instances.length ? canary : undefined;
  }

  private startSlot(
    tx: WriteTx,
    service: Service,
    inst: Instance,
    order: 'stop-first' | 'start-first',
    held: Set<string>,
    nodeOf: (t: Task) => Node | undefined,
  ): void {
    const global = isGlobalMode(service.spec.mode);
    const first = inst.dirtyLive[0]!;
    const node = nodeOf(first);
    // A global task on a node that no longer fits: the global orchestrator stops it, nothing new.
    if (global && !(node && nodeMatchesService(node, serviceConstraints(service)))) return;
    const running = inst.dirtyLive.filter((t) => mayBeRunning(t, nodeOf));
    const hold = order === 'stop-first' && running.length > 0;
    if (order === 'stop-first') for (const t of inst.dirtyLive) setDesiredState(tx, t, 'shutdown');
    const created = tx.create(
      'task',
      newTask({
        service,
        slot: global ? 0 : first.slot,
        ...(global && first.nodeId ? { nodeId: first.nodeId } : {}),
        desiredState: hold ? 'ready' : 'running',
        // The agent that ran the old tasks starts the prepared one once they exited there.
        ...(hold ? { startAfter: running.map((t) => t.id) } : {}),
        initialState: this.options.initialTaskState,
        now: this.clock.now(),
        randomBytes: this.deps.randomBytes,
      }),
    );
    if (hold) held.add(created.id);
  }

  /** A replacement prepared ahead: held at desired `ready`, the old task left running. */
  private stageSlot(
    tx: WriteTx,
    service: Service,
    inst: Instance,
    held: Set<string>,
    nodeOf: (t: Task) => Node | undefined,
  ): void {
    if (!inst.dirtyLive.some((t) => mayBeRunning(t, nodeOf))) return;
    const created = tx.create(
      'task',
      newTask({
        service,
        slot: inst.dirtyLive[0]!.slot,
        desiredState: 'ready',
        initialState: this.options.initialTaskState,
        now: this.clock.now(),
        randomBytes: this.deps.randomBytes,
      }),
    );
    held.add(created.id);
  }

  /** A staged slot's turn: its old task stops and the prepared one may start once it exited. */
  private startStaged(
    tx: WriteTx,
    inst: Instance,
    held: Set<string>,
    nodeOf: (t: Task) => Node | undefined,
  ): void {
    const running = inst.dirtyLive.filter((t) => mayBeRunning(t, nodeOf)).map((t) => t.id);
    for (const t of inst.dirtyLive) setDesiredState(tx, t, 'shutdown');
    for (const t of inst.cleanLive) {
      if (running.length === 0) {
        setDesiredState(tx, t, 'running');
        held.delete(t.id);
      } else tx.update('task', { ...t, startAfter: running });
    }
  }

  private failureReason(tx: WriteTx, taskId: string): string {
    const t = tx.get('task', taskId as TaskId);
    if (!t) return `task ${taskId} failed`;
    const why =
      t.status.err ??
      (t.status.health === 'starting' ? 'not healthy within the monitor window' : t.status.message);
    return `task ${t.id} (slot ${t.slot || t.nodeId}) failed: ${why}`;
  }
}

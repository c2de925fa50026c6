import type { NodeId, ObjectEvent, Service, ServiceId } from '../../../api/index.js';
import { by, type ReadTx, type WriteTx } from '../../store/index.js';
import { LoopComponent } from '../common/loop-component.js';
import { newTask } from '../common/task-factory.js';
import { bySlot, isCompletedJobTask, isJobMode, isLiveTask, jobIterationOf } from '../common/task-rules.js';
import { setDesiredState } from '../common/task-writes.js';
import { type NodeInstanceContext, reconcileNodeInstances } from '../global/node-instances.js';
import type { OrchestratorDeps, OrchestratorOptions } from '../options.js';
import { freeSlots } from '../replicated/scale-down.js';
import { instanceHolders } from '../restart/restart-policy.js';

type JobModeType = 'replicated-job' | 'global-job';

/**
 * Runs job services to completion (swarmkit's jobs orchestrator).
 *
 * - `replicated-job`: slots 1..totalCompletions, each to be completed once; at most
 *   `maxConcurrent` (0: all) unfinished tasks at a time. A completed task keeps its slot; a
 *   failed one is replaced in its slot by the restart supervisor (`any` counts as `on-failure`
 *   for jobs) and counts against the concurrency until then; a slot whose failure is final
 *   (condition none, attempts used up) is done too.
 * - `global-job`: one completion per eligible node, nodes that join later included (shared
 *   rules with the global orchestrator).
 * - Tasks are created with desired `complete` and `jobIteration` = the service's spec version:
 *   changing a job's spec runs it again; live tasks of earlier runs get desired `remove`.
 * - Watches: services (job modes), tasks of job services (completions and failures free
 *   concurrency), nodes (for global jobs).
 */
export class JobsOrchestrator extends LoopComponent {
  readonly name = 'jobs-orchestrator';
  private readonly services = new Map<ServiceId, JobModeType>();
  private readonly dirty = new Set<ServiceId>();
  private readonly dirtyNodes = new Set<NodeId>();
  private readonly deleted = new Set<ServiceId>();

  constructor(deps: OrchestratorDeps, options: OrchestratorOptions = {}) {
    super(deps, options, 'manager/orchestrator/jobs');
  }

  resync(tx: ReadTx): void {
    this.services.clear();
    this.dirty.clear();
    this.dirtyNodes.clear();
    this.deleted.clear();
    for (const s of tx.find('service', by.all())) this.track(s);
  }

  onEvent(event: ObjectEvent): void {
    switch (event.kind) {
      case 'service':
        if (event.action === 'delete') {
          if (this.services.delete(event.old.id)) this.deleted.add(event.old.id);
          this.dirty.delete(event.old.id);
        } else {
          this.track(event.new);
        }
        break;
      case 'task': {
        const t = event.action === 'delete' ? event.old : event.new;
        if (this.services.has(t.serviceId) && event.action !== 'create') this.dirty.add(t.serviceId);
        break;
      }
      case 'node':
        if (event.action === 'delete') {
          for (const [id, type] of this.services) if (type === 'global-job') this.dirty.add(id);
        } else {
          this.dirtyNodes.add(event.new.id);
        }
        break;
      default:
        break;
    }
  }

  async tick(signal: AbortSignal): Promise<void> {
    await this.removeTasksOfDeleted(this.deleted, 'remove tasks of deleted job', signal);
    const nodes = [...this.dirtyNodes];
    this.dirtyNodes.clear();
    for (const [id, type] of this.services) {
      const whole = this.dirty.delete(id);
      if (!whole && (type === 'replicated-job' || nodes.length === 0)) continue;
      const again = await this.writeQueued(
        'reconcile job',
        (tx) => this.reconcile(tx, id, whole ? undefined : nodes),
        signal,
        { 'service.id': id },
      );
      if (again) this.dirty.add(id);
    }
  }

  private track(service: Service): void {
    const type = service.spec.mode.type;
    if (type !== 'replicated-job' && type !== 'global-job') return;
    this.services.set(service.id, type);
    this.dirty.add(service.id);
  }

  private reconcile(tx: WriteTx, id: ServiceId, nodes?: readonly NodeId[]): { more: boolean } {
    const service = tx.get('service', id);
    if (!service || !isJobMode(service.spec.mode)) return { more: false };
    const max = this.options.maxChangesPerTransaction;
    const retired = this.retireEarlierRuns(tx, service, max);
    if (retired >= max) return { more: true };
    if (service.spec.mode.type === 'global-job') {
      const r = reconcileNodeInstances(tx, service, this.context(max - retired), nodes);
      return { more: r.more };
    }
    return this.reconcileReplicated(tx, service, max - retired);
  }

  /** Live, unfinished tasks of earlier runs of the job: desired `remove`. */
  private retireEarlierRuns(tx: WriteTx, service: Service, max: number): number {
    const iteration = jobIterationOf(service);
    let changed = 0;
    for (const t of tx.find('task', by.serviceId(service.id))) {
      if (changed >= max) break;
      if (t.jobIteration === iteration || !isLiveTask(t) || isCompletedJobTask(t)) continue;
      if (setDesiredState(tx, t, 'remove')) changed++;
    }
    return changed;
  }

  private reconcileReplicated(tx: WriteTx, service: Service, max: number): { more: boolean } {
    const mode = service.spec.mode;
    if (mode.type !== 'replicated-job') return { more: false };
    const iteration = jobIterationOf(service);
    const current = tx.find('task', by.serviceId(service.id)).filter((t) => t.jobIteration === iteration);
    const occupied = new Set<number>();
    let unfinished = 0;
    for (const [slot, tasks] of bySlot(current)) {
      const holders = instanceHolders(tasks, mode);
      if (holders.length === 0) continue;
      occupied.add(slot);
      if (holders.some((t) => isLiveTask(t) && !isCompletedJobTask(t))) unfinished++;
    }
    const total = mode.totalCompletions;
    const concurrency = mode.maxConcurrent > 0 ? mode.maxConcurrent : total;
    const wanted = Math.max(0, Math.min(concurrency - unfinished, total - occupied.size));
    const slots = freeSlots(occupied, Math.min(wanted, max));
    for (const slot of slots) {
      tx.create(
        'task',
        newTask({
          service,
          slot,
          desiredState: 'complete',
          initialState: this.options.initialTaskState,
          jobIteration: iteration,
          now: this.clock.now(),
          randomBytes: this.deps.randomBytes,
        }),
      );
    }
    return { more: wanted > slots.length };
  }

  private context(maxChanges: number): NodeInstanceContext {
    return {
      now: this.clock.now(),
      randomBytes: this.deps.randomBytes,
      initialState: this.options.initialTaskState,
      maxChanges,
    };
  }
}

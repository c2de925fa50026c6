import type { ObjectEvent, Service, ServiceId, Task } from '../../../api/index.js';
import { by, type ReadTx, type WriteTx } from '../../store/index.js';
import { isTaskDirty } from '../common/dirty.js';
import { LoopComponent } from '../common/loop-component.js';
import { newTask } from '../common/task-factory.js';
import { bySlot, isLiveTask, isReplicatedMode } from '../common/task-rules.js';
import { setDesiredState } from '../common/task-writes.js';
import type { OrchestratorDeps, OrchestratorOptions } from '../options.js';
import { instanceHolders } from '../restart/restart-policy.js';
import { isTrackedUpdate } from '../update/update-config.js';
import { freeSlots, slotsToRemove } from './scale-down.js';
import { surplusInSlot } from './slot-surplus.js';

/**
 * Keeps each replicated service at `replicas` slots (swarmkit's replicated orchestrator,
 * service-level half).
 *
 * - Owns: the number of slots. Creates a task (pending, desired running, no node) for each
 *   missing slot, lowest numbers first; on scale-down sets desired `remove` on the surplus slots'
 *   tasks (busiest nodes first, then highest slots); on service delete sets desired `remove` on
 *   every task of the service.
 * - Does not replace failed tasks or tasks of failed nodes: the restart supervisor does, in the
 *   same slot, and a slot whose task failed is still held until then. Does not touch tasks whose
 *   spec is out of date (`isTaskDirty`): that is the rolling updater's job.
 * - Owns too: one task wanting to run per slot. Outside a rollout (whose start-first slots hold
 *   two for a while), a slot with several live tasks keeps one (current spec, running, oldest)
 *   and the others → desired `shutdown`: a net under the writers that each check the slot.
 * - Watches: services (create, update, delete), tasks (deleted or no longer live: their slot may
 *   be empty now; created or moved to another live desired state: their slot may hold two).
 */
export class ReplicatedOrchestrator extends LoopComponent {
  readonly name = 'replicated-orchestrator';
  private readonly dirty = new Set<ServiceId>();
  private readonly deleted = new Set<ServiceId>();

  constructor(deps: OrchestratorDeps, options: OrchestratorOptions = {}) {
    super(deps, options, 'manager/orchestrator/replicated');
  }

  resync(tx: ReadTx): void {
    this.dirty.clear();
    this.deleted.clear();
    for (const s of tx.find('service', by.all())) if (isReplicatedMode(s.spec.mode)) this.dirty.add(s.id);
  }

  onEvent(event: ObjectEvent): void {
    if (event.kind === 'service') {
      if (event.action === 'delete') {
        this.dirty.delete(event.old.id);
        if (isReplicatedMode(event.old.spec.mode)) this.deleted.add(event.old.id);
      } else if (isReplicatedMode(event.new.spec.mode)) {
        this.dirty.add(event.new.id);
      }
    } else if (event.kind === 'task') {
      if (event.action === 'delete' && isLiveTask(event.old)) this.dirty.add(event.old.serviceId);
      if (event.action === 'update' && isLiveTask(event.old) && !isLiveTask(event.new))
        this.dirty.add(event.new.serviceId);
      if (
        event.action !== 'delete' &&
        isLiveTask(event.new) &&
        (event.action === 'create' || event.old.desiredState !== event.new.desiredState)
      )
        this.dirty.add(event.new.serviceId);
    }
  }

  async tick(signal: AbortSignal): Promise<void> {
    await this.removeTasksOfDeleted(this.deleted, 'remove tasks of deleted service', signal);
    for (const id of [...this.dirty]) {
      this.dirty.delete(id);
      const again = await this.writeQueued('reconcile service', (tx) => this.reconcile(tx, id), signal, {
        'service.id': id,
      });
      if (again) this.dirty.add(id);
    }
  }

  /** One transaction's worth of reconciliation; `more` when the change limit cut it short. */
  private reconcile(tx: WriteTx, id: ServiceId): { more: boolean } {
    const service = tx.get('service', id);
    if (service?.spec.mode.type !== 'replicated') return { more: false };
    const want = service.spec.mode.replicas;
    const holders = new Map<number, ReturnType<typeof instanceHolders>>();
    for (const [slot, tasks] of bySlot(tx.find('task', by.serviceId(id)))) {
      const h = instanceHolders(tasks, service.spec.mode);
      if (h.length > 0) holders.set(slot, h);
    }
    const max = this.options.maxChangesPerTransaction;
    if (!isTrackedUpdate(service.status.updateStatus?.state)) {
      const clean = (t: Task) => !isTaskDirty(service, t, t.nodeId ? tx.get('node', t.nodeId) : undefined);
      let changed = 0;
      for (const [slot, tasks] of holders) {
        for (const t of surplusInSlot(tasks.filter(isLiveTask), clean)) {
          if (changed >= max) return { more: true };
          if (setDesiredState(tx, t, 'shutdown')) changed++;
          this.logger.warn('slot held twice: extra task shut down', {
            'service.id': id,
            slot,
            'task.id': t.id,
          });
        }
      }
      // Counted again from what this transaction wrote.
      if (changed > 0) return { more: true };
    }
    if (holders.size < want) {
      const missing = want - holders.size;
      const slots = freeSlots(new Set(holders.keys()), Math.min(missing, max));
      for (const slot of slots) tx.create('task', this.taskFor(service, slot));
      if (slots.length > 0)
        this.logger.debug('scaled up', {
          'service.id': id,
          from: holders.size,
          to: holders.size + slots.length,
        });
      return { more: missing > slots.length };
    }
    if (holders.size > want) {
      let changed = 0;
      for (const slot of slotsToRemove(holders, want)) {
        for (const t of holders.get(slot) ?? []) {
          if (changed >= max) return { more: true };
          if (setDesiredState(tx, t, 'remove')) changed++;
        }
      }
      this.logger.debug('scaled down', { 'service.id': id, from: holders.size, to: want });
    }
    return { more: false };
  }

  private taskFor(service: Service, slot: number) {
    return newTask({
      service,
      slot,
      desiredState: 'running',
      initialState: this.options.initialTaskState,
      now: this.clock.now(),
      randomBytes: this.deps.randomBytes,
    });
  }
}

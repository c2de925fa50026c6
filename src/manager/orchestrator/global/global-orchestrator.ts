import type { NodeId, ObjectEvent, ServiceId } from '../../../api/index.js';
import { by, type ReadTx, type WriteTx } from '../../store/index.js';
import { LoopComponent } from '../common/loop-component.js';
import { isLiveTask } from '../common/task-rules.js';
import type { OrchestratorDeps, OrchestratorOptions } from '../options.js';
import { type NodeInstanceContext, reconcileNodeInstances } from './node-instances.js';

/**
 * One task per eligible node for each `global` service (swarmkit's global orchestrator).
 *
 * - Owns: which nodes have a task of the service. Creates tasks with `nodeId` preset (pending,
 *   desired running) on nodes that are ready, active and match the placement constraints; sets
 *   desired `shutdown` on tasks of nodes that are drained, down or no longer match; desired
 *   `remove` on tasks of deleted nodes and of deleted services. Paused nodes keep their task and
 *   get no new one.
 * - Leaves to others: restarting a task that failed on a healthy node (restart supervisor, same
 *   node), replacing tasks whose spec is out of date (updater, see `isTaskDirty`).
 * - Watches: services (create, update, delete), nodes (joins, availability, status, labels,
 *   deletion), tasks (deleted or no longer live: the node may need a task again).
 */
export class GlobalOrchestrator extends LoopComponent {
  readonly name = 'global-orchestrator';
  private readonly services = new Set<ServiceId>();
  private readonly dirtyServices = new Set<ServiceId>();
  private readonly dirtyNodes = new Set<NodeId>();
  private readonly deleted = new Set<ServiceId>();

  constructor(deps: OrchestratorDeps, options: OrchestratorOptions = {}) {
    super(deps, options, 'manager/orchestrator/global');
  }

  resync(tx: ReadTx): void {
    this.services.clear();
    this.dirtyNodes.clear();
    this.deleted.clear();
    for (const s of tx.find('service', by.all())) if (s.spec.mode.type === 'global') this.services.add(s.id);
    this.dirtyServices.clear();
    for (const id of this.services) this.dirtyServices.add(id);
  }

  onEvent(event: ObjectEvent): void {
    switch (event.kind) {
      case 'service':
        if (event.action === 'delete') {
          if (this.services.delete(event.old.id)) this.deleted.add(event.old.id);
          this.dirtyServices.delete(event.old.id);
        } else if (event.new.spec.mode.type === 'global') {
          this.services.add(event.new.id);
          this.dirtyServices.add(event.new.id);
        }
        break;
      case 'node':
        if (event.action === 'delete') for (const id of this.services) this.dirtyServices.add(id);
        else this.dirtyNodes.add(event.new.id);
        break;
      case 'task': {
        const gone = event.action === 'delete' ? isLiveTask(event.old) : false;
        const stopped = event.action === 'update' && isLiveTask(event.old) && !isLiveTask(event.new);
        const t = event.action === 'delete' ? event.old : event.new;
        if ((gone || stopped) && this.services.has(t.serviceId)) this.dirtyServices.add(t.serviceId);
        break;
      }
      default:
        break;
    }
  }

  async tick(signal: AbortSignal): Promise<void> {
    await this.removeTasksOfDeleted(this.deleted, 'remove tasks of deleted service', signal);
    const nodes = [...this.dirtyNodes];
    this.dirtyNodes.clear();
    for (const id of this.services) {
      const whole = this.dirtyServices.delete(id);
      if (!whole && nodes.length === 0) continue;
      const again = await this.writeQueued(
        'reconcile global service',
        (tx) => this.reconcile(tx, id, whole ? undefined : nodes),
        signal,
        { 'service.id': id },
      );
      // Whatever was cut short or lost a race is done again over all nodes.
      if (again) this.dirtyServices.add(id);
    }
  }

  private reconcile(tx: WriteTx, id: ServiceId, nodes?: readonly NodeId[]): { more: boolean } {
    const service = tx.get('service', id);
    if (service?.spec.mode.type !== 'global') return { more: false };
    return reconcileNodeInstances(tx, service, this.context(), nodes);
  }

  private context(): NodeInstanceContext {
    return {
      now: this.clock.now(),
      randomBytes: this.deps.randomBytes,
      initialState: this.options.initialTaskState,
      maxChanges: this.options.maxChangesPerTransaction,
    };
  }
}

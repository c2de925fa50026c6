import {
  generateId,
  type NodeId,
  type RandomBytes,
  type Service,
  type TaskId,
  type TaskState,
} from '../../../api/index.js';
import type { CreateInput } from '../../store/index.js';

export interface NewTaskParams {
  readonly service: Service;
  /** 1-based replica slot; 0 for global modes. */
  readonly slot: number;
  /** Preset for global modes (the scheduler only checks it); absent for replicated ones. */
  readonly nodeId?: NodeId;
  readonly desiredState: TaskState;
  readonly initialState: 'new' | 'pending';
  readonly jobIteration?: number;
  /** For a held stop-first replacement: the slot's tasks that may still run (Task.startAfter). */
  readonly startAfter?: readonly TaskId[];
  /** The manager's clock, for the status timestamp. */
  readonly now: number;
  readonly randomBytes: RandomBytes;
}

/**
 * A task for one instance of a service, from the service as it is now: a copy of the task
 * template, the spec version it came from, and the endpoint the allocator gave the service.
 */
export function newTask(p: NewTaskParams): CreateInput<'task'> {
  const { service } = p;
  return {
    id: generateId<TaskId>(p.randomBytes),
    serviceId: service.id,
    serviceName: service.spec.name,
    slot: p.slot,
    ...(p.nodeId ? { nodeId: p.nodeId } : {}),
    desiredState: p.desiredState,
    spec: service.spec.taskTemplate,
    specVersion: service.specVersion,
    ...(p.jobIteration !== undefined ? { jobIteration: p.jobIteration } : {}),
    status: {
      state: p.initialState,
      timestamp: p.now,
      message: p.initialState === 'pending' ? 'pending task scheduling' : 'created',
    },
    ...(service.status.endpoint ? { endpoint: service.status.endpoint } : {}),
    ...(p.startAfter?.length ? { startAfter: p.startAfter } : {}),
  };
}

import type { NamedKind, NodeId, NodeRole, ObjectKind, ServiceId, TaskState } from '../../api/index.js';

/**
 * Index queries for `find`. The phantom parameter lists the kinds a selector applies to, so
 * `find('service', by.serviceId(id))` does not compile; it is contravariant so `by.all()`
 * (every kind) fits any kind.
 */
export interface Selector<K extends ObjectKind> {
  readonly index: IndexName | 'all' | 'idPrefix';
  readonly key: string;
  readonly __kinds?: (kind: K) => void;
}

export type IndexName = 'name' | 'serviceId' | 'nodeId' | 'slot' | 'desiredState' | 'state' | 'role';

/** Names are unique and looked up case-insensitively, like docker's. */
export function nameKey(name: string): string {
  return name.toLowerCase();
}

export function slotKey(serviceId: string, slot: number): string {
  return `${serviceId}/${slot}`;
}

export const by = {
  all: (): Selector<ObjectKind> => ({ index: 'all', key: '' }),
  /** Ids starting with `prefix` (the CLI's short ids). A scan: fine for CLI use, not hot paths. */
  idPrefix: (prefix: string): Selector<ObjectKind> => ({ index: 'idPrefix', key: prefix }),
  name: (name: string): Selector<NamedKind> => ({ index: 'name', key: nameKey(name) }),
  serviceId: (id: ServiceId): Selector<'task'> => ({ index: 'serviceId', key: id }),
  nodeId: (id: NodeId): Selector<'task'> => ({ index: 'nodeId', key: id }),
  slot: (serviceId: ServiceId, slot: number): Selector<'task'> => ({
    index: 'slot',
    key: slotKey(serviceId, slot),
  }),
  desiredState: (state: TaskState): Selector<'task'> => ({ index: 'desiredState', key: state }),
  /** By observed state (`status.state`), e.g. the scheduler's pending tasks. */
  taskState: (state: TaskState): Selector<'task'> => ({ index: 'state', key: state }),
  role: (role: NodeRole): Selector<'node'> => ({ index: 'role', key: role }),
} as const;

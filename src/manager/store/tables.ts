import { type AnyObject, OBJECT_KINDS, type ObjectKind, type ObjectOf, objectName } from '../../api/index.js';
import { type IndexName, nameKey, type Selector, slotKey } from './by.js';

type Extractor = (obj: AnyObject) => string | undefined;

const task = (f: (t: ObjectOf<'task'>) => string | undefined): Extractor => f as Extractor;
const nameIndex =
  (kind: ObjectKind): Extractor =>
  (obj) => {
    const n = objectName(kind, obj);
    return n ? nameKey(n) : undefined;
  };

/** Secondary indexes per kind: each maps an object to at most one key. */
const INDEXES: Readonly<Record<ObjectKind, Partial<Record<IndexName, Extractor>>>> = {
  cluster: { name: nameIndex('cluster') },
  node: { name: nameIndex('node'), role: (o) => (o as ObjectOf<'node'>).role },
  service: { name: nameIndex('service') },
  task: {
    serviceId: task((t) => t.serviceId),
    nodeId: task((t) => t.nodeId),
    slot: task((t) => slotKey(t.serviceId, t.slot)),
    desiredState: task((t) => t.desiredState),
    state: task((t) => t.status.state),
  },
  network: { name: nameIndex('network') },
  secret: { name: nameIndex('secret') },
  config: { name: nameIndex('config') },
};

export function indexKey(kind: ObjectKind, index: IndexName, obj: AnyObject): string | undefined {
  return INDEXES[kind][index]?.(obj);
}

/** Whether `obj` is selected by `selector` (used on a transaction's uncommitted writes). */
export function matches(kind: ObjectKind, selector: Selector<ObjectKind>, obj: AnyObject): boolean {
  if (selector.index === 'all') return true;
  if (selector.index === 'idPrefix') return obj.id.startsWith(selector.key);
  return indexKey(kind, selector.index, obj) === selector.key;
}

/** One kind's objects: a primary map plus secondary indexes kept current on every write. */
class Table {
  readonly byId = new Map<string, AnyObject>();
  private readonly indexes = new Map<IndexName, Map<string, Set<string>>>();

  constructor(private readonly kind: ObjectKind) {
    for (const name of Object.keys(INDEXES[kind]) as IndexName[]) this.indexes.set(name, new Map());
  }

  put(obj: AnyObject): void {
    const old = this.byId.get(obj.id);
    if (old) this.unindex(old);
    this.byId.set(obj.id, obj);
    for (const [name, map] of this.indexes) {
      const key = indexKey(this.kind, name, obj);
      if (key === undefined) continue;
      const ids = map.get(key);
      if (ids) ids.add(obj.id);
      else map.set(key, new Set([obj.id]));
    }
  }

  remove(id: string): void {
    const old = this.byId.get(id);
    if (!old) return;
    this.unindex(old);
    this.byId.delete(id);
  }

  private unindex(obj: AnyObject): void {
    for (const [name, map] of this.indexes) {
      const key = indexKey(this.kind, name, obj);
      if (key === undefined) continue;
      const ids = map.get(key);
      ids?.delete(obj.id);
      if (ids?.size === 0) map.delete(key);
    }
  }

  /** Matching ids in no particular order (callers sort). */
  select(selector: Selector<ObjectKind>): Iterable<string> {
    switch (selector.index) {
      case 'all':
        return this.byId.keys();
      case 'idPrefix':
        return [...this.byId.keys()].filter((id) => id.startsWith(selector.key));
      default: {
        const index = this.indexes.get(selector.index);
        return index?.get(selector.key) ?? [];
      }
    }
  }
}

/** All kinds' tables: the store's committed state. */
export class Tables {
  private readonly tables = new Map<ObjectKind, Table>(OBJECT_KINDS.map((k) => [k, new Table(k)]));

  private table(kind: ObjectKind): Table {
    return this.tables.get(kind)!;
  }

  get<K extends ObjectKind>(kind: K, id: string): ObjectOf<K> | undefined {
    return this.table(kind).byId.get(id) as ObjectOf<K> | undefined;
  }

  put(kind: ObjectKind, obj: AnyObject): void {
    this.table(kind).put(obj);
  }

  remove(kind: ObjectKind, id: string): void {
    this.table(kind).remove(id);
  }

  selectIds(kind: ObjectKind, selector: Selector<ObjectKind>): Iterable<string> {
    return this.table(kind).select(selector);
  }

  count(kind: ObjectKind): number {
    return this.table(kind).byId.size;
  }

  /** Every object of a kind, sorted by id (deterministic, independent of history). */
  all<K extends ObjectKind>(kind: K): ObjectOf<K>[] {
    const ids = [...this.table(kind).byId.keys()].sort();
    return ids.map((id) => this.get(kind, id)!);
  }
}

import {
  type AnyObject,
  assertDesiredStateChange,
  assertTransition,
  hasUniqueName,
  type ObjectKind,
  type ObjectOf,
  objectName,
} from '../../api/index.js';
import { NotFoundError } from '../../common/index.js';
import { nameKey, type Selector } from './by.js';
import { AlreadyExistsError, NameConflictError, VersionConflictError } from './errors.js';
import { matches, type Tables } from './tables.js';

interface Write {
  readonly kind: ObjectKind;
  readonly id: string;
  /** null: deleted. */
  readonly obj: AnyObject | null;
  /** For a delete of a committed object: the version it must still have, if conditional. */
  readonly deleteVersion?: number;
}

/** The net effect of a staged write on one object. */
export interface StagedResult {
  readonly kind: ObjectKind;
  readonly id: string;
  readonly before?: AnyObject;
  readonly after?: AnyObject;
  readonly deleteVersion?: number;
}

const keyOf = (kind: ObjectKind, id: string): string => `${kind}\u0000${id}`;

/**
 * Uncommitted writes over the committed tables, with the store's rules checked on every write
 * (existence, versions, unique names). Used twice with the same rules: by a write transaction
 * (to fail fast) and at apply time (to decide, identically on every manager).
 */
export class Staging {
  private readonly writes = new Map<string, Write>();

  constructor(private readonly base: Tables) {}

  get size(): number {
    return this.writes.size;
  }

  get<K extends ObjectKind>(kind: K, id: string): ObjectOf<K> | undefined {
    const w = this.writes.get(keyOf(kind, id));
    if (w) return (w.obj ?? undefined) as ObjectOf<K> | undefined;
    return this.base.get(kind, id);
  }

  /** Selected objects including staged writes, sorted by id. */
  find<K extends ObjectKind>(kind: K, selector: Selector<ObjectKind>): ObjectOf<K>[] {
    if (this.writes.size === 0) {
      // Plain views: no staged writes to merge.
      return [...this.base.selectIds(kind, selector)].sort().map((id) => this.base.get(kind, id)!);
    }
    const ids = new Set<string>();
    for (const id of this.base.selectIds(kind, selector)) if (!this.writes.has(keyOf(kind, id))) ids.add(id);
    for (const w of this.writes.values()) {
      if (w.kind === kind && w.obj && matches(kind, selector, w.obj)) ids.add(w.id);
    }
    return [...ids].sort().map((id) => this.get(kind, id)!);
  }

  create(kind: ObjectKind, obj: AnyObject): void {
    if (this.get(kind, obj.id)) throw new AlreadyExistsError(kind, obj.id);
    this.checkName(kind, obj);
    this.writes.set(keyOf(kind, obj.id), { kind, id: obj.id, obj });
  }

  update(kind: ObjectKind, obj: AnyObject, expectedVersion: number): void {
    const current = this.get(kind, obj.id);
    if (!current) throw new NotFoundError(kind, obj.id);
    if (current.meta.version !== expectedVersion)
      throw new VersionConflictError(kind, obj.id, expectedVersion, current.meta.version);
    if (kind === 'task') checkTaskProgress(current as ObjectOf<'task'>, obj as ObjectOf<'task'>);
    this.checkName(kind, obj);
    this.writes.set(keyOf(kind, obj.id), { kind, id: obj.id, obj });
  }

  delete(kind: ObjectKind, id: string, expectedVersion?: number): void {
    const current = this.get(kind, id);
    if (!current) throw new NotFoundError(kind, id);
    if (expectedVersion !== undefined && current.meta.version !== expectedVersion)
      throw new VersionConflictError(kind, id, expectedVersion, current.meta.version);
    this.writes.set(keyOf(kind, id), { kind, id, obj: null, deleteVersion: expectedVersion });
  }

  private checkName(kind: ObjectKind, obj: AnyObject): void {
    if (!hasUniqueName(kind)) return;
    const name = objectName(kind, obj);
    if (!name) return;
    const key = nameKey(name);
    for (const id of this.base.selectIds(kind, { index: 'name', key })) {
      if (id !== obj.id && !this.writes.has(keyOf(kind, id))) throw new NameConflictError(kind, name, id);
    }
    for (const w of this.writes.values()) {
      if (w.kind !== kind || !w.obj || w.id === obj.id) continue;
      const other = objectName(kind, w.obj);
      if (other && nameKey(other) === key) throw new NameConflictError(kind, name, w.id);
    }
  }

  /** Net changes against the committed state, in the order objects were first touched. */
  results(): StagedResult[] {
    const out: StagedResult[] = [];
    for (const w of this.writes.values()) {
      const before = this.base.get(w.kind, w.id);
      const after = w.obj ?? undefined;
      if (!before && !after) continue; // created and deleted in the same transaction
      out.push({ kind: w.kind, id: w.id, before, after, deleteVersion: w.deleteVersion });
    }
    return out;
  }
}

/** A task's observed and desired states only move forward: the store refuses anything else. */
function checkTaskProgress(before: ObjectOf<'task'>, after: ObjectOf<'task'>): void {
  if (before.status.state !== after.status.state)
    assertTransition(before.status.state, after.status.state, after.id);
  if (before.desiredState !== after.desiredState)
    assertDesiredStateChange(before.desiredState, after.desiredState, after.id);
}

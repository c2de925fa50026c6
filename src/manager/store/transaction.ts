import { type AnyObject, isValidId, type Meta, type ObjectKind, type ObjectOf } from '../../api/index.js';
import { BugError, type Clock, InvalidArgumentError, NotFoundError } from '../../common/index.js';
import type { Selector } from './by.js';
import type { Change, ChangeSet } from './change-set.js';
import { VersionConflictError } from './errors.js';
import { Staging } from './staging.js';
import type { Tables } from './tables.js';

/** Reads over one consistent state. Results are sorted by id, so every manager sees the same order. */
export interface ReadTx {
  get<K extends ObjectKind>(kind: K, id: string): ObjectOf<K> | undefined;
  find<K extends ObjectKind>(kind: K, selector: Selector<K>): ObjectOf<K>[];
}

/** A new object: the store fills in `meta`. */
export type CreateInput<K extends ObjectKind> = Omit<ObjectOf<K>, 'meta'>;

/**
 * Writes staged for one proposal. Checks run at once (fail fast); they run again at apply time,
 * where the decision is final. Returned objects carry the version they were read at until the
 * change set is applied and versions are assigned.
 */
export interface WriteTx extends ReadTx {
  create<K extends ObjectKind>(kind: K, obj: CreateInput<K>): ObjectOf<K>;
  /** Optimistic: `obj.meta.version` must be the stored version, else VersionConflictError. */
  update<K extends ObjectKind>(kind: K, obj: ObjectOf<K>): ObjectOf<K>;
  /** By object: conditional on its version. By id: whatever version is stored. */
  delete<K extends ObjectKind>(kind: K, target: string | ObjectOf<K>): void;
}

abstract class TxBase implements ReadTx {
  private closed = false;

  protected abstract readonly reads: Pick<Staging, 'get' | 'find'>;

  protected checkOpen(): void {
    if (this.closed) throw new BugError('store transaction used after its callback returned');
  }

  close(): void {
    this.closed = true;
  }

  get<K extends ObjectKind>(kind: K, id: string): ObjectOf<K> | undefined {
    this.checkOpen();
    return this.reads.get(kind, id);
  }

  find<K extends ObjectKind>(kind: K, selector: Selector<K>): ObjectOf<K>[] {
    this.checkOpen();
    return this.reads.find(kind, selector as Selector<ObjectKind>);
  }
}

export class ReadTxImpl extends TxBase {
  protected readonly reads: Pick<Staging, 'get' | 'find'>;
  constructor(tables: Tables) {
    super();
    // A read-only staging with no writes reads straight through to the tables.
    this.reads = new Staging(tables);
  }
}

export class WriteTxImpl extends TxBase implements WriteTx {
  protected readonly reads: Staging;

  constructor(
    tables: Tables,
    private readonly clock: Clock,
  ) {
    super();
    this.reads = new Staging(tables);
  }

  create<K extends ObjectKind>(kind: K, obj: CreateInput<K>): ObjectOf<K> {
    this.checkOpen();
    if (!isValidId(obj.id))
      throw new InvalidArgumentError('id', `invalid ${kind} id ${JSON.stringify(obj.id)}`);
    const now = this.clock.now();
    const meta: Meta = { version: 0, createdAt: now, updatedAt: now };
    const staged = { ...obj, meta } as AnyObject;
    this.reads.create(kind, staged);
    return staged as ObjectOf<K>;
  }

  update<K extends ObjectKind>(kind: K, obj: ObjectOf<K>): ObjectOf<K> {
    this.checkOpen();
    const current = this.reads.get(kind, obj.id);
    if (!current) throw new NotFoundError(kind, obj.id);
    if (current.meta.version !== obj.meta.version)
      throw new VersionConflictError(kind, obj.id, obj.meta.version, current.meta.version);
    const meta: Meta = { ...current.meta, updatedAt: this.clock.now() };
    const staged = { ...obj, meta } as AnyObject;
    this.reads.update(kind, staged, current.meta.version);
    return staged as ObjectOf<K>;
  }

  delete<K extends ObjectKind>(kind: K, target: string | ObjectOf<K>): void {
    this.checkOpen();
    if (typeof target === 'string') this.reads.delete(kind, target);
    else this.reads.delete(kind, target.id, target.meta.version);
  }

  /** The change set to propose: one change per touched object, first-touch order. */
  changeSet(): ChangeSet {
    const changes: Change[] = [];
    for (const r of this.reads.results()) {
      if (r.after && !r.before) changes.push({ action: 'create', kind: r.kind, object: r.after } as Change);
      else if (r.after && r.before)
        changes.push({
          action: 'update',
          kind: r.kind,
          object: r.after,
          expectedVersion: r.before.meta.version,
        } as Change);
      else
        changes.push({
          action: 'delete',
          kind: r.kind,
          id: r.id,
          expectedVersion: r.deleteVersion,
        } as Change);
    }
    return { changes };
  }
}

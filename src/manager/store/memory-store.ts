import type {
  AnyObject,
  CommitEvent,
  ObjectEvent,
  ObjectEventFor,
  ObjectKind,
  StoreAction,
} from '../../api/index.js';
import { OBJECT_KINDS } from '../../api/index.js';
import {
  BugError,
  type Clock,
  type Disposable,
  isSwarmError,
  type Logger,
  noopLogger,
  StoppedError,
  SwarmError,
} from '../../common/index.js';
import type { Change, ChangeSet } from './change-set.js';
import type { ApplyResult, ChangeSetApplier, Proposer } from './proposer.js';
import {
  decodeStoreSnapshot,
  encodeStoreSnapshot,
  encodeStoreSnapshotSliced,
  type SlicedEncodeOptions,
  type StoreSnapshot,
} from './snapshot.js';
import { Staging } from './staging.js';
import { Tables } from './tables.js';
import { type ReadTx, ReadTxImpl, type WriteTx, WriteTxImpl } from './transaction.js';
import { WatchQueue } from './watch-queue.js';

export interface MemoryStoreDeps {
  /** Stamps meta.createdAt/updatedAt at proposal time, so apply stays deterministic. */
  readonly clock: Clock;
  /** How writes are replicated: Raft on managers, `(s) => new LocalProposer(s)` otherwise. */
  readonly proposer: Proposer | ((applier: ChangeSetApplier) => Proposer);
  readonly logger?: Logger;
}

export interface MemoryStoreOptions {
  /** Events a watcher may have unread before it is closed with WatchClosedError. @default 10000 */
  readonly watchBufferSize?: number;
}

export const DEFAULT_WATCH_BUFFER_SIZE = 10_000;

export interface WatchOptions<K extends ObjectKind = ObjectKind> {
  readonly kinds?: readonly K[];
  readonly actions?: readonly StoreAction[];
  readonly filter?: (event: ObjectEventFor<K>) => boolean;
  /** Deliver a commit marker after each change set that produced a matching event. @default true */
  readonly commits?: boolean;
  /** Overrides the store's watchBufferSize for this watcher. */
  readonly bufferSize?: number;
}

export type StoreWatch<K extends ObjectKind = ObjectKind> = AsyncIterableIterator<
  ObjectEventFor<K> | CommitEvent
> &
  Disposable;

export interface UpdateOptions {
  readonly signal?: AbortSignal;
  /** Re-run the transaction this many times after a VERSION_CONFLICT. `fn` must be re-runnable. @default 0 */
  readonly retries?: number;
}

interface Watcher {
  readonly queue: WatchQueue<ObjectEvent | CommitEvent>;
  readonly kinds?: ReadonlySet<ObjectKind>;
  readonly actions?: ReadonlySet<StoreAction>;
  readonly filter?: (event: ObjectEvent) => boolean;
  readonly commits: boolean;
}

/**
 * The manager's state: every cluster object in memory, changed only by applying committed change
 * sets in log order (applyCommitted), read through consistent views, observed through watches.
 * JavaScript runs one apply at a time to completion, so a synchronous `view` callback always sees
 * one committed state and a watch registered in the same tick misses nothing.
 */
export class MemoryStore implements ChangeSetApplier {
  private tables = new Tables();
  private currentVersion = 0;
  private readonly watchers = new Set<Watcher>();
  private readonly proposer: Proposer;
  private readonly logger: Logger;
  private readonly watchBufferSize: number;
  private closed = false;

  constructor(
    private readonly deps: MemoryStoreDeps,
    options: MemoryStoreOptions = {},
  ) {
    this.proposer = typeof deps.proposer === 'function' ? deps.proposer(this) : deps.proposer;
    this.logger = deps.logger ?? noopLogger;
    this.watchBufferSize = options.watchBufferSize ?? DEFAULT_WATCH_BUFFER_SIZE;
  }

  /** Version of the last applied change set; 0 for an empty store. */
  get version(): number {
    return this.currentVersion;
  }

  /** Runs `fn` over the committed state. `fn` must be synchronous: the tx closes when it returns. */
  view<T>(fn: (tx: ReadTx) => T): T {
    const tx = new ReadTxImpl(this.tables);
    try {
      return assertSync(fn(tx));
    } finally {
      tx.close();
    }
  }

  /**
   * Runs `fn` as one write transaction and proposes its change set; resolves with `fn`'s result
   * once the changes are committed and applied here. All or nothing: if `fn` throws, or the
   * change set is rejected at apply time, nothing is written.
   */
  async update<T>(fn: (tx: WriteTx) => T, options: UpdateOptions = {}): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      if (this.closed) throw new StoppedError('store');
      options.signal?.throwIfAborted();
      try {
        const tx = new WriteTxImpl(this.tables, this.deps.clock);
        let result: T;
        try {
          result = assertSync(fn(tx));
        } finally {
          tx.close();
        }
        const changes = tx.changeSet();
        if (changes.changes.length > 0) await this.proposer.propose(changes, options.signal);
        return result;
      } catch (e) {
        if (!isSwarmError(e, 'VERSION_CONFLICT') || attempt >= (options.retries ?? 0)) throw e;
        this.logger.debug('store transaction retried after a version conflict', { attempt });
      }
    }
  }

  /**
   * Applies one committed change set. Called in log order on every manager (leader included) by
   * the Raft applier, or by LocalProposer. Deterministic: it reads nothing but the store and the
   * change set, re-checks every rule, and either applies all changes under one new version or
   * none (returning the error for the proposer).
   */
  applyCommitted(changeSet: ChangeSet): ApplyResult {
    const staging = new Staging(this.tables);
    try {
      for (const c of changeSet.changes) stageChange(staging, c);
    } catch (e) {
      if (e instanceof SwarmError) return { ok: false, error: e };
      throw e;
    }
    const results = staging.results();
    if (results.length === 0) return { ok: true, version: this.currentVersion };
    const version = this.currentVersion + 1;
    const events: ObjectEvent[] = [];
    for (const { kind, id, before, after } of results) {
      if (after) {
        const meta = {
          version,
          createdAt: before ? before.meta.createdAt : after.meta.createdAt,
          updatedAt: after.meta.updatedAt,
        };
        const stored = Object.freeze({ ...after, meta: Object.freeze(meta) }) as AnyObject;
        this.tables.put(kind, stored);
        events.push({ kind, action: before ? 'update' : 'create', old: before, new: stored } as ObjectEvent);
      } else {
        this.tables.remove(kind, id);
        events.push({ kind, action: 'delete', old: before } as ObjectEvent);
      }
    }
    this.currentVersion = version;
    this.publish(events, { kind: 'commit', version });
    return { ok: true, version };
  }

  private publish(events: readonly ObjectEvent[], commit: CommitEvent): void {
    for (const w of [...this.watchers]) {
      let matched = false;
      for (const e of events) {
        if (w.kinds && !w.kinds.has(e.kind)) continue;
        if (w.actions && !w.actions.has(e.action)) continue;
        if (w.filter && !w.filter(e)) continue;
        matched = true;
        if (!w.queue.push(e)) break;
      }
      if (matched && w.commits) w.queue.push(commit);
      if (matched && !w.queue.isOpen)
        this.logger.warn('slow store watcher closed', { version: commit.version });
    }
  }

  /** Every event after this call that matches `options`, until disposed, aborted or closed. */
  watch<K extends ObjectKind = ObjectKind>(
    options: WatchOptions<K> = {},
    signal?: AbortSignal,
  ): StoreWatch<K> {
    if (this.closed) throw new StoppedError('store');
    let onAbort: (() => void) | undefined;
    const queue = new WatchQueue<ObjectEvent | CommitEvent>(
      options.bufferSize ?? this.watchBufferSize,
      () => {
        this.watchers.delete(watcher);
        if (onAbort) signal?.removeEventListener('abort', onAbort);
      },
    );
    const watcher: Watcher = {
      queue,
      kinds: options.kinds ? new Set(options.kinds) : undefined,
      actions: options.actions ? new Set(options.actions) : undefined,
      filter: options.filter as ((e: ObjectEvent) => boolean) | undefined,
      commits: options.commits ?? true,
    };
    this.watchers.add(watcher);
    if (signal) {
      onAbort = () => queue.dispose();
      if (signal.aborted) queue.dispose();
      else signal.addEventListener('abort', onAbort, { once: true });
    }
    return queue as unknown as StoreWatch<K>;
  }

  /** A view and a watch taken at the same point: every change after the view is in the watch. */
  viewAndWatch<T, K extends ObjectKind = ObjectKind>(
    fn: (tx: ReadTx) => T,
    options: WatchOptions<K> = {},
    signal?: AbortSignal,
  ): { result: T; watch: StoreWatch<K> } {
    const watch = this.watch(options, signal);
    try {
      return { result: this.view(fn), watch };
    } catch (e) {
      watch.dispose();
      throw e;
    }
  }

  /** The whole state at the current version (objects are shared, not copied: they are frozen). */
  snapshot(): StoreSnapshot {
    const objects = {} as Record<ObjectKind, readonly AnyObject[]>;
    for (const kind of OBJECT_KINDS) objects[kind] = this.tables.all(kind);
    return { version: this.currentVersion, objects };
  }

  encodeSnapshot(compress = true): Uint8Array {
    return encodeStoreSnapshot(this.snapshot(), compress);
  }

  /** `encodeSnapshot` of the state as of this call, encoded over several loop turns. */
  encodeSnapshotSliced(o?: SlicedEncodeOptions): Promise<Uint8Array> {
    return encodeStoreSnapshotSliced(this.snapshot(), o);
  }

  /**
   * Replaces the whole state (a Raft snapshot was installed). Open watches are closed with
   * WatchClosedError('restored'): their consumers re-read with viewAndWatch.
   */
  restore(snapshot: StoreSnapshot): void {
    const tables = new Tables();
    for (const [kind, list] of Object.entries(snapshot.objects) as [ObjectKind, readonly AnyObject[]][]) {
      for (const obj of list)
        tables.put(kind, Object.freeze({ ...obj, meta: Object.freeze({ ...obj.meta }) }));
    }
    this.tables = tables;
    this.currentVersion = snapshot.version;
    for (const w of [...this.watchers]) w.queue.fail('restored');
  }

  restoreEncoded(data: Uint8Array): void {
    this.restore(decodeStoreSnapshot(data));
  }

  /** Ends every watch with WatchClosedError('store-closed') and refuses new writes. */
  close(): void {
    this.closed = true;
    for (const w of [...this.watchers]) w.queue.fail('store-closed');
  }
}

/** Transactions are synchronous by design (see view); an async callback would outlive its tx. */
function assertSync<T>(value: T): T {
  if (typeof (value as { then?: unknown } | null)?.then === 'function')
    throw new BugError('store transaction callbacks must be synchronous, not async');
  return value;
}

function stageChange(staging: Staging, c: Change): void {
  switch (c.action) {
    case 'create':
      staging.create(c.kind, c.object);
      break;
    case 'update':
      staging.update(c.kind, c.object, c.expectedVersion);
      break;
    case 'delete':
      staging.delete(c.kind, c.id, c.expectedVersion);
      break;
  }
}

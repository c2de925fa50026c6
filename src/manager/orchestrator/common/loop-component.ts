import type { ObjectEvent, ServiceId } from '../../../api/index.js';
import {
  type Clock,
  type Component,
  DisposableStore,
  errorMessage,
  isAbortError,
  isSwarmError,
  type LogFields,
  type Logger,
} from '../../../common/index.js';
import { by, type MemoryStore, type ReadTx, type WriteTx } from '../../store/index.js';
import type { OrchestratorDeps, OrchestratorOptions, ResolvedOrchestratorOptions } from '../options.js';
import { resolveOrchestratorOptions } from '../options.js';
import { type StoreEventHandlers, StoreEventLoop } from './store-event-loop.js';
import { markServiceTasksRemoved } from './task-writes.js';

/** A write that kept losing races is tried again after this pause (or at the next commit). */
const RETRY_PAUSE_MS = 100;

/** Errors after which this component cannot go on: the leader group is stopping or moving. */
const FATAL_CODES = new Set(['STOPPED', 'NOT_LEADER', 'LOST_LEADERSHIP']);

/**
 * What the orchestrators, the restart supervisor and the reaper have in common: deps and
 * resolved options, the store event loop, timers owned by the current run, and writes whose
 * failures are sorted into "fatal" (rethrown, the supervisor decides), "try again" (the caller
 * re-queues; a retry tick is scheduled) and "give up on this item" (logged).
 */
export abstract class LoopComponent implements Component, StoreEventHandlers {
  abstract readonly name: string;
  protected readonly store: MemoryStore;
  protected readonly clock: Clock;
  protected readonly logger: Logger;
  protected readonly deps: OrchestratorDeps;
  protected readonly options: ResolvedOrchestratorOptions;
  private loop: StoreEventLoop | undefined;
  private disposables: DisposableStore | undefined;
  private cancelRetry: (() => void) | undefined;

  constructor(deps: OrchestratorDeps, options: OrchestratorOptions, module: string) {
    this.deps = deps;
    this.store = deps.store;
    this.clock = deps.clock;
    this.logger = deps.logger.child({ module });
    this.options = resolveOrchestratorOptions(options);
  }

  async run(signal: AbortSignal): Promise<void> {
    const disposables = new DisposableStore();
    const loop = new StoreEventLoop(this.store, this, this.logger);
    this.loop = loop;
    this.disposables = disposables;
    try {
      await loop.run(signal);
    } finally {
      this.cancelRetry = undefined;
      disposables.dispose();
    }
  }

  /** Resolves once the component has handled every applied change and has no tick due. */
  whenIdle(): Promise<void> {
    return this.loop ? this.loop.whenIdle() : Promise.resolve();
  }

  isIdle(): boolean {
    return this.loop?.isIdle() ?? true;
  }

  abstract resync(tx: ReadTx): void;
  abstract onEvent(event: ObjectEvent): void;
  abstract tick(signal: AbortSignal): Promise<void>;

  protected wake(): void {
    this.loop?.wake();
  }

  /** A timer owned by the current run: cancelled when it stops. Returns the cancel function. */
  protected setTimer(ms: number, fn: () => void): () => void {
    const disposables = this.disposables;
    if (!disposables) return () => {};
    let cancelled = false;
    const cancelClock = this.clock.setTimer(ms, () => {
      if (!cancelled) fn();
    });
    const cancel = (): void => {
      cancelled = true;
      cancelClock();
    };
    disposables.defer(cancel);
    return cancel;
  }

  /**
   * Runs one transaction (re-run on version conflicts). Returns `{ok: false, retry}` when it
   * failed: `retry` says the caller should keep the work queued; a tick is then scheduled.
   */
  protected async write<T>(
    what: string,
    fn: (tx: WriteTx) => T,
    signal: AbortSignal,
    fields: LogFields = {},
  ): Promise<{ ok: true; value: T } | { ok: false; retry: boolean }> {
    try {
      const value = await this.store.update(fn, { signal, retries: this.options.conflictRetries });
      return { ok: true, value };
    } catch (e) {
      if (signal.aborted || isAbortError(e)) throw e;
      if (isSwarmError(e) && FATAL_CODES.has(e.code)) throw e;
      if (isSwarmError(e) && e.retryable) {
        this.logger.debug('orchestration write lost a race; will retry', {
          what,
          ...fields,
          error: e.message,
        });
        this.scheduleRetry();
        return { ok: false, retry: true };
      }
      this.logger.error('orchestration write failed', { what, ...fields, error: errorMessage(e) });
      return { ok: false, retry: false };
    }
  }

  /**
   * One transaction of queued work: true when the key must stay queued, because the change limit
   * cut the transaction short (the loop is woken to go on) or it lost a race worth retrying.
   */
  protected async writeQueued(
    what: string,
    fn: (tx: WriteTx) => { more: boolean },
    signal: AbortSignal,
    fields: LogFields = {},
  ): Promise<boolean> {
    const r = await this.write(what, fn, signal, fields);
    if (r.ok && r.value.more) this.wake();
    return r.ok ? r.value.more : r.retry;
  }

  /** Marks the tasks of deleted services removed, a bounded batch per transaction each. */
  protected async removeTasksOfDeleted(
    deleted: Set<ServiceId>,
    what: string,
    signal: AbortSignal,
  ): Promise<void> {
    for (const id of [...deleted]) {
      deleted.delete(id);
      const again = await this.writeQueued(
        what,
        (tx) => markServiceTasksRemoved(tx, id, this.options.maxChangesPerTransaction),
        signal,
        { 'service.id': id },
      );
      if (again) deleted.add(id);
    }
  }

  private scheduleRetry(): void {
    if (this.cancelRetry) return;
    this.cancelRetry = this.setTimer(RETRY_PAUSE_MS, () => {
      this.cancelRetry = undefined;
      this.wake();
    });
  }

  /** The retention limit from the cluster object (the default until one exists). */
  protected taskHistoryLimit(tx: ReadTx): number {
    const cluster = tx.find('cluster', by.all())[0];
    return (
      cluster?.spec.orchestration.taskHistoryRetentionLimit ?? this.options.defaultTaskHistoryRetentionLimit
    );
  }
}

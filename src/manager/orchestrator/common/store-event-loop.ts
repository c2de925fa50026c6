import type { CommitEvent, ObjectEvent } from '../../../api/index.js';
import { isAbortError, isSwarmError, type Logger } from '../../../common/index.js';
import type { MemoryStore, ReadTx, StoreWatch } from '../../store/index.js';

export interface StoreEventHandlers {
  /** Rebuilds in-memory state from a consistent view and queues a full pass (start, resync). */
  resync(tx: ReadTx): void;
  /** Notes work for one event; must not write. */
  onEvent(event: ObjectEvent): void;
  /** Does the queued work. Runs after each commit, after a wake-up, and after a resync. */
  tick(signal: AbortSignal): Promise<void>;
}

/**
 * The loop every orchestration component runs (swarmkit's "collect events, act on commit"):
 * a consistent view plus a gap-free watch, events collected, work done once per commit. A watch
 * that fell behind or a restored store means a resync from a fresh view. Timers call `wake` to
 * get a tick without a store change. Work is done one tick at a time, so a component never races
 * itself and each tick reads the writes of the previous one.
 *
 * It watches every kind, so every applied change set ends with a commit marker here: that is how
 * `whenIdle` knows the component has seen everything the store has applied.
 */
export class StoreEventLoop {
  private wakeRequested = false;
  private wakeWaiter: (() => void) | undefined;
  private seenVersion = -1;
  private blocked = false;
  private idleWaiters: (() => void)[] = [];
  private stopped = false;

  constructor(
    private readonly store: MemoryStore,
    private readonly handlers: StoreEventHandlers,
    private readonly logger: Logger,
  ) {}

  /** Asks for a tick soon (from a timer or after work was left for later). */
  wake(): void {
    this.wakeRequested = true;
    const w = this.wakeWaiter;
    this.wakeWaiter = undefined;
    w?.();
  }

  /** True when every applied change set has been handled and no tick is due, or the loop ended. */
  isIdle(): boolean {
    if (this.stopped) return true;
    return this.blocked && !this.wakeRequested && this.seenVersion >= this.store.version;
  }

  /** Resolves once the loop is idle (see isIdle): for tests and orderly hand-offs. */
  whenIdle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  async run(signal: AbortSignal): Promise<void> {
    this.stopped = false;
    try {
      while (!signal.aborted) {
        const { watch } = this.store.viewAndWatch(
          (tx) => {
            this.handlers.resync(tx);
            return undefined;
          },
          {},
          signal,
        );
        this.seenVersion = this.store.version;
        try {
          await this.handlers.tick(signal);
          await this.consume(watch, signal);
          return;
        } catch (e) {
          if (signal.aborted || !isSwarmError(e) || !e.retryable || e.code === 'STOPPED') throw e;
          this.logger.warn('store watch lost; resyncing', { error: e.message });
        } finally {
          watch.dispose();
        }
      }
    } catch (e) {
      if (signal.aborted && (isAbortError(e) || e === signal.reason || isSwarmError(e, 'STOPPED'))) return;
      throw e;
    } finally {
      this.stopped = true;
      this.flushIdle(true);
    }
  }

  private async consume(watch: StoreWatch, signal: AbortSignal): Promise<void> {
    let next: Promise<IteratorResult<ObjectEvent | CommitEvent>> | undefined;
    for (;;) {
      if (this.wakeRequested) {
        this.wakeRequested = false;
        await this.handlers.tick(signal);
        continue;
      }
      next ??= watch.next();
      const woken = new Promise<'wake'>((resolve) => {
        this.wakeWaiter = () => resolve('wake');
      });
      this.blocked = true;
      this.flushIdle(false);
      const r = await Promise.race([next, woken]);
      this.blocked = false;
      this.wakeWaiter = undefined;
      if (r === 'wake') continue;
      next = undefined;
      if (r.done) return;
      const event = r.value;
      if (event.kind === 'commit') {
        this.seenVersion = event.version;
        await this.handlers.tick(signal);
      } else {
        this.handlers.onEvent(event);
      }
    }
  }

  private flushIdle(force: boolean): void {
    if (!force && !this.isIdle()) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }
}

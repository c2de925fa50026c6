import { type Deferred, deferred } from '../../common/index.js';

/** A caller waiting for its proposal to be applied, or its read to become servable. */
interface Waiter<T> {
  readonly d: Deferred<T>;
  readonly startTick: number;
  readonly cleanup: () => void;
}

/** Promises keyed by request id / read ctx, with abort-signal support. */
export class PendingTable<T> {
  private readonly waiters = new Map<string, Waiter<T>>();

  add(key: string, tick: number, signal?: AbortSignal): Promise<T> {
    const d = deferred<T>();
    let cleanup = (): void => {};
    if (signal) {
      const onAbort = (): void => {
        this.reject(key, signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      cleanup = () => signal.removeEventListener('abort', onAbort);
    }
    this.waiters.set(key, { d, startTick: tick, cleanup });
    return d.promise;
  }

  has(key: string): boolean {
    return this.waiters.has(key);
  }

  resolve(key: string, value: T): boolean {
    const w = this.waiters.get(key);
    if (!w) return false;
    this.waiters.delete(key);
    w.cleanup();
    w.d.resolve(value);
    return true;
  }

  reject(key: string, error: unknown): boolean {
    const w = this.waiters.get(key);
    if (!w) return false;
    this.waiters.delete(key);
    w.cleanup();
    w.d.reject(error);
    return true;
  }

  rejectAll(error: () => unknown): void {
    for (const key of [...this.waiters.keys()]) this.reject(key, error());
  }

  /** Rejects every waiter started at or before `tick`. */
  rejectOlderThan(tick: number, error: () => unknown): void {
    for (const [key, w] of [...this.waiters]) if (w.startTick <= tick) this.reject(key, error());
  }

  get size(): number {
    return this.waiters.size;
  }
}

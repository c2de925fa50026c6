import { BugError, type Disposable } from '../../common/index.js';
import { WatchClosedError, type WatchCloseReason } from './errors.js';

/**
 * A bounded single-consumer queue exposed as an async iterator. The producer (the store's apply
 * path) never waits: when the buffer is full the queue fails with WatchClosedError('overflow')
 * and drops what it held, so a slow consumer resyncs instead of stalling commits.
 */
export class WatchQueue<T> implements AsyncIterableIterator<T>, Disposable {
  private items: T[] = [];
  private head = 0;
  private waiter: { resolve: (r: IteratorResult<T>) => void; reject: (e: unknown) => void } | undefined;
  private state: 'open' | 'ended' = 'open';
  private failure: WatchClosedError | undefined;

  constructor(
    private readonly limit: number,
    private readonly onClose: () => void,
  ) {}

  get buffered(): number {
    return this.items.length - this.head;
  }

  get isOpen(): boolean {
    return this.state === 'open';
  }

  /** Called by the producer; returns false once the queue is closed. */
  push(item: T): boolean {
    if (this.state !== 'open') return false;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w.resolve({ value: item, done: false });
      return true;
    }
    if (this.buffered >= this.limit) {
      this.fail('overflow');
      return false;
    }
    this.items.push(item);
    return true;
  }

  /** Ends the queue with an error the consumer receives on its next read. */
  fail(reason: WatchCloseReason): void {
    if (this.state !== 'open') return;
    this.items = [];
    this.head = 0;
    this.failure = new WatchClosedError(reason);
    this.end();
  }

  /** Ends the queue quietly: the consumer drains what is buffered, then sees `done`. */
  dispose(): void {
    if (this.state !== 'open') return;
    this.end();
  }

  private end(): void {
    this.state = 'ended';
    this.onClose();
    const w = this.waiter;
    this.waiter = undefined;
    if (!w) return;
    if (this.failure) {
      const f = this.failure;
      this.failure = undefined;
      w.reject(f);
    } else w.resolve({ value: undefined, done: true });
  }

  next(): Promise<IteratorResult<T>> {
    if (this.failure) {
      const f = this.failure;
      this.failure = undefined;
      return Promise.reject(f);
    }
    if (this.buffered > 0) {
      const value = this.items[this.head]!;
      this.items[this.head++] = undefined as T;
      if (this.head > 1024 && this.head * 2 > this.items.length) {
        this.items = this.items.slice(this.head);
        this.head = 0;
      }
      return Promise.resolve({ value, done: false });
    }
    if (this.state !== 'open') return Promise.resolve({ value: undefined, done: true });
    if (this.waiter) return Promise.reject(new BugError('a store watch has a single consumer'));
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  return(): Promise<IteratorResult<T>> {
    this.dispose();
    this.items = [];
    this.head = 0;
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}

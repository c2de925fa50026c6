import { type Deferred, deferred } from '../../common/index.js';

/**
 * An async queue with a capacity in weight units (log lines): `push` waits while the queue is
 * full, so a slow reader slows its writers instead of growing the buffer. One reader.
 */
export class BoundedQueue<T> implements AsyncIterable<T> {
  private readonly items: { item: T; weight: number }[] = [];
  private size = 0;
  private ended = false;
  private readable: Deferred<void> | undefined;
  private readonly writable: Deferred<void>[] = [];

  constructor(private readonly capacity: number) {}

  /** Total weight waiting to be read. */
  get weight(): number {
    return this.size;
  }

  get isOpen(): boolean {
    return !this.ended;
  }

  /**
   * Adds `item` once there is room (an item heavier than the capacity is taken when the queue is
   * empty). Resolves false, without adding, when the queue ended or `signal` aborted meanwhile.
   */
  async push(item: T, weight: number, signal?: AbortSignal): Promise<boolean> {
    while (!this.ended && this.size > 0 && this.size + weight > this.capacity) {
      if (signal?.aborted) return false;
      const room = deferred<void>();
      this.writable.push(room);
      const onAbort = (): void => room.resolve();
      signal?.addEventListener('abort', onAbort, { once: true });
      await room.promise;
      signal?.removeEventListener('abort', onAbort);
    }
    if (this.ended || signal?.aborted) return false;
    this.add(item, weight);
    return true;
  }

  /** Adds at once whatever the fill (rare control messages); false once ended. */
  pushNow(item: T): boolean {
    if (this.ended) return false;
    this.add(item, 0);
    return true;
  }

  /** No more items: the reader gets what is queued, then the end. Waiting writers get false. */
  end(): void {
    this.ended = true;
    this.wake();
  }

  /** Ends and drops what is queued. */
  abort(): void {
    this.items.length = 0;
    this.size = 0;
    this.end();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    for (;;) {
      const next = this.items.shift();
      if (next) {
        this.size -= next.weight;
        this.wakeWriters();
        yield next.item;
        continue;
      }
      if (this.ended) return;
      this.readable = deferred<void>();
      await this.readable.promise;
    }
  }

  private add(item: T, weight: number): void {
    this.items.push({ item, weight });
    this.size += weight;
    const r = this.readable;
    this.readable = undefined;
    r?.resolve();
  }

  private wake(): void {
    const r = this.readable;
    this.readable = undefined;
    r?.resolve();
    this.wakeWriters();
  }

  private wakeWriters(): void {
    for (const w of this.writable.splice(0)) w.resolve();
  }
}

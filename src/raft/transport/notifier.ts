/**
 * Wakes whoever waits for a change; all waiters share one promise. No abort signal per wait (an
 * AbortSignal listener added and removed per batch showed in busy members' profiles): whoever
 * stops a waiter's loop notifies it.
 */
export class Notifier {
  private pending: { promise: Promise<void>; resolve: () => void } | undefined;

  notify(): void {
    const p = this.pending;
    this.pending = undefined;
    p?.resolve();
  }

  wait(): Promise<void> {
    if (!this.pending) {
      let resolve = (): void => {};
      const promise = new Promise<void>((r) => {
        resolve = r;
      });
      this.pending = { promise, resolve };
    }
    return this.pending.promise;
  }
}

/** Time as a dependency, so heartbeats, backoff and ticks can be driven by tests. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Monotonic milliseconds, for measuring intervals. */
  monotonic(): number;
  /** Calls `fn` after `ms`; the returned function cancels it. */
  setTimer(ms: number, fn: () => void): () => void;
}

/** setTimeout's limit: longer delays (certificate renewal weeks away) are chained. */
const MAX_TIMER_MS = 2_147_483_647;

export const systemClock: Clock = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
  setTimer(ms, fn) {
    // setTimeout counts whole milliseconds on libuv's monotonic clock, so about 1 timer in 100
    // fires up to 1 ms before Date.now() has moved `ms` on. Callers that compare `now()` with a
    // deadline would then see it not yet due and, with nothing else to wake them, wait forever
    // (a restart delay that never ended). The callback runs only once both clocks have moved
    // `ms` on; a wall clock set back by more than `ms` is ignored rather than waited out.
    const wallDue = Date.now() + ms;
    const monoDue = performance.now() + ms;
    let t: NodeJS.Timeout;
    const check = (): void => {
      const wallLeft = wallDue - Date.now();
      const left = Math.max(monoDue - performance.now(), wallLeft <= ms ? wallLeft : 0);
      if (left > 0) t = setTimeout(check, Math.min(Math.ceil(left), MAX_TIMER_MS));
      else fn();
    };
    t = setTimeout(check, Math.min(ms, MAX_TIMER_MS));
    return () => clearTimeout(t);
  },
};

interface PendingTimer {
  at: number;
  seq: number;
  fn: () => void;
}

/** A clock that only moves when told to; timers fire in time order during `advance`. */
export class ManualClock implements Clock {
  private current: number;
  private seq = 0;
  private timers: PendingTimer[] = [];

  constructor(startMs = 0) {
    this.current = startMs;
  }

  now(): number {
    return this.current;
  }

  monotonic(): number {
    return this.current;
  }

  setTimer(ms: number, fn: () => void): () => void {
    const timer: PendingTimer = { at: this.current + Math.max(0, ms), seq: this.seq++, fn };
    this.timers.push(timer);
    return () => {
      this.timers = this.timers.filter((t) => t !== timer);
    };
  }

  advance(ms: number): void {
    const target = this.current + ms;
    for (;;) {
      this.timers.sort((a, b) => a.at - b.at || a.seq - b.seq);
      const next = this.timers[0];
      if (!next || next.at > target) break;
      this.timers.shift();
      this.current = next.at;
      next.fn();
    }
    this.current = target;
  }

  pendingTimers(): number {
    return this.timers.length;
  }
}

/**
 * The simulation's single source of time: a binary heap of events keyed by (virtual time, sequence
 * number), so equal-time events run in the order they were scheduled and every run is repeatable.
 */
import type { Clock } from '../../common/index.js';
import { InvalidArgumentError } from '../../common/index.js';

interface Scheduled {
  readonly at: number;
  readonly seq: number;
  readonly kind: string;
  readonly fn: () => void;
  cancelled: boolean;
}

export class EventQueue {
  private heap: Scheduled[] = [];
  private seq = 0;
  private current = 0;
  private processed = 0;

  /** Virtual milliseconds since the start of the run. */
  get now(): number {
    return this.current;
  }

  get eventsProcessed(): number {
    return this.processed;
  }

  get pending(): number {
    return this.heap.length;
  }

  /** Runs `fn` `delayMs` from now; `kind` names the event in traces. Returns a cancel function. */
  schedule(delayMs: number, kind: string, fn: () => void): () => void {
    if (!(delayMs >= 0) || !Number.isFinite(delayMs)) {
      throw new InvalidArgumentError(
        'delayMs',
        `event delay must be a finite non-negative number, got ${delayMs}`,
      );
    }
    const ev: Scheduled = { at: this.current + delayMs, seq: this.seq++, kind, fn, cancelled: false };
    this.push(ev);
    return () => {
      ev.cancelled = true;
    };
  }

  /** Runs the next event; returns its kind, or undefined if the queue is empty or past `until`. */
  step(until = Number.POSITIVE_INFINITY): string | undefined {
    for (;;) {
      const top = this.heap[0];
      if (!top || top.at > until) return undefined;
      this.pop();
      if (top.cancelled) continue;
      this.current = top.at;
      this.processed++;
      top.fn();
      return top.kind;
    }
  }

  /** A Clock whose timers are events of this queue (for code that takes a Clock). */
  clock(kind = 'timer'): Clock {
    return {
      now: () => this.current,
      monotonic: () => this.current,
      setTimer: (ms, fn) => this.schedule(ms, kind, fn),
    };
  }

  private less(a: Scheduled, b: Scheduled): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }

  private push(ev: Scheduled): void {
    const h = this.heap;
    h.push(ev);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(h[i]!, h[parent]!)) break;
      [h[i], h[parent]] = [h[parent]!, h[i]!];
      i = parent;
    }
  }

  private pop(): void {
    const h = this.heap;
    const last = h.pop()!;
    if (h.length === 0) return;
    h[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && this.less(h[l]!, h[m]!)) m = l;
      if (r < h.length && this.less(h[r]!, h[m]!)) m = r;
      if (m === i) break;
      [h[i], h[m]] = [h[m]!, h[i]!];
      i = m;
    }
  }
}

/** Derives an independent seed for one concern (network, disk, workload…) from the run's seed. */
export function deriveSeed(seed: number, concern: string): number {
  let h = (seed ^ 0x9e3779b9) >>> 0;
  for (let i = 0; i < concern.length; i++) h = Math.imul(h ^ concern.charCodeAt(i), 0x01000193) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

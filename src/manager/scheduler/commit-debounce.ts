import type { Clock, Disposable } from '../../common/index.js';

/**
 * swarmkit's commit debounce: after a commit that left work to do, wait for a quiet gap with no
 * further commits, but never longer than `maxLatencyMs` from the first such commit, then fire.
 * Bursts of writes (a service of 1,000 tasks created in chunks) become one scheduling pass.
 */
export class CommitDebounce implements Disposable {
  private firstAt: number | undefined;
  private cancelTimer: (() => void) | undefined;
  private disposed = false;

  constructor(
    private readonly clock: Clock,
    private readonly quietMs: number,
    private readonly maxLatencyMs: number,
    private readonly fire: () => void,
  ) {}

  get armed(): boolean {
    return this.cancelTimer !== undefined;
  }

  /** A commit arrived while work is pending: (re)start the quiet gap. */
  poke(): void {
    if (this.disposed) return;
    const now = this.clock.monotonic();
    this.firstAt ??= now;
    this.cancelTimer?.();
    const wait = Math.max(0, Math.min(this.quietMs, this.firstAt + this.maxLatencyMs - now));
    this.cancelTimer = this.clock.setTimer(wait, () => {
      this.cancelTimer = undefined;
      this.firstAt = undefined;
      this.fire();
    });
  }

  dispose(): void {
    this.disposed = true;
    this.cancelTimer?.();
    this.cancelTimer = undefined;
    this.firstAt = undefined;
  }
}

import type { Clock } from './clock.js';
import { errorMessage } from './errors.js';
import type { Logger } from './log.js';

export interface SerialReconcilerDeps {
  clock: Clock;
  logger: Logger;
  /** Brings the world in line with the wanted state; resolves true when part of it must be retried. */
  reconcile(): Promise<boolean>;
  /** Delay before a pass that left something to retry runs again. */
  retryMs: number;
  /** Logged with the error when a pass throws. */
  failureMessage: string;
}

/**
 * Runs reconciliation passes one at a time (a pass asked for while one runs follows it) and
 * retries after `retryMs` when a pass reports something it could not do, such as a port another
 * process holds. It is active only inside `run`, which ends when its signal fires.
 */
export class SerialReconciler {
  private active = false;
  private chain: Promise<void> = Promise.resolve();
  private cancelRetry: (() => void) | undefined;

  constructor(private readonly deps: SerialReconcilerDeps) {}

  get running(): boolean {
    return this.active;
  }

  /** Queues a pass; never rejects (a failing pass is logged). Resolves once it ran. */
  schedule(): Promise<void> {
    this.chain = this.chain
      .then(() => this.pass())
      .catch((e) => this.deps.logger.error(this.deps.failureMessage, { error: errorMessage(e) }));
    return this.chain;
  }

  /** The pass queued last, done. */
  settled(): Promise<void> {
    return this.chain;
  }

  /** Reconciles until `signal` fires, then waits for the pass under way and runs `dispose`. */
  async run(signal: AbortSignal, dispose: () => void | Promise<void>): Promise<void> {
    this.active = true;
    try {
      await this.schedule();
      await new Promise<void>((resolve) => {
        if (signal.aborted) resolve();
        else signal.addEventListener('abort', () => resolve(), { once: true });
      });
    } finally {
      this.active = false;
      await this.chain;
      this.cancelRetry?.();
      this.cancelRetry = undefined;
      await dispose();
    }
  }

  private async pass(): Promise<void> {
    if (!this.active) return;
    const retry = await this.deps.reconcile();
    if (retry && this.active && !this.cancelRetry) {
      this.cancelRetry = this.deps.clock.setTimer(this.deps.retryMs, () => {
        this.cancelRetry = undefined;
        void this.schedule();
      });
    }
  }
}

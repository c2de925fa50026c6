import type { Clock } from './clock.js';
import { errorMessage, isAbortError, toError } from './errors.js';
import { type Disposable, Emitter, type Event } from './event.js';
import type { Logger } from './log.js';

export type { Disposable } from './event.js';

/**
 * A long-lived part of a node. `run` resolves after a clean stop (its signal aborted and its
 * work drained) and rejects on a fatal error. Constructors do no I/O and start no timers.
 */
export interface Component {
  readonly name: string;
  run(signal: AbortSignal): Promise<void>;
}

/** Owns what a component opens; released in reverse order when `run` exits. */
export class DisposableStore implements Disposable {
  private items: Disposable[] = [];
  private disposed = false;

  add<T extends Disposable>(item: T): T {
    if (this.disposed) {
      item.dispose();
      return item;
    }
    this.items.push(item);
    return item;
  }

  /** Registers a plain cleanup function. */
  defer(fn: () => void): void {
    this.add({ dispose: fn });
  }

  get size(): number {
    return this.items.length;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    const errors: unknown[] = [];
    for (const item of this.items.reverse()) {
      try {
        item.dispose();
      } catch (e) {
        errors.push(e);
      }
    }
    this.items = [];
    if (errors.length === 1) throw errors[0];
    if (errors.length > 1) throw new AggregateError(errors, 'several disposals failed');
  }
}

export type RestartPolicy =
  | { kind: 'escalate' }
  | { kind: 'restart'; initialBackoffMs: number; maxBackoffMs: number; maxRestarts: number };

export interface ComponentFailure {
  name: string;
  error: Error;
  /** True when the supervisor gave up and aborted the whole group. */
  escalated: boolean;
}

export interface SupervisorDeps {
  clock: Clock;
  logger: Logger;
}

/**
 * Runs a group of components. A failing component is never only logged: it is restarted with
 * backoff, or the failure escalates, aborting the group and rejecting `run`.
 */
export class Supervisor implements Component {
  private readonly entries: { component: Component; policy: RestartPolicy }[] = [];
  private readonly failures = new Emitter<ComponentFailure>();
  readonly onDidFail: Event<ComponentFailure> = this.failures.event;

  constructor(
    readonly name: string,
    private readonly deps: SupervisorDeps,
  ) {}

  add(component: Component, policy: RestartPolicy = { kind: 'escalate' }): this {
    this.entries.push({ component, policy });
    return this;
  }

  async run(signal: AbortSignal): Promise<void> {
    const group = new AbortController();
    const onAbort = (): void => group.abort(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    if (signal.aborted) group.abort(signal.reason);
    let fatal: Error | undefined;
    try {
      await Promise.all(
        this.entries.map(async ({ component, policy }) => {
          try {
            await this.runOne(component, policy, group.signal);
          } catch (e) {
            fatal ??= toError(e);
            group.abort(fatal);
          }
        }),
      );
    } finally {
      signal.removeEventListener('abort', onAbort);
      this.failures.dispose();
    }
    if (fatal) throw fatal;
  }

  private async runOne(component: Component, policy: RestartPolicy, signal: AbortSignal): Promise<void> {
    let restarts = 0;
    for (;;) {
      try {
        await component.run(signal);
        return;
      } catch (e) {
        if (signal.aborted && (isAbortError(e) || e === signal.reason)) return;
        const error = toError(e);
        const giveUp = policy.kind === 'escalate' || restarts >= policy.maxRestarts;
        this.deps.logger.error('component failed', {
          component: component.name,
          error: errorMessage(error),
          escalated: giveUp,
        });
        this.failures.fire({ name: component.name, error, escalated: giveUp });
        if (giveUp) throw error;
        const backoff = Math.min(policy.maxBackoffMs, policy.initialBackoffMs * 2 ** restarts);
        restarts++;
        await abortableDelay(this.deps.clock, backoff, signal);
        if (signal.aborted) return;
      }
    }
  }
}

/** Waits `ms` on the given clock; resolves early (without throwing) when `signal` aborts. */
export function abortableDelay(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) {
      resolve();
      return;
    }
    const onAbort = (): void => {
      cancel();
      resolve();
    };
    const cancel = clock.setTimer(ms, () => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    });
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

import type { Clock } from './clock.js';
import { systemClock } from './clock.js';
import { SwarmError } from './errors.js';

export interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}

export function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

export interface WaitForOptions {
  timeoutMs: number;
  /** How often the condition is re-evaluated. @default 50 */
  intervalMs?: number;
  /** What is being waited for, for the error message. */
  what?: string;
  clock?: Clock;
  signal?: AbortSignal;
}

/** The outcome of one probe: done, or not yet with the state seen (reported on timeout). */
export type Probe<T> = { done: true; value: T } | { done: false; state: string };

/**
 * Polls `probe` until it reports done, or fails after `timeoutMs` with the last state seen
 * (swarmkit's poll helper). This is how tests and scripts wait: never a fixed sleep.
 */
export async function waitFor<T>(
  probe: () => Probe<T> | Promise<Probe<T>>,
  options: WaitForOptions,
): Promise<T> {
  const clock = options.clock ?? systemClock;
  const interval = options.intervalMs ?? 50;
  const deadline = clock.monotonic() + options.timeoutMs;
  let last = 'not evaluated yet';
  for (;;) {
    options.signal?.throwIfAborted();
    try {
      const r = await probe();
      if (r.done) return r.value;
      last = r.state;
    } catch (e) {
      last = `probe threw: ${e instanceof Error ? e.message : String(e)}`;
    }
    if (clock.monotonic() >= deadline) {
      throw new SwarmError(
        'DEADLINE_EXCEEDED',
        `timed out after ${options.timeoutMs} ms waiting for ${options.what ?? 'condition'}; last state: ${last}`,
      );
    }
    await new Promise<void>((resolve) => clock.setTimer(interval, resolve));
  }
}

/** Rejects with DEADLINE_EXCEEDED if `promise` does not settle within `ms`. */
export async function withTimeout<T>(
  promise: Promise<T>,
  ms: number,
  what: string,
  clock: Clock = systemClock,
): Promise<T> {
  let cancel: () => void = () => {};
  const timeout = new Promise<never>((_, reject) => {
    cancel = clock.setTimer(ms, () =>
      reject(new SwarmError('DEADLINE_EXCEEDED', `${what} did not finish within ${ms} ms`)),
    );
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    cancel();
  }
}

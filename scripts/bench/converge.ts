/**
 * Timing a cluster's convergence the same way for both orchestrators: polling the engines'
 * container lists (scripts/bench/engine-api.ts) until a service has the wanted number of running
 * containers. A container counts as running when its engine says so; the test image has no
 * healthcheck, so that is also when either orchestrator calls the task running.
 */
import { waitFor } from '../../src/common/index.js';
import { serviceContainers } from './engine-api.js';

/** How often the engines are polled: the resolution of every figure (plus one API call). */
export const POLL_MS = 50;

/** Running containers of `service` on each engine. */
export function runningOn(sockets: readonly string[], service: string): Promise<number[]> {
  return Promise.all(sockets.map((s) => serviceContainers(s, service, 'running')));
}

/**
 * Waits until `ok` holds for the per-engine running counts; returns the milliseconds from
 * `startedAt` (a performance.now() taken before the action that started the change).
 */
export async function convergedAfter(options: {
  sockets: readonly string[];
  service: string;
  ok: (counts: readonly number[]) => boolean;
  startedAt: number;
  timeoutMs: number;
  what: string;
  signal: AbortSignal;
}): Promise<number> {
  return waitFor(
    async () => {
      const counts = await runningOn(options.sockets, options.service);
      return options.ok(counts)
        ? { done: true, value: performance.now() - options.startedAt }
        : { done: false, state: `running per engine: ${counts.join(', ')}` };
    },
    { timeoutMs: options.timeoutMs, intervalMs: POLL_MS, what: options.what, signal: options.signal },
  );
}

/** Waits until no container of `service` (in any state) is left on these engines. */
export async function waitGone(
  sockets: readonly string[],
  service: string,
  signal: AbortSignal,
  timeoutMs = 120_000,
): Promise<void> {
  await waitFor(
    async () => {
      const left = await Promise.all(sockets.map((s) => serviceContainers(s, service, 'all')));
      return left.every((n) => n === 0)
        ? { done: true, value: undefined }
        : { done: false, state: `containers left per engine: ${left.join(', ')}` };
    },
    { timeoutMs, intervalMs: 200, what: `no container of ${service} left`, signal },
  );
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

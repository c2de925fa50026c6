import { abortableDelay, type Clock, type Logger, resolveMillis } from '../../common/index.js';
import { type ConntrackReader, liveConnectionsTo, parseConntrack } from './conntrack.js';

/** How long a stopping backend's open connections may hold its stop signal by default. */
export const DRAIN_LIMIT_MS = 2_000;
/** Between two reads of the table while connections remain. */
export const DRAIN_POLL_MS = 50;

/** `drainLimitMs` as given (undefined: the default; 0: no drain), checked where options are read. */
export function resolveDrainLimit(ms: number | undefined): number {
  return ms === 0 ? 0 : resolveMillis('drainLimitMs', ms, DRAIN_LIMIT_MS);
}

export interface DrainDeps {
  readonly clock: Clock;
  readonly read: ConntrackReader;
  readonly logger: Logger;
}

export interface DrainResult {
  /** Milliseconds spent waiting (0 when nothing was open at the first read). */
  readonly waitedMs: number;
  /** Live connections left when the wait ended: 0 unless the limit or the signal ended it. */
  readonly remaining: number;
}

/**
 * Waits until this node's conntrack table shows no live TCP connection towards `addresses`, for
 * at most `limitMs`, so that requests already routed to a backend leaving the mesh can finish
 * before its container gets its stop signal. One read when none is open. An aborted signal ends
 * the wait early (the caller's own step then sees the abort); it never throws for the drain.
 */
export async function drainConnections(
  addresses: readonly string[],
  limitMs: number,
  deps: DrainDeps,
  signal?: AbortSignal,
): Promise<DrainResult> {
  if (addresses.length === 0 || limitMs <= 0) return { waitedMs: 0, remaining: 0 };
  const wanted = new Set(addresses);
  const start = deps.clock.monotonic();
  const count = async (): Promise<number> => {
    const text = await deps.read();
    return text === undefined ? 0 : liveConnectionsTo(parseConntrack(text), wanted).length;
  };
  let remaining = await count();
  if (remaining === 0) return { waitedMs: 0, remaining: 0 };
  const initial = remaining;
  while (remaining > 0 && !signal?.aborted) {
    const left = limitMs - (deps.clock.monotonic() - start);
    if (left <= 0) break;
    await abortableDelay(deps.clock, Math.min(DRAIN_POLL_MS, left), signal);
    if (signal?.aborted) break;
    remaining = await count();
  }
  const waitedMs = Math.round(deps.clock.monotonic() - start);
  deps.logger.debug('connections drained', { addresses: addresses.join(','), initial, remaining, waitedMs });
  return { waitedMs, remaining };
}

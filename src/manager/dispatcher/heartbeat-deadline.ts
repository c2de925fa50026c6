/** Shortest wait between two checks, so an overdue node whose write failed is not retried in a spin. */
export const MIN_CHECK_MS = 50;

/**
 * How long the heartbeat monitor sleeps before its next check: until the earliest live node's
 * silence passes `limitMs`, and at most `maxMs` (new nodes and heartbeats move deadlines).
 * A fixed half-period tick marked a node down up to half a period late (15–17.5 s at the 5 s
 * default); swarmkit arms a timer per node for the same reason.
 */
export function nextCheckDelayMs(
  lastSeen: Iterable<number>,
  now: number,
  limitMs: number,
  maxMs: number,
): number {
  let earliest = Number.POSITIVE_INFINITY;
  for (const seen of lastSeen) earliest = Math.min(earliest, seen + limitMs);
  // +1: a node is down once its silence is strictly longer than the limit.
  return Math.min(maxMs, Math.max(MIN_CHECK_MS, earliest - now + 1));
}

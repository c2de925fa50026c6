/**
 * Finds a run of free loopback ports, so a benchmark never talks to a leftover process from an
 * earlier run that still holds the default ports (it would be measured instead of ours).
 */
import { createServer } from 'node:net';

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/** The first base ≥ `from` (stepping by `count`) such that base..base+count-1 are all free. */
export async function freePortRun(from: number, count: number, attempts = 50): Promise<number> {
  for (let base = from, i = 0; i < attempts; i++, base += count) {
    let free = true;
    for (let p = base; p < base + count && free; p++) free = await isFree(p);
    if (free) return base;
  }
  throw new Error(`no run of ${count} free ports from ${from}`);
}

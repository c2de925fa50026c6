/**
 * CPU time used by a set of processes (Linux /proc), so a benchmark can report CPU per write:
 * a figure that stays meaningful on a shared, busy machine where throughput and latency do not.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** Kernel clock ticks per second for /proc/<pid>/stat (USER_HZ, 100 on Linux). */
const USER_HZ = 100;

/** User + system CPU milliseconds of `pid` so far; 0 if it is gone or /proc is unavailable. */
function cpuMsOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    return ((utime + stime) * 1000) / USER_HZ;
  } catch {
    return 0;
  }
}

export function cpuMs(pids: readonly number[]): number {
  return pids.reduce((n, p) => n + cpuMsOf(p), 0);
}

/** Context switches (voluntary + involuntary) of every thread of `pids` so far: wake-ups per write. */
export function contextSwitches(pids: readonly number[]): number {
  let n = 0;
  for (const pid of pids) {
    let tids: string[] = [];
    try {
      tids = readdirSync(`/proc/${pid}/task`);
    } catch {
      continue;
    }
    for (const tid of tids) {
      try {
        const status = readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
        for (const m of status.matchAll(/^(?:non)?voluntary_ctxt_switches:\s+(\d+)$/gm)) n += Number(m[1]);
      } catch {
        // The thread ended meanwhile.
      }
    }
  }
  return n;
}

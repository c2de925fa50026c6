import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { waitFor } from '../../src/common/index.js';

/** What /proc says about one process; undefined fields could not be read (it exited, or a kernel thread). */
export interface ProcInfo {
  pid: number;
  cmdline: string;
  environ: readonly string[];
  /** Inode of its network namespace. */
  netnsInode: number | undefined;
  /** Cgroup paths, one per hierarchy. */
  cgroups: readonly string[];
}

function readOr(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

export function readProc(pid: number): ProcInfo | undefined {
  const cmdline = readOr(`/proc/${pid}/cmdline`);
  if (cmdline === undefined) return undefined;
  let netnsInode: number | undefined;
  try {
    const m = /net:\[(\d+)\]/.exec(readlinkSync(`/proc/${pid}/ns/net`));
    netnsInode = m ? Number(m[1]) : undefined;
  } catch {
    netnsInode = undefined;
  }
  const cgroups = (readOr(`/proc/${pid}/cgroup`) ?? '')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => l.slice(l.indexOf(':', l.indexOf(':') + 1) + 1));
  return {
    pid,
    cmdline: cmdline.split('\0').join(' ').trim(),
    environ: (readOr(`/proc/${pid}/environ`) ?? '').split('\0'),
    netnsInode,
    cgroups,
  };
}

export function listPids(): number[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map(Number);
}

/** This process and its ancestors: never a cleanup's victims, whatever their environment says. */
export function selfAndAncestors(): Set<number> {
  const pids = new Set<number>();
  let pid = process.pid;
  while (pid > 1 && !pids.has(pid)) {
    pids.add(pid);
    const stat = readOr(`/proc/${pid}/stat`);
    if (stat === undefined) break;
    pid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  }
  return pids;
}

/** Alive and not a zombie (a zombie holds no resources, only waits for its parent). */
export function isAlive(pid: number): boolean {
  const stat = readOr(`/proc/${pid}/stat`);
  if (stat === undefined) return false;
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  return state !== 'Z' && state !== 'X';
}

/** Start time in clock ticks since boot: with the pid, it names one process across pid reuse. */
export function startTimeOf(pid: number): number | undefined {
  const stat = readOr(`/proc/${pid}/stat`);
  if (stat === undefined) return undefined;
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[19]);
}

export function signalPid(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // Already gone: that is what we wanted.
  }
}

export async function waitForExit(pids: readonly number[], timeoutMs: number, what: string): Promise<void> {
  await waitFor(
    () => {
      const alive = pids.filter(isAlive);
      return alive.length === 0
        ? { done: true, value: undefined }
        : { done: false, state: `alive: ${alive.join(', ')}` };
    },
    { timeoutMs, intervalMs: 50, what },
  );
}

/** SIGTERM, then SIGKILL for those still alive after `graceMs`; resolves once all are gone. */
export async function terminate(pids: readonly number[], graceMs: number, what: string): Promise<void> {
  for (const pid of pids) signalPid(pid, 'SIGTERM');
  try {
    await waitForExit(pids, graceMs, what);
  } catch {
    for (const pid of pids) signalPid(pid, 'SIGKILL');
    await waitForExit(pids, 10_000, what);
  }
}

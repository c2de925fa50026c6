/**
 * CPU used on a lab host by the long-lived processes of one side: dockerd and its containerd,
 * plus the swarmctl node's process tree for swarmctl (Swarm's orchestrator lives inside dockerd).
 * Containers, their shims and the short-lived runc calls are left out; they are the same work on
 * both sides. On a machine shared with other jobs, CPU per phase moves far less than wall time.
 */
import { readdirSync, readFileSync } from 'node:fs';
import type { Lab } from '../../test/harness/lab.js';
import { enginePid } from '../../test/harness/lab-engine.js';
import { readProcessRecord } from '../../test/harness/lab-process.js';
import { cpuMs } from './cpu.js';

function parentOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

/** `roots` and every process below them, now. */
function withDescendants(roots: readonly number[]): number[] {
  const children = new Map<number, number[]>();
  for (const e of readdirSync('/proc')) {
    const pid = Number(e);
    if (!Number.isInteger(pid)) continue;
    const ppid = parentOf(pid);
    if (ppid !== undefined) children.set(ppid, [...(children.get(ppid) ?? []), pid]);
  }
  const out: number[] = [];
  const todo = [...roots];
  while (todo.length > 0) {
    const pid = todo.pop()!;
    out.push(pid);
    todo.push(...(children.get(pid) ?? []));
  }
  return out;
}

/** Milliseconds of CPU so far of host n's engine and, if named, of its lab process `proc`. */
export function hostCpuMs(lab: Lab, n: number, proc?: string): number {
  const roots: number[] = [];
  const engine = enginePid(lab.host(n));
  if (engine !== undefined) roots.push(engine);
  const p = proc === undefined ? undefined : readProcessRecord(lab.host(n), proc);
  if (p !== undefined) roots.push(p.pid);
  // Shims are re-parented to init, so a tree walk from the engine does not reach them.
  return cpuMs(withDescendants(roots));
}

import type { NodeId, Task } from '../../../api/index.js';

/**
 * Which slots to give up when a replicated service has more slots than replicas, swarmkit's
 * rule: keep running tasks before others, then balance nodes. Each slot gets its rank among the
 * service's slots on the same node (1st, 2nd, 3rd copy there); slots are kept by ascending rank,
 * so the busiest nodes lose tasks first. Ties keep the lower slot numbers (stateful services
 * tend to put their primary in slot 1), so the highest slots go first. A slot not pinned to one
 * node (unscheduled, or several live tasks) goes before any placed one.
 */
export function slotsToRemove(holders: ReadonlyMap<number, readonly Task[]>, keep: number): number[] {
  const slots = [...holders].map(([slot, tasks]) => ({
    slot,
    tasks,
    running: tasks.some((t) => t.status.state === 'running'),
  }));
  slots.sort((a, b) => (a.running === b.running ? a.slot - b.slot : a.running ? -1 : 1));
  const copiesOnNode = new Map<NodeId, number>();
  const ranked = slots.map((s) => {
    const node = s.tasks.length === 1 ? s.tasks[0]!.nodeId : undefined;
    if (!node) return { slot: s.slot, rank: Number.MAX_SAFE_INTEGER };
    const rank = (copiesOnNode.get(node) ?? 0) + 1;
    copiesOnNode.set(node, rank);
    return { slot: s.slot, rank };
  });
  // Array.prototype.sort is stable: equal ranks keep the running-then-slot order.
  ranked.sort((a, b) => a.rank - b.rank);
  return ranked.slice(Math.max(0, keep)).map((s) => s.slot);
}

/** The `count` lowest slot numbers (from 1) that no holder occupies. */
export function freeSlots(occupied: ReadonlySet<number>, count: number): number[] {
  const out: number[] = [];
  for (let slot = 1; out.length < count; slot++) if (!occupied.has(slot)) out.push(slot);
  return out;
}

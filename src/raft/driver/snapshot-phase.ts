import type { ConfState, NodeId } from '../types.js';

/**
 * The applied index at which a member takes its next snapshot, its last one being at `last`:
 * every `every` entries, at a phase of its own (its place among the members, spread evenly).
 * Members apply the same entries at about the same moment; snapshots taken in step stall all of
 * them at once, each copying, checksumming and writing its whole state. After a restart the phase
 * holds; after a leader's snapshot (at any index) the gap is shorter, to get back in phase. The
 * gap is never more than `every`, so the log between snapshots stays as bounded as without it.
 */
export function nextSnapshotAt(last: number, every: number, self: NodeId, conf: ConfState): number {
  const members = [...new Set([...conf.voters, ...conf.learners])].sort();
  const rank = Math.max(0, members.indexOf(self));
  const phase = Math.floor((every * rank) / Math.max(1, members.length));
  return last + every - ((last + phase) % every);
}

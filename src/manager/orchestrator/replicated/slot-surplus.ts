import type { Task } from '../../../api/index.js';
import { compareTaskAge } from '../common/task-rules.js';

/**
 * The live tasks of one slot beyond the one it keeps, when nothing rolls the service out (a
 * rollout's start-first slots hold two on purpose). Kept: a task of the current spec before an
 * out-of-date one, a running one before others, then the oldest (the one already serving).
 */
export function surplusInSlot(live: readonly Task[], isClean: (t: Task) => boolean): Task[] {
  if (live.length < 2) return [];
  const rank = (t: Task) => (isClean(t) ? 0 : 2) + (t.status.state === 'running' ? 0 : 1);
  const ordered = [...live].sort((a, b) => rank(a) - rank(b) || compareTaskAge(a, b));
  return ordered.slice(1);
}

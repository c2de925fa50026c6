import type { Node, Service, Task, TaskSpec } from '../../../api/index.js';
import { nodeMatchesConstraints, parseConstraints } from '../constraints.js';

/**
 * Whether `task` runs something other than what `service` now asks for: the hook the rolling
 * updater uses to find slots to replace. The orchestrators themselves leave such tasks alone.
 *
 * - Same spec version: clean (the control API bumps the version on every spec change).
 * - Only the placement changed and the task's node still satisfies the new constraints: clean,
 *   so tightening constraints does not restart tasks that already comply (swarmkit's rule).
 * - Otherwise dirty if the task template or the endpoint spec differs.
 */
export function isTaskDirty(service: Service, task: Task, node?: Node): boolean {
  if (task.specVersion === service.specVersion) return false;
  const want = service.spec.taskTemplate;
  if (placementOnlyChanged(want, task.spec) && node && nodeStillMatches(want, node)) return false;
  if (!jsonEqual(want, task.spec)) return true;
  return task.endpoint !== undefined && !jsonEqual(service.spec.endpointSpec, task.endpoint.spec);
}

function placementOnlyChanged(want: TaskSpec, have: TaskSpec): boolean {
  if (jsonEqual(want.placement, have.placement)) return false;
  return jsonEqual({ ...want, placement: have.placement }, have);
}

function nodeStillMatches(want: TaskSpec, node: Node): boolean {
  try {
    return nodeMatchesConstraints(parseConstraints(want.placement?.constraints), node);
  } catch {
    return false;
  }
}

/**
 * Structural equality of JSON-shaped values (stored objects are plain JSON). A property that is
 * `undefined` equals a missing one, since both encode to nothing.
 */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((v, i) => jsonEqual(v, b[i]));
  }
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  const keys = new Set([...Object.keys(ra), ...Object.keys(rb)]);
  for (const k of keys) if (!jsonEqual(ra[k], rb[k])) return false;
  return true;
}

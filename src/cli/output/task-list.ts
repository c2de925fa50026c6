import type { NodeId, Task } from '../../api/index.js';
import { stateSince } from './human.js';
import { familiarImage, type ListOptions } from './service-list.js';
import {
  capitalizeFirst,
  ellipsis,
  naturalCompare,
  renderJsonLines,
  renderTable,
  truncateId,
} from './table.js';

export interface TaskListContext {
  /** Hostnames for the NODE column; an unknown node shows its ID. */
  readonly nodeNames: ReadonlyMap<NodeId, string>;
  /** For "Running 5 seconds ago": the CLI's clock, injected. */
  readonly now: number;
}

const MAX_ERROR_LENGTH = 30;

/** docker's task name: `web.3` for a slot, `web.<node id>` for a global task. */
export function taskName(task: Task): string {
  return task.slot !== 0 ? `${task.serviceName}.${task.slot}` : `${task.serviceName}.${task.nodeId ?? ''}`;
}

/**
 * `service ps` (and `node ps`): ID NAME IMAGE NODE DESIRED STATE CURRENT STATE ERROR PORTS.
 * Sorted by name, newest first within a name; older tasks of a slot are drawn as ` \_ web.1`.
 */
export function formatTaskList(tasks: readonly Task[], ctx: TaskListContext, opts: ListOptions = {}): string {
  const trunc = !opts.noTrunc;
  const sorted = [...tasks].sort((a, b) => {
    const byName = naturalCompare(taskName(a), taskName(b));
    return byName !== 0 ? byName : b.meta.createdAt - a.meta.createdAt;
  });
  const id = (t: Task) => (trunc ? truncateId(t.id) : t.id);
  if (opts.quiet) return sorted.map((t) => `${id(t)}\n`).join('');
  const table = opts.format !== 'json';
  let previous = '';
  const cells = sorted.map((t) => {
    const name = taskName(t);
    const shownName = table && name === previous ? ` \\_ ${name}` : name;
    previous = name;
    const err = t.status.err ?? '';
    const shownErr = trunc ? ellipsis(err, MAX_ERROR_LENGTH) : err;
    return {
      ID: id(t),
      Name: shownName,
      Image: trunc ? familiarImage(t.spec.container.image) : t.spec.container.image,
      Node: t.nodeId === undefined ? '' : (ctx.nodeNames.get(t.nodeId) ?? t.nodeId),
      DesiredState: capitalizeFirst(t.desiredState),
      CurrentState: stateSince(t.status.state, t.status.timestamp, ctx.now),
      Error: shownErr === '' ? '' : `"${shownErr}"`,
      Ports: (t.status.portStatus ?? [])
        .map((p) => `*:${p.publishedPort}->${p.targetPort}/${p.protocol}`)
        .join(','),
    };
  });
  if (!table) return renderJsonLines(cells);
  return renderTable(
    ['ID', 'NAME', 'IMAGE', 'NODE', 'DESIRED STATE', 'CURRENT STATE', 'ERROR', 'PORTS'],
    cells.map((c) => [c.ID, c.Name, c.Image, c.Node, c.DesiredState, c.CurrentState, c.Error, c.Ports]),
  );
}

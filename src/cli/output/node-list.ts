import type { Node, NodeId } from '../../api/index.js';
import { capitalizeFirst, type ListFormat, naturalCompare, renderJsonLines, renderTable } from './table.js';

export interface NodeListOptions {
  readonly format?: ListFormat;
  readonly quiet?: boolean;
  /** The node the CLI talks to, marked `*`. */
  readonly selfId?: NodeId;
}

/** MANAGER STATUS: `Leader`, `Reachable`, `Unreachable`, `Unknown`; empty for workers. */
export function managerStatus(node: Node): string {
  if (!node.managerStatus) return '';
  return node.managerStatus.leader ? 'Leader' : capitalizeFirst(node.managerStatus.reachability);
}

/** `node ls`: ID HOSTNAME STATUS AVAILABILITY MANAGER STATUS ENGINE VERSION, sorted by hostname. */
export function formatNodeList(nodes: readonly Node[], opts: NodeListOptions = {}): string {
  const hostname = (n: Node) => n.description?.hostname ?? '';
  const sorted = [...nodes].sort((a, b) => naturalCompare(hostname(a), hostname(b)));
  if (opts.quiet) return sorted.map((n) => `${n.id}\n`).join('');
  const cells = sorted.map((n) => ({
    ID: n.id,
    Self: n.id === opts.selfId,
    Hostname: hostname(n),
    Status: capitalizeFirst(n.status.state),
    Availability: capitalizeFirst(n.spec.availability),
    ManagerStatus: managerStatus(n),
    EngineVersion: n.description?.engine.version ?? '',
  }));
  if (opts.format === 'json') return renderJsonLines(cells);
  return renderTable(
    ['ID  ', 'HOSTNAME', 'STATUS', 'AVAILABILITY', 'MANAGER STATUS', 'ENGINE VERSION'],
    cells.map((c) => [
      `${c.ID} ${c.Self ? '*' : ' '}`,
      c.Hostname,
      c.Status,
      c.Availability,
      c.ManagerStatus,
      c.EngineVersion,
    ]),
  );
}

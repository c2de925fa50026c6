import type { NodeId, PortConfig, Service, Task } from '../../api/index.js';
import { isTerminalTaskState } from '../../api/index.js';
import { type ListFormat, naturalCompare, renderJsonLines, renderTable, truncateId } from './table.js';

export interface ServiceCounts {
  readonly running: number;
  readonly desired: number;
  readonly completed: number;
}

export interface ServiceListRow {
  readonly service: Service;
  readonly counts: ServiceCounts;
}

export interface ListOptions {
  readonly format?: ListFormat;
  readonly quiet?: boolean;
  readonly noTrunc?: boolean;
}

/**
 * What REPLICAS shows, counted from the service's tasks the way the daemon does: running = tasks
 * running on a node that is not down and meant to run; desired = replicas (replicated), tasks
 * meant to run (global), unfinished runs (jobs); completed = job tasks that completed.
 */
export function countServiceTasks(
  service: Service,
  tasks: readonly Task[],
  downNodes: ReadonlySet<NodeId> = new Set(),
): ServiceCounts {
  let running = 0;
  let meantToRun = 0;
  let completed = 0;
  for (const t of tasks) {
    if (t.serviceId !== service.id) continue;
    const wantsToRun = t.desiredState === 'running' || t.desiredState === 'complete';
    const nodeUp = t.nodeId === undefined || !downNodes.has(t.nodeId);
    if (wantsToRun && t.status.state === 'running' && nodeUp) running++;
    if (t.status.state === 'complete') completed++;
    else if (wantsToRun && !isTerminalTaskState(t.status.state)) meantToRun++;
  }
  const mode = service.spec.mode;
  const desired = mode.type === 'replicated' ? mode.replicas : meantToRun;
  return { running, desired, completed };
}

/** docker's MODE column. */
export function modeName(service: Service): string {
  switch (service.spec.mode.type) {
    case 'replicated':
      return 'replicated';
    case 'global':
      return 'global';
    case 'replicated-job':
      return 'replicated job';
    case 'global-job':
      return 'global job';
  }
}

/** docker's REPLICAS column: `2/3`, `2/3 (max 2 per node)`, `1/2 (3/5 completed)` for jobs. */
export function replicasColumn(service: Service, counts: ServiceCounts): string {
  const { running, desired, completed } = counts;
  const mode = service.spec.mode;
  if (mode.type === 'replicated-job')
    return `${running}/${desired} (${completed}/${mode.totalCompletions} completed)`;
  if (mode.type === 'global-job')
    return `${running}/${desired} (${completed}/${desired + completed} completed)`;
  const max = service.spec.taskTemplate.placement?.maxReplicasPerNode ?? 0;
  if (mode.type === 'replicated' && max > 0) return `${running}/${desired} (max ${max} per node)`;
  return `${running}/${desired}`;
}

/**
 * An image as docker lists it: a tagged reference loses its digest and the default registry
 * (`docker.io/library/nginx:1@sha256:…` → `nginx:1`); anything else is shown as given.
 */
export function familiarImage(image: string): string {
  const at = image.indexOf('@');
  const named = at < 0 ? image : image.slice(0, at);
  const lastSlash = named.lastIndexOf('/');
  if (!named.slice(lastSlash + 1).includes(':')) return image;
  return named.replace(/^docker\.io\/library\//, '').replace(/^docker\.io\//, '');
}

/**
 * PORTS: `*:8080->80/tcp`, consecutive ports merged into ranges (`*:8080-8081->80-81/tcp`), like
 * docker. Docker lists ingress ports only; we also list host-mode ports, which until the routing
 * mesh are the only ones there are.
 */
export function portsColumn(ports: readonly PortConfig[]): string {
  const sorted = [...ports].sort((a, b) =>
    a.protocol === b.protocol ? a.publishedPort - b.publishedPort : a.protocol < b.protocol ? -1 : 1,
  );
  const out: string[] = [];
  let range: { pStart: number; pEnd: number; tStart: number; tEnd: number; protocol: string } | undefined;
  const flush = (): void => {
    if (!range || range.pStart === 0) return;
    const pub = range.pEnd > range.pStart ? `${range.pStart}-${range.pEnd}` : `${range.pStart}`;
    const tgt = range.tEnd > range.tStart ? `${range.tStart}-${range.tEnd}` : `${range.tStart}`;
    out.push(`*:${pub}->${tgt}/${range.protocol}`);
  };
  for (const p of sorted) {
    const extends_ =
      range !== undefined &&
      p.protocol === range.protocol &&
      p.publishedPort === range.pEnd + 1 &&
      p.targetPort === range.tEnd + 1;
    if (extends_ && range) {
      range.pEnd = p.publishedPort;
      range.tEnd = p.targetPort;
      continue;
    }
    flush();
    range = {
      pStart: p.publishedPort,
      pEnd: p.publishedPort,
      tStart: p.targetPort,
      tEnd: p.targetPort,
      protocol: p.protocol,
    };
  }
  flush();
  return out.join(', ');
}

function servicePorts(service: Service): readonly PortConfig[] {
  return service.status.endpoint?.ports ?? service.spec.endpointSpec?.ports ?? [];
}

/** `service ls`: ID NAME MODE REPLICAS IMAGE PORTS, sorted by name. */
export function formatServiceList(rows: readonly ServiceListRow[], opts: ListOptions = {}): string {
  const sorted = [...rows].sort((a, b) => naturalCompare(a.service.spec.name, b.service.spec.name));
  const id = (s: Service) => (opts.noTrunc ? s.id : truncateId(s.id));
  if (opts.quiet) return sorted.map((r) => `${id(r.service)}\n`).join('');
  const cells = sorted.map(({ service, counts }) => ({
    ID: id(service),
    Name: service.spec.name,
    Mode: modeName(service),
    Replicas: replicasColumn(service, counts),
    Image: familiarImage(service.spec.taskTemplate.container.image),
    Ports: portsColumn(servicePorts(service)),
  }));
  if (opts.format === 'json') return renderJsonLines(cells);
  return renderTable(
    ['ID', 'NAME', 'MODE', 'REPLICAS', 'IMAGE', 'PORTS'],
    cells.map((c) => [c.ID, c.Name, c.Mode, c.Replicas, c.Image, c.Ports]),
  );
}

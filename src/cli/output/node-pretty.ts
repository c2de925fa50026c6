import type { Node } from '../../api/index.js';
import { bytesSize, goTime } from './human.js';
import { capitalizeFirst } from './table.js';

/** `node inspect --pretty`, in docker's field order and whitespace (plugins and TLS info omitted). */
export function formatNodePretty(node: Node): string {
  const lines = [`ID:\t\t\t${node.id}`];
  if (node.spec.name) lines.push(`Name:\t\t\t${node.spec.name}`);
  const labels = Object.entries(node.spec.labels ?? {}).sort(([a], [b]) => (a < b ? -1 : 1));
  if (labels.length > 0) {
    lines.push('Labels:');
    for (const [k, v] of labels) lines.push(` - ${k}${v ? `=${v}` : ''}`);
  }
  const d = node.description;
  lines.push(
    `Hostname:              \t${d?.hostname ?? ''}`,
    `Joined at:             \t${goTime(node.meta.createdAt)}`,
    'Status:',
    ` State:\t\t\t${capitalizeFirst(node.status.state)}`,
  );
  if (node.status.message) lines.push(` Message:              \t${capitalizeFirst(node.status.message)}`);
  lines.push(` Availability:         \t${capitalizeFirst(node.spec.availability)}`);
  if (node.status.addr) lines.push(` Address:\t\t${node.status.addr}`);
  const ms = node.managerStatus;
  if (ms)
    lines.push(
      'Manager Status:',
      ` Address:\t\t${ms.addr}`,
      ` Raft Status:\t\t${capitalizeFirst(ms.reachability)}`,
      ` Leader:\t\t${ms.leader ? 'Yes' : 'No'}`,
    );
  lines.push(
    'Platform:',
    ` Operating System:\t${d?.platform.os ?? ''}`,
    ` Architecture:\t\t${d?.platform.architecture ?? ''}`,
    'Resources:',
    ` CPUs:\t\t\t${Math.floor((d?.resources.nanoCPUs ?? 0) / 1e9)}`,
    ` Memory:\t\t${d?.resources.memoryBytes ? bytesSize(d.resources.memoryBytes) : ''}`,
    `Engine Version:\t\t${d?.engine.version ?? ''}`,
  );
  const engineLabels = Object.entries(d?.engine.labels ?? {}).sort(([a], [b]) => (a < b ? -1 : 1));
  if (engineLabels.length > 0) {
    lines.push('Engine Labels:');
    for (const [k, v] of engineLabels) lines.push(` - ${k}${v ? `=${v}` : ''}`);
  }
  return `${lines.join('\n')}\n`;
}

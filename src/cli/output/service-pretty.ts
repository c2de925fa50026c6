import {
  DEFAULT_ROLLBACK_CONFIG,
  DEFAULT_UPDATE_CONFIG,
  type NetworkId,
  type Service,
  type UpdateConfig,
} from '../../api/index.js';
import type { ClientAddressInfo } from './client-address.js';
import { bytesSize, goDuration, humanDuration } from './human.js';

export interface ServicePrettyContext {
  /** For "Started: 5 minutes ago". */
  readonly now: number;
  /** Network names for the Networks line; an unknown network shows its ID. */
  readonly networkNames?: ReadonlyMap<NetworkId, string>;
  /** Beyond docker: whether tasks see the client's address through the published ports. */
  readonly clientAddress?: ClientAddressInfo;
}

/**
 * `service inspect --pretty`, in docker's field order and whitespace (tabs included), with the
 * defaults filled in as docker's inspect does. Beyond docker: job modes are named, and a canary
 * setting appears under UpdateConfig.
 */
export function formatServicePretty(service: Service, ctx: ServicePrettyContext): string {
  const spec = service.spec;
  const t = spec.taskTemplate;
  const c = t.container;
  const lines: string[] = [`ID:\t\t${service.id}`, `Name:\t\t${spec.name}`];
  const labels = Object.entries(spec.labels ?? {}).sort(([a], [b]) => (a < b ? -1 : 1));
  if (labels.length > 0) {
    lines.push('Labels:');
    for (const [k, v] of labels) lines.push(` ${k}${v ? `=${v}` : ''}`);
  }
  const mode = spec.mode;
  switch (mode.type) {
    case 'global':
      lines.push('Service Mode:\tGlobal');
      break;
    case 'replicated':
      lines.push('Service Mode:\tReplicated', ` Replicas:\t${mode.replicas}`);
      break;
    case 'replicated-job':
      lines.push(
        'Service Mode:\tReplicated Job',
        ` Total Completions:\t${mode.totalCompletions}`,
        ` Max Concurrent:\t${mode.maxConcurrent}`,
      );
      break;
    case 'global-job':
      lines.push('Service Mode:\tGlobal Job');
      break;
  }
  const us = service.status.updateStatus;
  if (us) {
    lines.push('UpdateStatus:', ` State:\t\t${us.state}`);
    if (us.startedAt !== undefined) lines.push(` Started:\t${humanDuration(ctx.now - us.startedAt)} ago`);
    if (us.state === 'completed' && us.completedAt !== undefined)
      lines.push(` Completed:\t${humanDuration(ctx.now - us.completedAt)} ago`);
    lines.push(` Message:\t${us.message ?? ''}`);
  }
  lines.push('Placement:');
  const p = t.placement;
  if (p?.constraints?.length) lines.push(` Constraints:\t[${p.constraints.join(' ')}]`);
  if (p?.preferences?.length)
    lines.push(` Preferences:   [${p.preferences.map((x) => `spread=${x.spread}`).join(' ')}]`);
  if (p?.maxReplicasPerNode) lines.push(` Max Replicas Per Node:   ${p.maxReplicasPerNode}`);
  const isJob = mode.type === 'replicated-job' || mode.type === 'global-job';
  if (!isJob) {
    lines.push('UpdateConfig:', ...updateConfigLines(spec.updateConfig ?? DEFAULT_UPDATE_CONFIG, 'Update'));
    lines.push(
      'RollbackConfig:',
      ...updateConfigLines(spec.rollbackConfig ?? DEFAULT_ROLLBACK_CONFIG, 'Rollback'),
    );
  }
  lines.push('ContainerSpec:', ` Image:\t\t${c.image}`);
  const args = [...(c.command ?? []), ...(c.args ?? [])];
  if (args.length > 0) lines.push(` Args:\t\t${args.map((a) => `${a} `).join('')}`);
  if (c.env?.length) lines.push(` Env:\t\t${c.env.map((e) => `${e} `).join('')}`);
  if (c.workdir) lines.push(` Dir:\t\t${c.workdir}`);
  lines.push(` Init:\t\t${c.init ?? false}`);
  if (c.user) lines.push(` User: ${c.user}`);
  if (c.mounts?.length) {
    lines.push('Mounts:');
    for (const m of c.mounts)
      lines.push(
        ` Target:\t${m.target}`,
        `  Source:\t${m.source ?? ''}`,
        `  ReadOnly:\t${m.readOnly ?? false}`,
        `  Type:\t\t${m.type}`,
      );
  }
  lines.push('Resources:');
  const res = t.resources;
  for (const [title, amounts] of [
    ['Reservations', res?.reservations],
    ['Limits', res?.limits],
  ] as const) {
    if (!amounts?.nanoCPUs && !amounts?.memoryBytes) continue;
    lines.push(` ${title}:`);
    if (amounts.nanoCPUs) lines.push(`  CPU:\t\t${amounts.nanoCPUs / 1e9}`);
    if (amounts.memoryBytes) lines.push(`  Memory:\t${bytesSize(amounts.memoryBytes)}`);
  }
  if (t.networks?.length)
    lines.push(
      `Networks:${t.networks.map((n) => ` ${ctx.networkNames?.get(n.target) ?? n.target}`).join('')} `,
    );
  lines.push(`Endpoint Mode:\t${spec.endpointSpec?.mode ?? 'vip'}`);
  const ports = service.status.endpoint?.ports ?? spec.endpointSpec?.ports ?? [];
  if (ports.length > 0) {
    lines.push('Ports:');
    for (const port of ports)
      lines.push(
        ` PublishedPort = ${port.publishedPort}`,
        `  Protocol = ${port.protocol}`,
        `  TargetPort = ${port.targetPort}`,
        `  PublishMode = ${port.publishMode}`,
      );
    lines[lines.length - 1] += ' ';
    if (ctx.clientAddress) lines.push(`Client Address:\t${ctx.clientAddress.detail}`);
  }
  const h = c.healthcheck;
  if (h) {
    lines.push(
      ' Healthcheck:',
      `  Interval = ${goDuration(h.intervalMs)}`,
      `  Retries = ${h.retries ?? 0}`,
      `  StartPeriod =\t${goDuration(h.startPeriodMs)}`,
      `  Timeout =\t${goDuration(h.timeoutMs)}`,
    );
    if (h.test.length > 0) {
      lines.push('  Tests:', ...h.test.map((x) => `\t Test = ${x}`));
      lines[lines.length - 1] += ' ';
    }
  }
  // Docker's template starts with a newline, and each service is followed by an empty line.
  return `\n${lines.join('\n')}\n\n`;
}

function updateConfigLines(u: UpdateConfig, kind: 'Update' | 'Rollback'): string[] {
  const lines = [` Parallelism:\t${u.parallelism}`];
  if (u.delayMs > 0) lines.push(` Delay:\t\t${goDuration(u.delayMs)}`);
  lines.push(` On failure:\t${u.failureAction}`);
  if (u.monitorMs > 0) lines.push(` Monitoring Period: ${goDuration(u.monitorMs)}`);
  lines.push(` Max failure ratio: ${u.maxFailureRatio}`);
  lines.push(kind === 'Update' ? ` Update order:      ${u.order}` : ` Rollback order:    ${u.order}`);
  if (u.canary) {
    lines.push(` Canary:\t${u.canary}`);
    if (u.canaryAutoPromoteMs) lines.push(` Canary auto-promote: ${goDuration(u.canaryAutoPromoteMs)}`);
  }
  return lines;
}

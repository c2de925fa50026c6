import type { Command } from 'commander';
import type { LogContext, ServiceLogLine, ServiceLogsRequest } from '../../api/index.js';
import {
  InvalidArgumentError,
  isAbortError,
  isSwarmError,
  parseDuration,
  SwarmError,
} from '../../common/index.js';
import type { Connection } from '../control-client.js';
import { loadControlClient } from '../host.js';
import type { CliOutput } from '../output/streams.js';

type Control = Connection['control'];

export interface ServiceLogsFlags {
  follow: boolean;
  tail: string;
  since?: string;
  timestamps: boolean;
  taskIds: boolean;
  trunc: boolean;
  resolve: boolean;
  raw: boolean;
}

/** `--tail all|N` → lines per task (undefined: all). */
export function parseTail(value: string): number | undefined {
  if (value === 'all') return undefined;
  if (!/^\d+$/.test(value))
    throw new InvalidArgumentError(
      '--tail',
      `invalid --tail ${JSON.stringify(value)}: use a number ≥ 0 or "all"`,
    );
  return Number(value);
}

/** `--since`: an RFC 3339 time, Unix seconds, or a duration back from `now` (`10m`), as docker takes it. */
export function parseSince(value: string, now: number): number {
  if (/^\d+(\.\d+)?$/.test(value)) return Math.floor(Number(value) * 1000);
  if (/^\d{4}-\d{2}-\d{2}/.test(value)) {
    const t = Date.parse(value);
    if (Number.isNaN(t))
      throw new InvalidArgumentError('--since', `invalid --since ${JSON.stringify(value)}`);
    return t;
  }
  return now - parseDuration(value, '--since');
}

/** docker's `<service>.<slot>.<task id>@<node>` (global tasks: the node ID in place of the slot). */
export function formatContext(
  c: LogContext,
  flags: Pick<ServiceLogsFlags, 'taskIds' | 'trunc' | 'resolve'>,
): string {
  const service = flags.resolve ? c.serviceName : c.serviceId;
  const slot = c.slot > 0 ? String(c.slot) : c.nodeId;
  const task = flags.taskIds ? `.${flags.trunc ? c.taskId.slice(0, 12) : c.taskId}` : '';
  return `${service}.${slot}${task}@${flags.resolve ? c.nodeName : c.nodeId}`;
}

/** One line as docker prints it: `[timestamp ]context    | line`, or just the line with --raw. */
export function formatLine(
  line: ServiceLogLine,
  context: string,
  flags: Pick<ServiceLogsFlags, 'timestamps' | 'raw'>,
  width: number,
): string {
  const stamp = flags.timestamps ? `${new Date(line.timestamp).toISOString()} ` : '';
  if (flags.raw) return `${stamp}${line.line}\n`;
  return `${stamp}${context.padEnd(width)}    | ${line.line}\n`;
}

export function registerServiceLogs(service: Command, output: CliOutput, host: () => string): void {
  service
    .command('logs')
    .description('Fetch the logs of a service or task')
    .argument('<service|task>')
    .option('-f, --follow', 'Follow log output', false)
    .option('-n, --tail <lines>', 'Number of lines to show from the end of the logs of each task', 'all')
    .option(
      '--since <time>',
      'Show logs since a timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m")',
    )
    .option('-t, --timestamps', 'Show timestamps', false)
    .option('--no-task-ids', 'Do not include task IDs in output')
    .option('--no-trunc', 'Do not truncate output')
    .option('--no-resolve', 'Do not map IDs to names in output')
    .option('--raw', 'Do not neatly format logs', false)
    .action(async (ref: string, flags: ServiceLogsFlags) => {
      const tail = parseTail(flags.tail);
      const since = flags.since !== undefined ? parseSince(flags.since, Date.now()) : undefined;
      const base = {
        follow: flags.follow,
        ...(tail !== undefined ? { tail } : {}),
        ...(since !== undefined ? { since } : {}),
      };
      const conn = (await loadControlClient()).connect(host());
      // Ctrl-C ends a follow cleanly: the call is cancelled, which cancels it on every node.
      const stop = new AbortController();
      const onSigint = (): void => stop.abort();
      process.once('SIGINT', onSigint);
      try {
        await streamLogs(conn.control, ref, base, flags, output, stop.signal);
      } finally {
        process.removeListener('SIGINT', onSigint);
        conn.close();
      }
    });
}

async function streamLogs(
  control: Control,
  ref: string,
  base: Omit<ServiceLogsRequest, 'service' | 'task'>,
  flags: ServiceLogsFlags,
  output: CliOutput,
  signal: AbortSignal,
): Promise<void> {
  let width = 0;
  const failedNodes = new Set<string>();
  const read = async (req: ServiceLogsRequest): Promise<void> => {
    for await (const m of control.ServiceLogs(req, { signal })) {
      if (m.kind === 'node-error') {
        failedNodes.add(m.nodeId);
        output.err(`error from node ${m.nodeName} (${m.nodeId.slice(0, 12)}): ${m.error}\n`);
        continue;
      }
      // Columns line up as docker's do: the widest context seen so far sets the width.
      const context = formatContext(m.context, flags);
      width = Math.max(width, context.length);
      let out = '';
      let err = '';
      for (const l of m.lines) {
        if (l.stream === 'stderr') err += formatLine(l, context, flags, width);
        else out += formatLine(l, context, flags, width);
      }
      if (out) output.out(out);
      if (err) output.err(err);
    }
  };
  try {
    try {
      await read({ ...base, service: ref });
    } catch (e) {
      // docker's `service logs` takes a service or a task.
      if (!isSwarmError(e, 'NOT_FOUND') || isTaskNotFound(e)) throw e;
      await read({ ...base, task: ref }).catch((e2: unknown) => {
        throw isSwarmError(e2, 'NOT_FOUND')
          ? new SwarmError('NOT_FOUND', `no such task or service: ${ref}`)
          : e2;
      });
    }
  } catch (e) {
    if (signal.aborted && (isAbortError(e) || isSwarmError(e))) return;
    throw e;
  }
  if (signal.aborted) return;
  if (failedNodes.size > 0) {
    throw new SwarmError(
      'UNAVAILABLE',
      `the logs of ${failedNodes.size} node(s) could not be read (see above): the output is incomplete`,
    );
  }
}

function isTaskNotFound(e: SwarmError): boolean {
  return e.details.kind === 'task';
}

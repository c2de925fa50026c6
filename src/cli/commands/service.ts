import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { Node, NodeId, Service } from '../../api/index.js';
import { SwarmError } from '../../common/index.js';
import type { Connection } from '../control-client.js';
import { loadControlClient, resolveHost } from '../host.js';
import {
  countServiceTasks,
  formatServiceList,
  formatServicePretty,
  formatTaskList,
  parseListFormat,
  pickTasksBySlot,
  renderConvergence,
  renderInspectJson,
  toProgressTask,
} from '../output/index.js';
import type { CliOutput } from '../output/streams.js';
import {
  applyServiceUpdate,
  parseScaleArgs,
  parseServiceCreate,
  registerServiceCreateFlags,
  registerServiceScaleFlags,
  registerServiceUpdateFlags,
  resolveWaitMode,
  type ServiceFlagValues,
  scaleMode,
} from '../service-flags/index.js';

type Control = Connection['control'];
/** How long `--detach=false` waits for convergence before giving up (exit 1). */
const CONVERGE_TIMEOUT_MS = 120_000;
const POLL_MS = 250;

function downNodes(nodes: readonly Node[]): Set<NodeId> {
  return new Set(nodes.filter((n) => n.status.state === 'down').map((n) => n.id));
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Polls the service's tasks until the current spec runs everywhere it should, drawing docker's
 * progress on a terminal. Throws (exit 1) when a task is rejected or time runs out.
 */
async function waitConverged(
  c: Control,
  service: Service,
  output: CliOutput,
  showProgress: boolean,
): Promise<void> {
  const deadline = Date.now() + CONVERGE_TIMEOUT_MS;
  let drawn = 0;
  for (;;) {
    const current = await c.InspectService({ id: service.id });
    const { tasks, nodes } = await c.ListTasks({ serviceIds: [service.id] });
    const mine = tasks;
    const down = downNodes(nodes);
    const counts = countServiceTasks(current, mine, down);
    if (showProgress) {
      const bySlot = new Map(
        [...pickTasksBySlot(mine, { downNodes: down })].map(([k, t]) => [k, toProgressTask(t)]),
      );
      const frame = renderConvergence(bySlot, counts.desired, { width: process.stdout.columns ?? 80 });
      if (drawn > 0) output.out(`\x1b[${drawn}A\x1b[J`);
      output.out(`${frame.lines.join('\n')}\n`);
      drawn = frame.lines.length;
    }
    // A global service with no task yet has not been seen by the orchestrator: keep waiting.
    if (
      counts.running === counts.desired &&
      (counts.desired > 0 || current.spec.mode.type === 'replicated')
    ) {
      if (showProgress) output.out('verify: Service converged\n');
      return;
    }
    const rejected = mine.find((t) => t.status.state === 'rejected');
    if (rejected) {
      throw new SwarmError(
        'FAILED_PRECONDITION',
        `service ${current.spec.name} did not converge: task ${rejected.id} rejected: ${rejected.status.err ?? rejected.status.message}`,
      );
    }
    if (Date.now() > deadline) {
      throw new SwarmError(
        'DEADLINE_EXCEEDED',
        `service ${current.spec.name} did not converge: ${counts.running} of ${counts.desired} tasks running`,
      );
    }
    await pause(POLL_MS);
  }
}

function nodeNames(nodes: readonly Node[]): Map<NodeId, string> {
  return new Map(nodes.map((n) => [n.id, n.description?.hostname ?? n.id]));
}

export function registerService(program: Command, output: CliOutput): void {
  const host = (): string => resolveHost(program.opts<{ host?: string }>(), process.env);
  const withControl = async <T>(fn: (c: Control) => Promise<T>): Promise<T> => {
    const c = (await loadControlClient()).connect(host());
    try {
      return await fn(c.control);
    } finally {
      c.close();
    }
  };
  const service = program.command('service').description('Manage swarm services');

  registerServiceCreateFlags(service.command('create').description('Create a new service')).action(
    async (image: string, command: string[], _opts: unknown, cmd: Command) => {
      const opts = cmd.opts<ServiceFlagValues & { detach?: boolean; quiet?: boolean }>();
      const spec = parseServiceCreate(opts, [image, ...command], {
        lookupEnv: (name) => process.env[name],
        readFile: (path) => readFileSync(path, 'utf8'),
      });
      const mode = resolveWaitMode(opts, process.stdout.isTTY === true);
      await withControl(async (c) => {
        const created = await c.CreateService({ spec });
        output.out(`${created.id}\n`);
        if (mode.wait) await waitConverged(c, created, output, mode.showProgress);
      });
    },
  );

  service
    .command('ls')
    .alias('list')
    .description('List services')
    .option('-q, --quiet', 'Only display IDs', false)
    .option('--format <format>', 'Format output ("json")')
    .option('--no-trunc', 'Do not truncate output')
    .action(async (opts: { quiet: boolean; format?: string; trunc: boolean }) => {
      await withControl(async (c) => {
        const [{ services, tasks }, { nodes }] = await Promise.all([c.ListServices({}), c.ListNodes({})]);
        const down = downNodes(nodes);
        const rows = services.map((s) => ({ service: s, counts: countServiceTasks(s, tasks, down) }));
        output.out(
          formatServiceList(rows, {
            format: parseListFormat(opts.format),
            quiet: opts.quiet,
            noTrunc: !opts.trunc,
          }),
        );
      });
    });

  service
    .command('ps')
    .description('List the tasks of one or more services')
    .argument('<service...>')
    .option('-q, --quiet', 'Only display task IDs', false)
    .option('--format <format>', 'Format output ("json")')
    .option('--no-trunc', 'Do not truncate output')
    .action(async (refs: string[], opts: { quiet: boolean; format?: string; trunc: boolean }) => {
      await withControl(async (c) => {
        const { tasks, nodes } = await c.ListTasks({ serviceIds: refs });
        output.out(
          formatTaskList(
            tasks,
            { nodeNames: nodeNames(nodes), now: Date.now() },
            { format: parseListFormat(opts.format), quiet: opts.quiet, noTrunc: !opts.trunc },
          ),
        );
      });
    });

  service
    .command('inspect')
    .description('Display detailed information on one or more services')
    .argument('<service...>')
    .option('--pretty', 'Print the information in a human friendly format', false)
    .action(async (refs: string[], opts: { pretty: boolean }) => {
      await withControl(async (c) => {
        const services = await Promise.all(refs.map((id) => c.InspectService({ id })));
        if (!opts.pretty) return output.out(renderInspectJson(services));
        output.out(services.map((s) => formatServicePretty(s, { now: Date.now() })).join('\n\n'));
      });
    });

  service
    .command('rm')
    .alias('remove')
    .description('Remove one or more services')
    .argument('<service...>')
    .action(async (refs: string[]) => {
      await withControl(async (c) => {
        for (const id of refs) {
          await c.RemoveService({ id });
          output.out(`${id}\n`);
        }
      });
    });

  registerServiceUpdateFlags(service.command('update').description('Update a service')).action(
    async (ref: string, _opts: unknown, cmd: Command) => {
      const opts = cmd.opts<ServiceFlagValues & { detach?: boolean; quiet?: boolean }>();
      const mode = resolveWaitMode(opts, process.stdout.isTTY === true);
      await withControl(async (c) => {
        const s = await c.InspectService({ id: ref });
        const spec = applyServiceUpdate(s.spec, opts, {
          lookupEnv: (name) => process.env[name],
          readFile: (path) => readFileSync(path, 'utf8'),
        });
        const updated = await c.UpdateService({ id: s.id, version: s.meta.version, spec });
        output.out(`${ref}\n`);
        if (mode.wait) await waitConverged(c, updated, output, mode.showProgress);
      });
    },
  );

  registerServiceScaleFlags(
    service.command('scale').description('Scale one or multiple replicated services'),
  ).action(async (args: string[], _opts: unknown, cmd: Command) => {
    const requests = parseScaleArgs(args);
    const mode = resolveWaitMode(cmd.opts<{ detach?: boolean }>(), process.stdout.isTTY === true);
    await withControl(async (c) => {
      for (const r of requests) {
        const s = await c.InspectService({ id: r.service });
        const updated = await c.UpdateService({
          id: s.id,
          version: s.meta.version,
          spec: { ...s.spec, mode: scaleMode(s.spec.mode, r.replicas) },
        });
        output.out(`${r.service} scaled to ${r.replicas}\n`);
        if (mode.wait && r.replicas > 0) await waitConverged(c, updated, output, mode.showProgress);
      }
    });
  });
}

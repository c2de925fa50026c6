import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { Node, NodeId, Service } from '../../api/index.js';
import { SwarmError } from '../../common/index.js';
import type { Connection } from '../control-client.js';
import { loadControlClient, resolveHost } from '../host.js';
import {
  clientAddressInfo,
  countServiceTasks,
  formatServiceList,
  formatServicePretty,
  formatTaskList,
  parseListFormat,
  pickTasksBySlot,
  renderConvergence,
  renderInspectJson,
  renderUpdateFrame,
  startedUpdate,
  toProgressTask,
  type UpdateCommand,
  updateVerdict,
} from '../output/index.js';
import type { CliOutput } from '../output/streams.js';
import {
  applyServiceUpdate,
  parseScaleArgs,
  parseServiceCreate,
  registerServiceCreateFlags,
  registerServiceRollbackFlags,
  registerServiceScaleFlags,
  registerServiceUpdateFlags,
  resolveWaitMode,
  type ServiceFlagValues,
  scaleMode,
  wantsRollback,
} from '../service-flags/index.js';
import { registerServiceLogs } from './service-logs.js';

type Control = Connection['control'];
/** How long `--detach=false` waits for convergence before giving up (exit 1). */
const CONVERGE_TIMEOUT_MS = 120_000;
const POLL_MS = 250;
/** How long `--detach=false` follows an update that shows no change at all before giving up. */
const UPDATE_STALL_MS = 120_000;

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

/**
 * Follows a rolling update (or rollback) the leader's updater runs until it ends, drawing docker's
 * per-slot progress on a terminal. Returns on the outcomes a script may rely on (completed, or a
 * canary held for promotion) and throws a one-line reason otherwise (exit 1); see updateVerdict.
 */
async function waitUpdate(
  c: Control,
  serviceId: string,
  output: CliOutput,
  opts: { showProgress: boolean; quiet: boolean; command: UpdateCommand },
): Promise<void> {
  let drawn = 0;
  let seen = '';
  let changedAt = Date.now();
  for (;;) {
    const current = await c.InspectService({ id: serviceId });
    const { tasks, nodes } = await c.ListTasks({ serviceIds: [serviceId] });
    if (opts.showProgress) {
      const frame = renderUpdateFrame(current, tasks, {
        downNodes: downNodes(nodes),
        width: process.stdout.columns ?? 80,
      });
      if (drawn > 0) output.out(`\x1b[${drawn}A\x1b[J`);
      output.out(`${frame.lines.join('\n')}\n`);
      drawn = frame.lines.length;
    }
    const verdict = updateVerdict(current, opts.command, tasks);
    if (verdict.kind === 'done') {
      if (!opts.quiet) output.out(`${verdict.line}\n`);
      return;
    }
    if (verdict.kind === 'failed') throw new SwarmError('FAILED_PRECONDITION', verdict.reason);
    // No deadline while the update moves (delays and monitor periods add up); only a stall ends it.
    const now = JSON.stringify([current.status.updateStatus, tasks.map((t) => [t.id, t.status.state])]);
    if (now !== seen) {
      seen = now;
      changedAt = Date.now();
    } else if (Date.now() - changedAt > UPDATE_STALL_MS) {
      throw new SwarmError(
        'DEADLINE_EXCEEDED',
        `service ${current.spec.name}: the update made no progress for ${UPDATE_STALL_MS / 1000} s (state ${current.status.updateStatus?.state ?? 'none'})`,
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
  registerServiceLogs(service, output, host);

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
        const [services, { nodes }] = await Promise.all([
          Promise.all(refs.map((id) => c.InspectService({ id }))),
          c.ListNodes({}),
        ]);
        // Beyond docker: whether tasks see the client's address, from the nodes' data planes.
        const withClient = services.map((s) => ({ service: s, clientAddress: clientAddressInfo(s, nodes) }));
        if (!opts.pretty) {
          return output.out(
            renderInspectJson(
              withClient.map(({ service, clientAddress }) =>
                clientAddress ? { ...service, clientAddress } : service,
              ),
            ),
          );
        }
        output.out(
          withClient
            .map(({ service, clientAddress }) =>
              formatServicePretty(service, { now: Date.now(), ...(clientAddress && { clientAddress }) }),
            )
            .join('\n\n'),
        );
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
      const quiet = opts.quiet === true;
      if (wantsRollback(opts)) return rollback(ref, { ...mode, quiet });
      await withControl(async (c) => {
        const s = await c.InspectService({ id: ref });
        // Network names in --network-add/-rm resolve against the cluster's networks.
        const networks =
          opts.networkAdd || opts.networkRm
            ? (await c.ListNetworks({})).networks.map((n) => ({ id: n.id, name: n.spec.name }))
            : undefined;
        const spec = applyServiceUpdate(s.spec, opts, {
          lookupEnv: (name) => process.env[name],
          readFile: (path) => readFileSync(path, 'utf8'),
          ...(networks ? { networks } : {}),
        });
        const updated = await c.UpdateService({ id: s.id, version: s.meta.version, spec });
        if (!quiet) output.out(`${ref}\n`);
        if (!mode.wait) return;
        if (startedUpdate(s, updated))
          await waitUpdate(c, updated.id, output, { ...mode, quiet, command: 'update' });
        else await waitConverged(c, updated, output, mode.showProgress);
      });
    },
  );

  /** `service rollback` and `service update --rollback`: the manager restores the previous spec. */
  const rollback = (ref: string, mode: { wait: boolean; showProgress: boolean; quiet: boolean }) =>
    withControl(async (c) => {
      const s = await c.RollbackService({ id: ref });
      if (!mode.quiet) output.out(`${ref}\n`);
      if (mode.wait) await waitUpdate(c, s.id, output, { ...mode, command: 'rollback' });
    });

  registerServiceRollbackFlags(
    service.command('rollback').description("Revert changes to a service's configuration"),
  ).action(async (ref: string, _opts: unknown, cmd: Command) => {
    const opts = cmd.opts<{ detach?: boolean; quiet?: boolean }>();
    await rollback(ref, {
      ...resolveWaitMode(opts, process.stdout.isTTY === true),
      quiet: opts.quiet === true,
    });
  });

  registerServiceRollbackFlags(
    service.command('promote').description('Continue a rollout held at its canary tasks'),
  ).action(async (ref: string, _opts: unknown, cmd: Command) => {
    const opts = cmd.opts<{ detach?: boolean; quiet?: boolean }>();
    const mode = resolveWaitMode(opts, process.stdout.isTTY === true);
    const quiet = opts.quiet === true;
    await withControl(async (c) => {
      const s = await c.PromoteService({ id: ref });
      if (!quiet) output.out(`${ref}\n`);
      if (mode.wait) await waitUpdate(c, s.id, output, { ...mode, quiet, command: 'update' });
    });
  });

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

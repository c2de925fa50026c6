import type { Command } from 'commander';
import type { DaemonStatus, Node } from '../../api/index.js';
import { InvalidArgumentError } from '../../common/index.js';
import type { Connection } from '../control-client.js';
import { type HostOptions, loadControlClient, resolveHost } from '../host.js';
import type { CliOutput } from '../output/streams.js';

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return `${rows
    .map((r) =>
      r
        .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]! + 3)))
        .join('')
        .trimEnd(),
    )
    .join('\n')}\n`;
}

function managerStatus(n: Node, leader: string | null): string {
  if (!n.managerStatus) return '';
  return n.id === leader
    ? 'Leader'
    : n.managerStatus.reachability === 'unreachable'
      ? 'Unreachable'
      : 'Reachable';
}

function parseLabels(values: readonly string[], flag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values) {
    const i = v.indexOf('=');
    const key = i < 0 ? v : v.slice(0, i);
    if (!key)
      throw new InvalidArgumentError(flag, `invalid label ${JSON.stringify(v)} for ${flag}: empty key`);
    out[key] = i < 0 ? '' : v.slice(i + 1);
  }
  return out;
}

const collect = (v: string, prev: string[] = []): string[] => [...prev, v];

export function registerNode(program: Command, output: CliOutput): void {
  const host = (): string => resolveHost(program.opts<{ host?: string }>(), process.env);
  const withControl = async <T>(fn: (c: Connection['control']) => Promise<T>): Promise<T> => {
    const c = (await loadControlClient()).connect(host(), program.opts<HostOptions>());
    try {
      return await fn(c.control);
    } finally {
      c.close();
    }
  };
  const node = program.command('node').description('Manage swarm nodes');

  node
    .command('ls')
    .alias('list')
    .description('List nodes in the swarm')
    .option('-q, --quiet', 'Only display IDs', false)
    .option('--format <format>', 'Format output ("json")')
    .action(async (opts: { quiet: boolean; format?: string }) => {
      await withControl(async (c) => {
        const [{ nodes }, info] = await Promise.all([c.ListNodes({}), c.Info({})]);
        if (opts.format === 'json') return output.out(`${JSON.stringify(nodes)}\n`);
        if (opts.quiet) return output.out(nodes.map((n) => `${n.id}\n`).join(''));
        const rows = [['ID', 'HOSTNAME', 'STATUS', 'AVAILABILITY', 'MANAGER STATUS', 'ENGINE VERSION']];
        for (const n of [...nodes].sort((a, b) =>
          (a.description?.hostname ?? '').localeCompare(b.description?.hostname ?? ''),
        )) {
          const state = n.status.state;
          rows.push([
            `${n.id}${n.id === info.nodeId ? ' *' : ''}`,
            n.description?.hostname ?? '',
            state.charAt(0).toUpperCase() + state.slice(1),
            n.spec.availability.charAt(0).toUpperCase() + n.spec.availability.slice(1),
            managerStatus(n, info.leader),
            n.description?.engine.version ?? '',
          ]);
        }
        output.out(table(rows));
      });
    });

  node
    .command('inspect')
    .description('Display detailed information on one or more nodes')
    .argument('<node...>')
    .action(async (refs: string[]) => {
      await withControl(async (c) => {
        const nodes = await Promise.all(refs.map((id) => c.InspectNode({ id })));
        output.out(`${JSON.stringify(nodes, null, 4)}\n`);
      });
    });

  node
    .command('update')
    .description('Update a node')
    .argument('<node>')
    .option('--availability <availability>', 'Availability of the node ("active", "pause", "drain")')
    .option('--label-add <key=value>', 'Add or update a node label', collect, [])
    .option('--label-rm <key>', 'Remove a node label if exists', collect, [])
    .option('--role <role>', 'Role of the node ("worker", "manager")')
    .action(
      async (
        ref: string,
        opts: { availability?: string; labelAdd: string[]; labelRm: string[]; role?: string },
      ) => {
        if (opts.availability && !['active', 'pause', 'drain'].includes(opts.availability)) {
          throw new InvalidArgumentError(
            '--availability',
            `invalid argument ${JSON.stringify(opts.availability)} for "--availability" flag: must be active, pause or drain`,
          );
        }
        await withControl(async (c) => {
          const n = await c.UpdateNode({
            id: ref,
            ...(opts.availability ? { availability: opts.availability as 'active' } : {}),
            ...(opts.role ? { role: opts.role as 'worker' } : {}),
            labelAdd: parseLabels(opts.labelAdd, '--label-add'),
            labelRm: opts.labelRm,
          });
          output.out(`${n.id}\n`);
        });
      },
    );

  for (const [verb, role] of [
    ['promote', 'manager'],
    ['demote', 'worker'],
  ] as const) {
    node
      .command(verb)
      .description(
        `${verb === 'promote' ? 'Promote' : 'Demote'} one or more nodes ${verb === 'promote' ? 'to manager' : 'from manager'} in the swarm`,
      )
      .argument('<node...>')
      .action(async (refs: string[]) => {
        await withControl(async (c) => {
          for (const id of refs) {
            await c.UpdateNode({ id, role });
            // Docker's wording, naming the node as the user did.
            output.out(
              verb === 'promote'
                ? `Node ${id} promoted to a manager in the swarm.\n`
                : `Manager ${id} demoted in the swarm.\n`,
            );
          }
        });
      });
  }

  node
    .command('rm')
    .alias('remove')
    .description('Remove one or more nodes from the swarm')
    .argument('<node...>')
    .option('-f, --force', 'Force remove a node from the swarm', false)
    .action(async (refs: string[], opts: { force: boolean }) => {
      await withControl(async (c) => {
        for (const id of refs) {
          await c.RemoveNode({ id, force: opts.force });
          output.out(`${id}\n`);
        }
      });
    });
}

export function registerInfo(program: Command, output: CliOutput): void {
  program
    .command('info')
    .description('Display swarm-wide information')
    .option('--format <format>', 'Format output ("json")')
    .action(async (opts: { format?: string }) => {
      const c = (await loadControlClient()).connect(
        resolveHost(program.opts<{ host?: string }>(), process.env),
        program.opts<HostOptions>(),
      );
      try {
        const status = c.daemon ? await c.daemon.Status({}) : undefined;
        const info = status?.role === 'worker' || status?.locked ? undefined : await c.control.Info({});
        if (opts.format === 'json') return output.out(`${JSON.stringify({ node: status, cluster: info })}\n`);
        const lines = [`Swarm: ${status?.locked ? 'locked' : 'active'}`];
        if (status)
          lines.push(
            ` NodeID: ${status.nodeId}`,
            ` Is Manager: ${status.role === 'manager'}`,
            ` Node Address: ${status.advertiseAddr}`,
            ` Data Plane: ${dataPlaneText(status.dataPlane)}`,
          );
        if (info) {
          lines.push(
            ` ClusterID: ${info.clusterId}`,
            ` Managers: ${info.managers.length}`,
            ` Nodes: ${info.nodes}`,
            ` Raft: term ${info.raftTerm}, leader ${info.leader ?? 'none'}`,
            ` Autolock Managers: ${info.autolock}`,
            ' CA Configuration:',
            `  Expiry Duration: ${Math.round(info.certExpiryMs / 3_600_000)} hours`,
            ` Root CA digest: ${info.rootCaDigest}`,
            ' Manager Addresses:',
            ...info.managers.map((m) => `  ${m.addr}`),
          );
        }
        output.out(`${lines.join('\n')}\n`);
      } finally {
        c.close();
      }
    });
}

/** What the userland fallback covers, for a node that does not say (`covers`). */
export const USERLAND_SCOPE =
  'published ports on every node, relayed between nodes; user overlays local to each node (VIPs on declared ports, DNS of local tasks), no container traffic between nodes; client address not kept';

/** `nftables+vxlan`, `userland (<why>; <what it covers>)`, or `not started` before the agent runs. */
export function dataPlaneText(dp: DaemonStatus['dataPlane']): string {
  if (!dp) return 'not started';
  if (dp.kind === 'userland')
    return `userland (${dp.reason ? `${dp.reason}; ` : ''}${dp.covers ?? USERLAND_SCOPE})`;
  return dp.reason ? `${dp.kind} (${dp.reason})` : dp.kind;
}

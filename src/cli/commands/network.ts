import type { Command } from 'commander';
import type { Network, NetworkSpec } from '../../api/index.js';
import { InvalidArgumentError } from '../../common/index.js';
import type { Connection } from '../control-client.js';
import { type HostOptions, loadControlClient, resolveHost } from '../host.js';
import type { CliOutput } from '../output/streams.js';
import {
  parseListFormat,
  renderInspectJson,
  renderJsonLines,
  renderTable,
  truncateId,
} from '../output/table.js';

const collect = (v: string, prev: string[] = []): string[] => [...prev, v];

function parseLabels(values: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values) {
    const i = v.indexOf('=');
    const key = i < 0 ? v : v.slice(0, i);
    if (!key)
      throw new InvalidArgumentError(
        '--label',
        `invalid argument ${JSON.stringify(v)} for "--label" flag: empty key`,
      );
    out[key] = i < 0 ? '' : v.slice(i + 1);
  }
  return out;
}

interface CreateFlags {
  driver: string;
  subnet: string[];
  gateway: string[];
  attachable: boolean;
  label: string[];
}

/** Docker's flags → a NetworkSpec; the manager validates the values and checks overlaps. */
export function networkSpecOf(name: string, f: CreateFlags): NetworkSpec {
  if (f.subnet.length > 1 || f.gateway.length > 1)
    throw new InvalidArgumentError(
      '--subnet',
      'only one --subnet (and one --gateway) per network is supported',
    );
  if (f.gateway.length > 0 && f.subnet.length === 0)
    throw new InvalidArgumentError('--gateway', 'every ip-range or gateway must have a corresponding subnet');
  const labels = parseLabels(f.label);
  return {
    name,
    driver: { name: f.driver },
    ...(Object.keys(labels).length > 0 ? { labels } : {}),
    ...(f.subnet[0] !== undefined
      ? {
          ipam: {
            configs: [
              { subnet: f.subnet[0], ...(f.gateway[0] !== undefined ? { gateway: f.gateway[0] } : {}) },
            ],
          },
        }
      : {}),
    ...(f.attachable ? { attachable: true } : {}),
  };
}

function listRow(n: Network): Record<string, string> {
  return { ID: truncateId(n.id), Name: n.spec.name, Driver: n.spec.driver.name, Scope: 'swarm' };
}

export function registerNetwork(program: Command, output: CliOutput): void {
  const withControl = async <T>(fn: (c: Connection['control']) => Promise<T>): Promise<T> => {
    const opts = program.opts<HostOptions>();
    const c = (await loadControlClient()).connect(resolveHost(opts, process.env), opts);
    try {
      return await fn(c.control);
    } finally {
      c.close();
    }
  };
  const network = program.command('network').description('Manage networks');

  network
    .command('create')
    .description('Create a network')
    .argument('<name>')
    .option('-d, --driver <driver>', 'Driver to manage the Network', 'overlay')
    .option('--subnet <subnet>', 'Subnet in CIDR format that represents a network segment', collect, [])
    .option('--gateway <gateway>', 'IPv4 Gateway for the master subnet', collect, [])
    .option('--attachable', 'Enable manual container attachment', false)
    .option('--label <key=value>', 'Set metadata on a network', collect, [])
    .action(async (name: string, f: CreateFlags) => {
      const spec = networkSpecOf(name, f);
      await withControl(async (c) => output.out(`${(await c.CreateNetwork({ spec })).id}\n`));
    });

  network
    .command('ls')
    .alias('list')
    .description('List networks')
    .option('-q, --quiet', 'Only display network IDs', false)
    .option('--format <format>', 'Format output ("table" or "json")')
    .action(async (opts: { quiet: boolean; format?: string }) => {
      const format = parseListFormat(opts.format);
      await withControl(async (c) => {
        const { networks } = await c.ListNetworks({});
        const sorted = [...networks].sort((a, b) => a.spec.name.localeCompare(b.spec.name));
        if (opts.quiet) return output.out(sorted.map((n) => `${truncateId(n.id)}\n`).join(''));
        if (format === 'json') return output.out(renderJsonLines(sorted.map(listRow)));
        output.out(
          renderTable(
            ['NETWORK ID', 'NAME', 'DRIVER', 'SCOPE'],
            sorted.map((n) => Object.values(listRow(n))),
          ),
        );
      });
    });

  network
    .command('inspect')
    .description('Display detailed information on one or more networks')
    .argument('<network...>')
    .option('-f, --format <format>', 'Format output ("json", the default)')
    .action(async (refs: string[], opts: { format?: string }) => {
      if (opts.format !== undefined && opts.format !== 'json')
        throw new InvalidArgumentError(
          '--format',
          `invalid argument ${JSON.stringify(opts.format)} for "--format" flag: only "json" is supported`,
        );
      await withControl(async (c) => {
        const networks = await Promise.all(refs.map((id) => c.InspectNetwork({ id })));
        output.out(renderInspectJson(networks));
      });
    });

  network
    .command('rm')
    .alias('remove')
    .description('Remove one or more networks')
    .argument('<network...>')
    .action(async (refs: string[]) => {
      await withControl(async (c) => {
        for (const id of refs) {
          await c.RemoveNetwork({ id });
          output.out(`${id}\n`);
        }
      });
    });
}

import { join } from 'node:path';
import type { Command } from 'commander';
import { DEFAULT_CLUSTER_SPEC, validateClusterSpec } from '../../api/index.js';
import { formatDuration, InvalidArgumentError, parseDuration } from '../../common/index.js';
import type { Connection } from '../control-client.js';
import type { LaunchOptions } from '../daemon-launcher.js';
import { type HostOptions, loadControlClient, loadLauncher, resolveHost } from '../host.js';

async function launchDaemon(o: LaunchOptions) {
  return (await loadLauncher()).launchDaemon(o);
}

import type { CliOutput } from '../output/streams.js';

const DEFAULT_STATE_DIR = '/var/lib/swarmctl';
const DEFAULT_CONTROL_SOCKET = '/var/run/swarmctl.sock';

export interface NodeFlags {
  advertiseAddr?: string;
  listenAddr?: string;
  availability?: string;
  stateDir?: string;
  controlSocket?: string;
  dockerHost?: string;
  foreground?: boolean;
  logLevel?: string;
  dataPlane?: string;
}

function addNodeFlags(cmd: Command): Command {
  return cmd
    .option('--advertise-addr <addr[:port]>', 'Advertised address (format: <ip|interface>[:port])')
    .option('--listen-addr <addr:port>', 'Listen address (format: <ip|interface>[:port])', '0.0.0.0:2377')
    .option(
      '--availability <availability>',
      'Availability of the node ("active", "pause", "drain")',
      'active',
    )
    .option('--state-dir <dir>', 'Directory for the node state', DEFAULT_STATE_DIR)
    .option('--control-socket <path>', 'Local control socket', DEFAULT_CONTROL_SOCKET)
    .option(
      '--docker-host <url>',
      'Docker engine to run tasks on (default: DOCKER_HOST or /var/run/docker.sock)',
    )
    .option('--log-level <level>', 'Daemon log level (debug, info, warn, error)', 'info')
    .option(
      '--data-plane <kind>',
      'Routing mesh data plane: auto, nftables+vxlan or userland (default: SWARMCTL_DATA_PLANE, else auto)',
    )
    .option('--foreground', 'Keep the node attached to this terminal (for systemd)', false);
}

export function daemonArgs(f: NodeFlags): string[] {
  const args: string[] = [];
  const put = (flag: string, v: string | undefined): void => {
    if (v !== undefined) args.push(flag, v);
  };
  put('--state-dir', f.stateDir);
  put('--control-socket', f.controlSocket);
  put('--listen-addr', f.listenAddr);
  put('--advertise-addr', f.advertiseAddr);
  put('--availability', f.availability);
  put('--docker-host', f.dockerHost);
  put('--log-level', f.logLevel);
  put('--data-plane', f.dataPlane);
  return args;
}

/** `target`: a host URL, or one with the `--tls*` paths a `tcp://` host needs. */
async function withNode<T>(
  target: string | readonly [string, HostOptions],
  fn: (c: Connection) => Promise<T>,
): Promise<T> {
  const [host, tls] = typeof target === 'string' ? [target, {}] : target;
  const c = (await loadControlClient()).connect(host, tls);
  try {
    return await fn(c);
  } finally {
    c.close();
  }
}

type InitFlags = NodeFlags & {
  autolock: boolean;
  certExpiry: string;
  defaultAddrPool?: string[];
  defaultAddrPoolMaskLength?: string;
};

/** `init --default-addr-pool … --default-addr-pool-mask-length N`, checked before the node starts. */
function addrPoolArgs(opts: InitFlags): string[] {
  if (!opts.defaultAddrPool && opts.defaultAddrPoolMaskLength === undefined) return [];
  const subnets = opts.defaultAddrPool ?? DEFAULT_CLUSTER_SPEC.defaultAddrPool.subnets;
  const raw = opts.defaultAddrPoolMaskLength;
  const maskLength = raw === undefined ? DEFAULT_CLUSTER_SPEC.defaultAddrPool.maskLength : Number(raw);
  if (raw !== undefined && !/^\d+$/.test(raw)) {
    throw new InvalidArgumentError(
      '--default-addr-pool-mask-length',
      `invalid argument ${JSON.stringify(raw)} for "--default-addr-pool-mask-length" flag: must be a number`,
    );
  }
  validateClusterSpec({ ...DEFAULT_CLUSTER_SPEC, defaultAddrPool: { subnets, maskLength } });
  return ['--default-addr-pool', subnets.join(','), '--default-addr-pool-mask-length', String(maskLength)];
}

function joinTokenText(role: 'worker' | 'manager', token: string, addr: string): string {
  return `To add a ${role} to this swarm, run the following command:\n\n    swarmctl join --token ${token} ${addr}\n\n`;
}

export function registerSwarm(program: Command, output: CliOutput): void {
  const host = (): readonly [string, HostOptions] => {
    const opts = program.opts<HostOptions>();
    return [resolveHost(opts, process.env), opts];
  };

  const init = (parent: Command): void => {
    addNodeFlags(parent.command('init').description('Initialize a swarm'))
      .option(
        '--autolock',
        'Enable manager autolocking (requiring an unlock key to start a stopped manager)',
        false,
      )
      .option(
        '--cert-expiry <duration>',
        'Validity period for node certificates (ns|us|ms|s|m|h)',
        '2160h0m0s',
      )
      .option(
        '--default-addr-pool <CIDR>',
        'Default address pool in CIDR format (repeatable) (default 10.0.0.0/8)',
        (v: string, prev: string[] = []) => [...prev, v],
      )
      .option('--default-addr-pool-mask-length <n>', 'Default address pool subnet mask length (default 24)')
      .action(async (opts: InitFlags) => {
        const certExpiryMs = parseDuration(opts.certExpiry, '--cert-expiry');
        const args = [
          ...daemonArgs(opts),
          '--init',
          '--cert-expiry',
          String(certExpiryMs),
          ...addrPoolArgs(opts),
        ];
        if (opts.autolock) args.push('--autolock');
        const socket = opts.controlSocket ?? DEFAULT_CONTROL_SOCKET;
        const r = await launchDaemon({
          daemonArgs: args,
          controlSocket: socket,
          logFile: join(opts.stateDir ?? DEFAULT_STATE_DIR, 'daemon.log'),
          foreground: opts.foreground ?? false,
        });
        if (r.exitCode !== undefined) {
          process.exitCode = r.exitCode;
          return;
        }
        await withNode(`unix://${socket}`, async (c) => {
          const { token } = await c.control.GetJoinToken({ role: 'worker' });
          const status = r.status!;
          output.out(`Swarm initialized: current node (${status.nodeId}) is now a manager.\n\n`);
          output.out(joinTokenText('worker', token, status.advertiseAddr));
          output.out(
            "To add a manager to this swarm, run 'swarmctl join-token manager' and follow the instructions.\n\n",
          );
          if (opts.autolock) {
            const { unlockKey } = await c.control.GetUnlockKey({});
            output.out(
              `To unlock a swarm manager after it restarts, run the \`swarmctl unlock\`\ncommand and provide the following key:\n\n    ${unlockKey}\n\nPlease remember to store this key in a password manager, since without it you\nwill not be able to restart the manager.\n`,
            );
          }
        });
      });
  };

  const joinCmd = (parent: Command): void => {
    addNodeFlags(parent.command('join').description('Join a swarm as a node and/or manager'))
      .requiredOption('--token <token>', 'Token for entry into the swarm')
      .argument('<host:port>', 'A manager of the swarm')
      .action(async (remote: string, opts: NodeFlags & { token: string }) => {
        if (!/^[^:]+:\d+$/.test(remote) && !/^[^:]+$/.test(remote)) {
          throw new InvalidArgumentError('HOST:PORT', `invalid manager address ${JSON.stringify(remote)}`);
        }
        const target = remote.includes(':') ? remote : `${remote}:2377`;
        const socket = opts.controlSocket ?? DEFAULT_CONTROL_SOCKET;
        const r = await launchDaemon({
          daemonArgs: [...daemonArgs(opts), '--join-token', opts.token, '--join-remote', target],
          controlSocket: socket,
          logFile: join(opts.stateDir ?? DEFAULT_STATE_DIR, 'daemon.log'),
          foreground: opts.foreground ?? false,
        });
        if (r.exitCode !== undefined) {
          process.exitCode = r.exitCode;
          return;
        }
        output.out(`This node joined a swarm as a ${r.status!.role}.\n`);
      });
  };

  const joinToken = (parent: Command): void => {
    parent
      .command('join-token')
      .description('Manage join tokens')
      .argument('<worker|manager>', 'Role')
      .option('-q, --quiet', 'Only display token', false)
      .option('--rotate', 'Rotate join token', false)
      .action(async (role: string, opts: { quiet: boolean; rotate: boolean }) => {
        if (role !== 'worker' && role !== 'manager') {
          throw new InvalidArgumentError(
            'role',
            `unknown role ${JSON.stringify(role)}: use worker or manager`,
          );
        }
        await withNode(host(), async (c) => {
          const { token } = await c.control.GetJoinToken({ role, rotate: opts.rotate });
          if (opts.quiet) {
            output.out(`${token}\n`);
            return;
          }
          if (opts.rotate) output.out(`Successfully rotated ${role} join token.\n\n`);
          const info = await c.control.Info({});
          const self = info.managers.find((m) => m.nodeId === info.nodeId);
          output.out(joinTokenText(role, token, self?.addr ?? info.managers[0]?.addr ?? '<manager>'));
        });
      });
  };

  const leave = (parent: Command): void => {
    parent
      .command('leave')
      .description('Leave the swarm')
      .option('-f, --force', 'Force this node to leave the swarm, ignoring warnings', false)
      .action(async (opts: { force: boolean }) => {
        await withNode(host(), async (c) => {
          await c.daemon!.Leave({ force: opts.force });
        });
        output.out('Node left the swarm.\n');
      });
  };

  const unlock = (parent: Command): void => {
    parent
      .command('unlock')
      .description('Unlock swarm')
      .option('--key <key>', 'The unlock key (read from standard input when absent)')
      .action(async (opts: { key?: string }) => {
        const key = opts.key ?? (await readStdinLine('Please enter unlock key: ', output));
        await withNode(host(), (c) => c.daemon!.Unlock({ unlockKey: key }));
      });
  };

  const unlockKey = (parent: Command): void => {
    parent
      .command('unlock-key')
      .description('Manage the unlock key')
      .option('-q, --quiet', 'Only display token', false)
      .option('--rotate', 'Rotate unlock key', false)
      .action(async (opts: { quiet: boolean; rotate: boolean }) => {
        await withNode(host(), async (c) => {
          const { unlockKey: key } = await c.control.GetUnlockKey({ rotate: opts.rotate });
          if (!key) {
            output.out('No unlock key is set.\n');
            return;
          }
          if (opts.quiet) output.out(`${key}\n`);
          else {
            if (opts.rotate) output.out('Successfully rotated manager unlock key.\n\n');
            output.out(
              `To unlock a swarm manager after it restarts, run the \`swarmctl unlock\`\ncommand and provide the following key:\n\n    ${key}\n\n`,
            );
          }
        });
      });
  };

  const update = (parent: Command): void => {
    parent
      .command('update')
      .description('Update the swarm')
      .option('--autolock <bool>', 'Change manager autolocking setting (true|false)')
      .option('--cert-expiry <duration>', 'Validity period for node certificates (ns|us|ms|s|m|h)')
      .action(async (opts: { autolock?: string; certExpiry?: string }) => {
        let autolock: boolean | undefined;
        if (opts.autolock !== undefined) {
          if (opts.autolock !== 'true' && opts.autolock !== 'false') {
            throw new InvalidArgumentError(
              '--autolock',
              `invalid argument ${JSON.stringify(opts.autolock)} for "--autolock" flag: use true or false`,
            );
          }
          autolock = opts.autolock === 'true';
        }
        const certExpiryMs =
          opts.certExpiry === undefined ? undefined : parseDuration(opts.certExpiry, '--cert-expiry');
        await withNode(host(), async (c) => {
          const r = await c.control.UpdateCluster({
            ...(autolock !== undefined ? { autolock } : {}),
            ...(certExpiryMs !== undefined ? { certExpiryMs } : {}),
          });
          output.out('Swarm updated.\n');
          if (autolock && r.unlockKey) {
            output.out(
              `To unlock a swarm manager after it restarts, run the \`swarmctl unlock\`\ncommand and provide the following key:\n\n    ${r.unlockKey}\n\n`,
            );
          }
          if (certExpiryMs !== undefined)
            output.out(`Node certificates now expire after ${formatDuration(certExpiryMs)}.\n`);
        });
      });
  };

  for (const register of [init, joinCmd, joinToken, leave, unlock, unlockKey, update]) register(program);
  // `swarmctl swarm …` carries `docker swarm …` lines over unchanged.
  const swarm = program.command('swarm').description('Manage the swarm (docker swarm compatible aliases)');
  for (const register of [init, joinCmd, joinToken, leave, unlock, unlockKey, update]) register(swarm);
}

async function readStdinLine(prompt: string, output: CliOutput): Promise<string> {
  if (process.stdin.isTTY) output.err(prompt);
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) {
    chunks.push(chunk as Buffer);
    if (Buffer.concat(chunks).includes(10)) break;
  }
  return Buffer.concat(chunks).toString('utf8').split('\n')[0]!.trim();
}

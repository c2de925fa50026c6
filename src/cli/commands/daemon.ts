import { join } from 'node:path';
import type { Command } from 'commander';
import { loadLauncher } from '../host.js';
import type { CliOutput } from '../output/streams.js';

/** What the `daemon` verb runs: injected by main.ts so the CLI never imports the node's internals. */
export type DaemonRunner = (flags: Record<string, string | boolean | undefined>) => Promise<number>;

export function registerDaemon(
  program: Command,
  runDaemon: DaemonRunner | undefined,
  output: CliOutput,
): void {
  if (!runDaemon) return;
  program
    .command('daemon')
    .description(
      'Run this node in the foreground from its state directory (what init/join start; use it after a reboot)',
    )
    .option('--state-dir <dir>', 'Directory for the node state', '/var/lib/swarmctl')
    .option('--control-socket <path>', 'Local control socket', '/var/run/swarmctl.sock')
    .option('--listen-addr <addr:port>', 'Listen address')
    .option('--advertise-addr <addr[:port]>', 'Advertised address')
    .option('--availability <availability>', 'Availability of the node')
    .option('--docker-host <url>', 'Docker engine to run tasks on')
    .option('--log-level <level>', 'Log level', 'info')
    .option('--data-plane <kind>', 'Routing mesh data plane: auto, nftables+vxlan or userland')
    .option('--init', 'Initialise a new swarm (used by "swarmctl init")')
    .option('--autolock', 'With --init: enable autolock')
    .option('--cert-expiry <ms>', 'With --init: certificate validity in milliseconds')
    .option('--default-addr-pool <cidrs>', 'With --init: comma-separated address pools for networks')
    .option('--default-addr-pool-mask-length <n>', 'With --init: size of the networks carved from them')
    .option('--join-token <token>', 'Join with this token (used by "swarmctl join")')
    .option('--join-remote <host:port>', 'The manager to join through')
    .option('-d, --detach', 'Start the node in the background and return once it is ready (or locked)')
    .action(async (opts: Record<string, string | boolean | undefined>) => {
      if (opts.detach) {
        const args = process.argv
          .slice(process.argv.indexOf('daemon') + 1)
          .filter((a) => a !== '-d' && a !== '--detach');
        const stateDir = typeof opts.stateDir === 'string' ? opts.stateDir : '/var/lib/swarmctl';
        const r = await (await loadLauncher()).launchDaemon({
          daemonArgs: args,
          controlSocket:
            typeof opts.controlSocket === 'string' ? opts.controlSocket : '/var/run/swarmctl.sock',
          logFile: join(stateDir, 'daemon.log'),
          foreground: false,
        });
        output.out(
          r.status?.locked ? 'Node started; it is locked: run "swarmctl unlock".\n' : 'Node started.\n',
        );
        return;
      }
      process.exitCode = await runDaemon(opts);
    });
}

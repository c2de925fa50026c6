import type { Command } from 'commander';

/** What the `daemon` verb runs: injected by main.ts so the CLI never imports the node's internals. */
export type DaemonRunner = (flags: Record<string, string | boolean | undefined>) => Promise<number>;

export function registerDaemon(program: Command, runDaemon: DaemonRunner | undefined): void {
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
    .option('--init', 'Initialise a new swarm (used by "swarmctl init")')
    .option('--autolock', 'With --init: enable autolock')
    .option('--cert-expiry <ms>', 'With --init: certificate validity in milliseconds')
    .option('--join-token <token>', 'Join with this token (used by "swarmctl join")')
    .option('--join-remote <host:port>', 'The manager to join through')
    .action(async (opts: Record<string, string | boolean | undefined>) => {
      process.exitCode = await runDaemon(opts);
    });
}

import { Command, CommanderError } from 'commander';
import { isSwarmError } from '../common/index.js';
import { buildInfo } from './build-info.js';
import { registerCa } from './commands/ca.js';
import { type DaemonRunner, registerDaemon } from './commands/daemon.js';
import { registerNetwork } from './commands/network.js';
import { registerInfo, registerNode } from './commands/node.js';
import { registerService } from './commands/service.js';
import { registerSwarm } from './commands/swarm.js';
import { registerVersion } from './commands/version.js';
import { type CliOutput, processOutput } from './output/streams.js';

/** Builds the command tree. Commands are thin: parse, call the API client, format. */
export interface ProgramDeps {
  output?: CliOutput;
  /** Runs the node process (`swarmctl daemon`); main.ts provides it. */
  runDaemon?: DaemonRunner;
}

export function buildProgram(deps: ProgramDeps = {}): Command {
  const output = deps.output ?? processOutput;
  const program = new Command('swarmctl')
    .description('A container orchestrator in the style of Docker Swarm mode')
    .version(buildInfo().version, '-v, --version', 'Print version information and quit')
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ writeOut: output.out, writeErr: output.err })
    .option('-H, --host <host>', 'Node to connect to (unix:///path or tcp://host:port; env SWARMCTL_HOST)')
    .option('--tlscacert <path>', 'Trust certs signed only by this CA (tcp:// hosts)')
    .option('--tlscert <path>', 'Path to TLS certificate file (tcp:// hosts)')
    .option('--tlskey <path>', 'Path to TLS key file (tcp:// hosts)')
    .exitOverride();
  registerVersion(program, output);
  registerSwarm(program, output);
  registerCa(program, output);
  registerNode(program, output);
  registerService(program, output);
  registerNetwork(program, output);
  registerInfo(program, output);
  registerDaemon(program, deps.runDaemon, output);
  return program;
}

/** Runs the CLI and returns the process exit code; errors are printed, never thrown. */
export async function runCli(argv: readonly string[], deps: ProgramDeps = {}): Promise<number> {
  const output = deps.output ?? processOutput;
  const program = buildProgram(deps);
  try {
    await program.parseAsync(argv as string[], { from: 'user' });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode;
    if (isSwarmError(e)) {
      output.err(`Error: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}

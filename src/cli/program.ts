import { Command, CommanderError } from 'commander';
import { isSwarmError } from '../common/index.js';
import { buildInfo } from './build-info.js';
import { registerVersion } from './commands/version.js';
import { type CliOutput, processOutput } from './output/streams.js';

/** Builds the command tree. Commands are thin: parse, call the API client, format. */
export function buildProgram(output: CliOutput = processOutput): Command {
  const program = new Command('swarmctl')
    .description('A container orchestrator in the style of Docker Swarm mode')
    .version(buildInfo().version, '-v, --version', 'Print version information and quit')
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ writeOut: output.out, writeErr: output.err })
    .exitOverride();
  registerVersion(program, output);
  return program;
}

/** Runs the CLI and returns the process exit code; errors are printed, never thrown. */
export async function runCli(argv: readonly string[], output: CliOutput = processOutput): Promise<number> {
  const program = buildProgram(output);
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

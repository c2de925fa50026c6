import { spawn } from 'node:child_process';
import { SwarmError } from '../../src/common/index.js';

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunCommandOptions {
  /** Kill the command (SIGKILL) and fail after this long. @default 60_000 */
  timeoutMs?: number;
  /** Return a non-zero exit as a result instead of throwing. @default false */
  allowFailure?: boolean;
  /** Extra environment on top of this process's. */
  env?: Readonly<Record<string, string>>;
  input?: string;
}

/** A command that exited non-zero, could not start, or overran its deadline. */
export class CommandError extends SwarmError {
  readonly argv: readonly string[];
  readonly result: CommandResult | undefined;

  constructor(argv: readonly string[], message: string, result?: CommandResult, timedOut = false) {
    super(timedOut ? 'DEADLINE_EXCEEDED' : 'IO', message, {
      details: { command: argv.join(' '), exitCode: result?.code },
    });
    this.argv = argv;
    this.result = result;
  }
}

function describeFailure(argv: readonly string[], result: CommandResult): string {
  const output = (result.stderr.trim() || result.stdout.trim()).split('\n').slice(-10).join('\n');
  return `\`${argv.join(' ')}\` exited with ${result.code}${output ? `: ${output}` : ''}`;
}

/** Runs argv (no shell) and collects its output. */
export function runCommand(argv: readonly string[], options: RunCommandOptions = {}): Promise<CommandResult> {
  const [file, ...args] = argv;
  if (file === undefined) throw new CommandError(argv, 'empty command');
  const timeoutMs = options.timeoutMs ?? 60_000;
  return new Promise<CommandResult>((resolve, reject) => {
    const child = spawn(file, args, {
      env: options.env ? { ...process.env, ...options.env } : process.env,
      stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout?.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr?.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    if (options.input !== undefined) child.stdin?.end(options.input);
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new CommandError(argv, `cannot run \`${argv.join(' ')}\`: ${e.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const result = { code: code ?? (signal ? 128 : 1), stdout, stderr };
      if (timedOut) {
        reject(
          new CommandError(argv, `\`${argv.join(' ')}\` did not finish within ${timeoutMs} ms`, result, true),
        );
      } else if (result.code !== 0 && !options.allowFailure) {
        reject(new CommandError(argv, describeFailure(argv, result), result));
      } else {
        resolve(result);
      }
    });
  });
}

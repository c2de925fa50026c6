import { spawn } from 'node:child_process';
import { resolveMillis } from '../../common/index.js';

export interface CommandResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs one program (never through a shell); `input` goes to its stdin. Injected so tests see the commands. */
export type CommandRunner = (argv: readonly string[], input?: string) => Promise<CommandResult>;

/**
 * Bound of one command (`ip`, `nft`, `sysctl`, …; each takes milliseconds). One that hangs must
 * not hang the data plane for good, and with it a leave or a stop: it is killed and reported as
 * failed (code 124, as timeout(1) does), so the caller's error path and the teardown run.
 */
export const COMMAND_TIMEOUT_MS = 30_000;
/** The exit code reported for a command killed at its bound. */
export const COMMAND_TIMED_OUT = 124;

export function createCommandRunner(o: { timeoutMs?: number } = {}): CommandRunner {
  const timeoutMs = resolveMillis('timeoutMs', o.timeoutMs, COMMAND_TIMEOUT_MS);
  return (argv, input) =>
    new Promise((resolve) => {
      const [cmd, ...args] = argv;
      if (!cmd) return resolve({ code: 127, stdout: '', stderr: 'no command' });
      const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      let settled = false;
      const finish = (r: CommandResult): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(r);
      };
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        // Not waiting for 'close': whatever holds the pipes open may be what hangs.
        finish({
          code: COMMAND_TIMED_OUT,
          stdout,
          stderr: `${stderr}${argv.join(' ')}: killed after ${timeoutMs} ms`,
        });
      }, timeoutMs);
      child.stdout.setEncoding('utf8').on('data', (d: string) => {
        stdout += d;
      });
      child.stderr.setEncoding('utf8').on('data', (d: string) => {
        stderr += d;
      });
      child.on('error', (e) => finish({ code: 127, stdout, stderr: stderr + e.message }));
      child.on('close', (code) => finish({ code: code ?? 1, stdout, stderr }));
      child.stdin.on('error', () => {});
      child.stdin.end(input ?? '');
    });
}

export const systemCommandRunner: CommandRunner = createCommandRunner();

import { spawn } from 'node:child_process';

export interface CommandResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs one program (never through a shell); `input` goes to its stdin. Injected so tests see the commands. */
export type CommandRunner = (argv: readonly string[], input?: string) => Promise<CommandResult>;

export const systemCommandRunner: CommandRunner = (argv, input) =>
  new Promise((resolve) => {
    const [cmd, ...args] = argv;
    if (!cmd) return resolve({ code: 127, stdout: '', stderr: 'no command' });
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    child.on('error', (e) => resolve({ code: 127, stdout, stderr: stderr + e.message }));
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
    child.stdin.on('error', () => {});
    child.stdin.end(input ?? '');
  });

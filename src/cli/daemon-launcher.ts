import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { isSea } from 'node:sea';
import type { DaemonStatus } from '../api/index.js';
import { SwarmError, waitFor } from '../common/index.js';
import { connect } from './control-client.js';

/** How this executable invokes itself (the single executable, or node running the sources). */
export function selfCommand(): { file: string; args: string[] } {
  if (isSea()) return { file: process.execPath, args: [] };
  return { file: process.execPath, args: [...process.execArgv, process.argv[1]!] };
}

function tail(path: string, lines: number): string {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

export interface LaunchOptions {
  daemonArgs: string[];
  controlSocket: string;
  logFile: string;
  foreground: boolean;
  /** @default 120 s */
  timeoutMs?: number;
}

/**
 * Starts the node process. In the background (the default) it is detached with its log in the
 * state directory, and this resolves once the node answers as ready (or locked) on its control
 * socket; with --foreground the node stays attached and this resolves with its exit code.
 */
export async function launchDaemon(o: LaunchOptions): Promise<{ status?: DaemonStatus; exitCode?: number }> {
  const cmd = selfCommand();
  if (o.foreground) {
    const child = spawn(cmd.file, [...cmd.args, 'daemon', ...o.daemonArgs], { stdio: 'inherit' });
    const forward = (sig: NodeJS.Signals): void => {
      child.kill(sig);
    };
    process.on('SIGTERM', forward);
    process.on('SIGINT', forward);
    const code = await new Promise<number>((resolve) =>
      child.once('exit', (c, s) => resolve(c ?? (s ? 128 : 1))),
    );
    return { exitCode: code };
  }
  mkdirSync(dirname(o.logFile), { recursive: true });
  const log = openSync(o.logFile, 'a');
  const child = spawn(cmd.file, [...cmd.args, 'daemon', ...o.daemonArgs], {
    stdio: ['ignore', log, log],
    detached: true,
  });
  closeSync(log);
  let exited: number | null = null;
  child.once('exit', (c) => {
    exited = c ?? 1;
  });
  child.unref();
  const status = await waitFor<DaemonStatus | null>(
    async () => {
      if (exited !== null) return { done: true, value: null };
      const c = connect(`unix://${o.controlSocket}`);
      try {
        const s = await c.daemon!.Status({}, { timeoutMs: 1000 });
        return s.ready || s.locked ? { done: true, value: s } : { done: false, state: 'starting' };
      } catch {
        return { done: false, state: 'control socket not answering yet' };
      } finally {
        c.close();
      }
    },
    { timeoutMs: o.timeoutMs ?? 120_000, intervalMs: 100, what: 'the node to start' },
  ).catch((e: unknown) => {
    if (exited === null) child.kill('SIGTERM');
    throw new SwarmError('UNAVAILABLE', `${(e as Error).message}\n${tail(o.logFile, 15)}`);
  });
  if (!status) {
    throw new SwarmError(
      'FAILED_PRECONDITION',
      `the node process exited (code ${exited}):\n${tail(o.logFile, 15)}`,
    );
  }
  return { status };
}

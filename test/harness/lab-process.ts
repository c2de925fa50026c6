import { spawn } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { InvalidArgumentError, NotFoundError, SwarmError } from '../../src/common/index.js';
import { LAB_ENV_MARKER, type LabHost, type LabLayout } from './lab-layout.js';
import { isAlive, signalPid, startTimeOf, terminate, waitForExit } from './lab-procs.js';

/** A process started on a lab host; its record on disk lets another process (the CLI) find it. */
export interface LabProcess {
  readonly host: string;
  readonly name: string;
  readonly pid: number;
  readonly argv: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly logPath: string;
  /** Ticks since boot, to tell this process from a later one with the same pid. */
  readonly startTime: number;
}

export interface StartProcessOptions {
  /** Added to this process's environment. */
  env?: Readonly<Record<string, string>>;
  /** Several processes per host are told apart by name. @default 'main' */
  name?: string;
}

const NAME_RE = /^[a-z0-9][a-z0-9_.-]{0,40}$/;

function recordPath(host: LabHost, name: string): string {
  if (!NAME_RE.test(name)) {
    throw new InvalidArgumentError('name', `process name ${JSON.stringify(name)} must match ${NAME_RE}`);
  }
  return join(host.processDir, `${name}.json`);
}

export function readProcessRecord(host: LabHost, name: string): LabProcess | undefined {
  const path = recordPath(host, name);
  if (!existsSync(path)) return undefined;
  return JSON.parse(readFileSync(path, 'utf8')) as LabProcess;
}

/** Whether the recorded process still runs (same pid and start time). */
export function isRunning(p: LabProcess): boolean {
  return isAlive(p.pid) && startTimeOf(p.pid) === p.startTime;
}

/** Runs argv inside the host's network namespace, detached, its output appended to a log. */
export function startProcess(
  layout: LabLayout,
  host: LabHost,
  argv: readonly string[],
  options: StartProcessOptions = {},
): LabProcess {
  const name = options.name ?? 'main';
  const path = recordPath(host, name);
  const previous = readProcessRecord(host, name);
  if (previous && isRunning(previous)) {
    throw new SwarmError(
      'ALREADY_EXISTS',
      `process ${name} already runs on ${host.name} (pid ${previous.pid})`,
    );
  }
  if (argv.length === 0) throw new InvalidArgumentError('argv', 'argv must name a program');
  mkdirSync(host.processDir, { recursive: true });
  mkdirSync(host.logDir, { recursive: true });
  const logPath = join(host.logDir, `${name}.log`);
  const log = openSync(logPath, 'a');
  const env = { ...(options.env ?? {}) };
  const child = spawn('nsenter', [`--net=${host.netnsPath}`, '--', ...argv], {
    detached: true,
    stdio: ['ignore', log, log],
    env: { ...process.env, ...env, [LAB_ENV_MARKER]: layout.prefix },
  });
  closeSync(log);
  child.unref();
  const pid = child.pid;
  const startTime = pid === undefined ? undefined : startTimeOf(pid);
  if (pid === undefined || startTime === undefined) {
    throw new SwarmError('UNAVAILABLE', `could not start ${argv.join(' ')} on ${host.name}; see ${logPath}`);
  }
  const record: LabProcess = { host: host.name, name, pid, argv: [...argv], env, logPath, startTime };
  writeFileSync(path, `${JSON.stringify(record, null, 2)}\n`);
  return record;
}

const STOPPING: ReadonlySet<NodeJS.Signals> = new Set(['SIGTERM', 'SIGKILL', 'SIGINT', 'SIGQUIT']);

/**
 * Sends `signal` to the named process. For a signal that ends a process, waits until it has
 * exited. Returns false when it was not running.
 */
export async function killProcess(
  host: LabHost,
  signal: NodeJS.Signals = 'SIGTERM',
  options: { name?: string; timeoutMs?: number } = {},
): Promise<boolean> {
  const name = options.name ?? 'main';
  const p = readProcessRecord(host, name);
  if (p === undefined) throw new NotFoundError('lab process', `${host.name}/${name}`);
  if (!isRunning(p)) return false;
  signalPid(p.pid, signal);
  if (STOPPING.has(signal)) {
    await waitForExit([p.pid], options.timeoutMs ?? 30_000, `${host.name}/${name} to exit on ${signal}`);
  }
  return true;
}

/** Stops the named process (SIGTERM, then SIGKILL after `graceMs`) and starts it again as before. */
export async function restartProcess(
  layout: LabLayout,
  host: LabHost,
  options: { name?: string; graceMs?: number } = {},
): Promise<LabProcess> {
  const name = options.name ?? 'main';
  const p = readProcessRecord(host, name);
  if (p === undefined) throw new NotFoundError('lab process', `${host.name}/${name}`);
  if (isRunning(p)) await terminate([p.pid], options.graceMs ?? 10_000, `${host.name}/${name} to stop`);
  return startProcess(layout, host, p.argv, { env: p.env, name });
}

export function listProcesses(host: LabHost): LabProcess[] {
  if (!existsSync(host.processDir)) return [];
  return readdirSync(host.processDir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => readProcessRecord(host, f.slice(0, -'.json'.length)))
    .filter((p): p is LabProcess => p !== undefined);
}

/** Stops every process started on the host; teardown's first step. */
export async function stopAllProcesses(host: LabHost, graceMs = 5_000): Promise<void> {
  const running = listProcesses(host).filter(isRunning);
  await terminate(
    running.map((p) => p.pid),
    graceMs,
    `processes on ${host.name} to stop`,
  );
}

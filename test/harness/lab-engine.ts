import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { SwarmError, waitFor } from '../../src/common/index.js';
import { LAB_ENV_MARKER, type LabHost, type LabLayout } from './lab-layout.js';
import { isAlive, signalPid, waitForExit } from './lab-procs.js';

export interface EngineOptions {
  /** How long one engine may take to answer after start. @default 90_000 */
  startTimeoutMs?: number;
  /** dockerd picks one (overlay2, else vfs…) when unset. */
  storageDriver?: string;
}

/** The end of an engine log, without the grpc chatter that would crowd out the cause. */
export function tailOf(path: string, lines = 15): string {
  try {
    return readFileSync(path, 'utf8')
      .trimEnd()
      .split('\n')
      .filter((l) => !l.includes('module=grpc'))
      .slice(-lines)
      .join('\n');
  } catch {
    return '(no log)';
  }
}

function dockerdArgs(layout: LabLayout, host: LabHost, options: EngineOptions): string[] {
  const configFile = `${host.runDir}/daemon.json`;
  return [
    '--host',
    host.dockerHost,
    // An empty config of its own: the machine's /etc/docker/daemon.json is for the root engine.
    '--config-file',
    configFile,
    '--data-root',
    host.dockerDataRoot,
    '--exec-root',
    host.dockerExecRoot,
    '--pidfile',
    host.dockerPidFile,
    '--bip',
    host.dockerBip,
    '--default-address-pool',
    host.dockerAddressPool,
    '--cgroup-parent',
    host.cgroupParent,
    // Matters only if a system containerd is found and shared: keep each engine's objects apart.
    '--containerd-namespace',
    `${layout.prefix}-${host.name}`,
    '--containerd-plugins-namespace',
    `${layout.prefix}-${host.name}-plugins`,
    ...(options.storageDriver ? ['--storage-driver', options.storageDriver] : []),
  ];
}

/** GET /_ping on the engine's socket: true when it answers OK. */
export function pingEngine(socketPath: string, timeoutMs = 2_000): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ socketPath, path: '/_ping', method: 'GET', timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}

export function enginePid(host: LabHost): number | undefined {
  try {
    const pid = Number(readFileSync(host.dockerPidFile, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 && isAlive(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Starts the host's dockerd inside its namespace and waits until it answers. `nsenter --net`
 * rather than `ip netns exec`, which remounts /sys and leaves dockerd without its cgroups.
 */
export async function startEngine(
  layout: LabLayout,
  host: LabHost,
  options: EngineOptions = {},
): Promise<number> {
  const running = enginePid(host);
  if (running !== undefined)
    throw new SwarmError('ALREADY_EXISTS', `engine of ${host.name} already runs (pid ${running})`);
  // A crashed dockerd leaves its pid file, and a new one refuses to start while it exists.
  rmSync(host.dockerPidFile, { force: true });
  // Its containerd may linger as an unreaped zombie, which the new dockerd would take for a
  // live containerd and wait for in vain: without the pid file it starts a fresh one.
  const containerd = containerdPid(host);
  if (containerd !== undefined && !isAlive(containerd)) rmSync(containerdPidFile(host), { force: true });
  for (const dir of [host.runDir, host.dataDir, host.dockerDataRoot]) mkdirSync(dir, { recursive: true });
  writeFileSync(`${host.runDir}/daemon.json`, '{}\n');
  const log = openSync(host.dockerLog, 'a');
  const child = spawn(
    'nsenter',
    [`--net=${host.netnsPath}`, '--', 'dockerd', ...dockerdArgs(layout, host, options)],
    {
      detached: true, // its own session: it outlives `lab up` and ignores the terminal's ^C
      stdio: ['ignore', log, log],
      env: { ...process.env, [LAB_ENV_MARKER]: layout.prefix },
    },
  );
  closeSync(log);
  child.unref();
  const pid = child.pid;
  if (pid === undefined) throw new SwarmError('UNAVAILABLE', `could not start dockerd for ${host.name}`);
  const timeoutMs = options.startTimeoutMs ?? 90_000;
  const failed = (why: string, cause?: unknown): SwarmError =>
    new SwarmError(
      'UNAVAILABLE',
      `engine of ${host.name} ${why}; last lines of ${host.dockerLog}:\n${tailOf(host.dockerLog)}`,
      {
        cause,
        details: { host: host.name },
      },
    );
  const outcome = await waitFor(
    async () => {
      if (!isAlive(pid)) return { done: true, value: 'exited' as const };
      return (await pingEngine(host.dockerSocket))
        ? { done: true, value: 'ready' as const }
        : { done: false, state: `no answer on ${host.dockerSocket}` };
    },
    { timeoutMs, intervalMs: 100, what: `engine of ${host.name}` },
  ).catch((e: unknown) => {
    throw failed(`did not answer within ${timeoutMs} ms`, e);
  });
  if (outcome === 'exited') throw failed('exited during start');
  return pid;
}

/**
 * Signals the host's dockerd and waits until it has exited. SIGKILL models a crash: its
 * containerd, shims and containers live on, as they would on a real host.
 */
export async function stopEngine(host: LabHost, signal: NodeJS.Signals, timeoutMs = 30_000): Promise<void> {
  const pid = enginePid(host);
  if (pid === undefined) return;
  const containerd = containerdPid(host);
  signalPid(pid, signal);
  await waitForExit([pid], timeoutMs, `engine of ${host.name} to exit on ${signal}`);
  // Its containerd dies with it (parent-death signal): wait for that too, so that "engine
  // killed" means engine and containerd.
  if (containerd !== undefined) await waitForExit([containerd], 10_000, 'containerd to exit').catch(() => {});
}

function containerdPidFile(host: LabHost): string {
  return `${host.dockerExecRoot}/containerd/containerd.pid`;
}

function containerdPid(host: LabHost): number | undefined {
  try {
    const pid = Number(readFileSync(containerdPidFile(host), 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

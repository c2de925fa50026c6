import type Docker from 'dockerode';
import type { HealthState, PortConfig, PortProtocol, TaskState, TaskStatus } from '../../../api/index.js';
import type { ContainerState } from '../executor.js';

/** The parts of `docker inspect` that decide a task's state. */
export interface ObservedContainer {
  readonly id: string;
  readonly state: ContainerState;
  readonly exitCode: number;
  readonly oomKilled: boolean;
  /** The engine's error for a container that could not run ("exec: not found"…). */
  readonly error: string;
  readonly pid: number;
  /** Absent when the container has no healthcheck. */
  readonly health?: 'starting' | 'healthy' | 'unhealthy';
  readonly ports: readonly PortConfig[];
}

/** What the controller itself did, which changes how an exit reads. */
export interface ControllerIntent {
  /** shutdown/terminate was asked for: an exit is then `shutdown`, whatever its code. */
  readonly stopRequested: boolean;
  /** remove was asked for: the container's absence is expected. */
  readonly removeRequested: boolean;
  /** The container existed at some point (so its absence now is news). */
  readonly seen: boolean;
}

const CONTAINER_STATES: readonly ContainerState[] = [
  'created',
  'running',
  'paused',
  'restarting',
  'removing',
  'exited',
  'dead',
];

export function toContainerState(value: string): ContainerState {
  // An unknown future state is treated like a dead container: visible, never "running".
  return (CONTAINER_STATES as readonly string[]).includes(value) ? (value as ContainerState) : 'dead';
}

export function observe(info: Docker.ContainerInspectInfo): ObservedContainer {
  const h = info.State.Health?.Status;
  const health = h === 'starting' || h === 'healthy' || h === 'unhealthy' ? h : undefined;
  return {
    id: info.Id,
    state: toContainerState(info.State.Status),
    exitCode: info.State.ExitCode,
    oomKilled: info.State.OOMKilled,
    error: info.State.Error,
    pid: info.State.Pid,
    ...(health && { health }),
    ports: publishedPorts(info),
  };
}

/** Host ports the engine actually bound (one entry per container port, IPv4/IPv6 merged). */
function publishedPorts(info: Docker.ContainerInspectInfo): PortConfig[] {
  const out: PortConfig[] = [];
  for (const [key, bindings] of Object.entries(info.NetworkSettings?.Ports ?? {})) {
    const [port, proto] = key.split('/');
    const hostPort = bindings?.[0]?.HostPort;
    if (!hostPort || !port) continue;
    const protocol: PortProtocol = proto === 'udp' ? 'udp' : 'tcp';
    out.push({ protocol, targetPort: Number(port), publishedPort: Number(hostPort), publishMode: 'host' });
  }
  return out;
}

/**
 * Docker state → task state (docs/worker-executor.md has the table). Undefined when there is
 * nothing to report: no container, and there never was one.
 */
export function mapStatus(
  c: ObservedContainer | undefined,
  intent: ControllerIntent,
  now: number,
): TaskStatus | undefined {
  if (!c) {
    if (!intent.seen) return undefined;
    if (intent.stopRequested || intent.removeRequested) return status('shutdown', 'removed', now);
    return status('failed', 'removed', now, { err: 'container removed outside swarmctl' });
  }
  const containerStatus = {
    containerId: c.id,
    ...(c.pid > 0 && { pid: c.pid }),
    ...(isExited(c.state) && { exitCode: c.exitCode }),
  };
  const health: HealthState = c.health ?? 'none';
  const extra = { containerStatus, health, ...(c.ports.length > 0 && { portStatus: c.ports }) };
  switch (c.state) {
    case 'created':
      // A start that failed (executable not found…) leaves the container "created" with an error.
      if (c.error) return status('failed', 'failed', now, { ...extra, err: c.error });
      if (intent.stopRequested || intent.removeRequested) return status('shutdown', 'shutdown', now, extra);
      return status('ready', 'created', now, extra);
    case 'running':
    case 'paused':
    case 'restarting':
      if (c.health === 'starting') return status('starting', 'starting', now, extra);
      if (c.health === 'unhealthy' && !intent.stopRequested) {
        return status('failed', 'unhealthy', now, { ...extra, err: 'container unhealthy' });
      }
      return status('running', 'started', now, extra);
    case 'removing':
    case 'exited':
    case 'dead':
      if (intent.stopRequested || intent.removeRequested) return status('shutdown', 'shutdown', now, extra);
      if (c.oomKilled) return status('failed', 'failed', now, { ...extra, err: 'task: OOM killed' });
      if (c.state === 'dead' || c.error) {
        return status('failed', 'failed', now, { ...extra, err: c.error || 'container is dead' });
      }
      if (c.exitCode === 0) return status('complete', 'finished', now, extra);
      return status('failed', 'failed', now, { ...extra, err: `task: non-zero exit (${c.exitCode})` });
  }
}

function isExited(s: ContainerState): boolean {
  return s === 'exited' || s === 'dead' || s === 'removing';
}

function status(
  state: TaskState,
  message: string,
  timestamp: number,
  extra: Partial<Omit<TaskStatus, 'state' | 'message' | 'timestamp'>> = {},
): TaskStatus {
  return { state, message, timestamp, ...extra };
}

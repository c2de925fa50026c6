import type Docker from 'dockerode';
import type { HealthConfig, Mount, NodeId, PortConfig, Task } from '../../../api/index.js';
import { DEFAULT_STOP_GRACE_PERIOD_MS } from '../../../api/index.js';
import { containerLabels, taskName } from './labels.js';

const NS_PER_MS = 1_000_000;

/**
 * The engine request that creates a task's container: a pure function of the task, so that what
 * lands in `docker inspect` is decided in one place.
 */
export function containerCreateOptions(task: Task, nodeId: NodeId): Docker.ContainerCreateOptions {
  const c = task.spec.container;
  const limits = task.spec.resources?.limits;
  const ports = hostModePorts(task);
  const cmd = [...(c.command ?? []), ...(c.args ?? [])];
  const hostConfig: Docker.HostConfig = {
    // swarmctl's restart supervisor decides about restarts (a new task each time), never the engine.
    RestartPolicy: { Name: 'no' },
    ...(c.init !== undefined && { Init: c.init }),
    ...(limits?.nanoCPUs && { NanoCpus: limits.nanoCPUs }),
    ...(limits?.memoryBytes && { Memory: limits.memoryBytes }),
    ...(c.mounts?.length && { Mounts: c.mounts.map(mountSettings) }),
    ...(ports.length > 0 && { PortBindings: portBindings(ports) }),
  };
  return {
    name: taskName(task, nodeId),
    Image: c.image,
    Labels: containerLabels(task, nodeId),
    ...(c.env?.length && { Env: [...c.env] }),
    ...(c.entrypoint?.length && { Entrypoint: [...c.entrypoint] }),
    ...(cmd.length > 0 && { Cmd: cmd }),
    ...(c.workdir && { WorkingDir: c.workdir }),
    ...(c.user && { User: c.user }),
    ...(c.hostname && { Hostname: c.hostname }),
    ...(c.stopSignal && { StopSignal: c.stopSignal }),
    // For a `docker stop` by hand; our own shutdown passes the grace period explicitly.
    StopTimeout: stopTimeoutSeconds(c.stopGracePeriodMs),
    ...(c.healthcheck && { Healthcheck: healthcheck(c.healthcheck) }),
    ...(ports.length > 0 && { ExposedPorts: Object.fromEntries(ports.map((p) => [portKey(p), {}])) }),
    HostConfig: hostConfig,
  };
}

/** Docker counts the grace period in whole seconds; round up so that 500 ms is not "kill at once". */
export function stopTimeoutSeconds(gracePeriodMs: number | undefined): number {
  return Math.ceil((gracePeriodMs ?? DEFAULT_STOP_GRACE_PERIOD_MS) / 1000);
}

/** Ports published on the task's own node. Ingress ports belong to the routing mesh, not here. */
export function hostModePorts(task: Task): PortConfig[] {
  return (task.endpoint?.ports ?? []).filter((p) => p.publishMode === 'host');
}

export function portKey(p: Pick<PortConfig, 'targetPort' | 'protocol'>): string {
  return `${p.targetPort}/${p.protocol}`;
}

function portBindings(ports: readonly PortConfig[]): Record<string, { HostPort: string }[]> {
  const out: Record<string, { HostPort: string }[]> = {};
  for (const p of ports) {
    // Published 0 lets the engine pick a free port, as docker does in host mode.
    const list = out[portKey(p)] ?? [];
    list.push({ HostPort: p.publishedPort > 0 ? String(p.publishedPort) : '' });
    out[portKey(p)] = list;
  }
  return out;
}

/** `test: []` keeps the image's test (only the timings change); `['NONE']` disables the image's. */
function healthcheck(h: HealthConfig): Docker.HealthConfig {
  return {
    Test: [...h.test],
    ...(h.intervalMs !== undefined && { Interval: h.intervalMs * NS_PER_MS }),
    ...(h.timeoutMs !== undefined && { Timeout: h.timeoutMs * NS_PER_MS }),
    ...(h.startPeriodMs !== undefined && { StartPeriod: h.startPeriodMs * NS_PER_MS }),
    ...(h.retries !== undefined && { Retries: h.retries }),
  };
}

function mountSettings(m: Mount): Docker.MountSettings {
  const base = { Type: m.type, Target: m.target, Source: m.source ?? '', ReadOnly: m.readOnly ?? false };
  switch (m.type) {
    case 'bind':
      return m.bindOptions?.propagation
        ? { ...base, BindOptions: { Propagation: m.bindOptions.propagation } }
        : base;
    case 'volume': {
      const o = m.volumeOptions;
      if (!o) return base;
      return {
        ...base,
        VolumeOptions: {
          NoCopy: o.noCopy ?? false,
          Labels: { ...o.labels },
          // An empty driver name means the engine's default ("local").
          DriverConfig: { Name: o.driver?.name ?? '', Options: { ...o.driver?.options } },
        },
      };
    }
    case 'tmpfs': {
      const o = m.tmpfsOptions;
      // Zero means "engine default" for both (unlimited size, mode 1777).
      return o ? { ...base, TmpfsOptions: { SizeBytes: o.sizeBytes ?? 0, Mode: o.mode ?? 0 } } : base;
    }
  }
}

import type {
  Node,
  NodeId,
  Service,
  ServiceId,
  ServiceSpec,
  Task,
  TaskId,
  TaskState,
} from '../../api/index.js';

/** Small builders for output tests: only the fields the formatters read are meaningful. */

export const NOW = Date.UTC(2026, 0, 15, 12, 0, 0);

export function service(
  id: string,
  spec: Partial<ServiceSpec> & { name: string },
  extra: Partial<Service> = {},
): Service {
  return {
    id: id as ServiceId,
    meta: { version: 1, createdAt: NOW - 60_000, updatedAt: NOW - 60_000 },
    spec: {
      taskTemplate: { container: { image: 'nginx:latest' } },
      mode: { type: 'replicated', replicas: 1 },
      ...spec,
    },
    specVersion: 1,
    status: {},
    ...extra,
  };
}

export function task(
  id: string,
  opts: {
    serviceName?: string;
    slot?: number;
    nodeId?: string;
    state?: TaskState;
    desired?: TaskState;
    at?: number;
    createdAt?: number;
    err?: string;
    image?: string;
    ports?: Task['status']['portStatus'];
    serviceId?: string;
    specVersion?: number;
  } = {},
): Task {
  return {
    id: id as TaskId,
    meta: { version: 1, createdAt: opts.createdAt ?? NOW, updatedAt: NOW },
    serviceId: (opts.serviceId ?? 'svc') as ServiceId,
    slot: opts.slot ?? 1,
    ...(opts.nodeId !== undefined && { nodeId: opts.nodeId as NodeId }),
    desiredState: opts.desired ?? 'running',
    spec: { container: { image: opts.image ?? 'nginx:latest' } },
    specVersion: opts.specVersion ?? 1,
    status: {
      state: opts.state ?? 'running',
      timestamp: opts.at ?? NOW,
      message: '',
      ...(opts.err !== undefined && { err: opts.err }),
      ...(opts.ports && { portStatus: opts.ports }),
    },
    serviceName: opts.serviceName ?? 'web',
  };
}

export function node(id: string, hostname: string, extra: Partial<Node> = {}): Node {
  return {
    id: id as NodeId,
    meta: { version: 1, createdAt: Date.UTC(2009, 10, 10, 23, 0, 0), updatedAt: NOW },
    spec: { desiredRole: 'worker', availability: 'active' },
    role: 'worker',
    status: { state: 'ready' },
    description: {
      hostname,
      platform: { os: 'linux', architecture: 'x86_64' },
      resources: { nanoCPUs: 4_000_000_000, memoryBytes: 8 * 1024 ** 3 },
      engine: { version: '1.13.0' },
    },
    ...extra,
  };
}

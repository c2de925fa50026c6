import { Metadata } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import {
  type ClusterId,
  DEFAULT_CLUSTER_SPEC,
  type NetworkId,
  type ServiceSpec,
  type TaskId,
} from '../../api/index.js';
import { isSwarmError, ManualClock, SeededRandom } from '../../common/index.js';
import type { CallContext } from '../../rpc/index.js';
import { LocalProposer, MemoryStore } from '../store/index.js';
import { newTask } from '../store/test-fixtures.js';
import { networkHandlers } from './networks.js';
import { serviceHandlers } from './services.js';

/** The network handlers and what they add to the service handlers (names, ports, VIPs kept). */

const ctx: CallContext = {
  service: 'swarmctl.control.Control',
  method: 'test',
  peer: null,
  metadata: new Metadata(),
  signal: new AbortController().signal,
};

async function setup() {
  const clock = new ManualClock(1_700_000_000_000);
  const random = new SeededRandom(5);
  const store = new MemoryStore({ clock, proposer: (s) => new LocalProposer(s) });
  const randomBytes = (n: number) => Uint8Array.from({ length: n }, () => random.int(0, 256));
  await store.update((tx) =>
    tx.create('cluster', {
      id: 'c'.repeat(25) as ClusterId,
      spec: DEFAULT_CLUSTER_SPEC,
      joinTokens: { worker: 'w', manager: 'm' },
      rootCa: { caCertPem: '', caCertDigest: '' },
      status: {},
    }),
  );
  return {
    store,
    nets: networkHandlers({ store, randomBytes }),
    services: serviceHandlers({ store, clock, randomBytes }),
  };
}

async function rejected(p: Promise<unknown>): Promise<{ code: string; message: string; field?: string }> {
  try {
    await p;
  } catch (e) {
    if (isSwarmError(e)) return { code: e.code, message: e.message, field: (e as { field?: string }).field };
    throw e;
  }
  throw new Error('expected a rejection');
}

const overlay = (name: string) => ({ name, driver: { name: 'overlay' } });

function spec(name: string, networks: string[], published?: number): ServiceSpec {
  return {
    name,
    mode: { type: 'replicated', replicas: 1 },
    taskTemplate: {
      container: { image: 'web:v1' },
      networks: networks.map((n) => ({ target: n as NetworkId })),
    },
    ...(published !== undefined
      ? {
          endpointSpec: {
            mode: 'vip' as const,
            ports: [
              {
                protocol: 'tcp' as const,
                targetPort: 80,
                publishedPort: published,
                publishMode: 'ingress' as const,
              },
            ],
          },
        }
      : {}),
  };
}

describe('network control API', () => {
  it('creates networks with their subnet and VNI, refusing a taken name and a second ingress', async () => {
    const { nets } = await setup();
    const a = await nets.CreateNetwork({ spec: overlay('a') }, ctx);
    expect(a.status).toEqual({
      vni: 4096,
      ipam: { configs: [{ subnet: '10.0.0.0/24', gateway: '10.0.0.1' }] },
    });
    expect(await rejected(nets.CreateNetwork({ spec: overlay('A') }, ctx))).toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: 'network with name A already exists',
    });
    expect(
      await rejected(nets.CreateNetwork({ spec: { ...overlay('i'), ingress: true } }, ctx)),
    ).toMatchObject({
      field: 'ingress',
    });
    expect((await nets.ListNetworks({}, ctx)).networks.map((n) => n.spec.name)).toEqual(['a']);
  });

  it('resolves --network names to ids, and refuses the ingress network, an unknown one and a repeat', async () => {
    const { store, nets, services } = await setup();
    const front = await nets.CreateNetwork({ spec: overlay('front') }, ctx);
    const s = await services.CreateService({ spec: spec('web', ['front']) }, ctx);
    expect(s.spec.taskTemplate.networks).toEqual([{ target: front.id }]);
    await store.update((tx) =>
      tx.create('network', {
        id: 'i'.repeat(25) as NetworkId,
        spec: { ...overlay('ingress'), ingress: true },
        status: {},
      }),
    );
    expect((await rejected(services.CreateService({ spec: spec('x', ['ingress']) }, ctx))).message).toBe(
      'service cannot be explicitly attached to the ingress network "ingress"',
    );
    expect(await rejected(services.CreateService({ spec: spec('x', ['nope']) }, ctx))).toMatchObject({
      field: 'taskTemplate.networks[0].target',
      message: 'network nope not found',
    });
    expect(
      (await rejected(services.CreateService({ spec: spec('x', ['front', front.id]) }, ctx))).message,
    ).toContain('attached twice');
  });

  it('keeps a service VIPs and its picked port across an update', async () => {
    const { store, nets, services } = await setup();
    await nets.CreateNetwork({ spec: overlay('front') }, ctx);
    const s = await services.CreateService({ spec: spec('web', ['front'], 0) }, ctx);
    const port = s.status.endpoint!.ports[0]!.publishedPort;
    expect(port).toBe(30000);
    // What the allocator would write.
    await store.update((tx) => {
      const cur = tx.get('service', s.id)!;
      const endpoint = {
        ...cur.status.endpoint!,
        virtualIps: [{ networkId: cur.spec.taskTemplate.networks![0]!.target, addr: '10.0.0.5' }],
      };
      tx.update('service', { ...cur, status: { ...cur.status, endpoint } });
    });
    const cur = await services.InspectService({ id: 'web' }, ctx);
    const updated = await services.UpdateService(
      { id: 'web', version: cur.meta.version, spec: { ...cur.spec, labels: { a: 'b' } } },
      ctx,
    );
    expect(updated.status.endpoint?.virtualIps).toEqual(cur.status.endpoint?.virtualIps);
    expect(updated.status.endpoint?.ports[0]?.publishedPort).toBe(port);
  });

  it('refuses to remove a network a service or a live task uses, then removes it', async () => {
    const { store, nets, services } = await setup();
    const front = await nets.CreateNetwork({ spec: overlay('front') }, ctx);
    const web = await services.CreateService({ spec: spec('web', ['front']) }, ctx);
    expect(await rejected(nets.RemoveNetwork({ id: 'front' }, ctx))).toMatchObject({
      code: 'FAILED_PRECONDITION',
      message: `network front is in use by service ${web.id}`,
    });
    const taskId = 't'.repeat(25) as TaskId;
    await store.update((tx) => {
      tx.delete('service', web.id);
      tx.create('task', {
        ...newTask(taskId, web, 1, { state: 'running' }),
        networks: [{ networkId: front.id, addresses: ['10.0.0.9/24'] }],
      });
    });
    expect((await rejected(nets.RemoveNetwork({ id: front.id.slice(0, 6) }, ctx))).message).toBe(
      `network front is in use by task ${taskId}`,
    );
    await store.update((tx) => tx.delete('task', taskId));
    await nets.RemoveNetwork({ id: 'front' }, ctx);
    expect((await nets.ListNetworks({}, ctx)).networks).toEqual([]);
  });
});

import { afterEach, describe, expect, it } from 'vitest';
import {
  type ClusterId,
  DEFAULT_CLUSTER_SPEC,
  type Network,
  type NetworkId,
  type NodeId,
  type Service,
  type ServiceId,
  type Task,
  type TaskId,
} from '../../api/index.js';
import { createLogger, jsonLineSink, noopLogger, waitFor } from '../../common/index.js';
import { OrchestrationHarness } from '../orchestrator/test-fixtures.js';
import { by } from '../store/index.js';
import { newTask } from '../store/test-fixtures.js';
import { Allocator } from './allocator.js';
import { allocateNetworkStatus, INGRESS_SUBNET } from './network-allocation.js';

let stops: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const s of stops) await s();
  stops = [];
});

async function setup(nodes = 2) {
  const h = new OrchestrationHarness(11);
  await h.store.update((tx) =>
    tx.create('cluster', {
      id: h.id<NodeId>() as unknown as ClusterId,
      spec: DEFAULT_CLUSTER_SPEC,
      joinTokens: { worker: 'w', manager: 'm' },
      rootCa: { caCertPem: '', caCertDigest: '' },
      status: {},
    }),
  );
  for (let i = 0; i < nodes; i++) await h.addNode(`host${i}`);
  return h;
}

function start(h: OrchestrationHarness): () => Promise<void> {
  const c = new AbortController();
  const done = new Allocator({
    ...h.deps,
    logger: process.env.DEBUG_ALLOC
      ? createLogger(
          jsonLineSink((l) => process.stderr.write(l)),
          { level: 'debug' },
        )
      : noopLogger,
  }).run(c.signal);
  const stop = async () => {
    c.abort();
    await done;
  };
  stops.push(stop);
  return stop;
}

async function addNetwork(h: OrchestrationHarness, name: string, subnet?: string): Promise<Network> {
  const id = h.id<ServiceId>() as unknown as NetworkId;
  await h.store.update((tx) => {
    const spec = {
      name,
      driver: { name: 'overlay' },
      ...(subnet ? { ipam: { configs: [{ subnet }] } } : {}),
    };
    tx.create('network', {
      id,
      spec,
      status: allocateNetworkStatus(spec, tx.find('network', by.all()), DEFAULT_CLUSTER_SPEC.defaultAddrPool),
    });
  });
  return h.store.view((tx) => tx.get('network', id)!);
}

async function addService(h: OrchestrationHarness, name: string, networks: NetworkId[], publish = false) {
  const id = h.id<ServiceId>();
  const ports = publish
    ? [{ protocol: 'tcp' as const, targetPort: 80, publishedPort: 8080, publishMode: 'ingress' as const }]
    : [];
  await h.store.update((tx) =>
    tx.create('service', {
      id,
      spec: {
        name,
        mode: { type: 'replicated', replicas: 1 },
        taskTemplate: { container: { image: 'x' }, networks: networks.map((target) => ({ target })) },
        ...(publish ? { endpointSpec: { mode: 'vip' as const, ports } } : {}),
      },
      specVersion: 1,
      status: publish ? { endpoint: { spec: { mode: 'vip', ports }, ports, virtualIps: [] } } : {},
    }),
  );
  return h.store.view((tx) => tx.get('service', id)!);
}

async function addTasks(h: OrchestrationHarness, s: Service, n: number): Promise<TaskId[]> {
  const ids = Array.from({ length: n }, () => h.id<TaskId>());
  await h.store.update((tx) => {
    for (const [i, id] of ids.entries()) tx.create('task', newTask(id, s, i + 1));
  });
  return ids;
}

const task = (h: OrchestrationHarness, id: TaskId): Task => h.store.view((tx) => tx.get('task', id)!);

/** Every address a live object holds, with its holder: none may appear twice. */
function heldAddresses(h: OrchestrationHarness): string[] {
  return h.store.view((tx) => [
    ...tx
      .find('network', by.all())
      .flatMap((n) => [
        `${n.id} ${n.status.ipam!.configs[0]!.gateway}`,
        ...(n.status.nodeAddrs ?? []).map((a) => `${n.id} ${a.addr}`),
      ]),
    ...tx
      .find('service', by.all())
      .flatMap((s) => (s.status.endpoint?.virtualIps ?? []).map((v) => `${v.networkId} ${v.addr}`)),
    ...tx
      .find('task', by.all())
      .filter((t) => !['failed', 'shutdown', 'complete'].includes(t.status.state))
      .flatMap((t) =>
        (t.networks ?? []).flatMap((a) => a.addresses.map((c) => `${a.networkId} ${c.split('/')[0]}`)),
      ),
  ]);
}

function expectUnique(list: string[]): void {
  expect(list.length).toBe(new Set(list).size);
}

async function until<T>(what: string, probe: () => T | undefined, state: () => string) {
  return waitFor(
    () => {
      const v = probe();
      return v !== undefined && v !== false ? { done: true, value: v } : { done: false, state: state() };
    },
    { timeoutMs: 5000, intervalMs: 5, what },
  );
}

describe('Allocator', () => {
  it('creates the ingress network; nodes get addresses on it while a service publishes', async () => {
    const h = await setup(2);
    start(h);
    const ingressOf = () => h.store.view((tx) => tx.find('network', by.all()).find((n) => n.spec.ingress));
    const ingress = await until('ingress', ingressOf, () => 'no ingress yet');
    expect(ingress.status.ipam?.configs[0]).toEqual({ subnet: INGRESS_SUBNET, gateway: '10.0.0.1' });
    expect(ingress.status.vni).toBe(4096);
    expect(ingress.status.nodeAddrs ?? []).toEqual([]);
    const s = await addService(h, 'web', [], true);
    await until(
      'an ingress address per node',
      () => ingressOf()?.status.nodeAddrs?.length === 2 || undefined,
      () => JSON.stringify(ingressOf()?.status),
    );
    expectUnique(heldAddresses(h));
    await h.store.update((tx) => tx.delete('service', s.id));
    await until(
      'ingress addresses dropped',
      () => ingressOf()?.status.nodeAddrs?.length === 0 || undefined,
      () => JSON.stringify(ingressOf()?.status),
    );
  });

  it('gives a node an address on an overlay while a task placed on it is attached to it', async () => {
    const h = await setup(2);
    start(h);
    const front = await addNetwork(h, 'front');
    const s = await addService(h, 'web', [front.id]);
    const [id] = await addTasks(h, s, 1);
    await until(
      'pending',
      () => task(h, id!).status.state === 'pending' || undefined,
      () => JSON.stringify(task(h, id!).status),
    );
    const frontOf = () => h.store.view((tx) => tx.get('network', front.id)!);
    expect(frontOf().status.nodeAddrs ?? []).toEqual([]);
    const node = h.store.view((tx) => tx.find('node', by.all())[0]!);
    // The scheduler places it.
    await h.store.update((tx) => {
      const t = tx.get('task', id!)!;
      tx.update('task', { ...t, nodeId: node.id, status: { ...t.status, state: 'assigned' } });
    });
    await until(
      'node address on front',
      () => frontOf().status.nodeAddrs?.length === 1 || undefined,
      () => JSON.stringify(frontOf().status),
    );
    expect(frontOf().status.nodeAddrs![0]!.nodeId).toBe(node.id);
    expectUnique(heldAddresses(h));
    // It ends: the node no longer takes part.
    await h.store.update((tx) => {
      const t = tx.get('task', id!)!;
      tx.update('task', { ...t, status: { ...t.status, state: 'failed' } });
    });
    await until(
      'node address dropped',
      () => frontOf().status.nodeAddrs?.length === 0 || undefined,
      () => JSON.stringify(frontOf().status),
    );
  });

  it('gives tasks addresses on their networks and ingress, and VIPs to the service, before they are pending', async () => {
    const h = await setup(2);
    start(h);
    const front = await addNetwork(h, 'front');
    const s = await addService(h, 'web', [front.id], true);
    const ids = await addTasks(h, s, 5);
    for (const id of ids) {
      const t = await until(
        'task pending',
        () => (task(h, id).status.state === 'pending' ? task(h, id) : undefined),
        () => JSON.stringify(task(h, id).status),
      );
      expect(t.networks?.map((a) => a.networkId)).toEqual([front.id, expect.any(String)]);
      expect(t.networks?.[0]?.addresses[0]).toMatch(/^10\.0\.1\.\d+\/24$/);
      expect(t.networks?.[1]?.addresses[0]).toMatch(/^10\.0\.0\.\d+\/24$/);
    }
    const svc = await until(
      'two VIPs',
      () =>
        h.store.view((tx) => tx.get('service', s.id)!).status.endpoint?.virtualIps.length === 2 || undefined,
      () => JSON.stringify(h.store.view((tx) => tx.get('service', s.id)!.status)),
    );
    expect(svc).toBe(true);
    expect(task(h, ids[0]!).endpoint?.ports[0]?.publishedPort).toBe(8080);
    expectUnique(heldAddresses(h));
  });

  it('holds a task back while its network is full, releases ended tasks, and rebuilds its bitmaps after a restart', async () => {
    const h = await setup(2);
    let stop = start(h);
    // /29: hosts .2-.6 (.1 is the gateway); the VIP takes one, four are left for tasks.
    const tiny = await addNetwork(h, 'tiny', '10.99.0.0/29');
    const s = await addService(h, 'small', [tiny.id]);
    const ids = await addTasks(h, s, 5);
    const blocked = await until(
      'one task held back',
      () => ids.map((id) => task(h, id)).find((t) => t.status.err !== undefined),
      () => ids.map((id) => task(h, id).status.state).join(','),
    );
    expect(blocked.status).toMatchObject({ state: 'new', err: 'no address left on network tiny' });
    expect(ids.filter((id) => task(h, id).status.state === 'pending')).toHaveLength(4);

    // A leader change: the next allocator knows only the store.
    await stop();
    stop = start(h);
    const running = ids.find((id) => id !== blocked.id)!;
    await h.store.update((tx) => {
      const t = tx.get('task', running)!;
      tx.update('task', { ...t, status: { ...t.status, state: 'failed', message: 'exited' } });
    });
    await until(
      'held task allocated',
      () => task(h, blocked.id).status.state === 'pending' || undefined,
      () => JSON.stringify(task(h, blocked.id).status),
    );
    expect(task(h, blocked.id).networks?.[0]?.addresses[0]).toBe(
      task(h, running).networks?.[0]?.addresses[0],
    );
    expectUnique(heldAddresses(h));

    // Deleting the service and its tasks while no allocator runs: the next one rebuilds without
    // them, and the VIP and a task address of a new service fit again.
    await stop();
    const more = await addService(h, 'more', [tiny.id]);
    await h.store.update((tx) => {
      tx.delete('service', s.id);
      for (const id of ids) tx.delete('task', id);
    });
    start(h);
    const [extra] = await addTasks(h, more, 1);
    await until(
      'extra task allocated',
      () => task(h, extra!).status.state === 'pending' || undefined,
      () => JSON.stringify(task(h, extra!).status),
    );
    expectUnique(heldAddresses(h));
  });

  it('moves tasks that will never run to pending without addresses', async () => {
    const h = await setup(1);
    start(h);
    const front = await addNetwork(h, 'front');
    const s = await addService(h, 'web', [front.id]);
    const id = h.id<TaskId>();
    await h.store.update((tx) => tx.create('task', newTask(id, s, 1, { desired: 'shutdown' })));
    const t = await until(
      'pending',
      () => (task(h, id).status.state === 'pending' ? task(h, id) : undefined),
      () => JSON.stringify(task(h, id).status),
    );
    expect(t.networks).toBeUndefined();
  });
});

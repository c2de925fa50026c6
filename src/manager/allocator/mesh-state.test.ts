import { describe, expect, it } from 'vitest';
import type { NetworkId, NodeId, ServiceId, Task, TaskId } from '../../api/index.js';
import { ManualClock } from '../../common/index.js';
import { countingStore, idSource, nodeInput, serviceInput, taskInput } from '../scheduler/test-fixtures.js';
import { computeMeshState } from './mesh-state.js';

const nextId = idSource(21);
const N1 = nextId<NodeId>();
const N2 = nextId<NodeId>();
const N3 = nextId<NodeId>();
const NET = nextId<ServiceId>() as unknown as NetworkId;
const SVC = nextId<ServiceId>();
const T1 = nextId<TaskId>();
const T2 = nextId<TaskId>();
const T3 = nextId<TaskId>();
const T4 = nextId<TaskId>();
const T5 = nextId<TaskId>();

async function setup() {
  const { store } = countingStore(new ManualClock(1_000));
  const ports = [
    { protocol: 'tcp' as const, targetPort: 80, publishedPort: 8080, publishMode: 'ingress' as const },
  ];
  await store.update((tx) => {
    tx.create('node', { ...nodeInput(N1), status: { state: 'ready', addr: '10.1.0.1' } });
    tx.create('node', { ...nodeInput(N2), status: { state: 'ready', addr: '10.1.0.2:4567' } });
    tx.create('node', { ...nodeInput(N3), status: { state: 'down', addr: '10.1.0.3' } });
    tx.create('network', {
      id: NET,
      spec: { name: 'front', driver: { name: 'overlay' } },
      status: {
        vni: 4097,
        ipam: { configs: [{ subnet: '10.0.1.0/24', gateway: '10.0.1.1' }] },
        nodeAddrs: [
          { nodeId: N1, addr: '10.0.1.2' },
          { nodeId: N2, addr: '10.0.1.3' },
        ],
      },
    });
    const s = serviceInput(SVC, 'web', { ports });
    tx.create('service', {
      ...s,
      spec: { ...s.spec, taskTemplate: { ...s.spec.taskTemplate, networks: [{ target: NET }] } },
      status: {
        endpoint: { spec: { mode: 'vip', ports }, ports, virtualIps: [{ networkId: NET, addr: '10.0.1.4' }] },
      },
    });
  });
  const service = store.view((tx) => tx.get('service', SVC)!);
  const task = (
    id: TaskId,
    slot: number,
    nodeId: NodeId,
    extra: Partial<Task['status']>,
    desired: Task['desiredState'] = 'running',
  ) => {
    const t = taskInput(id, service, slot, { nodeId, state: 'running', desired });
    return {
      ...t,
      status: { ...t.status, ...extra },
      networks: [{ networkId: NET, addresses: [`10.0.1.${10 + slot}/24`] }],
    };
  };
  await store.update((tx) => {
    tx.create('task', task(T1, 1, N1, {}));
    tx.create('task', task(T2, 2, N2, { health: 'healthy' }));
    tx.create('task', task(T3, 3, N1, { health: 'unhealthy' }));
    tx.create('task', task(T4, 4, N2, {}, 'shutdown'));
    tx.create('task', task(T5, 5, N1, { state: 'starting' }));
  });
  return store;
}

describe('computeMeshState', () => {
  it('lists allocated networks, live nodes with their addresses, and services with VIPs and ports', async () => {
    const store = await setup();
    const m = store.view((tx) => computeMeshState(tx, 42));
    expect(m.revision).toBe(42);
    expect(m.networks).toEqual([
      {
        id: NET,
        name: 'front',
        vni: 4097,
        subnet: '10.0.1.0/24',
        gateway: '10.0.1.1',
        ingress: false,
        attachable: false,
      },
    ]);
    expect([...m.nodes].sort((a, b) => a.addr.localeCompare(b.addr))).toEqual([
      { nodeId: N1, addr: '10.1.0.1', networkAddrs: [{ networkId: NET, addr: '10.0.1.2' }] },
      { nodeId: N2, addr: '10.1.0.2', networkAddrs: [{ networkId: NET, addr: '10.0.1.3' }] },
    ]);
    expect(m.services).toHaveLength(1);
    expect(m.services[0]).toMatchObject({
      id: SVC,
      name: 'web',
      endpointMode: 'vip',
      vips: [{ networkId: NET, addr: '10.0.1.4' }],
      ports: [{ publishedPort: 8080, targetPort: 80 }],
    });
  });

  it('takes as backends only running tasks that are wanted running and healthy when checked', async () => {
    const store = await setup();
    const m = store.view((tx) => computeMeshState(tx, 1));
    const backends = m.services[0]!.backends;
    expect(backends.map((b) => b.taskId).sort()).toEqual([T1, T2].sort());
    expect(backends.find((b) => b.taskId === T1)).toEqual({
      taskId: T1,
      taskName: `web.1.${T1}`,
      nodeId: N1,
      addrs: [{ networkId: NET, addr: '10.0.1.11' }],
    });
  });

  it('drops a backend as soon as its desired state moves past running, before it stops', async () => {
    const store = await setup();
    const t1 = store.view((tx) => tx.get('task', T1)!);
    await store.update((tx) => tx.update('task', { ...t1, desiredState: 'shutdown' }));
    const m = store.view((tx) => computeMeshState(tx, 2));
    expect(m.services[0]!.backends.map((b) => b.taskId)).toEqual([T2]);
  });
});

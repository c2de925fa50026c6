import { afterEach, describe, expect, it } from 'vitest';
import type { MeshState, NetworkId, NodeId, ServiceId, TaskId } from '../../api/index.js';
import { noopLogger, SeededRandom, systemClock, waitFor } from '../../common/index.js';
import { TcpEcho, tcpExchange } from './test-support.js';
import { UserlandDataPlane } from './userland-data-plane.js';

const INGRESS = 'net-ingress' as NetworkId;
const APP = 'net-app' as NetworkId;
const N1 = 'node-1' as NodeId;

/** One service published on an ephemeral port (0: the proxy picks it), its task on this node. */
function state(revision: number, target: number, tasks: TaskId[]): MeshState {
  const net = (id: NetworkId, name: string, ingress: boolean) => ({
    id,
    name,
    vni: ingress ? 4096 : 4097,
    subnet: '10.255.0.0/16',
    gateway: '10.255.0.1',
    ingress,
    attachable: false,
  });
  return {
    revision,
    networks: [net(INGRESS, 'ingress', true), net(APP, 'appnet', false)],
    nodes: [{ nodeId: N1, addr: '127.0.0.1', networkAddrs: [] }],
    services: [
      {
        id: 'svc-web' as ServiceId,
        name: 'web',
        endpointMode: 'vip',
        vips: [],
        ports: [{ protocol: 'tcp', targetPort: target, publishedPort: 0, publishMode: 'ingress' }],
        // The ingress address the manager allocated is on no interface here: never used.
        backends: tasks.map((taskId) => ({
          taskId,
          taskName: `web.1.${taskId}`,
          nodeId: N1,
          addrs: [{ networkId: INGRESS, addr: '10.255.0.9' }],
        })),
      },
    ],
  };
}

describe('UserlandDataPlane', () => {
  const cleanups: (() => void | Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  function start(
    lookup: (t: TaskId) => Promise<string | undefined>,
    refuseNetworks = false,
  ): UserlandDataPlane {
    const dp = new UserlandDataPlane(
      {
        nodeId: N1,
        logger: noopLogger,
        clock: systemClock,
        random: new SeededRandom(3),
        lookup,
        refuseNetworks,
      },
      'chosen by --data-plane userland',
      { host: '127.0.0.1' },
    );
    const abort = new AbortController();
    const running = dp.run(abort.signal);
    cleanups.push(async () => {
      abort.abort();
      await running;
    });
    return dp;
  }

  it('reaches a local task at the address the engine gives, not at its unattached ingress address', async () => {
    const e = new TcpEcho('a');
    const target = await e.listen('127.0.0.1');
    cleanups.push(() => e.close());
    const asked: TaskId[] = [];
    const dp = start(async (t) => {
      asked.push(t);
      return '127.0.0.1';
    });
    const applied: number[] = [];
    dp.onDidApply((r) => applied.push(r));
    dp.update(state(1, target, ['t1' as TaskId]));
    const port = await waitFor(
      () => {
        const p = dp.mesh.ports()[0];
        return p?.backends === 1 ? { done: true, value: p.port } : { done: false, state: JSON.stringify(p) };
      },
      { timeoutMs: 5_000, intervalMs: 10, what: 'the task as a backend' },
    );
    expect((await tcpExchange('127.0.0.1', port, 'x')).text).toBe('a|x');
    // Looked up once, not again for the same task in later states.
    dp.update(state(2, target, ['t1' as TaskId]));
    expect(asked).toEqual(['t1']);
    // Gone from the state: out of the rotation (reset), and its address forgotten. The revision
    // is reported applied only once the listener has dropped it.
    dp.update(state(3, target, []));
    await waitFor(
      () => (applied.includes(3) ? { done: true, value: 0 } : { done: false, state: applied.join(',') }),
      { timeoutMs: 5_000, intervalMs: 10, what: 'revision 3 applied' },
    );
    expect(dp.mesh.ports()[0]?.backends).toBe(0);
    expect(applied).toEqual([1, 2, 3]);
    expect((await tcpExchange('127.0.0.1', port, 'x')).kind).toBe('reset');
  });

  it('attaches no ingress network, refuses a user overlay by name, and waits for the network list', async () => {
    const dp = start(async () => undefined);
    const pending = dp.networkNames([INGRESS], 5_000);
    dp.update(state(1, 1, []));
    expect((await pending).size).toBe(0);
    await expect(dp.networkNames([INGRESS, APP], 1_000)).rejects.toMatchObject({
      code: 'FAILED_PRECONDITION',
      message: expect.stringContaining('appnet need the kernel data plane'),
    });
    expect(dp.resolverFor()).toBeUndefined();
  });

  it('sharing a namespace with a kernel-plane node, refuses the ingress too', async () => {
    const dp = start(async () => undefined, true);
    dp.update(state(1, 1, []));
    await expect(dp.networkNames([INGRESS], 1_000)).rejects.toMatchObject({ code: 'FAILED_PRECONDITION' });
  });
});

import { createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { MeshService, MeshState, NetworkId, NodeId, ServiceId, TaskId } from '../../api/index.js';
import { isSwarmError, noopLogger, SeededRandom, systemClock, waitFor } from '../../common/index.js';
import { TcpEcho, tcpExchange, UdpClient, UdpEcho } from './test-support.js';
import { planPublishedPorts, UserlandMesh } from './userland-mesh.js';

const INGRESS = 'net-ingress' as NetworkId;
const N1 = 'node-1' as NodeId;
const N2 = 'node-2' as NodeId;
/** Published ports of these tests (the range given to this work). */
const P1 = 26_011;
const P2 = 26_012;
const P3 = 26_013;

function svc(name: string, ports: MeshService['ports'], backends: [TaskId, NodeId, string][]): MeshService {
  return {
    id: `svc-${name}` as ServiceId,
    name,
    endpointMode: 'vip',
    vips: [],
    ports,
    backends: backends.map(([taskId, nodeId, addr]) => ({
      taskId,
      taskName: `${name}.1.${taskId}`,
      nodeId,
      addrs: [{ networkId: INGRESS, addr }],
    })),
  };
}

function mesh(revision: number, services: MeshService[]): MeshState {
  return {
    revision,
    networks: [
      {
        id: INGRESS,
        name: 'ingress',
        vni: 4096,
        subnet: '127.0.0.0/8',
        gateway: '127.0.0.1',
        ingress: true,
        attachable: false,
      },
    ],
    nodes: [
      { nodeId: N1, addr: '127.0.0.1', networkAddrs: [] },
      { nodeId: N2, addr: '127.0.0.2', networkAddrs: [] },
    ],
    services,
  };
}

const tcp = (published: number, target: number): MeshService['ports'][number] => ({
  protocol: 'tcp',
  targetPort: target,
  publishedPort: published,
  publishMode: 'ingress',
});

describe('UserlandMesh', () => {
  const cleanups: (() => void | Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  function start(nodeId: NodeId, host: string, bindRetryMs = 1_000): UserlandMesh {
    const m = new UserlandMesh(
      { logger: noopLogger, clock: systemClock, random: new SeededRandom(5) },
      { nodeId, host, bindRetryMs },
    );
    const abort = new AbortController();
    const running = m.run(abort.signal);
    cleanups.push(async () => {
      abort.abort();
      await running;
    });
    return m;
  }

  async function echo(name: string): Promise<number> {
    const e = new TcpEcho(name);
    cleanups.push(() => e.close());
    return e.listen('127.0.0.1');
  }

  it('opens a listener for each published port, updates its backends and closes it when the port goes', async () => {
    const a = await echo('a');
    const b = await echo('b');
    const m = start(N1, '127.0.0.1');
    await m.update(mesh(1, [svc('web', [tcp(P1, a)], [['t1' as TaskId, N1, '127.0.0.1']])]));
    expect(m.ports()).toEqual([{ protocol: 'tcp', port: P1, state: 'listening', backends: 1 }]);
    expect((await tcpExchange('127.0.0.1', P1, 'x')).text).toBe('a|x');

    // Same port, the task replaced by another one on another target port: new connections follow.
    await m.update(mesh(2, [svc('web', [tcp(P1, b)], [['t2' as TaskId, N1, '127.0.0.1']])]));
    expect((await tcpExchange('127.0.0.1', P1, 'y')).text).toBe('b|y');

    // A second port appears, the first goes.
    await m.update(mesh(3, [svc('web', [tcp(P2, a)], [['t1' as TaskId, N1, '127.0.0.1']])]));
    expect(m.ports().map((p) => p.port)).toEqual([P2]);
    expect((await tcpExchange('127.0.0.1', P2, 'z')).text).toBe('a|z');
    expect((await tcpExchange('127.0.0.1', P1, 'z')).kind).toBe('refused');

    // An older revision arriving late changes nothing.
    await m.update(mesh(1, [svc('web', [tcp(P1, a)], [['t1' as TaskId, N1, '127.0.0.1']])]));
    expect(m.ports().map((p) => p.port)).toEqual([P2]);
  });

  it('takes a withdrawn task out of the rotation at once', async () => {
    const a = await echo('a');
    const m = start(N1, '127.0.0.1');
    const state = mesh(1, [
      svc(
        'web',
        [tcp(P1, a)],
        [
          ['t1' as TaskId, N1, '127.0.0.1'],
          ['t2' as TaskId, N1, '127.0.0.3'],
        ],
      ),
    ]);
    await m.update(state);
    expect(m.ports()[0]!.backends).toBe(2);
    await m.withdraw('t2' as TaskId);
    expect(m.ports()[0]!.backends).toBe(1);
    // The withdrawn task's address has no server behind it; connections still all succeed.
    for (let i = 0; i < 5; i++) expect((await tcpExchange('127.0.0.1', P1, 'w')).text).toBe('a|w');
  });

  it('relays a connection to a task on another node through that node, which keeps it local', async () => {
    const a = await echo('a');
    const state = mesh(1, [svc('web', [tcp(P3, a)], [['t1' as TaskId, N1, '127.0.0.1']])]);
    const m1 = start(N1, '127.0.0.1');
    const m2 = start(N2, '127.0.0.2');
    await m1.update(state);
    await m2.update(state);
    expect(planPublishedPorts(state, N2, { remote: 'via-node' }).get(`tcp/${P3}`)?.backends).toEqual([
      { host: '127.0.0.1', port: P3, local: false, source: '127.0.0.2' },
    ]);
    // A client that is not a node, calling node 2 which has no task of its own.
    for (let i = 0; i < 3; i++)
      expect((await tcpExchange('127.0.0.2', P3, 'r', '127.0.0.9')).text).toBe('a|r');
    // A relay from node 2 reaching node 1 when node 1's task has gone is reset, not relayed back.
    await m1.update(mesh(2, [svc('web', [tcp(P3, a)], [['t9' as TaskId, N2, '127.0.0.2']])]));
    expect((await tcpExchange('127.0.0.1', P3, 'r', '127.0.0.2')).kind).toBe('reset');
  });

  it('reaches a local task without an ingress address at the address localAddress gives', async () => {
    const a = await echo('a');
    let known: string | undefined;
    const m = new UserlandMesh(
      {
        logger: noopLogger,
        clock: systemClock,
        random: new SeededRandom(5),
        localAddress: (taskId) => (taskId === 't1' ? known : undefined),
      },
      { nodeId: N1, host: '127.0.0.1' },
    );
    const abort = new AbortController();
    const running = m.run(abort.signal);
    cleanups.push(async () => {
      abort.abort();
      await running;
    });
    const state = mesh(1, [svc('web', [tcp(P1, a)], [['t1' as TaskId, N1, '127.0.0.1']])]);
    const noIngress = {
      ...state,
      services: state.services.map((s) => ({ ...s, backends: s.backends.map((b) => ({ ...b, addrs: [] })) })),
    };
    await m.update(noIngress);
    expect(m.ports()[0]!.backends).toBe(0);
    expect((await tcpExchange('127.0.0.1', P1, 'x')).kind).toBe('reset');
    known = '127.0.0.1';
    await m.refresh();
    expect((await tcpExchange('127.0.0.1', P1, 'x')).text).toBe('a|x');
  });

  it('relays UDP through the mesh', async () => {
    const e = new UdpEcho('u');
    const target = await e.listen('127.0.0.1');
    cleanups.push(() => e.close());
    const m = start(N1, '127.0.0.1');
    await m.update(
      mesh(1, [
        svc(
          'dns',
          [{ protocol: 'udp', targetPort: target, publishedPort: P1, publishMode: 'ingress' }],
          [['t1' as TaskId, N1, '127.0.0.1']],
        ),
      ]),
    );
    const c = new UdpClient();
    await c.bind();
    cleanups.push(() => c.close());
    expect(await c.ask('127.0.0.1', P1, 'q')).toBe('u|q');
  });

  it('reports a port it cannot bind and takes it once it is free', async () => {
    const squatter = createServer();
    await new Promise<void>((resolve) => squatter.listen({ host: '127.0.0.1', port: P2 }, resolve));
    const a = await echo('a');
    const m = start(N1, '127.0.0.1', 50);
    await m.update(mesh(1, [svc('web', [tcp(P2, a)], [['t1' as TaskId, N1, '127.0.0.1']])]));
    expect(m.ports()[0]).toMatchObject({
      port: P2,
      state: 'failed',
      error: expect.stringMatching(/EADDRINUSE/),
    });
    await new Promise<void>((resolve) => squatter.close(() => resolve()));
    await waitFor(
      () =>
        m.ports()[0]?.state === 'listening'
          ? { done: true, value: 0 }
          : { done: false, state: m.ports()[0]?.state ?? 'none' },
      { timeoutMs: 3_000, what: 'the freed port to be taken' },
    );
    expect((await tcpExchange('127.0.0.1', P2, 'x')).text).toBe('a|x');
  });

  it('closes every listener and connection when its signal aborts', async () => {
    const a = await echo('a');
    const m = new UserlandMesh(
      { logger: noopLogger, clock: systemClock, random: new SeededRandom(5) },
      { nodeId: N1, host: '127.0.0.1' },
    );
    const abort = new AbortController();
    const running = m.run(abort.signal);
    await m.update(mesh(1, [svc('web', [tcp(P1, a), tcp(P2, a)], [['t1' as TaskId, N1, '127.0.0.1']])]));
    expect((await tcpExchange('127.0.0.1', P1, 'x')).kind).toBe('data');
    abort.abort();
    await running;
    expect((await tcpExchange('127.0.0.1', P1, 'x')).kind).toBe('refused');
    expect((await tcpExchange('127.0.0.1', P2, 'x')).kind).toBe('refused');
    expect(m.ports()).toEqual([]);
  });

  it('rejects bad options naming the field', () => {
    const make = (): UserlandMesh =>
      new UserlandMesh(
        { logger: noopLogger, clock: systemClock, random: new SeededRandom(1) },
        { nodeId: N1, udpIdleMs: 0 },
      );
    expect(make).toThrow(/proxy\.udpIdleMs.*0/);
    try {
      make();
    } catch (e) {
      expect(isSwarmError(e, 'INVALID_ARGUMENT')).toBe(true);
    }
  });
});

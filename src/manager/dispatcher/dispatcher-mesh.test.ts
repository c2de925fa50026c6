import { Metadata } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import type { NetworkId, NodeId, ServiceId, SessionMessage, Task, TaskId } from '../../api/index.js';
import { ManualClock, noopLogger, waitFor } from '../../common/index.js';
import type { CallContext } from '../../rpc/index.js';
import { MeshFeed } from '../allocator/index.js';
import { countingStore, idSource, nodeInput, serviceInput, taskInput } from '../scheduler/test-fixtures.js';
import { Dispatcher, MESH_STOP_TIMEOUT_MS } from './dispatcher.js';

const nextId = idSource(9);
const SELF = nextId<NodeId>();
const W1 = nextId<NodeId>();
const W2 = nextId<NodeId>();
const SVC = nextId<ServiceId>();
const NET = nextId<ServiceId>() as unknown as NetworkId;
const T1 = nextId<TaskId>();
const T2 = nextId<TaskId>();

function ctx(nodeId: string, signal: AbortSignal): CallContext {
  return {
    service: 'swarmctl.dispatcher.Dispatcher',
    method: 'Session',
    peer: { nodeId, role: 'swarm-worker', clusterId: 'c1' },
    metadata: new Metadata(),
    signal,
  };
}

async function setup() {
  const clock = new ManualClock(1_000);
  const { store } = countingStore(clock);
  await store.update((tx) => {
    tx.create('node', {
      ...nodeInput(SELF, { role: 'manager' }),
      managerStatus: { raftId: SELF, addr: '10.0.0.1:2377', leader: true, reachability: 'reachable' },
    });
    tx.create('node', { ...nodeInput(W1), status: { state: 'ready', addr: '10.1.0.1' } });
    tx.create('node', { ...nodeInput(W2), status: { state: 'ready', addr: '10.1.0.2' } });
    tx.create('network', {
      id: NET,
      spec: { name: 'front', driver: { name: 'overlay' } },
      status: { vni: 4097, ipam: { configs: [{ subnet: '10.0.1.0/24', gateway: '10.0.1.1' }] } },
    });
    const s = serviceInput(SVC, 'web');
    tx.create('service', {
      ...s,
      spec: { ...s.spec, taskTemplate: { ...s.spec.taskTemplate, networks: [{ target: NET }] } },
    });
  });
  const service = store.view((tx) => tx.get('service', SVC)!);
  const running = (id: TaskId, slot: number, nodeId: NodeId) => ({
    ...taskInput(id, service, slot, { nodeId, state: 'running' }),
    networks: [{ networkId: NET, addresses: [`10.0.1.${10 + slot}/24`] }],
  });
  await store.update((tx) => {
    tx.create('task', running(T1, 1, W1));
    tx.create('task', running(T2, 2, W2));
  });
  const feed = new MeshFeed({ store, clock, logger: noopLogger });
  const dispatcher = new Dispatcher({
    store,
    clock,
    logger: noopLogger,
    nodeId: SELF,
    leader: () => SELF,
    mesh: feed,
  });
  return { clock, store, feed, dispatcher };
}

/** The next message, moving the manual clock on while the session waits on a timer. */
async function nextMessage(
  session: AsyncIterator<SessionMessage>,
  clock: ManualClock,
): Promise<SessionMessage> {
  let got: SessionMessage | undefined;
  const p = session.next().then((r) => {
    got = r.value as SessionMessage;
  });
  await waitFor(
    () => {
      if (got) return { done: true, value: undefined };
      clock.advance(10);
      return { done: false, state: `no message by ${clock.monotonic()}` };
    },
    { timeoutMs: 5_000, intervalMs: 5, what: 'the next session message' },
  );
  await p;
  return got!;
}

/** Whether the session stays silent while the manual clock moves on by `ms` (10 ms steps). */
async function quietFor(
  pending: Promise<IteratorResult<SessionMessage>>,
  clock: ManualClock,
  ms: number,
): Promise<boolean> {
  let settled = false;
  void pending.then(() => {
    settled = true;
  });
  const until = clock.monotonic() + ms;
  await waitFor(
    () => {
      if (settled || clock.monotonic() >= until) return { done: true, value: undefined };
      clock.advance(10);
      return { done: false, state: `clock at ${clock.monotonic()}` };
    },
    { timeoutMs: 10_000, intervalMs: 2, what: `the clock to move on by ${ms} ms` },
  );
  return !settled;
}

/** A node's data plane reporting a mesh revision applied. */
function ack(dispatcher: Dispatcher, nodeId: NodeId, revision: number): Promise<unknown> {
  return dispatcher.handlers().MeshApplied({ revision }, ctx(nodeId, new AbortController().signal));
}

function open(dispatcher: Dispatcher, nodeId: NodeId, signal: AbortSignal): AsyncIterator<SessionMessage> {
  return dispatcher
    .handlers()
    .Session({ description: nodeInput(nodeId).description! }, ctx(nodeId, signal))
    [Symbol.asyncIterator]();
}

const backends = (m: SessionMessage): TaskId[] =>
  (m.mesh?.services[0]?.backends.map((b) => b.taskId) ?? []).sort() as TaskId[];

describe('Dispatcher with the mesh feed', () => {
  it('sends the mesh first, with a stopping task already out of it, and mesh-only changes after', async () => {
    const { clock, store, feed, dispatcher } = await setup();
    const leader = new AbortController();
    const running = [dispatcher.monitor().run(leader.signal), feed.run(leader.signal)];
    const stop = new AbortController();
    const session = dispatcher
      .handlers()
      .Session({ description: nodeInput(W1).description! }, ctx(W1, stop.signal))
      [Symbol.asyncIterator]();
    try {
      const first = (await session.next()).value as SessionMessage;
      expect(first.kind).toBe('full');
      expect(backends(first)).toEqual([T1, T2].sort());

      // The mesh without T1 goes out first, alone; the order to stop T1 follows only once the
      // node (the only one with a session) reports that mesh applied.
      const t1 = store.view((tx) => tx.get('task', T1)!);
      await store.update((tx) => tx.update('task', { ...t1, desiredState: 'shutdown' }));
      const second = (await session.next()).value as SessionMessage;
      expect(second.tasks).toEqual([]);
      expect(backends(second)).toEqual([T2]);
      const stopping = session.next();
      expect(await quietFor(stopping, clock, MESH_STOP_TIMEOUT_MS / 2)).toBe(true);
      await ack(dispatcher, W1, second.mesh!.revision);
      const stopT1 = (await stopping).value as SessionMessage;
      expect(stopT1.tasks.map((t) => [t.id, t.desiredState])).toEqual([[T1, 'shutdown']]);

      // Another node's task turning unhealthy leaves at once, without a timer.
      const setHealth = async (health: Task['status']['health']) => {
        const t2 = store.view((tx) => tx.get('task', T2)!);
        await store.update((tx) => tx.update('task', { ...t2, status: { ...t2.status, health } }));
      };
      await setHealth('unhealthy');
      const third = (await session.next()).value as SessionMessage;
      expect(third).toMatchObject({ kind: 'incremental', tasks: [], removed: [] });
      expect(backends(third)).toEqual([]);
      expect(third.mesh!.revision).toBeGreaterThan(second.mesh!.revision);

      // Coming back is debounced: pushed once the quiet time has passed.
      await setHealth('healthy');
      const fourth = session.next();
      clock.advance(60);
      expect(backends((await fourth).value as SessionMessage)).toEqual([T2]);
    } finally {
      stop.abort();
      await session.return?.(undefined);
      leader.abort();
      await Promise.all(running);
    }
  });

  it("passes on another node's task leaving while it holds a stop of its own", async () => {
    const { clock, store, feed, dispatcher } = await setup();
    const leader = new AbortController();
    const running = [dispatcher.monitor().run(leader.signal), feed.run(leader.signal)];
    const stop = new AbortController();
    const session = dispatcher
      .handlers()
      .Session({ description: nodeInput(W1).description! }, ctx(W1, stop.signal))
      [Symbol.asyncIterator]();
    try {
      await session.next();
      const t1 = store.view((tx) => tx.get('task', T1)!);
      await store.update((tx) => tx.update('task', { ...t1, desiredState: 'shutdown' }));
      const withoutT1 = (await session.next()).value as SessionMessage;
      expect(withoutT1.tasks).toEqual([]);
      expect(backends(withoutT1)).toEqual([T2]);
      // W1's session now holds T1's stop. T2 (on W2) is stopped meanwhile: W1 must hear of it at
      // once, not after its own hold, or it routes new connections to a stopped container.
      const heldFrom = clock.monotonic();
      const t2 = store.view((tx) => tx.get('task', T2)!);
      await store.update((tx) => tx.update('task', { ...t2, desiredState: 'shutdown' }));
      const withoutT2 = (await session.next()).value as SessionMessage;
      expect(clock.monotonic() - heldFrom).toBeLessThan(MESH_STOP_TIMEOUT_MS);
      expect(withoutT2.tasks).toEqual([]);
      expect(backends(withoutT2)).toEqual([]);
      await ack(dispatcher, W1, withoutT2.mesh!.revision);
      const stopT1 = (await session.next()).value as SessionMessage;
      expect(stopT1.tasks.map((t) => [t.id, t.desiredState])).toEqual([[T1, 'shutdown']]);
      expect(clock.monotonic() - heldFrom).toBeLessThan(MESH_STOP_TIMEOUT_MS);
    } finally {
      stop.abort();
      await session.return?.(undefined);
      leader.abort();
      await Promise.all(running);
    }
  });

  describe('holding a stop until every node has applied the mesh without the task', () => {
    /** Sessions of W1 and W2 open; T1 (on W1) told to stop; returns W1's pending stop message. */
    async function stopT1WithTwoSessions() {
      const env = await setup();
      const { store, feed, dispatcher } = env;
      const leader = new AbortController();
      const running = [dispatcher.monitor().run(leader.signal), feed.run(leader.signal)];
      const stop = new AbortController();
      const w1 = open(dispatcher, W1, stop.signal);
      const w2 = open(dispatcher, W2, stop.signal);
      await w1.next();
      await w2.next();
      const t1 = store.view((tx) => tx.get('task', T1)!);
      await store.update((tx) => tx.update('task', { ...t1, desiredState: 'shutdown' }));
      const withoutT1 = (await w1.next()).value as SessionMessage;
      expect(withoutT1.tasks).toEqual([]);
      expect(backends(withoutT1)).toEqual([T2]);
      // W2 hears of it too (a mesh-only message): it carries the same revision.
      const w2Mesh = (await w2.next()).value as SessionMessage;
      expect(w2Mesh.mesh?.revision).toBe(withoutT1.mesh?.revision);
      const revision = withoutT1.mesh!.revision;
      const close = async () => {
        stop.abort();
        await w1.return?.(undefined);
        await w2.return?.(undefined);
        leader.abort();
        await Promise.all(running);
      };
      return { ...env, w1, revision, heldFrom: env.clock.monotonic(), stopping: w1.next(), close };
    }

    it('is not sent before every node with a session reports it applied, then at once', async () => {
      const { clock, dispatcher, revision, stopping, close } = await stopT1WithTwoSessions();
      try {
        await ack(dispatcher, W1, revision);
        // An older revision from W2 does not count.
        await ack(dispatcher, W2, revision - 1);
        expect(await quietFor(stopping, clock, MESH_STOP_TIMEOUT_MS / 2)).toBe(true);
        await ack(dispatcher, W2, revision);
        const m = (await stopping).value as SessionMessage;
        expect(m.tasks.map((t) => [t.id, t.desiredState])).toEqual([[T1, 'shutdown']]);
      } finally {
        await close();
      }
    });

    it('is sent at the timeout when a node never reports', async () => {
      const { clock, dispatcher, revision, stopping, heldFrom, close } = await stopT1WithTwoSessions();
      try {
        await ack(dispatcher, W1, revision);
        expect(await quietFor(stopping, clock, MESH_STOP_TIMEOUT_MS - 20)).toBe(true);
        const m = await nextMessage(
          { next: () => stopping } as unknown as AsyncIterator<SessionMessage>,
          clock,
        );
        expect(m.tasks.map((t) => t.id)).toEqual([T1]);
        expect(clock.monotonic() - heldFrom).toBeGreaterThanOrEqual(MESH_STOP_TIMEOUT_MS);
      } finally {
        await close();
      }
    });

    it('does not wait for a node marked down', async () => {
      const { clock, store, dispatcher, revision, stopping, heldFrom, close } = await stopT1WithTwoSessions();
      try {
        await ack(dispatcher, W1, revision);
        expect(await quietFor(stopping, clock, 200)).toBe(true);
        const w2 = store.view((tx) => tx.get('node', W2)!);
        await store.update((tx) => tx.update('node', { ...w2, status: { ...w2.status, state: 'down' } }));
        const m = (await stopping).value as SessionMessage;
        expect(m.tasks.map((t) => t.id)).toEqual([T1]);
        expect(clock.monotonic() - heldFrom).toBeLessThan(MESH_STOP_TIMEOUT_MS);
      } finally {
        await close();
      }
    });

    it('lets the other changes of the node go out meanwhile', async () => {
      const { clock, store, w1, revision, stopping, dispatcher, close } = await stopT1WithTwoSessions();
      try {
        // A new task for W1 while T1's stop is held: it is not held behind it.
        const service = store.view((tx) => tx.get('service', SVC)!);
        const T3 = nextId<TaskId>();
        await store.update((tx) =>
          tx.create('task', taskInput(T3, service, 3, { nodeId: W1, state: 'assigned' })),
        );
        const m = (await stopping).value as SessionMessage;
        expect(m.tasks.map((t) => t.id)).toEqual([T3]);
        const later = w1.next();
        expect(await quietFor(later, clock, 200)).toBe(true);
        await ack(dispatcher, W1, revision);
        await ack(dispatcher, W2, revision);
        expect(((await later).value as SessionMessage).tasks.map((t) => t.id)).toEqual([T1]);
      } finally {
        await close();
      }
    });
  });

  it('records the address a worker reports and gives it to the mesh as a peer', async () => {
    const { store, feed, dispatcher } = await setup();
    const leader = new AbortController();
    const running = [dispatcher.monitor().run(leader.signal), feed.run(leader.signal)];
    const stop = new AbortController();
    const session = dispatcher
      .handlers()
      .Session({ description: nodeInput(W1).description!, addr: '10.2.0.7:2377' }, ctx(W1, stop.signal))
      [Symbol.asyncIterator]();
    try {
      const first = (await session.next()).value as SessionMessage;
      expect(store.view((tx) => tx.get('node', W1)!.status.addr)).toBe('10.2.0.7:2377');
      expect(first.mesh?.nodes.find((n) => n.nodeId === W1)?.addr).toBe('10.2.0.7');
      // The manager, which reported nothing here, peers on its Raft address's host.
      expect(first.mesh?.nodes.map((n) => n.nodeId)).not.toContain(SELF);
    } finally {
      stop.abort();
      await session.return?.(undefined);
      leader.abort();
      await Promise.all(running);
    }
  });
});

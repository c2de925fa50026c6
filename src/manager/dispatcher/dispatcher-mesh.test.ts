import { Metadata } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import type { NetworkId, NodeId, ServiceId, SessionMessage, Task, TaskId } from '../../api/index.js';
import { ManualClock, noopLogger, waitFor } from '../../common/index.js';
import type { CallContext } from '../../rpc/index.js';
import { MeshFeed } from '../allocator/index.js';
import { countingStore, idSource, nodeInput, serviceInput, taskInput } from '../scheduler/test-fixtures.js';
import { Dispatcher, MESH_STOP_GRACE_MS } from './dispatcher.js';

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

      // The mesh without T1 goes out first; the order to stop T1 follows only after the grace
      // every node has to apply it (timed on the manual clock).
      const t1 = store.view((tx) => tx.get('task', T1)!);
      await store.update((tx) => tx.update('task', { ...t1, desiredState: 'shutdown' }));
      let latest = first;
      let meshAt = -1;
      for (;;) {
        const m = await nextMessage(session, clock);
        if (m.mesh) {
          latest = m;
          meshAt = clock.monotonic();
        }
        if (m.tasks.length > 0) {
          expect(m.tasks.map((t) => [t.id, t.desiredState])).toEqual([[T1, 'shutdown']]);
          expect(clock.monotonic() - meshAt).toBeGreaterThanOrEqual(MESH_STOP_GRACE_MS);
          break;
        }
      }
      expect(backends(latest)).toEqual([T2]);
      const second = latest;

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

  it("passes on another node's task leaving while it holds a stop of its own for the grace", async () => {
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
      // W1's session now holds T1's stop. T2 (on W2) is stopped meanwhile: W2 stops it after its
      // own grace, so W1 must hear of it at once, before the clock reaches the end of its grace.
      const heldFrom = clock.monotonic();
      const t2 = store.view((tx) => tx.get('task', T2)!);
      await store.update((tx) => tx.update('task', { ...t2, desiredState: 'shutdown' }));
      const withoutT2 = (await session.next()).value as SessionMessage;
      expect(clock.monotonic() - heldFrom).toBeLessThan(MESH_STOP_GRACE_MS);
      expect(withoutT2.tasks).toEqual([]);
      expect(backends(withoutT2)).toEqual([]);
      const stopT1 = await nextMessage(session, clock);
      expect(stopT1.tasks.map((t) => [t.id, t.desiredState])).toEqual([[T1, 'shutdown']]);
      expect(clock.monotonic() - heldFrom).toBeGreaterThanOrEqual(MESH_STOP_GRACE_MS);
    } finally {
      stop.abort();
      await session.return?.(undefined);
      leader.abort();
      await Promise.all(running);
    }
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

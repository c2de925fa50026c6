import { Metadata } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import type { NodeId, ServiceId, SessionMessage, TaskId } from '../../api/index.js';
import { isSwarmError, ManualClock, noopLogger, waitFor } from '../../common/index.js';
import type { CallContext } from '../../rpc/index.js';
import { countingStore, idSource, nodeInput, serviceInput, taskInput } from '../scheduler/test-fixtures.js';
import { Dispatcher } from './dispatcher.js';

const nextId = idSource(7);
const SELF = nextId<NodeId>();
const W1 = nextId<NodeId>();
const W2 = nextId<NodeId>();
const SVC = nextId<ServiceId>();
const T1 = nextId<TaskId>();
const T2 = nextId<TaskId>();
const T3 = nextId<TaskId>();

function ctx(nodeId: string, signal = new AbortController().signal): CallContext {
  return {
    service: 'swarmctl.dispatcher.Dispatcher',
    method: 'Session',
    peer: { nodeId, role: 'swarm-worker', clusterId: 'c1' },
    metadata: new Metadata(),
    signal,
  };
}

async function setup(leader: () => string | null = () => SELF) {
  const clock = new ManualClock(1_000);
  const { store } = countingStore(clock);
  await store.update((tx) => {
    tx.create('node', {
      ...nodeInput(SELF, { role: 'manager' }),
      managerStatus: { raftId: SELF, addr: '10.0.0.1:2377', leader: true, reachability: 'reachable' },
    });
    tx.create('node', nodeInput(W1, { state: 'unknown' }));
    tx.create('node', nodeInput(W2));
    tx.create('service', serviceInput(SVC, 'web'));
  });
  const service = store.view((tx) => tx.get('service', SVC)!);
  const dispatcher = new Dispatcher({ store, clock, logger: noopLogger, nodeId: SELF, leader });
  const description = nodeInput(W1).description!;
  return { clock, store, service, dispatcher, description };
}

describe('Dispatcher', () => {
  it('refuses sessions on a follower with NOT_LEADER and the leader address', async () => {
    const { dispatcher, description } = await setup(() => SELF);
    // No monitor running: this manager has no leadership epoch.
    const e = await (async () => {
      for await (const _ of dispatcher.handlers().Session({ description }, ctx(W1))) return undefined;
    })().catch((err: unknown) => err);
    expect(isSwarmError(e, 'NOT_LEADER')).toBe(true);
    expect(isSwarmError(e) && e.details.leaderAddr).toBe('10.0.0.1:2377');
  });

  it('registers the node, sends the full set, then changes and removals', async () => {
    const { store, service, dispatcher, description } = await setup();
    const monitor = new AbortController();
    const monitoring = dispatcher.monitor().run(monitor.signal);
    await store.update((tx) => {
      tx.create('task', taskInput(T1, service, 1, { nodeId: W1, state: 'assigned' }));
      tx.create('task', taskInput(T2, service, 2, { nodeId: W2, state: 'assigned' }));
      tx.create('task', taskInput(T3, service, 3, { nodeId: W1, state: 'pending' }));
    });
    const stop = new AbortController();
    const it = dispatcher.handlers().Session({ description }, ctx(W1, stop.signal))[Symbol.asyncIterator]();
    const first = (await it.next()).value as SessionMessage;
    expect(first.kind).toBe('full');
    expect(first.tasks.map((t) => t.id)).toEqual([T1]);
    expect(first.managers).toEqual(['10.0.0.1:2377']);
    expect(store.view((tx) => tx.get('node', W1)!.status.state)).toBe('ready');

    const t3 = store.view((tx) => tx.get('task', T3)!);
    await store.update((tx) => tx.update('task', { ...t3, status: { ...t3.status, state: 'assigned' } }));
    const second = (await it.next()).value as SessionMessage;
    expect(second).toMatchObject({ kind: 'incremental', removed: [] });
    expect(second.tasks.map((t) => t.id)).toEqual([T3]);

    await store.update((tx) => tx.delete('task', T1));
    const third = (await it.next()).value as SessionMessage;
    expect(third).toMatchObject({ kind: 'incremental', tasks: [], removed: [T1] });
    stop.abort();
    monitor.abort();
    await monitoring;
  });

  it('does not send a status change back to the worker, only changes of what it should do', async () => {
    const { store, service, dispatcher, description } = await setup();
    const monitor = new AbortController();
    const monitoring = dispatcher.monitor().run(monitor.signal);
    await store.update((tx) => {
      tx.create('task', taskInput(T1, service, 1, { nodeId: W1, state: 'assigned' }));
      tx.create('task', taskInput(T2, service, 2, { nodeId: W1, state: 'assigned' }));
    });
    const stop = new AbortController();
    const it = dispatcher.handlers().Session({ description }, ctx(W1, stop.signal))[Symbol.asyncIterator]();
    expect(((await it.next()).value as SessionMessage).tasks.map((t) => t.id).sort()).toEqual(
      [T1, T2].sort(),
    );
    // The worker's reports: T1 running, T2 preparing (one transaction each).
    for (const [id, state] of [
      [T1, 'running'],
      [T2, 'preparing'],
    ] as const) {
      const t = store.view((tx) => tx.get('task', id)!);
      await store.update((tx) =>
        tx.update('task', { ...t, status: { state, timestamp: 9, message: state } }),
      );
    }
    // Then the manager wants T1 shut down: the next message carries that, and nothing else.
    const t1 = store.view((tx) => tx.get('task', T1)!);
    await store.update((tx) => tx.update('task', { ...t1, desiredState: 'shutdown' }));
    const next = (await it.next()).value as SessionMessage;
    expect(next.kind).toBe('incremental');
    expect(next.tasks.map((t) => [t.id, t.desiredState, t.status.state])).toEqual([
      [T1, 'shutdown', 'running'],
    ]);
    stop.abort();
    monitor.abort();
    await monitoring;
  });

  it('applies forward status updates of the caller only', async () => {
    const { store, service, dispatcher } = await setup();
    const monitor = new AbortController();
    const monitoring = dispatcher.monitor().run(monitor.signal);
    await store.update((tx) => {
      tx.create('task', taskInput(T1, service, 1, { nodeId: W1, state: 'assigned' }));
      tx.create('task', taskInput(T2, service, 2, { nodeId: W2, state: 'assigned' }));
    });
    const h = dispatcher.handlers();
    const status = (state: 'running' | 'starting') => ({ state, timestamp: 5, message: state });
    const r1 = await h.UpdateTaskStatus(
      {
        updates: [
          { taskId: T1, status: status('running') },
          { taskId: T2, status: status('running') },
        ],
      },
      ctx(W1),
    );
    expect(r1.applied).toBe(1);
    // A late report of an earlier state is stale: dropped.
    const r2 = await h.UpdateTaskStatus({ updates: [{ taskId: T1, status: status('starting') }] }, ctx(W1));
    expect(r2.applied).toBe(0);
    // The same state observed again later is not a change worth a Raft entry.
    const r3 = await h.UpdateTaskStatus(
      { updates: [{ taskId: T1, status: { ...status('running'), timestamp: 99 } }] },
      ctx(W1),
    );
    expect(r3.applied).toBe(0);
    expect(store.view((tx) => [tx.get('task', T1)!.status.state, tx.get('task', T2)!.status.state])).toEqual([
      'running',
      'assigned',
    ]);
    monitor.abort();
    await monitoring;
  });

  it('marks a node down after 3 missed periods and ready again on a heartbeat', async () => {
    const { clock, store, dispatcher } = await setup();
    const monitor = new AbortController();
    const monitoring = dispatcher.monitor().run(monitor.signal);
    const state = (id: NodeId) => store.view((tx) => tx.get('node', id)!.status.state);
    const h = dispatcher.handlers();
    for (let i = 0; i < 8; i++) {
      clock.advance(2_500);
      await h.Heartbeat({}, ctx(W1));
      await waitFor(() => ({ done: true, value: 0 }), { timeoutMs: 100 });
    }
    await waitFor(
      () => (state(W2) === 'down' ? { done: true, value: 0 } : { done: false, state: state(W2) }),
      {
        timeoutMs: 2_000,
        what: 'the silent worker down',
      },
    );
    expect(state(W1)).toBe('ready');
    await h.Heartbeat({}, ctx(W2));
    expect(state(W2)).toBe('ready');
    monitor.abort();
    await monitoring;
  });

  it('marks a silent node down as soon as its 3 periods have passed, not on a later check', async () => {
    const { clock, store, dispatcher } = await setup();
    const monitor = new AbortController();
    const monitoring = dispatcher.monitor().run(monitor.signal);
    const state = (id: NodeId) => store.view((tx) => tx.get('node', id)!.status.state);
    // Each step waits until the monitor has armed its next check, so no check is skipped.
    const step = async (ms: number) => {
      await waitFor(
        () => (clock.pendingTimers() > 0 ? { done: true, value: 0 } : { done: false, state: 'no timer' }),
        {
          timeoutMs: 2_000,
          what: 'the monitor to arm its next check',
        },
      );
      clock.advance(ms);
    };
    for (let i = 0; i < 6; i++) await step(2_500); // exactly 3 periods of silence: not yet down
    expect(state(W2)).not.toBe('down');
    await step(100);
    await waitFor(
      () => (state(W2) === 'down' ? { done: true, value: 0 } : { done: false, state: state(W2) }),
      { timeoutMs: 2_000, what: 'W2 down within 100 ms of its deadline' },
    );
    monitor.abort();
    await monitoring;
  });
});

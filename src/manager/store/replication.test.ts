import { describe, expect, it } from 'vitest';
import type { NodeId, Service, ServiceId, TaskId } from '../../api/index.js';
import { isSwarmError, ManualClock } from '../../common/index.js';
import { by } from './by.js';
import { type ChangeSet, decodeChangeSet, encodeChangeSet } from './change-set.js';
import type { MemoryStore } from './memory-store.js';
import { decodeStoreSnapshot } from './snapshot.js';
import { storeStateMachine } from './state-machine.js';
import { idSource, localStore, logStore, newNode, newService, newTask } from './test-fixtures.js';

const nextId = idSource(99);

/** A store with history: creates, updates that move index keys, deletes, several kinds. */
async function populated(store: MemoryStore, clock: ManualClock): Promise<void> {
  const nodes = [nextId<NodeId>(), nextId<NodeId>()];
  const services: ServiceId[] = [];
  await store.update((tx) => {
    nodes.forEach((n, i) => {
      tx.create('node', newNode(n, `host-${i}`, i === 0 ? 'manager' : 'worker'));
    });
  });
  for (let s = 0; s < 3; s++) {
    clock.advance(10);
    const sid = nextId<ServiceId>();
    services.push(sid);
    await store.update((tx) => {
      const svc = tx.create('service', newService(sid, `svc-${s}`, 4)) as Service;
      for (let slot = 1; slot <= 4; slot++)
        tx.create(
          'task',
          newTask(nextId<TaskId>(), svc, slot, { nodeId: nodes[slot % 2], state: 'running' }),
        );
    });
  }
  await store.update((tx) => {
    for (const t of tx.find('task', by.nodeId(nodes[0]!)))
      tx.update('task', {
        ...t,
        nodeId: nodes[1],
        desiredState: 'shutdown',
        status: { ...t.status, state: 'shutdown' },
      });
    tx.delete('service', services[2]!);
    for (const t of tx.find('task', by.serviceId(services[2]!))) tx.delete('task', t);
  });
}

function queries(store: MemoryStore): unknown {
  return store.view((tx) => ({
    all: tx.find('task', by.all()),
    nodes: tx.find('node', by.all()),
    services: tx.find('service', by.all()),
    running: tx.find('task', by.taskState('running')).map((t) => t.id),
    shutdown: tx.find('task', by.desiredState('shutdown')).map((t) => t.id),
    byNode: tx.find('node', by.all()).map((n) => tx.find('task', by.nodeId(n.id)).map((t) => t.id)),
    byName: tx.find('service', by.name('SVC-1')).map((s) => s.id),
  }));
}

describe('store snapshots', () => {
  it.each([true, false])(
    'sliced encoding gives the same bytes, of the state when it was called, yielding between slices (compressed: %s)',
    async (compress) => {
      const clock = new ManualClock(1_000);
      const store = localStore(clock);
      await populated(store, clock);
      const before = store.encodeSnapshot(compress);
      let turns = 0;
      let release: () => void = () => {};
      const sliced = store.encodeSnapshotSliced({
        compress,
        sliceObjects: 2,
        turn: () => {
          turns++;
          // The first turn waits until the store has changed under the encoding.
          return turns === 1 ? new Promise<void>((r) => (release = r)) : Promise.resolve();
        },
      });
      await store.update((tx) => {
        tx.create('node', newNode(nextId<NodeId>(), 'late', 'worker'));
      });
      release();
      const bytes = await sliced;
      // A turn before every slice of two objects but each kind's first.
      const lists = Object.values(decodeStoreSnapshot(before).objects);
      expect(turns).toBe(lists.reduce((n, l) => n + Math.max(0, Math.ceil(l.length / 2) - 1), 0));
      expect(turns).toBeGreaterThan(1);
      expect(Buffer.from(bytes).equals(Buffer.from(before))).toBe(true);
      expect(Buffer.from(store.encodeSnapshot(compress)).equals(Buffer.from(before))).toBe(false);
    },
  );

  it.each([true, false])(
    'snapshot -> restore gives an identical store and queries (compressed: %s)',
    async (compress) => {
      const clock = new ManualClock(1_000);
      const original = localStore(clock);
      await populated(original, clock);
      const bytes = original.encodeSnapshot(compress);
      const copy = localStore();
      copy.restoreEncoded(bytes);
      expect(copy.version).toBe(original.version);
      expect(Buffer.from(copy.encodeSnapshot(compress)).equals(Buffer.from(bytes))).toBe(true);
      expect(queries(copy)).toEqual(queries(original));
      // Both continue identically: the same committed change set gets the same version and result.
      const sid = nextId<ServiceId>();
      const next: ChangeSet = {
        changes: [
          {
            action: 'create',
            kind: 'service',
            object: { ...newService(sid, 'after'), meta: { version: 0, createdAt: 7, updatedAt: 7 } },
          },
        ],
      };
      expect(copy.applyCommitted(next)).toEqual(original.applyCommitted(next));
      expect(copy.view((tx) => tx.get('service', sid))).toEqual(
        original.view((tx) => tx.get('service', sid)),
      );
    },
  );

  it('closes watches on restore so consumers resync', async () => {
    const store = localStore();
    const watch = store.watch();
    store.restoreEncoded(localStore().encodeSnapshot());
    const err = await watch.next().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isSwarmError(err, 'UNAVAILABLE')).toBe(true);
  });

  it.each([
    ['empty input', new Uint8Array()],
    ['unknown format', Uint8Array.of(9, 123, 125)],
    ['bad JSON', Uint8Array.of(1, 123)],
    ['missing version', Uint8Array.of(1, ...Buffer.from('{"objects":{}}'))],
    ['unknown kind', Uint8Array.of(1, ...Buffer.from('{"version":1,"objects":{"volume":[]}}'))],
  ])('rejects a corrupt snapshot (%s)', (_what, data) => {
    expect(() => decodeStoreSnapshot(data)).toThrow(expect.objectContaining({ code: 'CORRUPTION' }));
  });
});

describe('change sets', () => {
  it('encode/decode round-trips a transaction change set', async () => {
    const { store, proposer } = logStore();
    const sid = nextId<ServiceId>();
    const p = store.update((tx) => {
      const s = tx.create('service', newService(sid, 'web', 2)) as Service;
      tx.create('task', newTask(nextId(), s, 1));
    });
    proposer.commitAll();
    await p;
    const sv = store.view((tx) => tx.get('service', sid))!;
    const cs: ChangeSet = {
      changes: [
        { action: 'update', kind: 'service', object: sv, expectedVersion: 1 },
        { action: 'delete', kind: 'task', id: nextId() },
        { action: 'delete', kind: 'service', id: sid, expectedVersion: 2 },
      ],
    };
    expect(decodeChangeSet(encodeChangeSet(cs))).toEqual(cs);
    const logged = decodeChangeSet(proposer.log[0]!);
    expect(logged.changes.map((c) => `${c.action}:${c.kind}`)).toEqual(['create:service', 'create:task']);
  });

  it.each([
    ['unknown format', Uint8Array.of(7)],
    ['bad JSON', Uint8Array.of(1, 0x7b)],
    ['unknown action', Uint8Array.of(1, ...Buffer.from('{"changes":[{"action":"merge","kind":"task"}]}'))],
    [
      'unknown kind',
      Uint8Array.of(1, ...Buffer.from('{"changes":[{"action":"delete","kind":"volume","id":"x"}]}')),
    ],
    [
      'update without version',
      Uint8Array.of(
        1,
        ...Buffer.from(
          '{"changes":[{"action":"update","kind":"task","object":{"id":"x","meta":{"createdAt":1,"updatedAt":1}}}]}',
        ),
      ),
    ],
  ])('rejects a corrupt change set (%s)', (_what, data) => {
    expect(() => decodeChangeSet(data)).toThrow(expect.objectContaining({ code: 'CORRUPTION' }));
  });

  it('replicas applying the same log end in the same state, conflicts included', async () => {
    const { store: leader, proposer } = logStore(true);
    const follower = localStore();
    proposer.addReplica(follower);
    const sid = nextId<ServiceId>();
    await leader.update((tx) => tx.create('service', newService(sid, 'web')));
    const bump = (n: number) =>
      leader.update((tx) => {
        const s = tx.get('service', sid)!;
        tx.update('service', { ...s, specVersion: n });
      });
    const results = await Promise.allSettled([bump(2), bump(3), bump(4)]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'rejected']);
    expect(Buffer.from(follower.encodeSnapshot()).equals(Buffer.from(leader.encodeSnapshot()))).toBe(true);
    expect(follower.view((tx) => tx.get('service', sid))!.specVersion).toBe(2);
  });

  it('works as a Raft state machine: apply returns per-entry results, snapshot/restore carry the store', async () => {
    const source = localStore();
    const sid = nextId<ServiceId>();
    const create = {
      changes: [
        {
          action: 'create',
          kind: 'service',
          object: { ...newService(sid, 'web'), meta: { version: 0, createdAt: 1, updatedAt: 1 } },
        },
      ],
    } as ChangeSet;
    const sm = storeStateMachine(source);
    const results = sm.apply([{ data: encodeChangeSet(create) }, { data: encodeChangeSet(create) }]);
    expect(results[0]).toEqual({ ok: true, version: 1 });
    expect(results[1]?.ok === false && results[1].error.code).toBe('ALREADY_EXISTS');
    const target = localStore();
    storeStateMachine(target).restore(await sm.snapshot());
    expect(target.view((tx) => tx.get('service', sid))?.meta.version).toBe(1);
    expect(() => sm.apply([{ data: Uint8Array.of(3) }])).toThrow(
      expect.objectContaining({ code: 'CORRUPTION' }),
    );
  });
});

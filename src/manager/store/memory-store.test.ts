import { describe, expect, it } from 'vitest';
import type { NodeId, Service, ServiceId, TaskId } from '../../api/index.js';
import { BugError, isSwarmError, ManualClock } from '../../common/index.js';
import { by } from './by.js';
import { AlreadyExistsError, NameConflictError, VersionConflictError } from './errors.js';
import { idSource, localStore, logStore, newNode, newService, newTask } from './test-fixtures.js';

const nextId = idSource(42);

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error('expected a rejection');
}

describe('MemoryStore transactions', () => {
  it('creates objects with versions from the store and timestamps from the proposer clock', async () => {
    const clock = new ManualClock(5_000);
    const store = localStore(clock);
    const id = nextId<ServiceId>();
    await store.update((tx) => tx.create('service', newService(id, 'web')));
    const s = store.view((tx) => tx.get('service', id))!;
    expect(s.meta).toEqual({ version: 1, createdAt: 5_000, updatedAt: 5_000 });
    clock.advance(100);
    await store.update((tx) => tx.update('service', { ...s, specVersion: 2 }));
    const s2 = store.view((tx) => tx.get('service', id))!;
    expect(s2.meta).toEqual({ version: 2, createdAt: 5_000, updatedAt: 5_100 });
    expect(s2.specVersion).toBe(2);
    expect(store.version).toBe(2);
    expect(Object.isFrozen(s2)).toBe(true);
  });

  it('writes nothing when the transaction callback throws', async () => {
    const store = localStore();
    const a = nextId<ServiceId>();
    const err = await rejection(
      store.update((tx) => {
        tx.create('service', newService(a, 'a'));
        tx.create('service', newService(nextId(), 'b'));
        throw new BugError('boom');
      }),
    );
    expect(isSwarmError(err, 'BUG')).toBe(true);
    expect(store.view((tx) => tx.find('service', by.all()))).toEqual([]);
    expect(store.version).toBe(0);
  });

  it('applies nothing of a change set in which one change is rejected at apply time', async () => {
    const { store, proposer } = logStore();
    const taken = nextId<ServiceId>();
    const p1 = store.update((tx) => tx.create('service', newService(taken, 'taken')));
    const p2 = store.update((tx) => {
      tx.create('service', newService(nextId(), 'fresh'));
      tx.create('service', newService(nextId(), 'TAKEN'));
    });
    proposer.commitAll();
    await p1;
    expect(await rejection(p2)).toBeInstanceOf(NameConflictError);
    expect(store.view((tx) => tx.find('service', by.all()).map((s) => s.spec.name))).toEqual(['taken']);
    expect(store.version).toBe(1);
  });

  it('rejects an update from a stale read inside the transaction (VERSION_CONFLICT)', async () => {
    const store = localStore();
    const id = nextId<ServiceId>();
    await store.update((tx) => tx.create('service', newService(id, 'web')));
    const stale = store.view((tx) => tx.get('service', id))!;
    await store.update((tx) => tx.update('service', { ...stale, specVersion: 2 }));
    const err = await rejection(store.update((tx) => tx.update('service', { ...stale, specVersion: 3 })));
    expect(err).toBeInstanceOf(VersionConflictError);
    expect(isSwarmError(err, 'VERSION_CONFLICT')).toBe(true);
    expect((err as VersionConflictError).expectedVersion).toBe(1);
    expect((err as VersionConflictError).actualVersion).toBe(2);
    expect(store.view((tx) => tx.get('service', id))!.specVersion).toBe(2);
  });

  it('resolves two concurrent conflicting proposals at apply time: the later one is rejected', async () => {
    const { store, proposer } = logStore();
    const id = nextId<ServiceId>();
    const created = store.update((tx) => tx.create('service', newService(id, 'web')));
    proposer.commitAll();
    await created;
    const bump = (label: string) =>
      store.update((tx) => {
        const s = tx.get('service', id)!;
        tx.update('service', { ...s, spec: { ...s.spec, labels: { by: label } } });
      });
    const first = bump('first');
    const second = bump('second');
    expect(proposer.queued).toBe(2);
    proposer.commitAll();
    await first;
    const err = await rejection(second);
    expect(isSwarmError(err, 'VERSION_CONFLICT')).toBe(true);
    expect(store.view((tx) => tx.get('service', id))!.spec.labels).toEqual({ by: 'first' });
    expect(store.version).toBe(2);
  });

  it('re-runs a transaction that lost a race when retries are allowed', async () => {
    const { store } = logStore(true);
    const id = nextId<ServiceId>();
    await store.update((tx) => tx.create('service', newService(id, 'counter', 0)));
    const increment = () =>
      store.update(
        (tx) => {
          const s = tx.get('service', id)!;
          const replicas = s.spec.mode.type === 'replicated' ? s.spec.mode.replicas : 0;
          tx.update('service', {
            ...s,
            spec: { ...s.spec, mode: { type: 'replicated', replicas: replicas + 1 } },
          });
        },
        { retries: 10 },
      );
    await Promise.all([increment(), increment(), increment(), increment()]);
    expect(store.view((tx) => tx.get('service', id))!.spec.mode).toEqual({ type: 'replicated', replicas: 4 });
  });

  it('enforces unique names per kind, case-insensitively, in and across transactions', async () => {
    const store = localStore();
    const web = nextId<ServiceId>();
    await store.update((tx) => tx.create('service', newService(web, 'web')));
    const e1 = await rejection(store.update((tx) => tx.create('service', newService(nextId(), 'WEB'))));
    expect(e1).toBeInstanceOf(NameConflictError);
    expect((e1 as NameConflictError).existingId).toBe(web);
    const e2 = await rejection(
      store.update((tx) => {
        tx.create('service', newService(nextId(), 'api'));
        tx.create('service', newService(nextId(), 'Api'));
      }),
    );
    expect(isSwarmError(e2, 'NAME_CONFLICT')).toBe(true);
    // Freeing a name and taking it in the same transaction is fine; nodes' names are not unique.
    await store.update((tx) => {
      tx.delete('service', web);
      tx.create('service', newService(nextId(), 'web'));
      tx.create('node', newNode(nextId(), 'host'));
      tx.create('node', newNode(nextId(), 'host'));
    });
    expect(store.view((tx) => tx.find('node', by.name('HOST')))).toHaveLength(2);
  });

  it('raises AlreadyExists, NotFound and invalid-id errors', async () => {
    const store = localStore();
    const id = nextId<ServiceId>();
    await store.update((tx) => tx.create('service', newService(id, 'web')));
    expect(
      await rejection(store.update((tx) => tx.create('service', newService(id, 'other')))),
    ).toBeInstanceOf(AlreadyExistsError);
    const ghost = { ...store.view((tx) => tx.get('service', id))!, id: nextId<ServiceId>() };
    expect(
      isSwarmError(await rejection(store.update((tx) => tx.update('service', ghost))), 'NOT_FOUND'),
    ).toBe(true);
    expect(
      isSwarmError(await rejection(store.update((tx) => tx.delete('task', nextId()))), 'NOT_FOUND'),
    ).toBe(true);
    const bad = await rejection(
      store.update((tx) => tx.create('service', newService('Nope' as ServiceId, 'x'))),
    );
    expect(isSwarmError(bad, 'INVALID_ARGUMENT')).toBe(true);
    expect((bad as Error).message).toContain('"Nope"');
  });

  it('deletes by object only if its version is still current; by id unconditionally', async () => {
    const store = localStore();
    const id = nextId<ServiceId>();
    await store.update((tx) => tx.create('service', newService(id, 'web')));
    const v1 = store.view((tx) => tx.get('service', id))!;
    await store.update((tx) => tx.update('service', v1));
    expect(
      isSwarmError(await rejection(store.update((tx) => tx.delete('service', v1))), 'VERSION_CONFLICT'),
    ).toBe(true);
    await store.update((tx) => tx.delete('service', id));
    expect(store.view((tx) => tx.get('service', id))).toBeUndefined();
  });

  it('lets a transaction read its own writes', async () => {
    const store = localStore();
    const keep = nextId<ServiceId>();
    const drop = nextId<ServiceId>();
    await store.update((tx) => {
      tx.create('service', newService(keep, 'keep'));
      tx.create('service', newService(drop, 'drop'));
    });
    const seen = await store.update((tx) => {
      tx.delete('service', drop);
      const added = tx.create('service', newService(nextId(), 'added'));
      tx.update('service', { ...added, specVersion: 7 });
      return tx.find('service', by.all()).map((s) => `${s.spec.name}:${s.specVersion}`);
    });
    expect(seen.sort()).toEqual(['added:7', 'keep:1']);
    expect(store.version).toBe(2);
  });

  it('refuses task updates that move the observed or desired state backwards', async () => {
    const store = localStore();
    const sid = nextId<ServiceId>();
    const tid = nextId<TaskId>();
    await store.update((tx) => {
      const s = tx.create('service', newService(sid, 'web')) as Service;
      tx.create('task', newTask(tid, s, 1, { state: 'running' }));
    });
    const t = store.view((tx) => tx.get('task', tid))!;
    const back = await rejection(
      store.update((tx) => tx.update('task', { ...t, status: { ...t.status, state: 'pending' } })),
    );
    expect(isSwarmError(back, 'FAILED_PRECONDITION')).toBe(true);
    expect((back as Error).message).toContain('running to pending');
    const desiredBack = await rejection(
      store.update((tx) => tx.update('task', { ...t, desiredState: 'ready' })),
    );
    expect(isSwarmError(desiredBack, 'FAILED_PRECONDITION')).toBe(true);
    // Same state with new details (health, message) and forward moves are fine.
    await store.update((tx) => tx.update('task', { ...t, status: { ...t.status, health: 'healthy' } }));
    const t2 = store.view((tx) => tx.get('task', tid))!;
    await store.update((tx) =>
      tx.update('task', { ...t2, desiredState: 'shutdown', status: { ...t2.status, state: 'shutdown' } }),
    );
    expect(store.view((tx) => tx.get('task', tid))!.status).toMatchObject({
      state: 'shutdown',
      health: 'healthy',
    });
  });

  it('refuses async transaction callbacks', async () => {
    const store = localStore();
    expect(() => store.view(async () => 1)).toThrow(BugError);
    expect(await rejection(store.update(async () => 1))).toBeInstanceOf(BugError);
  });

  it('refuses a transaction object used after its callback returned', async () => {
    const store = localStore();
    let leaked: { get: (k: 'service', id: string) => unknown } | undefined;
    store.view((tx) => {
      leaked = tx;
    });
    expect(() => leaked!.get('service', 'x')).toThrow(BugError);
  });
});

describe('MemoryStore indexes', () => {
  it('types selectors by kind', () => {
    const store = localStore();
    store.view((tx) => {
      // @ts-expect-error a task selector does not apply to services
      expect(tx.find('service', by.serviceId(nextId()))).toEqual([]);
      // @ts-expect-error tasks have no name index
      expect(tx.find('task', by.name('x'))).toEqual([]);
      expect(tx.find('cluster', by.name('default'))).toEqual([]);
    });
  });

  it('keeps every index right across creates, updates and deletes', async () => {
    const store = localStore();
    const [n1, n2] = [nextId<NodeId>(), nextId<NodeId>()];
    const sid = nextId<ServiceId>();
    const tids = [nextId<TaskId>(), nextId<TaskId>(), nextId<TaskId>()];
    await store.update((tx) => {
      tx.create('node', newNode(n1, 'alpha', 'manager'));
      tx.create('node', newNode(n2, 'beta'));
      const s = tx.create('service', newService(sid, 'web', 3)) as Service;
      tids.forEach((t, i) => {
        tx.create('task', newTask(t, s, i + 1, { nodeId: i < 2 ? n1 : n2, state: 'running' }));
      });
    });
    const ids = (xs: readonly { id: string }[]): string[] => xs.map((x) => x.id);
    const q = () =>
      store.view((tx) => ({
        service: ids(tx.find('task', by.serviceId(sid))),
        n1: ids(tx.find('task', by.nodeId(n1))),
        n2: ids(tx.find('task', by.nodeId(n2))),
        slot1: ids(tx.find('task', by.slot(sid, 1))),
        running: ids(tx.find('task', by.taskState('running'))),
        failed: ids(tx.find('task', by.taskState('failed'))),
        shutdown: ids(tx.find('task', by.desiredState('shutdown'))),
        managers: ids(tx.find('node', by.role('manager'))),
        byName: ids(tx.find('service', by.name('WEB'))),
        byHostname: ids(tx.find('node', by.name('beta'))),
      }));
    expect(q()).toMatchObject({
      service: [...tids].sort(),
      n1: [tids[0], tids[1]].sort(),
      n2: [tids[2]],
      slot1: [tids[0]],
      running: [...tids].sort(),
      failed: [],
      managers: [n1],
      byName: [sid],
      byHostname: [n2],
    });
    await store.update((tx) => {
      const t0 = tx.get('task', tids[0]!)!;
      tx.update('task', {
        ...t0,
        nodeId: n2,
        desiredState: 'shutdown',
        status: { ...t0.status, state: 'failed' },
      });
      tx.delete('task', tids[2]!);
      const s = tx.get('service', sid)!;
      tx.update('service', { ...s, spec: { ...s.spec, name: 'api' } });
    });
    expect(q()).toEqual({
      service: [tids[0], tids[1]].sort(),
      n1: [tids[1]],
      n2: [tids[0]],
      slot1: [tids[0]],
      running: [tids[1]],
      failed: [tids[0]],
      shutdown: [tids[0]],
      managers: [n1],
      byName: [],
      byHostname: [n2],
    });
    expect(store.view((tx) => ids(tx.find('service', by.name('api'))))).toEqual([sid]);
    expect(store.view((tx) => ids(tx.find('task', by.idPrefix(tids[1]!.slice(0, 6)))))).toEqual([tids[1]]);
  });
});

import { describe, expect, it } from 'vitest';
import type { ServiceId, StoreEvent, TaskId } from '../../api/index.js';
import { isSwarmError } from '../../common/index.js';
import { by } from './by.js';
import { WatchClosedError } from './errors.js';
import { idSource, localStore, logStore, newService, newTask, take } from './test-fixtures.js';

const nextId = idSource(7);

function describeEvent(e: StoreEvent): string {
  if (e.kind === 'commit') return `commit@${e.version}`;
  const name = e.kind === 'service' ? (e.new ?? e.old).spec.name : e.kind;
  return `${e.action}:${name}`;
}

describe('MemoryStore watches', () => {
  it('delivers create, update and delete with old and new, then a commit marker', async () => {
    const store = localStore();
    const watch = store.watch();
    const id = nextId<ServiceId>();
    await store.update((tx) => tx.create('service', newService(id, 'web')));
    const s = store.view((tx) => tx.get('service', id))!;
    await store.update((tx) => tx.update('service', { ...s, spec: { ...s.spec, name: 'api' } }));
    await store.update((tx) => tx.delete('service', id));
    const events = await take(watch, 6);
    expect(events.map(describeEvent)).toEqual([
      'create:web',
      'commit@1',
      'update:api',
      'commit@2',
      'delete:api',
      'commit@3',
    ]);
    const [created, , updated, , deleted] = events;
    expect(created).toMatchObject({ action: 'create', old: undefined, new: { id, meta: { version: 1 } } });
    expect(updated).toMatchObject({
      old: { spec: { name: 'web' } },
      new: { spec: { name: 'api' }, meta: { version: 2 } },
    });
    expect(deleted).toMatchObject({ action: 'delete', old: { meta: { version: 2 } } });
    expect(deleted).not.toHaveProperty('new');
    watch.dispose();
    expect((await watch.next()).done).toBe(true);
  });

  it('filters by kind, action and predicate, with commit markers only for matching change sets', async () => {
    const store = localStore();
    const sid = nextId<ServiceId>();
    const tasks = store.watch({ kinds: ['task'], actions: ['create'], filter: (e) => e.new?.slot !== 2 });
    await store.update((tx) => tx.create('service', newService(sid, 'web', 2)));
    const s = store.view((tx) => tx.get('service', sid))!;
    await store.update((tx) => {
      tx.create('task', newTask(nextId(), s, 1));
      tx.create('task', newTask(nextId(), s, 2));
    });
    await store.update((tx) => tx.create('task', newTask(nextId(), s, 3)));
    const events = await take(tasks, 4);
    const slots = events.map((e) => (e.kind === 'task' ? e.new!.slot : `commit@${e.version}`));
    expect(slots).toEqual([1, 'commit@2', 3, 'commit@3']);
  });

  it('viewAndWatch misses nothing and repeats nothing while proposals are in flight', async () => {
    const { store, proposer } = logStore();
    const sid = nextId<ServiceId>();
    const created = store.update((tx) => tx.create('service', newService(sid, 'web')));
    proposer.commitAll();
    await created;
    const s = store.view((tx) => tx.get('service', sid))!;
    const all: TaskId[] = [];
    const writes: Promise<void>[] = [];
    const write = (count: number): void => {
      for (let i = 0; i < count; i++) {
        const id = nextId<TaskId>();
        all.push(id);
        writes.push(store.update((tx) => void tx.create('task', newTask(id, s, all.length))));
      }
    };
    write(40);
    proposer.commit(15); // 15 applied, 25 proposed and still in flight
    const { result: seen, watch } = store.viewAndWatch(
      (tx) => tx.find('task', by.serviceId(sid)).map((t) => t.id),
      {
        kinds: ['task'],
        commits: false,
      },
    );
    write(20);
    proposer.commit(10);
    proposer.commitAll();
    await Promise.all(writes);
    expect(seen).toHaveLength(15);
    const later = (await take(watch, all.length - seen.length)).map((e) =>
      e.kind === 'task' ? e.new!.id : '',
    );
    expect(new Set([...seen, ...later]).size).toBe(all.length);
    expect([...seen, ...later].sort()).toEqual([...all].sort());
  });

  it('closes a slow watcher with a typed error and never blocks commits or other watchers', async () => {
    const store = localStore();
    const slow = store.watch({ bufferSize: 5 });
    const fast = store.watch({ bufferSize: 1_000 });
    for (let i = 0; i < 20; i++)
      await store.update((tx) => tx.create('service', newService(nextId(), `s${i}`)));
    expect(store.version).toBe(20);
    const err = await slow.next().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(WatchClosedError);
    expect(isSwarmError(err, 'RESOURCE_EXHAUSTED')).toBe(true);
    expect((err as WatchClosedError).reason).toBe('overflow');
    expect((await slow.next()).done).toBe(true);
    expect((await take(fast, 40)).filter((e) => e.kind === 'commit')).toHaveLength(20);
  });

  it('ends a watch when its signal aborts, and fails open watches when the store closes', async () => {
    const store = localStore();
    const ac = new AbortController();
    const aborted = store.watch({}, ac.signal);
    const open = store.watch();
    const pending = aborted.next();
    ac.abort();
    expect((await pending).done).toBe(true);
    store.close();
    const err = await open.next().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isSwarmError(err, 'STOPPED')).toBe(true);
    expect(isSwarmError(await store.update(() => 1).catch((e: unknown) => e), 'STOPPED')).toBe(true);
  });

  it('hands events to a consumer already waiting in for-await', async () => {
    const store = localStore();
    const watch = store.watch({ kinds: ['service'], commits: false });
    const names: string[] = [];
    const consumer = (async () => {
      for await (const e of watch) {
        if (e.kind === 'service') names.push(e.new!.spec.name);
        if (names.length === 3) break;
      }
    })();
    for (const n of ['a', 'b', 'c'])
      await store.update((tx) => tx.create('service', newService(nextId(), n)));
    await consumer;
    expect(names).toEqual(['a', 'b', 'c']);
    expect((await watch.next()).done).toBe(true);
  });
});

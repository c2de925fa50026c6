import { describe, expect, it } from 'vitest';
import { isSwarmError, SeededRandom } from '../../common/index.js';
import type { Entry } from '../types.js';
import { EventQueue } from './event-queue.js';
import { FAST_DISK, SimDisk } from './sim-memory-storage.js';

const entry = (index: number, term = 1): Entry => ({
  index,
  term,
  type: 'normal',
  data: new Uint8Array([index]),
});

function setup(config = FAST_DISK, seed = 1) {
  const queue = new EventQueue();
  const disk = new SimDisk(queue, new SeededRandom(seed), config, 'n1');
  const drain = (): void => {
    while (queue.step() !== undefined) {}
  };
  return { queue, disk, drain };
}

/** Lets promise callbacks run after events fired. */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('SimDisk (simulation stand-in storage)', () => {
  it('makes a batch durable only after the simulated fsync, then load() sees it', async () => {
    const { disk, drain } = setup();
    const storage = disk.open();
    let done = false;
    const p = storage.save({ entries: [entry(1), entry(2)], hardState: { term: 1, vote: 'n1', commit: 0 } });
    void p.then(() => {
      done = true;
    });
    await settle();
    expect(done).toBe(false);
    expect(disk.durable().entries).toHaveLength(0);
    drain();
    await p;
    expect(done).toBe(true);
    const loaded = await disk.open().load();
    expect(loaded.entries.map((e) => e.index)).toEqual([1, 2]);
    expect(loaded.hardState.vote).toBe('n1');
  });

  it('loses unsynced writes on a crash and refuses the old incarnation', async () => {
    const { disk, drain } = setup();
    const old = disk.open();
    await Promise.all([old.save({ entries: [entry(1)] }), Promise.resolve(drain())]);
    void old.save({ entries: [entry(2)] });
    disk.crash();
    drain();
    expect((await disk.open().load()).entries.map((e) => e.index)).toEqual([1]);
    expect(disk.stats.lostWrites).toBe(1);
    await expect(old.save({ entries: [entry(2)] })).rejects.toSatisfy((e: unknown) =>
      isSwarmError(e, 'STOPPED'),
    );
  });

  it('keeps a prefix of the unsynced writes on a torn crash', async () => {
    const kept = new Set<number>();
    for (let seed = 0; seed < 20; seed++) {
      const { disk } = setup({ ...FAST_DISK, tornRate: 1 }, seed);
      const s = disk.open();
      for (let i = 1; i <= 4; i++) void s.save({ entries: [entry(i)] });
      disk.crash();
      const got = (await disk.open().load()).entries.map((e) => e.index);
      expect(got).toEqual([1, 2, 3, 4].slice(0, got.length));
      kept.add(got.length);
    }
    expect(kept.size).toBeGreaterThan(2);
  });

  it('replaces a conflicting suffix and compacts on saveSnapshot, keeping the tail', async () => {
    const { disk, drain } = setup();
    const s = disk.open();
    const saves = [
      s.save({ entries: [entry(1), entry(2), entry(3)] }),
      s.save({ entries: [entry(2, 2)] }),
      s.saveSnapshot(
        { meta: { index: 2, term: 2, conf: { voters: ['n1'], learners: [] } }, data: new Uint8Array() },
        2,
      ),
    ];
    drain();
    await Promise.all(saves);
    const loaded = await disk.open().load();
    expect(loaded.snapshot?.meta.index).toBe(2);
    expect(loaded.entries).toEqual([]);
  });

  it('fails an fsync with an IO error when told to', async () => {
    const { disk, drain } = setup({ ...FAST_DISK, syncFailRate: 1 });
    const p = disk.open().save({ entries: [entry(1)] });
    drain();
    await expect(p).rejects.toSatisfy((e: unknown) => isSwarmError(e, 'IO'));
    expect(disk.stats.syncFailures).toBe(1);
  });
});

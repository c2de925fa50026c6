/**
 * Crash consistency on the simulated disk: a seeded workload of saves, follower truncations,
 * snapshots and received snapshots is cut short by a crash at every mutating disk operation in
 * turn, under each way of losing unsynced data. After a restart the loaded state must be the
 * state after every acknowledged step, plus at most the one step in flight: an acknowledged
 * save is never lost and nothing half-done is ever visible.
 */
import { describe, expect, it } from 'vitest';
import { SeededRandom } from '../../common/index.js';
import type { Entry, HardState, LoadedState, Snapshot } from '../types.js';
import { EMPTY_HARD_STATE } from '../types.js';
import type { Cipher } from './cipher.js';
import { AesGcmCipher } from './cipher.js';
import type { CrashOptions } from './sim-fs.js';
import { SimFs } from './sim-fs.js';
import { entry, labels, snapshot } from './test-support.js';
import { WalStorage } from './wal-storage.js';

type Step = (s: WalStorage) => Promise<void>;

interface Expected {
  readonly hardState: HardState;
  readonly snapshotIndex: number | null;
  readonly entries: readonly string[];
}

/** A seeded workload and the state expected after each prefix of it (the model). */
function workload(seed: number, length: number): { steps: Step[]; expected: Expected[] } {
  const random = new SeededRandom(seed);
  let log: Entry[] = [];
  let snap: Snapshot | null = null;
  let hard: HardState = EMPTY_HARD_STATE;
  const steps: Step[] = [];
  const view = (): Expected => {
    const after = snap?.meta.index ?? 0;
    return {
      hardState: hard,
      snapshotIndex: snap?.meta.index ?? null,
      entries: labels(log.filter((e) => e.index > after)),
    };
  };
  const expected = [view()];
  const last = (): number => log.at(-1)?.index ?? snap?.meta.index ?? 0;
  const append = (from: number, count: number, term: number): Entry[] => {
    const fresh = Array.from({ length: count }, (_, i) =>
      entry(from + i, term, new Uint8Array(random.int(0, 90)).fill(i)),
    );
    log = [...log.filter((e) => e.index < from), ...fresh];
    return fresh;
  };
  for (let i = 0; i < length; i++) {
    const roll = random.next();
    const floor = Math.max(hard.commit, snap?.meta.index ?? 0) + 1;
    if (roll < 0.12 && hard.commit > (snap?.meta.index ?? 0)) {
      const s = snapshot(hard.commit, log.find((e) => e.index === hard.commit)!.term);
      const keepFrom = Math.max(1, s.meta.index - random.int(0, 4));
      snap = s;
      steps.push((st) => st.saveSnapshot(s, keepFrom));
    } else if (roll < 0.17) {
      const s = snapshot(last() + random.int(1, 6), hard.term + 1);
      hard = { term: hard.term + 1, vote: null, commit: s.meta.index };
      const h = hard;
      snap = s;
      log = [];
      steps.push((st) => st.save({ snapshot: s, entries: [], hardState: h }));
    } else if (roll < 0.3 && last() >= floor) {
      hard = { term: hard.term + 1, vote: `n${random.int(1, 4)}`, commit: hard.commit };
      const h = hard;
      const fresh = append(random.int(floor, last() + 1), random.int(1, 4), hard.term);
      steps.push((st) => st.save({ entries: fresh, hardState: h }));
    } else {
      const fresh = append(last() + 1, random.int(0, 6), Math.max(1, hard.term));
      hard = { term: Math.max(1, hard.term), vote: hard.vote, commit: random.int(hard.commit, last() + 1) };
      const h = hard;
      steps.push((st) => st.save({ entries: fresh, hardState: h }));
    }
    expected.push(view());
  }
  return { steps, expected };
}

function observed(state: LoadedState): Expected {
  if (state.snapshot)
    expect(state.snapshot).toEqual(snapshot(state.snapshot.meta.index, state.snapshot.meta.term));
  return {
    hardState: state.hardState,
    snapshotIndex: state.snapshot?.meta.index ?? null,
    entries: labels(state.entries),
  };
}

const OPTIONS = { segmentBytes: 600 };

async function runUntilCrash(fs: SimFs, steps: readonly Step[], cipher?: Cipher): Promise<number> {
  const storage = new WalStorage('/node', { fs, cipher }, OPTIONS);
  let acked = 0;
  try {
    await storage.load();
    for (const step of steps) {
      await step(storage);
      acked++;
    }
  } catch {
    // The crash: the steps that resolved before it are the acknowledged ones.
  }
  return acked;
}

async function checkEveryCrashPoint(seed: number, crash: CrashOptions, cipher?: Cipher): Promise<number> {
  const { steps, expected } = workload(seed, 40);
  const probe = new SimFs({ random: new SeededRandom(seed) });
  expect(await runUntilCrash(probe, steps, cipher)).toBe(steps.length);
  const total = probe.opCount;
  for (let k = 0; k <= total; k++) {
    const fs = new SimFs({ random: new SeededRandom(seed * 1000 + k) });
    fs.scheduleCrash(k, crash);
    const acked = await runUntilCrash(fs, steps, cipher);
    let booted = fs.crash(crash);
    if (k % 3 === 0) {
      // Crash once more in the middle of recovery itself.
      booted.scheduleCrash(k % 7, crash);
      await new WalStorage('/node', { fs: booted, cipher }, OPTIONS).load().catch(() => {});
      booted = booted.crash(crash);
    }
    const state = observed(await new WalStorage('/node', { fs: booted, cipher }, OPTIONS).load());
    const allowed = [expected[acked], expected[acked + 1]].filter((x) => x !== undefined);
    expect(allowed, `crash at op ${k}/${total} after ${acked} acknowledged steps`).toContainEqual(state);
  }
  return total;
}

describe('WalStorage crash consistency (SimFs)', () => {
  it.each<[string, CrashOptions]>([
    ['unsynced data lost', {}],
    ['torn tail', { writes: 'torn' }],
    ['garbage after a torn prefix', { writes: 'garbage', someDirChanges: true }],
    ['reordered unsynced writes', { writes: 'reorder', someDirChanges: true }],
  ])('never loses an acknowledged step nor shows a half-done one: %s', async (_name, crash) => {
    for (const seed of [1, 2]) expect(await checkEveryCrashPoint(seed, crash)).toBeGreaterThan(100);
  });

  it('holds with encryption at rest too', async () => {
    const cipher = new AesGcmCipher({
      keys: [{ id: 'k1', key: new Uint8Array(32).fill(3) }],
      activeKeyId: 'k1',
    });
    expect(await checkEveryCrashPoint(3, { writes: 'torn' }, cipher)).toBeGreaterThan(100);
  });

  it('ignores a snapshot file written just before a crash that kept its WAL marker from being written', async () => {
    const fs = new SimFs({ random: new SeededRandom(9) });
    const storage = new WalStorage('/node', { fs }, OPTIONS);
    await storage.load();
    await storage.save({
      entries: [entry(1, 1), entry(2, 1), entry(3, 1)],
      hardState: { term: 1, vote: null, commit: 3 },
    });
    // Writing the (unsealed) snapshot file takes seven operations (create, three writes: head,
    // data and checksum, fdatasync, rename, fsync of the directory); the eighth is the write of
    // the WAL marker.
    fs.scheduleCrash(7);
    await expect(storage.saveSnapshot(snapshot(3, 1), 2)).rejects.toThrow('crashed');
    const booted = fs.crash();
    expect(await booted.readdir('/node/snap')).toEqual(['0000000000000001-0000000000000003.snap']);
    const state = await new WalStorage('/node', { fs: booted }, OPTIONS).load();
    expect(state.snapshot).toBeNull();
    expect(labels(state.entries)).toEqual(['1/1', '2/1', '3/1']);
  });
});

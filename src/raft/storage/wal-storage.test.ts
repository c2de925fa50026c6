import { readdir, readFile, stat, truncate, unlink, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isSwarmError, SeededRandom } from '../../common/index.js';
import type { Entry, LoadedState } from '../types.js';
import { NodeStorageFs, type StorageFile } from './fs.js';
import { SimFs } from './sim-fs.js';
import type { TempDir } from './test-support.js';
import { entry, entryRange, labels, snapshot, tempDir } from './test-support.js';
import type { WalStorageOptions } from './wal-storage.js';
import { WalStorage } from './wal-storage.js';

let tmp: TempDir;
const open: WalStorage[] = [];

beforeEach(async () => {
  tmp = await tempDir();
});

afterEach(async () => {
  for (const s of open.splice(0)) await s.close();
  await tmp.remove();
});

/** The real file system, with `override`'s methods in place of a file's own for files whose name contains `name`. */
function interceptingFs(name: string, override: (file: StorageFile) => Partial<StorageFile>): NodeStorageFs {
  const fs = new NodeStorageFs();
  const open = fs.open.bind(fs);
  fs.open = async (path, mode): Promise<StorageFile> => {
    const file = await open(path, mode);
    if (!basename(path).includes(name)) return file;
    return {
      path: file.path,
      write: (data, position) => file.write(data, position),
      truncate: (size) => file.truncate(size),
      close: () => file.close(),
      datasync: () => file.datasync(),
      ...override(file),
    };
  };
  return fs;
}

/**
 * The real file system, except that the fdatasync of a file whose name contains `held` waits
 * until `release()`: a snapshot file write that is still under way.
 */
function holdingFs(held: string): { fs: NodeStorageFs; reached: Promise<void>; release(): void } {
  let release = (): void => {};
  const gate = new Promise<void>((r) => (release = r));
  let reach = (): void => {};
  const reached = new Promise<void>((r) => (reach = r));
  const fs = interceptingFs(held, (file) => ({
    datasync: async () => {
      reach();
      await gate;
      await file.datasync();
    },
  }));
  return { fs, reached, release };
}

/** The real file system, logging `write <bytes>` and `sync` for files whose name contains `name`. */
function recordingFs(name: string): { fs: NodeStorageFs; ops: string[] } {
  const ops: string[] = [];
  const fs = interceptingFs(name, (file) => ({
    write: (data, position) => {
      ops.push(`write ${data.length}`);
      return file.write(data, position);
    },
    datasync: () => {
      ops.push('sync');
      return file.datasync();
    },
  }));
  return { fs, ops };
}

/** Bytes written between consecutive syncs; throws if anything is written after the last one. */
function unsyncedRuns(ops: readonly string[]): number[] {
  const runs: number[] = [];
  let bytes = 0;
  for (const op of ops) {
    if (op === 'sync') {
      runs.push(bytes);
      bytes = 0;
    } else bytes += Number(op.split(' ')[1]);
  }
  if (bytes > 0) throw new Error(`${bytes} bytes written after the last sync: ${ops.join(', ')}`);
  return runs;
}

/** A storage over holdingFs(held), loaded, with entries 1–10 of term 1 saved and committed. */
async function holdingStorage(
  held: string,
): Promise<{ storage: WalStorage; hold: ReturnType<typeof holdingFs> }> {
  const hold = holdingFs(held);
  const storage = new WalStorage(tmp.path, { fs: hold.fs });
  open.push(storage);
  await storage.load();
  await storage.save({ entries: entryRange(1, 10, 1), hardState: { term: 1, vote: null, commit: 10 } });
  return { storage, hold };
}

async function reopen(options: WalStorageOptions = {}): Promise<{ storage: WalStorage; state: LoadedState }> {
  const storage = new WalStorage(tmp.path, {}, options);
  open.push(storage);
  return { storage, state: await storage.load() };
}

/** Files end where their data ends (no preallocated zeros): for tests that cut them by size. */
const EXACT: WalStorageOptions = { preallocateBytes: 0 };

async function walFiles(): Promise<string[]> {
  return (await readdir(join(tmp.path, 'wal'))).sort().map((n) => join(tmp.path, 'wal', n));
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e,
  );
}

describe('WalStorage', () => {
  it('starts empty and round-trips hard state and entries', async () => {
    const first = await reopen();
    expect(first.state).toEqual({
      hardState: { term: 0, vote: null, commit: 0 },
      snapshot: null,
      entries: [],
    });
    const written = [
      entry(1, 1),
      { ...entry(2, 1), type: 'conf-change' as const },
      entry(3, 1, new Uint8Array()),
    ];
    await first.storage.save({ hardState: { term: 1, vote: 'n2', commit: 2 }, entries: written });
    await first.storage.close();
    const { state } = await reopen();
    expect(state.hardState).toEqual({ term: 1, vote: 'n2', commit: 2 });
    expect(state.entries).toEqual(written);
  });

  it('keeps the last hard state and every entry across many batches and reopenings', async () => {
    const random = new SeededRandom(11);
    let { storage } = await reopen({ segmentBytes: 4096 });
    const expected: Entry[] = [];
    for (let b = 0; b < 300; b++) {
      const batch = Array.from({ length: random.int(0, 5) }, (_, i) =>
        entry(
          expected.length + i + 1,
          1 + Math.floor(b / 50),
          new Uint8Array(random.int(0, 200)).fill(b & 0xff),
        ),
      );
      expected.push(...batch);
      await storage.save({
        entries: batch,
        hardState: { term: 1 + Math.floor(b / 50), vote: null, commit: b },
      });
      if (b % 97 === 0) {
        await storage.close();
        ({ storage } = await reopen({ segmentBytes: 4096 }));
      }
    }
    const { state } = await reopen({ segmentBytes: 4096 });
    expect(state.hardState.commit).toBe(299);
    expect(state.entries).toEqual(expected);
    expect((await walFiles()).length).toBeGreaterThan(3);
  });

  it('replaces a truncated suffix, also when the overwritten entries sit in older segments', async () => {
    const { storage } = await reopen({ segmentBytes: 200 });
    for (let i = 1; i <= 12; i++) await storage.save({ entries: [entry(i, 1)] });
    await storage.save({ entries: entryRange(4, 6, 2) });
    await storage.save({ entries: [entry(7, 3)] });
    await storage.close();
    const { state } = await reopen({ segmentBytes: 200 });
    expect(labels(state.entries)).toEqual(['1/1', '2/1', '3/1', '4/2', '5/2', '6/2', '7/3']);
  });

  it('rolls over to a new segment at the size limit and keeps appending after a reload', async () => {
    let { storage } = await reopen({ segmentBytes: 256 });
    await storage.save({ entries: entryRange(1, 20, 1) });
    await storage.save({ entries: entryRange(21, 40, 1) });
    expect(await walFiles()).toHaveLength(2);
    await storage.close();
    ({ storage } = await reopen({ segmentBytes: 256 }));
    await storage.save({ entries: entryRange(41, 45, 2) });
    const names = (await walFiles()).map((p) => basename(p));
    expect(names).toEqual([
      '0000000000000001-0000000000000001.wal',
      '0000000000000002-0000000000000015.wal',
      '0000000000000003-0000000000000029.wal',
    ]);
    await storage.close();
    const { state } = await reopen({ segmentBytes: 256 });
    expect(labels(state.entries)).toEqual([
      ...labels(entryRange(1, 40, 1)),
      ...labels(entryRange(41, 45, 2)),
    ]);
  });

  it('recovers from a torn last batch cut at every byte offset, and appends after it', async () => {
    const { storage } = await reopen(EXACT);
    await storage.save({ entries: entryRange(1, 3, 1), hardState: { term: 1, vote: 'n1', commit: 1 } });
    const [file] = await walFiles();
    const before = (await stat(file!)).size;
    await storage.save({ entries: entryRange(4, 5, 1), hardState: { term: 1, vote: 'n1', commit: 3 } });
    await storage.close();
    const full = await readFile(file!);
    for (let cut = before; cut < full.length; cut++) {
      await writeFile(file!, full.subarray(0, cut));
      const { storage: s, state } = await reopen();
      expect(labels(state.entries), `cut at ${cut}`).toEqual(['1/1', '2/1', '3/1']);
      expect(state.hardState.commit).toBe(1);
      expect((await stat(file!)).size).toBe(before);
      await s.close();
    }
    // After recovery the log continues where the last complete batch ended.
    const { storage: s } = await reopen();
    await s.save({ entries: [entry(4, 2)] });
    await s.close();
    expect(labels((await reopen()).state.entries)).toEqual(['1/1', '2/1', '3/1', '4/2']);
  });

  it('treats a partly written last batch followed by zeros or garbage as a torn tail', async () => {
    const { storage } = await reopen(EXACT);
    await storage.save({ entries: entryRange(1, 2, 1) });
    const [file] = await walFiles();
    const before = (await stat(file!)).size;
    await storage.save({ entries: [entry(3, 1, new Uint8Array(300).fill(7))] });
    await storage.close();
    const full = await readFile(file!);
    const random = new SeededRandom(5);
    const garbage = Buffer.from(Array.from({ length: 100 }, () => random.int(0, 256)));
    for (const tail of [Buffer.alloc(100), garbage]) {
      const torn = full.subarray(before, before + (full.length - before) / 2);
      await writeFile(file!, Buffer.concat([full.subarray(0, before), torn, tail]));
      const { storage: s, state } = await reopen();
      expect(labels(state.entries)).toEqual(['1/1', '2/1']);
      await s.close();
    }
  });

  it('refuses to start on a flipped byte in the middle, naming the file and offset', async () => {
    const { storage } = await reopen();
    for (let i = 1; i <= 10; i++) await storage.save({ entries: [entry(i, 1, Buffer.alloc(64, i))] });
    await storage.close();
    const [file] = await walFiles();
    const bytes = await readFile(file!);
    const at = bytes.indexOf(Buffer.alloc(64, 5));
    bytes[at + 10]! ^= 0x01;
    await writeFile(file!, bytes);
    const e = await rejection(reopen());
    expect(isSwarmError(e, 'CORRUPTION')).toBe(true);
    expect((e as Error).message).toContain(file!);
    expect((e as Error).message).toMatch(/offset \d+/);
  });

  it('refuses to start on damage in a sealed (non-last) segment, even at its end', async () => {
    const { storage } = await reopen({ segmentBytes: 128 });
    for (let i = 1; i <= 6; i++) await storage.save({ entries: [entry(i, 1, Buffer.alloc(100, i))] });
    await storage.close();
    const files = await walFiles();
    expect(files.length).toBeGreaterThan(2);
    await truncate(files[1]!, (await stat(files[1]!)).size - 3);
    const e = await rejection(reopen({ segmentBytes: 128 }));
    expect(isSwarmError(e, 'CORRUPTION')).toBe(true);
    expect((e as Error).message).toContain(files[1]!);
  });

  it('refuses to start when a segment in the middle is missing', async () => {
    const { storage } = await reopen({ segmentBytes: 128 });
    for (let i = 1; i <= 6; i++) await storage.save({ entries: [entry(i, 1, Buffer.alloc(100, i))] });
    await storage.close();
    const files = await walFiles();
    await unlink(files[2]!);
    const e = await rejection(reopen({ segmentBytes: 128 }));
    expect(isSwarmError(e, 'CORRUPTION')).toBe(true);
    expect((e as Error).message).toContain('segment 3 is missing');
  });

  it('takes a snapshot, keeps two snapshot files and deletes segments wholly below keepFrom', async () => {
    const { storage } = await reopen({ segmentBytes: 256 });
    for (let i = 1; i <= 60; i++)
      await storage.save({ entries: [entry(i, 1)], hardState: { term: 1, vote: null, commit: i } });
    const segmentsBefore = (await walFiles()).length;
    await storage.saveSnapshot(snapshot(20, 1), 15);
    await storage.saveSnapshot(snapshot(40, 1), 35);
    await storage.saveSnapshot(snapshot(50, 1), 45);
    expect(await readdir(join(tmp.path, 'snap'))).toEqual([
      '0000000000000001-0000000000000028.snap',
      '0000000000000001-0000000000000032.snap',
    ]);
    expect((await walFiles()).length).toBeLessThan(segmentsBefore - 3);
    await storage.close();
    const { state } = await reopen({ segmentBytes: 256 });
    expect(state.snapshot).toEqual(snapshot(50, 1));
    expect(labels(state.entries)).toEqual(labels(entryRange(51, 60, 1)));
    expect(state.hardState.commit).toBe(60);
  });

  it('stores a snapshot received from the leader and discards the conflicting log', async () => {
    const { storage } = await reopen({ segmentBytes: 256 });
    await storage.save({ entries: entryRange(1, 30, 1) });
    await storage.save({
      snapshot: snapshot(100, 3),
      entries: [],
      hardState: { term: 3, vote: null, commit: 100 },
    });
    await storage.save({ entries: entryRange(101, 103, 3) });
    await storage.close();
    const { state } = await reopen({ segmentBytes: 256 });
    expect(state.snapshot?.meta.index).toBe(100);
    expect(labels(state.entries)).toEqual(['101/3', '102/3', '103/3']);
    expect(await walFiles()).toHaveLength(1);
  });

  it('goes on saving entries while its own snapshot file is still being written', async () => {
    const { storage, hold } = await holdingStorage('0000000000000008.snap');
    const snapshotSaved = storage.saveSnapshot(snapshot(8, 1), 5);
    await hold.reached;
    // Queued behind the snapshot file (tens of MB for a large state), this save would wait for it.
    await storage.save({ entries: entryRange(11, 12, 1), hardState: { term: 1, vote: null, commit: 12 } });
    hold.release();
    await snapshotSaved;
    await storage.close();
    const { state } = await reopen();
    expect(state.snapshot).toEqual(snapshot(8, 1));
    expect(labels(state.entries)).toEqual(labels(entryRange(9, 12, 1)));
    expect(state.hardState.commit).toBe(12);
  });

  it('fdatasyncs a large snapshot file every snapshotSyncBytes (1 MiB by default), not once at its end', async () => {
    const data = new Uint8Array(2.5 * 1024 * 1024).map((_, i) => i % 251);
    const snapshotOps = async (options: WalStorageOptions): Promise<string[]> => {
      const { fs, ops } = recordingFs('.snap');
      const storage = new WalStorage(tmp.path, { fs }, options);
      open.push(storage);
      await storage.load();
      await storage.save({ entries: entryRange(1, 10, 1), hardState: { term: 1, vote: null, commit: 10 } });
      await storage.saveSnapshot(snapshot(8, 1, data), 5);
      await storage.close();
      return ops;
    };
    const MiB = 1024 * 1024;
    // Written bytes between syncs: at most 1 MiB each, all of the file before the last sync.
    const chunked = unsyncedRuns(await snapshotOps({}));
    expect(chunked.slice(0, -1)).toEqual([MiB, MiB]);
    expect(chunked.at(-1)).toBeLessThanOrEqual(MiB);
    expect(chunked.at(-1)).toBeGreaterThan(data.length - 2 * MiB);
    const { state } = await reopen();
    expect(state.snapshot).toEqual(snapshot(8, 1, data));
    // 0: the whole file, then one sync.
    const whole = unsyncedRuns(await snapshotOps({ snapshotSyncBytes: 0 }));
    expect(whole).toHaveLength(1);
    expect(whole[0]).toBe(chunked.reduce((a, b) => a + b));
  });

  it('gives no marker to its own snapshot once a newer one from the leader was saved meanwhile', async () => {
    const { storage, hold } = await holdingStorage('0000000000000008.snap');
    const own = storage.saveSnapshot(snapshot(8, 1), 5);
    await hold.reached;
    await storage.save({
      snapshot: snapshot(100, 3),
      entries: [],
      hardState: { term: 3, vote: null, commit: 100 },
    });
    hold.release();
    await own;
    await storage.save({ entries: entryRange(101, 102, 3) });
    await storage.close();
    // A marker for 8 after the one for 100 would make 8 the newest and drop 100's file.
    const { state } = await reopen();
    expect(state.snapshot?.meta.index).toBe(100);
    expect(labels(state.entries)).toEqual(['101/3', '102/3']);
  });

  it('falls back to the older snapshot when the newest file is damaged', async () => {
    const { storage } = await reopen();
    await storage.save({ entries: entryRange(1, 10, 1) });
    await storage.saveSnapshot(snapshot(4, 1), 1);
    await storage.saveSnapshot(snapshot(8, 1), 1);
    await storage.close();
    const newest = join(tmp.path, 'snap', '0000000000000001-0000000000000008.snap');
    const bytes = await readFile(newest);
    bytes[40]! ^= 0xff;
    await writeFile(newest, bytes);
    const { state } = await reopen();
    expect(state.snapshot?.meta.index).toBe(4);
    expect(labels(state.entries)).toEqual(labels(entryRange(5, 10, 1)));
  });

  it('rejects entries that are not consecutive, naming the field', async () => {
    const { storage } = await reopen();
    const e = await rejection(storage.save({ entries: [entry(1, 1), entry(3, 1)] }));
    expect(isSwarmError(e, 'INVALID_ARGUMENT')).toBe(true);
    expect((e as Error).message).toContain('1 is followed by 3');
  });

  it('makes a failed fsync fatal: the save rejects with IO and every later write is refused', async () => {
    const fs = new SimFs({ random: new SeededRandom(1) });
    const storage = new WalStorage('/data', { fs });
    await storage.load();
    await storage.save({ entries: [entry(1, 1)] });
    fs.failNext('sync', (p) => p.endsWith('.wal'));
    const e = await rejection(storage.save({ entries: [entry(2, 1)] }));
    expect(isSwarmError(e, 'IO')).toBe(true);
    const opsAfterFailure = fs.opCount;
    const again = await rejection(storage.save({ entries: [entry(2, 1)] }));
    expect(again).toBe(e);
    expect(await rejection(storage.saveSnapshot(snapshot(1, 1), 1))).toBe(e);
    expect(fs.opCount).toBe(opsAfterFailure);
    // The failed batch counted as clean yet never reached the disk (fsyncgate): it is gone.
    const after = new WalStorage('/data', { fs: fs.crash() });
    expect(labels((await after.load()).entries)).toEqual(['1/1']);
  });
});

describe('WalStorage preallocation', () => {
  const PRE: WalStorageOptions = { preallocateBytes: 4096 };

  it('zero-fills ahead of the tail, and after a reopen appends where the data ends, not the file', async () => {
    const first = await reopen(PRE);
    for (let i = 1; i <= 5; i++) await first.storage.save({ entries: [entry(i, 1)] });
    await first.storage.close();
    const [file] = await walFiles();
    const size = (await stat(file!)).size;
    expect(size).toBeGreaterThanOrEqual(4096);
    const bytes = await readFile(file!);
    expect(bytes.subarray(bytes.length - 1024).every((b) => b === 0)).toBe(true);
    // The zeros are space, not a torn tail: nothing is cut off on reopening.
    const second = await reopen(PRE);
    expect(labels(second.state.entries)).toEqual(labels(entryRange(1, 5, 1)));
    expect((await stat(file!)).size).toBe(size);
    // A batch written at the file's end instead would sit behind zeros and fail the next load.
    for (let i = 6; i <= 8; i++) await second.storage.save({ entries: [entry(i, 1)] });
    await second.storage.close();
    expect(labels((await reopen(PRE)).state.entries)).toEqual(labels(entryRange(1, 8, 1)));
  });

  it('extends the zero-filled space as the tail reaches it, never past the segment size', async () => {
    const options = { preallocateBytes: 512, segmentBytes: 4096 };
    const { storage } = await reopen(options);
    const sizes: number[] = [];
    for (let i = 1; i <= 30; i++) {
      await storage.save({ entries: [entry(i, 1, Buffer.alloc(40, i))] });
      sizes.push((await stat((await walFiles())[0]!)).size);
    }
    await storage.close();
    // The file grows in steps of zeros a few batches apart, not with every batch.
    expect(sizes).toEqual([...sizes].sort((a, b) => a - b));
    const steps = new Set(sizes).size;
    expect(steps).toBeGreaterThan(2);
    expect(steps).toBeLessThan(sizes.length / 3);
    for (const f of await walFiles()) expect((await stat(f)).size).toBeLessThanOrEqual(4096 + 128);
    expect(labels((await reopen(options)).state.entries)).toEqual(labels(entryRange(1, 30, 1)));
  });

  it('trims a segment to its data before the next one starts, so only the last may end in zeros', async () => {
    const options = { preallocateBytes: 4096, segmentBytes: 1024 };
    const { storage } = await reopen(options);
    for (let i = 1; i <= 20; i++) await storage.save({ entries: [entry(i, 1, Buffer.alloc(100, i))] });
    await storage.close();
    const files = await walFiles();
    expect(files.length).toBeGreaterThan(2);
    const last = await readFile(files.at(-1)!);
    expect(last.length).toBe(1024);
    expect(last.subarray(last.length - 64).every((b) => b === 0)).toBe(true);
    for (const f of files.slice(0, -1)) {
      const bytes = await readFile(f);
      // A commit record ends in at most 4 bytes of padding.
      expect(
        bytes.subarray(bytes.length - 8).some((b) => b !== 0),
        f,
      ).toBe(true);
    }
    expect(labels((await reopen(options)).state.entries)).toEqual(labels(entryRange(1, 20, 1)));
  });

  it('cuts off a batch torn inside the zero-filled space', async () => {
    const { storage } = await reopen(PRE);
    await storage.save({ entries: entryRange(1, 2, 1) });
    await storage.close();
    const [file] = await walFiles();
    const synced = await readFile(file!);
    const end = synced.length - synced.reverse().findIndex((b) => b !== 0);
    // The next batch half written over the zeros (as a crash during its write leaves it).
    const bytes = await readFile(file!);
    const batch = Buffer.from(bytes.subarray(0, end)).subarray(end - 64, end - 24);
    batch.copy(bytes, end);
    await writeFile(file!, bytes);
    const { state } = await reopen(PRE);
    expect(labels(state.entries)).toEqual(['1/1', '2/1']);
    expect((await stat(file!)).size).toBeLessThan(bytes.length);
  });

  it('refuses to start when zeros replace acknowledged data that a verified batch follows', async () => {
    const { storage } = await reopen(PRE);
    for (let i = 1; i <= 3; i++) await storage.save({ entries: [entry(i, 1, Buffer.alloc(64, i))] });
    await storage.close();
    const [file] = await walFiles();
    const bytes = await readFile(file!);
    const at = bytes.indexOf(Buffer.alloc(64, 2));
    bytes.fill(0, at - 64, at + 64);
    await writeFile(file!, bytes);
    const e = await rejection(reopen(PRE));
    expect(isSwarmError(e, 'CORRUPTION')).toBe(true);
    expect((e as Error).message).toContain(file!);
  });

  it('rejects a negative preallocateBytes, naming the field', () => {
    expect(() => new WalStorage(tmp.path, {}, { preallocateBytes: -1 })).toThrow(/preallocateBytes.*-1/);
  });

  it('rejects a snapshotSyncBytes that is not a whole number ≥ 0, naming the field', () => {
    expect(() => new WalStorage(tmp.path, {}, { snapshotSyncBytes: 1.5 })).toThrow(/snapshotSyncBytes.*1\.5/);
  });
});

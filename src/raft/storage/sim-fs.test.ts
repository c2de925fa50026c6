import { describe, expect, it } from 'vitest';
import { isSwarmError, SeededRandom } from '../../common/index.js';
import type { UnsyncedWriteFate } from './sim-fs.js';
import { SimFs } from './sim-fs.js';

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
const text = (b: Uint8Array): string => new TextDecoder().decode(b);

async function fresh(seed = 1): Promise<SimFs> {
  const fs = new SimFs({ random: new SeededRandom(seed) });
  await fs.mkdir('/d');
  return fs;
}

/** A durable file holding "synced", plus unsynced appends " one" and " two". */
async function withUnsyncedTail(seed: number): Promise<SimFs> {
  const fs = await fresh(seed);
  const f = await fs.open('/d/f', 'create');
  await f.write(bytes('synced'), 0);
  await f.datasync();
  await fs.syncDir('/d');
  await f.write(bytes(' one'), 6);
  await f.write(bytes(' two'), 10);
  return fs;
}

async function contentAfterCrash(seed: number, writes: UnsyncedWriteFate): Promise<string> {
  const fs = (await withUnsyncedTail(seed)).crash({ writes });
  return text(await fs.readFile('/d/f'));
}

describe('SimFs', () => {
  it('keeps synced bytes and loses unsynced writes on a crash', async () => {
    const fs = await withUnsyncedTail(1);
    expect(text(await fs.readFile('/d/f'))).toBe('synced one two');
    const after = fs.crash();
    expect(text(await after.readFile('/d/f'))).toBe('synced');
  });

  it('loses a synced file whose directory entry was never synced', async () => {
    const fs = await fresh();
    const f = await fs.open('/d/new', 'create');
    await f.write(bytes('data'), 0);
    await f.datasync();
    expect(await fs.readdir('/d')).toEqual(['new']);
    let after = fs.crash();
    expect(await after.readdir('/d')).toEqual([]);
    const g = await after.open('/d/new', 'create');
    await g.write(bytes('data'), 0);
    await g.datasync();
    await after.syncDir('/d');
    after = after.crash();
    expect(text(await after.readFile('/d/new'))).toBe('data');
  });

  it('reverts unsynced renames and unlinks on a crash', async () => {
    const fs = await withUnsyncedTail(1);
    await fs.rename('/d/f', '/d/g');
    const reverted = fs.crash();
    expect(await reverted.readdir('/d')).toEqual(['f']);
    await reverted.unlink('/d/f');
    expect(await reverted.readdir('/d')).toEqual([]);
    const again = reverted.crash();
    expect(await again.readdir('/d')).toEqual(['f']);
  });

  it('tears the unsynced tail into a prefix, the same way for the same seed', async () => {
    const seen = new Set<string>();
    for (let seed = 1; seed <= 40; seed++) {
      const content = await contentAfterCrash(seed, 'torn');
      expect('synced one two'.startsWith(content)).toBe(true);
      expect(content.startsWith('synced')).toBe(true);
      expect(await contentAfterCrash(seed, 'torn')).toBe(content);
      seen.add(content);
    }
    expect(seen.size).toBeGreaterThan(4);
  });

  it('can leave garbage after a torn prefix, or keep unsynced writes out of order', async () => {
    const garbled = new Set<string>();
    const reordered = new Set<string>();
    for (let seed = 1; seed <= 40; seed++) {
      garbled.add(await contentAfterCrash(seed, 'garbage'));
      reordered.add(await contentAfterCrash(seed, 'reorder'));
    }
    expect([...garbled].some((c) => c.length > 6 && !'synced one two'.startsWith(c))).toBe(true);
    // " two" survived without " one": a hole of zeros between them.
    expect(reordered.has('synced\0\0\0\0 two')).toBe(true);
  });

  it('rejects every call on an incarnation that crashed', async () => {
    const fs = await withUnsyncedTail(1);
    const f = await fs.open('/d/f', 'existing');
    fs.crash();
    for (const call of [
      () => fs.readFile('/d/f'),
      () => f.write(bytes('x'), 0),
      () => f.datasync(),
      () => fs.readdir('/d'),
    ]) {
      const e = await call().then(
        () => null,
        (err: unknown) => err,
      );
      expect(isSwarmError(e, 'IO')).toBe(true);
    }
  });

  it('crashes at a scheduled operation and refuses the rest', async () => {
    const fs = await fresh();
    const f = await fs.open('/d/f', 'create');
    await fs.syncDir('/d');
    fs.scheduleCrash(2);
    await f.write(bytes('a'), 0);
    await f.datasync();
    await expect(f.write(bytes('b'), 1)).rejects.toThrow('crashed');
    expect(fs.crashed).toBe(true);
    expect(text(await fs.crash().readFile('/d/f'))).toBe('a');
  });

  it('fails an fsync on request and then treats the lost pages as clean (fsyncgate)', async () => {
    const fs = await withUnsyncedTail(1);
    const f = await fs.open('/d/f', 'existing');
    fs.failNext('sync', (p) => p === '/d/f');
    await expect(f.datasync()).rejects.toThrow('EIO');
    await f.datasync();
    expect(text(await fs.crash().readFile('/d/f'))).toBe('synced');
  });
});

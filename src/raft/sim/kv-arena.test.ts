import { describe, expect, it } from 'vitest';
import { BinaryReader, BinaryWriter } from '../../common/index.js';
import { KvArena } from './kv-arena.js';

const entry = (key: string, value: string): Uint8Array =>
  new BinaryWriter().string(key).string(value).finish();

/** The entries a `writeLive` copy holds, as [key, value]. */
function readLive(bytes: Uint8Array, count: number): [string, string][] {
  const r = new BinaryReader(bytes);
  const out: [string, string][] = [];
  for (let i = 0; i < count; i++) {
    expect(r.uint()).toBe(1);
    out.push([r.string(), r.string()]);
  }
  expect(r.done).toBe(true);
  return out;
}

function copyLive(a: KvArena, mark = a.mark()): { bytes: Uint8Array; count: number } {
  const w = new BinaryWriter();
  const g = a.writeLive(mark, w);
  let r = g.next();
  while (!r.done) r = g.next();
  return { bytes: w.finish(), count: r.value };
}

describe('KvArena', () => {
  it('keeps copies of entries by slot, reuses freed slots, and refuses a freed one', () => {
    const a = new KvArena();
    const src = new Uint8Array([0, 0, ...entry('k', 'hello world'), 0]);
    const s1 = a.put(src, 2, src.length - 1);
    src.fill(0); // a copy: the source may change afterwards
    const s2 = a.putString('ü', '€');
    expect([a.value(s1), a.value(s2)]).toEqual(['hello world', '€']);
    a.free(s1);
    expect(() => a.value(s1)).toThrow(/slot 0 is not in use/);
    expect(a.putString('k2', 'again')).toBe(s1);
    // Records are the entry plus one byte: 1 + (1 + 2) + (1 + 3), 1 + (1 + 2) + (1 + 5); the freed one 15.
    expect(a.stats()).toMatchObject({ live: 8 + 10, garbage: 15 });
  });

  it('copies the live records as of a mark, in runs around the freed ones', () => {
    const a = new KvArena();
    const slots = Array.from({ length: 10 }, (_, i) => a.putString(`k${i}`, `v${i}`));
    a.free(slots[0]!);
    a.free(slots[4]!);
    a.free(slots[5]!);
    a.free(slots[9]!);
    const mark = a.mark();
    // Records put after the mark are not part of it.
    a.putString('later', 'x');
    const { bytes, count } = copyLive(a, mark);
    expect(count).toBe(6);
    // Each record here is 7 bytes: the mark, then key and value of 2 bytes after their lengths.
    expect(bytes.length).toBe(6 * 7);
    expect(readLive(bytes, count).map(([k]) => k)).toEqual(['k1', 'k2', 'k3', 'k6', 'k7', 'k8']);
  });

  it('gives a large record a chunk of its own and keeps appending small ones to the shared chunk', () => {
    const a = new KvArena();
    const small1 = a.putString('a', 'a'.repeat(100));
    const big = a.putString('big', 'b'.repeat(600_000));
    const small2 = a.putString('c', 'c'.repeat(100));
    expect(a.stats().chunks).toBe(2);
    expect([a.value(small1), a.value(small2)]).toEqual(['a'.repeat(100), 'c'.repeat(100)]);
    expect(a.value(big)).toBe('b'.repeat(600_000));
    expect(readLive(copyLive(a).bytes, 3).map(([k]) => k)).toEqual(['a', 'c', 'big']);
  });

  it('compacts once garbage outweighs the live records, keeping every slot and value', () => {
    const a = new KvArena();
    const keys = 200;
    const value = (k: number, round: number): string => `${k}:${round}:`.padEnd(1000, '.');
    const slots = Array.from({ length: keys }, (_, k) => a.putString(`k${k}`, value(k, 0)));
    let steps = 0;
    let maxAllocated = 0;
    for (let round = 1; round <= 100; round++) {
      for (let k = 0; k < keys; k++) {
        const next = a.putString(`k${k}`, value(k, round));
        a.free(slots[k]!);
        slots[k] = next;
        if (a.compactStep()) steps++;
        maxAllocated = Math.max(maxAllocated, a.stats().allocated);
      }
    }
    // 20 MB written over 200 KB live: without compaction it would all still be allocated.
    expect(steps).toBeGreaterThan(0);
    expect(maxAllocated).toBeLessThan(8 * 2 ** 20);
    for (let k = 0; k < keys; k++) expect(a.value(slots[k]!)).toBe(value(k, 100));
    const { bytes, count } = copyLive(a);
    expect(count).toBe(keys);
    expect(new Map(readLive(bytes, count)).get('k7')).toBe(value(7, 100));
  });

  it('compacts a step at a time: one call releases a few chunks, not all the garbage at once', () => {
    const a = new KvArena();
    const value = 'v'.repeat(1000);
    // 16 MB live, then half of it freed: garbage (8 MB) outweighs nothing yet; free more.
    const slots = Array.from({ length: 16_000 }, (_, i) => a.putString(`k${i}`, value));
    for (let i = 0; i < slots.length; i += 4) a.free(slots[i]!);
    for (let i = 1; i < slots.length; i += 4) a.free(slots[i]!);
    for (let i = 2; i < slots.length; i += 4) a.free(slots[i]!);
    const before = a.stats();
    expect(before.garbage).toBeGreaterThan(before.live);
    expect(a.compactStep()).toBe(true);
    const after = a.stats();
    // One step moves about 256 KB of live records: four chunks here (a quarter of each is live).
    expect(before.chunks - after.chunks).toBeGreaterThan(0);
    expect(before.chunks - after.chunks).toBeLessThan(8);
    expect(after.garbage).toBeGreaterThan(before.live);
    let calls = 1;
    while (a.compactStep()) calls++;
    expect(calls).toBeGreaterThan(4);
    expect(a.stats().garbage).toBeLessThan(Math.max(a.stats().live, 4 * 2 ** 20));
    for (let i = 3; i < slots.length; i += 4) expect(a.value(slots[i]!)).toBe(value);
  });
});

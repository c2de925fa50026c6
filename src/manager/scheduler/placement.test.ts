import { describe, expect, it } from 'vitest';
import { Heap } from './heap.js';
import { levelShares } from './placement.js';

describe('levelShares', () => {
  it.each<[number[], number, number[]]>([
    [[0, 0, 0], 6, [2, 2, 2]],
    [[0, 0, 0], 4, [2, 1, 1]],
    [[3, 0, 0], 3, [0, 2, 1]],
    [[1, 0], 5, [2, 3]],
    [[5, 0], 2, [0, 2]],
    [[2, 2], 0, [0, 0]],
    [[], 3, []],
  ])('shares over branches holding %j the %i new tasks as %j', (counts, m, shares) => {
    const got = levelShares(counts, m);
    expect(got).toEqual(shares);
    if (counts.length > 0) expect(got.reduce((a, b) => a + b, 0)).toBe(m);
  });
});

describe('Heap', () => {
  it('pops in order whatever the insertion order', () => {
    const heap = new Heap<number>((a, b) => a < b, [5, 3, 9, 1]);
    heap.push(4);
    heap.push(0);
    const out: number[] = [];
    for (let x = heap.pop(); x !== undefined; x = heap.pop()) out.push(x);
    expect(out).toEqual([0, 1, 3, 4, 5, 9]);
    expect(heap.size).toBe(0);
  });
});

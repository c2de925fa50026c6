import { describe, expect, it } from 'vitest';
import { deferred } from '../../../common/index.js';
import { batches } from './batches.js';

describe('batches', () => {
  it('cuts a burst at max and sends a quiet item alone', async () => {
    const later = deferred<void>();
    async function* source(): AsyncIterable<number> {
      for (let i = 1; i <= 5; i++) yield i;
      await later.promise;
      yield 6;
    }
    const got: number[][] = [];
    const it = batches(source(), 2)[Symbol.asyncIterator]();
    // 5 was ready with no sixth item behind it: it goes without waiting for one.
    for (let i = 0; i < 3; i++) got.push((await it.next()).value as number[]);
    later.resolve();
    got.push((await it.next()).value as number[]);
    expect(got).toEqual([[1, 2], [3, 4], [5], [6]]);
    expect((await it.next()).done).toBe(true);
  });

  it('sends what was read before the source failed, then the failure', async () => {
    async function* source(): AsyncIterable<number> {
      yield 1;
      yield 2;
      throw new Error('engine gone');
    }
    const got: number[][] = [];
    const e = await (async () => {
      for await (const b of batches(source(), 10)) got.push(b);
    })().catch((err: unknown) => err);
    expect(got).toEqual([[1, 2]]);
    expect(e).toBeInstanceOf(Error);
  });

  it('releases the source when the consumer leaves', async () => {
    let released = false;
    async function* source(): AsyncIterable<number> {
      try {
        for (let i = 0; ; i++) yield i;
      } finally {
        released = true;
      }
    }
    for await (const b of batches(source(), 3)) {
      expect(b).toEqual([0, 1, 2]);
      break;
    }
    expect(released).toBe(true);
  });
});

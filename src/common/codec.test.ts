import { describe, expect, it } from 'vitest';
import { BinaryReader, BinaryWriter } from './codec.js';
import { CorruptionError } from './errors.js';

describe('binary codec', () => {
  it('round-trips varints at every size boundary, bytes, strings and optionals', () => {
    const ints = [0, 1, 127, 128, 16383, 16384, 2 ** 31, 2 ** 32 + 5, Number.MAX_SAFE_INTEGER];
    const w = new BinaryWriter(1);
    for (const n of ints) w.uint(n);
    w.bytes(new Uint8Array([1, 2, 3]))
      .string('héllo')
      .optString(null)
      .optString('x')
      .bool(true);
    const r = new BinaryReader(w.finish());
    expect(ints.map(() => r.uint())).toEqual(ints);
    expect([...r.bytes()]).toEqual([1, 2, 3]);
    expect(r.string()).toBe('héllo');
    expect(r.optString()).toBeNull();
    expect(r.optString()).toBe('x');
    expect(r.bool()).toBe(true);
    expect(r.done).toBe(true);
  });

  it('refuses negative or unsafe integers and reports truncated input as corruption', () => {
    expect(() => new BinaryWriter().uint(-1)).toThrow(RangeError);
    expect(() => new BinaryWriter().uint(1.5)).toThrow(RangeError);
    const data = new BinaryWriter().string('abcdef').finish();
    expect(() => new BinaryReader(data.subarray(0, 3)).string()).toThrow(CorruptionError);
  });
});

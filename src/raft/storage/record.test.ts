import { describe, expect, it } from 'vitest';
import { BatchBuilder, hasVerifiedBatchAfter, RecordType, scanSegment } from './record.js';

const payload = (s: string): Uint8Array => new TextEncoder().encode(s);

function batch(base: number, ...items: string[]): Buffer {
  const b = new BatchBuilder(1, base, undefined);
  for (const item of items) b.add(RecordType.entries, payload(item));
  return b.finish();
}

/** Three committed batches back to back, and where each starts. */
function segment(): { buf: Buffer; starts: number[] } {
  const starts: number[] = [];
  const parts: Buffer[] = [];
  let size = 0;
  for (const items of [['a', 'bb'], ['ccc'], ['dddd', 'eeeee']]) {
    starts.push(size);
    const part = batch(size, ...items);
    parts.push(part);
    size += part.length;
  }
  return { buf: Buffer.concat(parts), starts };
}

describe('scanSegment', () => {
  it('reads every verified batch of an intact segment, 8-byte aligned', () => {
    const { buf, starts } = segment();
    const scan = scanSegment(buf);
    expect(scan.damage).toBeNull();
    expect(scan.batches.map((b) => b.start)).toEqual(starts);
    expect(scan.batches.map((b) => b.records.length)).toEqual([2, 1, 2]);
    expect(starts.every((s) => s % 8 === 0)).toBe(true);
    expect(scan.validEnd).toBe(buf.length);
  });

  it('stops at a flipped byte and finds the verified batch after it', () => {
    const { buf, starts } = segment();
    buf[starts[1]! + 13]! ^= 0x40;
    const scan = scanSegment(buf);
    expect(scan.batches).toHaveLength(1);
    expect(scan.damage).toEqual({ offset: starts[1], reason: 'record checksum mismatch' });
    expect(hasVerifiedBatchAfter(buf, scan.damage!.offset)).toBe(true);
  });

  it('sees no verified batch after a hole in the last batch, even if later records are intact', () => {
    const { buf, starts } = segment();
    // The unsynced last batch lost its first record but its second record and commit survived.
    buf.fill(0, starts[2]!, starts[2]! + 24);
    const scan = scanSegment(buf);
    expect(scan.damage?.offset).toBe(starts[2]);
    expect(scan.validEnd).toBe(starts[2]);
    expect(hasVerifiedBatchAfter(buf, scan.damage!.offset)).toBe(false);
  });

  it('reports a batch whose commit record is missing', () => {
    const { buf, starts } = segment();
    const cut = buf.subarray(0, buf.length - 24);
    const scan = scanSegment(cut);
    expect(scan.damage).toEqual({ offset: starts[2], reason: 'batch without commit record' });
    expect(scan.batches).toHaveLength(2);
  });
});

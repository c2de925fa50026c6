import { describe, expect, it } from 'vitest';
import type { Command } from '../types.js';
import { SessionTable } from './dedup.js';

const cmd = (index: number, clientId: string, seq: number): Command => ({
  index,
  term: 1,
  data: new Uint8Array([index]),
  session: { clientId, seq },
});

describe('SessionTable', () => {
  it('applies a command once and answers its retry with the first result', () => {
    const t = new SessionTable<number>();
    let applied = 0;
    const fn = (c: Command): number => {
      applied++;
      return c.index * 10;
    };
    expect(t.applyOnce(cmd(1, 'c1', 1), fn)).toBe(10);
    expect(t.applyOnce(cmd(2, 'c1', 1), fn)).toBe(10);
    expect(t.applyOnce(cmd(3, 'c1', 2), fn)).toBe(30);
    expect(t.applyOnce(cmd(4, 'c1', 1), fn)).toBeUndefined(); // older than the last: already applied
    expect(applied).toBe(2);
    expect(t.applyOnce({ index: 5, term: 1, data: new Uint8Array() }, fn)).toBe(50); // no session: always applied
  });

  it('evicts the least recently active client deterministically and survives a snapshot round trip', () => {
    const t = new SessionTable<string>(2);
    t.record({ clientId: 'a', seq: 1 }, 'A');
    t.record({ clientId: 'b', seq: 1 }, 'B');
    t.record({ clientId: 'a', seq: 2 }, 'A2');
    t.record({ clientId: 'c', seq: 1 }, 'C');
    expect(t.entries().map((e) => e.clientId)).toEqual(['a', 'c']);
    const copy = new SessionTable<string>(2);
    copy.restore(t.entries());
    expect(copy.lookup({ clientId: 'a', seq: 2 })).toEqual({ duplicate: true, result: 'A2' });
    expect(copy.lookup({ clientId: 'b', seq: 1 })).toEqual({ duplicate: false });
  });
});

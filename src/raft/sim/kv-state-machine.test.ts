import { describe, expect, it } from 'vitest';
import type { Command } from '../types.js';
import { encodeKvCommand, KvStateMachine } from './kv-state-machine.js';

const cmd = (index: number, input: Parameters<typeof encodeKvCommand>[0], seq?: number): Command => ({
  index,
  term: 1,
  data: encodeKvCommand(input),
  ...(seq === undefined ? {} : { session: { clientId: 'c1', seq } }),
});

describe('KvStateMachine', () => {
  it('restores from its snapshot to the same state and sessions, whatever the insertion order', () => {
    const a = new KvStateMachine();
    a.apply([
      cmd(1, { kind: 'put', key: 'b', value: 'ü 2' }),
      cmd(2, { kind: 'put', key: 'a', value: '1' }),
      cmd(3, { kind: 'cas', key: 'a', expected: '1', value: '3' }, 7),
      cmd(4, { kind: 'delete', key: 'b' }),
      cmd(5, { kind: 'put', key: 'b', value: 'x'.repeat(300) }),
    ]);
    const b = new KvStateMachine();
    b.restore(a.snapshot() as Uint8Array);
    expect(b.fingerprint()).toBe(a.fingerprint());
    expect(b.read('a')).toBe('3');
    // The session survived: a retry of seq 7 returns the first result and changes nothing.
    expect(b.apply([cmd(6, { kind: 'cas', key: 'a', expected: '1', value: '9' }, 7)])).toEqual([
      { kind: 'cas', ok: true },
    ]);
    expect(b.read('a')).toBe('3');
    // Same state reached in another order: same fingerprint.
    const c = new KvStateMachine();
    c.apply([
      cmd(1, { kind: 'put', key: 'a', value: '3' }),
      cmd(2, { kind: 'put', key: 'b', value: 'x'.repeat(300) }),
    ]);
    c.apply([cmd(3, { kind: 'put', key: 'zz', value: '' }), cmd(4, { kind: 'delete', key: 'zz' })]);
    expect({ ...JSON.parse(c.fingerprint()), sessions: [] }).toEqual({
      ...JSON.parse(a.fingerprint()),
      sessions: [],
    });
  });

  it('refuses a snapshot in an unknown format, and restores empty from empty data', () => {
    const kv = new KvStateMachine();
    expect(() => kv.restore(new Uint8Array([9, 0]))).toThrow(/unknown format/);
    kv.restore(new Uint8Array(0));
    expect(kv.read('a')).toBeNull();
  });

  it('with a turn function, snapshots the state as of the call while applies go on between slices', async () => {
    let turns = 0;
    let applyDuringSnapshot = (): void => {};
    const a = new KvStateMachine(undefined, undefined, async () => {
      turns++;
      applyDuringSnapshot();
    });
    const n = 20_000;
    a.apply(Array.from({ length: n }, (_, i) => cmd(i + 1, { kind: 'put', key: `k${i}`, value: `v${i}` })));
    const expected = a.fingerprint();
    let next = n + 1;
    applyDuringSnapshot = () => {
      a.apply([
        cmd(next, { kind: 'put', key: `k${next}`, value: 'later' }),
        cmd(next + 1, { kind: 'delete', key: 'k0' }),
      ]);
      next += 2;
    };
    const pending = a.snapshot();
    expect(pending).toBeInstanceOf(Promise);
    const bytes = await pending;
    expect(turns).toBeGreaterThan(1);
    expect(a.read('k0')).toBeNull();
    const b = new KvStateMachine();
    b.restore(bytes);
    expect(b.fingerprint()).toBe(expected);
    expect(b.read('k0')).toBe('v0');
  });
});

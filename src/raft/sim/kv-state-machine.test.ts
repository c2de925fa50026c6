import { describe, expect, it } from 'vitest';
import { BinaryWriter } from '../../common/index.js';
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

  it('keeps every value through overwrites, deletes and compactions, and snapshots only the live ones', () => {
    const a = new KvStateMachine();
    const model = new Map<string, string>();
    let index = 0;
    // 300 keys overwritten 200 times with values of varied length (some large, a chunk of their own).
    for (let round = 0; round < 200; round++) {
      const batch: Command[] = [];
      for (let k = 0; k < 300; k++) {
        const key = `key${k}`;
        if ((k + round) % 7 === 0) {
          batch.push(cmd(++index, { kind: 'delete', key }));
          model.delete(key);
        } else {
          const value = `${round}:${k}:`.padEnd(k === 5 ? 300_000 : 100 + ((k * round) % 400), 'é');
          batch.push(cmd(++index, { kind: 'put', key, value }));
          model.set(key, value);
        }
      }
      a.apply(batch);
    }
    for (const [k, v] of model) expect(a.read(k)).toBe(v);
    const b = new KvStateMachine();
    b.restore(a.snapshot() as Uint8Array);
    expect(b.fingerprint()).toBe(a.fingerprint());
    expect(JSON.parse(b.fingerprint()).data).toEqual([...model].sort(([x], [y]) => (x < y ? -1 : 1)));
  });

  it('restores a snapshot in the first format (entries without a mark)', () => {
    const v1 = new BinaryWriter().uint(1).uint(2).string('a').string('1').string('b').string('ü');
    v1.uint(1)
      .string('c1')
      .uint(3)
      .string(JSON.stringify({ kind: 'put' }));
    const kv = new KvStateMachine();
    kv.restore(v1.finish());
    expect([kv.read('a'), kv.read('b')]).toEqual(['1', 'ü']);
    // The session came along: a retry of seq 3 gets the first result and changes nothing.
    expect(kv.apply([cmd(9, { kind: 'put', key: 'a', value: 'no' }, 3)])).toEqual([{ kind: 'put' }]);
    expect(kv.read('a')).toBe('1');
  });

  it("refuses a command with bytes after a put's value, or of an unknown kind", () => {
    const kv = new KvStateMachine();
    const put = encodeKvCommand({ kind: 'put', key: 'a', value: 'b' });
    const longer = new Uint8Array(put.length + 1);
    longer.set(put);
    expect(() => kv.apply([{ index: 1, term: 1, data: longer }])).toThrow(/bytes after a put's value/);
    expect(() => kv.apply([{ index: 1, term: 1, data: new Uint8Array([9, 1, 97]) }])).toThrow(
      /unknown kind 9/,
    );
    expect(kv.read('a')).toBeNull();
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
    // Enough to fill more than one of the arena's 1 MB chunks: a snapshot copies one per turn.
    const n = 100_000;
    a.apply(Array.from({ length: n }, (_, i) => cmd(i + 1, { kind: 'put', key: `k${i}`, value: `v${i}` })));
    const expected = a.fingerprint();
    let next = n + 1;
    const seen: (string | null)[] = [];
    applyDuringSnapshot = () => {
      // Keys behind and ahead of the encoder, deleted, re-put, changed twice, and new ones.
      a.apply([
        cmd(next, { kind: 'put', key: `k${next}`, value: 'later' }),
        cmd(next + 1, { kind: 'delete', key: 'k0' }),
        cmd(next + 2, { kind: 'delete', key: `k${n - 1}` }),
        cmd(next + 3, { kind: 'put', key: `k${n - 2}`, value: `changed${next}` }),
        cmd(next + 4, { kind: 'cas', key: 'k5', expected: 'v5', value: 'cas' }),
      ]);
      // Reads during the snapshot see every apply.
      seen.push(a.read('k0'), a.read(`k${n - 2}`), a.read('k5'));
      next += 5;
    };
    const pending = a.snapshot();
    expect(pending).toBeInstanceOf(Promise);
    const bytes = await pending;
    expect(turns).toBeGreaterThan(1);
    expect(seen.slice(0, 3)).toEqual([null, `changed${n + 1}`, 'cas']);
    // Afterwards the applies made during the snapshot are all in place.
    expect(a.read('k0')).toBeNull();
    expect(a.read(`k${n - 1}`)).toBeNull();
    expect(a.read(`k${n - 2}`)).toBe(`changed${next - 5}`);
    expect(a.read('k5')).toBe('cas');
    expect(a.read(`k${next - 5}`)).toBe('later');
    const b = new KvStateMachine();
    b.restore(bytes);
    expect(b.fingerprint()).toBe(expected);
    expect(b.read('k0')).toBe('v0');
    expect(b.read(`k${n - 1}`)).toBe(`v${n - 1}`);
    // A second snapshot, taken once the first is done, has the applies of the first's turns.
    applyDuringSnapshot = () => {};
    const c = new KvStateMachine();
    c.restore(await a.snapshot());
    expect(c.fingerprint()).toBe(a.fingerprint());
  });

  it('a restore during a sliced snapshot wins, and the snapshot still has the state as of its call', async () => {
    let during = (): void => {};
    const a = new KvStateMachine(undefined, undefined, async () => during());
    a.apply(
      Array.from({ length: 5_000 }, (_, i) => cmd(i + 1, { kind: 'put', key: `k${i}`, value: `v${i}` })),
    );
    const expected = a.fingerprint();
    const other = new KvStateMachine();
    other.apply([cmd(1, { kind: 'put', key: 'only', value: 'x' })]);
    const replacement = other.snapshot() as Uint8Array;
    during = () => {
      during = () => {};
      a.apply([cmd(9_000, { kind: 'put', key: 'k1', value: 'lost in the restore' })]);
      a.restore(replacement);
    };
    const bytes = await a.snapshot();
    expect(a.fingerprint()).toBe(other.fingerprint());
    const b = new KvStateMachine();
    b.restore(bytes);
    expect(b.fingerprint()).toBe(expected);
  });

  it('a second snapshot while one is under way is encoded at once, with every apply so far', async () => {
    let during = (): void => {};
    const a = new KvStateMachine(undefined, undefined, async () => during());
    a.apply(
      Array.from({ length: 5_000 }, (_, i) => cmd(i + 1, { kind: 'put', key: `k${i}`, value: `v${i}` })),
    );
    let second: Uint8Array | Promise<Uint8Array> = new Uint8Array(0);
    during = () => {
      during = () => {};
      a.apply([cmd(9_000, { kind: 'delete', key: 'k1' })]);
      second = a.snapshot();
    };
    await a.snapshot();
    expect(second).toBeInstanceOf(Uint8Array);
    const b = new KvStateMachine();
    b.restore(second as Uint8Array);
    expect(b.read('k1')).toBeNull();
    expect(b.fingerprint()).toBe(a.fingerprint());
  });
});

import { describe, expect, it } from 'vitest';
import { InvalidArgumentError, SeededRandom } from '../../common/index.js';
import type { KvInput, KvOutput } from './kv-model.js';
import { applyKv, kvModel } from './kv-model.js';
import type { Operation } from './linearizability.js';
import { checkLinearizable, formatFailure } from './linearizability.js';

type KvOp = Operation<KvInput, KvOutput>;

let nextId = 0;
function op(client: string, call: number, ret: number | null, input: KvInput, output?: KvOutput): KvOp {
  const id = nextId++;
  if (ret === null) return { id, client, input, call, outcome: 'unknown' };
  return { id, client, input, call, outcome: 'ok', return: ret, output };
}
const put = (key: string, value: string): KvInput => ({ kind: 'put', key, value });
const get = (key: string): KvInput => ({ kind: 'get', key });
const cas = (key: string, expected: string | null, value: string): KvInput => ({
  kind: 'cas',
  key,
  expected,
  value,
});
const del = (key: string): KvInput => ({ kind: 'delete', key });
const ok: KvOutput = { kind: 'put' };
const read = (value: string | null): KvOutput => ({ kind: 'get', value });
const casR = (success: boolean): KvOutput => ({ kind: 'cas', ok: success });
const delR = (existed: boolean): KvOutput => ({ kind: 'delete', existed });

const verdict = (h: KvOp[]): string => checkLinearizable(kvModel, h).verdict;

describe('checkLinearizable on hand-written KV histories', () => {
  it('accepts an empty history and a sequential one', () => {
    expect(verdict([])).toBe('ok');
    expect(
      verdict([
        op('a', 0, 1, put('x', '1'), ok),
        op('a', 2, 3, get('x'), read('1')),
        op('a', 4, 5, cas('x', '1', '2'), casR(true)),
        op('a', 6, 7, cas('x', '1', '3'), casR(false)),
        op('a', 8, 9, del('x'), delR(true)),
        op('a', 10, 11, get('x'), read(null)),
        op('a', 12, 13, del('x'), delR(false)),
      ]),
    ).toBe('ok');
  });

  it('rejects a stale read after a completed write', () => {
    const h = [
      op('a', 0, 1, put('x', '1'), ok),
      op('a', 2, 3, put('x', '2'), ok),
      op('b', 4, 5, get('x'), read('1')),
    ];
    const r = checkLinearizable(kvModel, h);
    expect(r.verdict).toBe('illegal');
    expect(r.failure?.partition).toBe('x');
    expect(r.failure?.stuck).toContain('get(x) -> "1"');
    expect(formatFailure(r.failure!)).toContain('not linearizable');
  });

  it('rejects a lost write: an acknowledged put that a later read does not see', () => {
    expect(verdict([op('a', 0, 1, put('x', '1'), ok), op('b', 2, 3, get('x'), read(null))])).toBe('illegal');
  });

  it('rejects a read of a value nobody wrote', () => {
    expect(verdict([op('a', 0, 1, put('x', '1'), ok), op('b', 0, 3, get('x'), read('9'))])).toBe('illegal');
  });

  it('accepts either value for a read concurrent with a write', () => {
    for (const seen of [null, '1']) {
      expect(verdict([op('a', 0, 10, put('x', '1'), ok), op('b', 2, 3, get('x'), read(seen))])).toBe('ok');
    }
  });

  it('rejects reads that see a concurrent write and then un-see it', () => {
    const h = [
      op('a', 0, 100, put('x', '1'), ok),
      op('b', 10, 20, get('x'), read('1')),
      op('b', 30, 40, get('x'), read(null)),
    ];
    expect(verdict(h)).toBe('illegal');
  });

  it('rejects two successful CAS from the same expected value', () => {
    const h = [
      op('a', 0, 1, put('x', '0'), ok),
      op('b', 2, 10, cas('x', '0', 'b'), casR(true)),
      op('c', 3, 9, cas('x', '0', 'c'), casR(true)),
    ];
    expect(verdict(h)).toBe('illegal');
  });

  it('accepts one winner and one loser among concurrent CAS, in either order', () => {
    const h = [
      op('a', 0, 1, put('x', '0'), ok),
      op('b', 2, 10, cas('x', '0', 'b'), casR(false)),
      op('c', 3, 9, cas('x', '0', 'c'), casR(true)),
      op('d', 11, 12, get('x'), read('c')),
    ];
    expect(verdict(h)).toBe('ok');
  });

  it('rejects a CAS that failed although nothing could have changed the value', () => {
    expect(verdict([op('a', 0, 1, put('x', '0'), ok), op('a', 2, 3, cas('x', '0', '1'), casR(false))])).toBe(
      'illegal',
    );
  });

  it('treats CAS with expected null as create-if-absent', () => {
    expect(
      verdict([op('a', 0, 1, cas('x', null, '1'), casR(true)), op('a', 2, 3, get('x'), read('1'))]),
    ).toBe('ok');
    expect(verdict([op('a', 0, 1, put('x', '0'), ok), op('a', 2, 3, cas('x', null, '1'), casR(true))])).toBe(
      'illegal',
    );
  });

  it('lets an unknown write take effect late, or never', () => {
    const late = [
      op('a', 0, null, put('x', '1')),
      op('b', 5, 6, get('x'), read(null)),
      op('b', 100, 101, get('x'), read('1')),
    ];
    expect(verdict(late)).toBe('ok');
    const never = [op('a', 0, null, put('x', '1')), op('b', 5, 6, get('x'), read(null))];
    expect(verdict(never)).toBe('ok');
  });

  it('never lets an unknown write take effect before it was called', () => {
    const h = [op('b', 0, 1, get('x'), read('1')), op('a', 5, null, put('x', '1'))];
    expect(verdict(h)).toBe('illegal');
  });

  it('does not let an unknown write take effect twice', () => {
    const h = [
      op('a', 0, null, put('x', '1')),
      op('b', 1, 2, get('x'), read('1')),
      op('c', 3, 4, put('x', '2'), ok),
      op('b', 5, 6, get('x'), read('1')),
    ];
    expect(verdict(h)).toBe('illegal');
  });

  it('treats an unknown CAS as conditional wherever it lands', () => {
    const h = [
      op('a', 0, 1, put('x', '0'), ok),
      op('b', 2, null, cas('x', '0', 'b')),
      op('c', 3, 4, put('x', '5'), ok),
      op('d', 10, 11, get('x'), read('b')),
    ];
    // The CAS can no longer match after put(5) completed, and it cannot have gone before it either.
    expect(verdict(h)).toBe('illegal');
  });

  it('ignores operations that definitely failed', () => {
    const failed: KvOp = { id: nextId++, client: 'a', input: put('x', '1'), call: 0, outcome: 'fail' };
    expect(verdict([failed, op('b', 5, 6, get('x'), read(null))])).toBe('ok');
  });

  it('checks keys independently and names the bad key', () => {
    const h = [
      op('a', 0, 1, put('x', '1'), ok),
      op('a', 0, 1, put('y', '1'), ok),
      op('b', 2, 3, get('x'), read('1')),
      op('b', 4, 5, get('y'), read(null)),
    ];
    const r = checkLinearizable(kvModel, h);
    expect(r.partitions).toBe(2);
    expect(r.failure?.partition).toBe('y');
  });

  it('treats operations touching at the same instant as concurrent', () => {
    expect(verdict([op('a', 0, 5, put('x', '1'), ok), op('b', 5, 6, get('x'), read(null))])).toBe('ok');
  });

  it('rejects an operation that returns before it was called, naming it', () => {
    const bad = op('a', 5, 4, put('x', '1'), ok);
    expect(() => verdict([bad])).toThrow(InvalidArgumentError);
  });

  it('reports unknown when the step budget runs out', () => {
    const h: KvOp[] = [];
    for (let i = 0; i < 14; i++) h.push(op(`c${i}`, 0, 100, put('x', `${i}`), ok));
    h.push(op('z', 101, 102, get('x'), read('missing')));
    const r = checkLinearizable(kvModel, h, { maxStepsPerPartition: 50 });
    expect(r.verdict).toBe('unknown');
    expect(r.undecided).toEqual(['x']);
  });
});

/** Exhaustive search over all real-time-respecting orders; unknown ops may also be left out. */
function bruteForce(history: readonly KvOp[]): boolean {
  const ops = history.filter((o) => o.outcome !== 'fail');
  const end = (o: KvOp): number => (o.outcome === 'ok' ? o.return! : Number.POSITIVE_INFINITY);
  const done = new Array<boolean>(ops.length).fill(false);
  const state = new Map<string, string | null>();
  const search = (): boolean => {
    const pending = ops.filter((_, i) => !done[i]);
    if (pending.every((o) => o.outcome === 'unknown')) return true;
    for (let i = 0; i < ops.length; i++) {
      if (done[i]) continue;
      const o = ops[i]!;
      // o may go next only if no other pending op finished strictly before o was called.
      if (ops.some((p, j) => !done[j] && j !== i && end(p) < o.call)) continue;
      const before = state.get(o.input.key) ?? null;
      const next = kvModel.step(before, o.input, o.outcome === 'ok' ? o.output : undefined);
      if (next === undefined) continue;
      done[i] = true;
      state.set(o.input.key, next);
      const found = search();
      done[i] = false;
      state.set(o.input.key, before);
      if (found) return true;
    }
    return false;
  };
  return search();
}

interface GenOptions {
  clients: number;
  opsPerClient: number;
  keys: number;
  unknownRate: number;
}

/** A history produced by a truly atomic store: each op takes effect at a random instant inside its interval. */
function generate(rng: SeededRandom, g: GenOptions): KvOp[] {
  const planned: { op: KvOp; at: number; effect: boolean }[] = [];
  let id = 0;
  for (let c = 0; c < g.clients; c++) {
    let t = rng.int(0, 5);
    for (let k = 0; k < g.opsPerClient; k++) {
      const call = t;
      const ret = call + rng.int(1, 20);
      const key = `k${rng.int(0, g.keys)}`;
      const v = `${c}.${k}`;
      const choice = rng.int(0, 4);
      const input: KvInput =
        choice === 0
          ? put(key, v)
          : choice === 1
            ? get(key)
            : choice === 2
              ? cas(
                  key,
                  rng.next() < 0.3 ? null : `${rng.int(0, g.clients)}.${rng.int(0, g.opsPerClient)}`,
                  v,
                )
              : del(key);
      const unknown = rng.next() < g.unknownRate;
      // Distinct fractional instants keep the effect order total and inside (call, return).
      const at = call + 0.001 + rng.next() * (ret - call - 0.002);
      planned.push({
        op: { id: id++, client: `c${c}`, input, call, outcome: unknown ? 'unknown' : 'ok', return: ret },
        at,
        effect: !unknown || rng.next() < 0.5,
      });
      t = ret + rng.int(0, 4);
    }
  }
  const store = new Map<string, string | null>();
  const out: KvOp[] = [];
  for (const p of [...planned].sort((a, b) => a.at - b.at)) {
    let output: KvOutput | undefined;
    if (p.effect) {
      const r = applyKv(store.get(p.op.input.key) ?? null, p.op.input);
      store.set(p.op.input.key, r.next);
      output = r.output;
    }
    if (p.op.outcome === 'unknown')
      out.push({ id: p.op.id, client: p.op.client, input: p.op.input, call: p.op.call, outcome: 'unknown' });
    else out.push({ ...p.op, output });
  }
  return out.sort((a, b) => a.id - b.id);
}

/** Changes one definite result so that it may (or may not) become impossible. */
function mutate(rng: SeededRandom, h: KvOp[]): KvOp[] {
  const definite = h.filter((o) => o.outcome === 'ok');
  if (definite.length === 0) return h;
  const victim = definite[rng.int(0, definite.length)]!;
  const values = [
    null,
    ...h.filter((o) => o.input.kind !== 'get').map((o) => ('value' in o.input ? o.input.value : null)),
  ];
  let output: KvOutput;
  switch (victim.output!.kind) {
    case 'get':
      output = read(values[rng.int(0, values.length)] ?? null);
      break;
    case 'cas':
      output = casR(!victim.output!.ok);
      break;
    case 'delete':
      output = delR(!victim.output!.existed);
      break;
    case 'put':
      // Move the put earlier, so that reads which missed it may now be stale.
      return h.map((o) => {
        if (o !== victim) return o;
        const call = Math.max(0, o.call - 15);
        return { ...o, call, return: Math.max(call, o.call - 1) };
      });
  }
  return h.map((o) => (o === victim ? { ...o, output } : o));
}

describe('checkLinearizable on generated histories', () => {
  it('accepts every history produced by an atomic store', () => {
    const rng = new SeededRandom(42);
    for (let i = 0; i < 300; i++) {
      const h = generate(rng, { clients: 4, opsPerClient: 12, keys: 2, unknownRate: 0.1 });
      const r = checkLinearizable(kvModel, h);
      expect(r.verdict, `history ${i}`).toBe('ok');
    }
  });

  it('agrees with exhaustive search on small mutated histories', () => {
    const rng = new SeededRandom(7);
    let illegal = 0;
    for (let i = 0; i < 400; i++) {
      const base = generate(rng, { clients: 3, opsPerClient: 3, keys: 1, unknownRate: 0.15 });
      const h = rng.next() < 0.8 ? mutate(rng, base) : base;
      const expected = bruteForce(h) ? 'ok' : 'illegal';
      if (expected === 'illegal') illegal++;
      expect(checkLinearizable(kvModel, h).verdict, `history ${i}: ${JSON.stringify(h)}`).toBe(expected);
    }
    // The mutations must actually produce both kinds, or this test proves little.
    expect(illegal).toBeGreaterThan(50);
    expect(illegal).toBeLessThan(380);
  });

  it('checks a long, highly concurrent history quickly', () => {
    const rng = new SeededRandom(3);
    const h = generate(rng, { clients: 20, opsPerClient: 150, keys: 5, unknownRate: 0.05 });
    const r = checkLinearizable(kvModel, h);
    expect(r.verdict).toBe('ok');
    expect(r.operations).toBe(3000);
  });
});

/**
 * A linearizability checker for concurrent histories: Wing & Gong's search with Lowe's memoisation
 * (never revisit the same set of linearized operations in the same model state) and
 * P-compositionality (each partition, e.g. each key, is checked on its own). The algorithm follows
 * the papers and porcupine's description; the code is ours.
 *
 * Operations whose outcome is unknown (the client timed out) have no return: they may take effect at
 * any point after their call, or never, which is the same as taking effect after everything else.
 */
import { InvalidArgumentError } from '../../common/index.js';

/** A sequential specification. `step` returns the next state, or undefined if `output` is impossible. */
export interface Model<S, I, O> {
  init(): S;
  /** `output` is undefined for an operation whose outcome is unknown: accept any result. */
  step(state: S, input: I, output: O | undefined): S | undefined;
  equal(a: S, b: S): boolean;
  hash(state: S): number;
  /** Independent sub-histories (P-compositionality); one partition if absent. */
  partition?(input: I): string;
  describe(input: I, output: O | undefined): string;
  describeState(state: S): string;
}

export interface Operation<I, O> {
  readonly id: number;
  readonly client: string;
  readonly input: I;
  readonly call: number;
  /**
   * 'ok': returned `output` at `return`. 'unknown': timed out, may or may not have taken effect.
   * 'fail': definitely did not take effect (rejected before it was proposed): ignored.
   */
  readonly outcome: 'ok' | 'unknown' | 'fail';
  readonly return?: number;
  readonly output?: O;
}

export type Verdict = 'ok' | 'illegal' | 'unknown';

export interface PartitionFailure {
  readonly partition: string;
  /** The longest sequence of operations that could be linearized, as descriptions, in order. */
  readonly linearizedPrefix: readonly string[];
  readonly stateAfterPrefix: string;
  /** The operation that had to take effect next but could not, and the others concurrent with it. */
  readonly stuck: string;
  readonly concurrent: readonly string[];
}

export interface CheckResult {
  readonly verdict: Verdict;
  readonly partitions: number;
  readonly operations: number;
  /** Search steps taken, summed over partitions (deterministic, unlike a wall-clock budget). */
  readonly steps: number;
  readonly failure?: PartitionFailure;
  /** Partitions abandoned because the step budget ran out. */
  readonly undecided: readonly string[];
}

export interface CheckOptions {
  /** Search steps allowed per partition before giving up with 'unknown'. @default 5_000_000 */
  maxStepsPerPartition?: number;
}

interface Node<I, O> {
  /** Index of the operation within its partition, the bit in the linearized set. */
  readonly op: number;
  readonly isCall: boolean;
  /** The call's matching return node (undefined on return nodes). */
  match: Node<I, O> | undefined;
  prev: Node<I, O> | undefined;
  next: Node<I, O> | undefined;
  readonly input: I;
  readonly output: O | undefined;
}

export function checkLinearizable<S, I, O>(
  model: Model<S, I, O>,
  history: readonly Operation<I, O>[],
  options: CheckOptions = {},
): CheckResult {
  const byPartition = new Map<string, Operation<I, O>[]>();
  let operations = 0;
  for (const op of history) {
    if (op.outcome === 'fail') continue;
    if (op.outcome === 'ok' && !(op.return !== undefined && op.return >= op.call)) {
      throw new InvalidArgumentError(
        `history[id=${op.id}].return`,
        `operation ${op.id} of ${op.client} returned at ${op.return} before its call at ${op.call}`,
      );
    }
    operations++;
    const p = model.partition ? model.partition(op.input) : '';
    let list = byPartition.get(p);
    if (!list) {
      list = [];
      byPartition.set(p, list);
    }
    list.push(op);
  }
  const maxSteps = options.maxStepsPerPartition ?? 5_000_000;
  const undecided: string[] = [];
  let steps = 0;
  // Sorted so the report (and the step count) do not depend on history order.
  for (const name of [...byPartition.keys()].sort()) {
    const result = checkPartition(model, name, byPartition.get(name)!, maxSteps);
    steps += result.steps;
    if (result.failure) {
      return {
        verdict: 'illegal',
        partitions: byPartition.size,
        operations,
        steps,
        failure: result.failure,
        undecided,
      };
    }
    if (result.undecided) undecided.push(name);
  }
  return {
    verdict: undecided.length > 0 ? 'unknown' : 'ok',
    partitions: byPartition.size,
    operations,
    steps,
    undecided,
  };
}

interface PartitionResult {
  steps: number;
  undecided: boolean;
  failure?: PartitionFailure;
}

/** Builds the time-ordered doubly linked list of call and return events, headed by a sentinel. */
function buildList<I, O>(ops: readonly Operation<I, O>[]): Node<I, O> {
  interface Ev {
    time: number;
    isCall: boolean;
    op: number;
  }
  const events: Ev[] = [];
  ops.forEach((op, i) => {
    events.push({ time: op.call, isCall: true, op: i });
    const ret = op.outcome === 'ok' ? (op.return ?? Number.POSITIVE_INFINITY) : Number.POSITIVE_INFINITY;
    events.push({ time: ret, isCall: false, op: i });
  });
  // At equal times calls go first: the operations are then treated as concurrent, the permissive
  // reading, so a tie in the recorder's clock can never produce a false alarm.
  events.sort((a, b) => a.time - b.time || (a.isCall === b.isCall ? a.op - b.op : a.isCall ? -1 : 1));
  const head: Node<I, O> = {
    op: -1,
    isCall: false,
    match: undefined,
    prev: undefined,
    next: undefined,
    input: undefined as unknown as I,
    output: undefined,
  };
  const calls = new Map<number, Node<I, O>>();
  let tail = head;
  for (const ev of events) {
    const op = ops[ev.op]!;
    const node: Node<I, O> = {
      op: ev.op,
      isCall: ev.isCall,
      match: undefined,
      prev: tail,
      next: undefined,
      input: op.input,
      output: op.outcome === 'ok' ? op.output : undefined,
    };
    tail.next = node;
    tail = node;
    if (ev.isCall) calls.set(ev.op, node);
    else calls.get(ev.op)!.match = node;
  }
  return head;
}

/** Removes a call and its return from the list (the operation is linearized). */
function lift<I, O>(call: Node<I, O>): void {
  call.prev!.next = call.next;
  if (call.next) call.next.prev = call.prev;
  const ret = call.match!;
  ret.prev!.next = ret.next;
  if (ret.next) ret.next.prev = ret.prev;
}

/** Puts them back, in reverse order of removal. */
function unlift<I, O>(call: Node<I, O>): void {
  const ret = call.match!;
  ret.prev!.next = ret;
  if (ret.next) ret.next.prev = ret;
  call.prev!.next = call;
  if (call.next) call.next.prev = call;
}

interface CacheEntry<S> {
  bits: Uint32Array;
  state: S;
}

function checkPartition<S, I, O>(
  model: Model<S, I, O>,
  name: string,
  ops: readonly Operation<I, O>[],
  maxSteps: number,
): PartitionResult {
  const head = buildList(ops);
  const words = Math.ceil(ops.length / 32) || 1;
  const bits = new Uint32Array(words);
  // Zobrist hashing: the set's hash is the XOR of per-operation random words, updated in O(1).
  const zobrist = new Uint32Array(ops.length);
  let z = 0x9e3779b9;
  for (let i = 0; i < ops.length; i++) {
    z = Math.imul(z ^ (z >>> 15), 0x2c1b3c6d) + 0x297a2d39;
    z = (z ^ (z >>> 12)) >>> 0;
    zobrist[i] = z;
  }
  let setHash = 0;
  const cache = new Map<number, CacheEntry<S>[]>();
  const remember = (state: S): boolean => {
    const key = (setHash ^ Math.imul(model.hash(state), 0x9e3779b1)) >>> 0;
    let bucket = cache.get(key);
    if (!bucket) {
      bucket = [];
      cache.set(key, bucket);
    }
    for (const e of bucket) {
      if (model.equal(e.state, state) && sameBits(e.bits, bits)) return false;
    }
    bucket.push({ bits: bits.slice(), state });
    return true;
  };

  // Operations still waiting for a definite return: once none remain, the unknown ones can all be
  // placed at the end (or be deemed never to have happened), so the partition is linearizable.
  let definite = ops.filter((op) => op.outcome === 'ok').length;
  const stack: { call: Node<I, O>; state: S }[] = [];
  let state = model.init();
  let entry = head.next;
  let steps = 0;
  let deepest = -1;
  let deepestPrefix: number[] = [];
  let deepestState = state;
  let deepestStuck: Node<I, O> | undefined;

  while (definite > 0 && entry) {
    if (++steps > maxSteps) return { steps, undecided: true };
    if (entry.isCall) {
      const next = model.step(state, entry.input, entry.output);
      if (next !== undefined) {
        bits[entry.op >>> 5]! |= 1 << (entry.op & 31);
        setHash ^= zobrist[entry.op]!;
        if (remember(next)) {
          stack.push({ call: entry, state });
          state = next;
          if (ops[entry.op]!.outcome === 'ok') definite--;
          lift(entry);
          entry = head.next;
          continue;
        }
        bits[entry.op >>> 5]! &= ~(1 << (entry.op & 31));
        setHash ^= zobrist[entry.op]!;
      }
      entry = entry.next;
      continue;
    }
    // A return whose operation is not linearized yet: nothing before it fits, so backtrack.
    if (stack.length > deepest) {
      deepest = stack.length;
      deepestPrefix = stack.map((s) => s.call.op);
      deepestState = state;
      deepestStuck = entry;
    }
    const top = stack.pop();
    if (!top) break;
    const call = top.call;
    state = top.state;
    bits[call.op >>> 5]! &= ~(1 << (call.op & 31));
    setHash ^= zobrist[call.op]!;
    if (ops[call.op]!.outcome === 'ok') definite++;
    unlift(call);
    entry = call.next;
  }
  if (definite === 0) return { steps, undecided: false };
  return {
    steps,
    undecided: false,
    failure: explain(model, name, ops, deepestPrefix, deepestState, deepestStuck),
  };
}

function sameBits(a: Uint32Array, b: Uint32Array): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function explain<S, I, O>(
  model: Model<S, I, O>,
  partition: string,
  ops: readonly Operation<I, O>[],
  prefix: readonly number[],
  state: S,
  stuck: Node<I, O> | undefined,
): PartitionFailure {
  const t = (n: number | undefined): string =>
    n === undefined ? '?' : Number.isInteger(n) ? `${n}` : n.toFixed(1);
  const show = (i: number): string => {
    const op = ops[i]!;
    const ret = op.outcome === 'ok' ? t(op.return) : 'never';
    const out = op.outcome === 'ok' ? op.output : undefined;
    return `#${op.id} ${op.client} [${t(op.call)}, ${ret}] ${model.describe(op.input, out)}`;
  };
  const linearized = new Set(prefix);
  const stuckOp = stuck ? stuck.op : -1;
  const stuckCall = stuckOp >= 0 ? ops[stuckOp]!.call : Number.POSITIVE_INFINITY;
  const stuckReturn = stuckOp >= 0 ? (ops[stuckOp]!.return ?? Number.POSITIVE_INFINITY) : 0;
  const concurrent: string[] = [];
  ops.forEach((op, i) => {
    if (i === stuckOp || linearized.has(i)) return;
    const ret = op.outcome === 'ok' ? (op.return ?? Number.POSITIVE_INFINITY) : Number.POSITIVE_INFINITY;
    // Overlaps the stuck operation's interval: one of these would have had to go first.
    if (op.call <= stuckReturn && ret >= stuckCall) concurrent.push(show(i));
  });
  return {
    partition,
    linearizedPrefix: prefix.map(show),
    stateAfterPrefix: model.describeState(state),
    stuck: stuckOp >= 0 ? show(stuckOp) : '(none)',
    concurrent,
  };
}

/** A readable multi-line report of a failed check. */
export function formatFailure(f: PartitionFailure, maxPrefix = 8): string {
  const prefix = f.linearizedPrefix;
  const shown = prefix.slice(Math.max(0, prefix.length - maxPrefix));
  const lines = [
    `partition ${JSON.stringify(f.partition)} is not linearizable`,
    `  linearized ${prefix.length} op(s)${prefix.length > shown.length ? `, last ${shown.length}` : ''}:`,
    ...shown.map((s) => `    ${s}`),
    `  state then: ${f.stateAfterPrefix}`,
    `  cannot take effect next: ${f.stuck}`,
    ...f.concurrent.map((s) => `    concurrent: ${s}`),
  ];
  return lines.join('\n');
}

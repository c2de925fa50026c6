/**
 * The key-value vocabulary of the simulation's clients, and its sequential specification: a
 * register per key, so histories are checked key by key.
 */
import type { Model } from './linearizability.js';

export type KvInput =
  | { readonly kind: 'put'; readonly key: string; readonly value: string }
  | { readonly kind: 'get'; readonly key: string }
  /** Sets `value` only if the current value is `expected` (null: only if the key is absent). */
  | { readonly kind: 'cas'; readonly key: string; readonly expected: string | null; readonly value: string }
  | { readonly kind: 'delete'; readonly key: string };

export type KvOutput =
  | { readonly kind: 'put' }
  | { readonly kind: 'get'; readonly value: string | null }
  | { readonly kind: 'cas'; readonly ok: boolean }
  | { readonly kind: 'delete'; readonly existed: boolean };

/** The one sequential semantics, shared by the checker's model and the simulated state machine. */
export function applyKv(current: string | null, input: KvInput): { next: string | null; output: KvOutput } {
  switch (input.kind) {
    case 'put':
      return { next: input.value, output: { kind: 'put' } };
    case 'get':
      return { next: current, output: { kind: 'get', value: current } };
    case 'cas':
      return current === input.expected
        ? { next: input.value, output: { kind: 'cas', ok: true } }
        : { next: current, output: { kind: 'cas', ok: false } };
    case 'delete':
      return { next: null, output: { kind: 'delete', existed: current !== null } };
  }
}

function sameOutput(a: KvOutput, b: KvOutput): boolean {
  switch (a.kind) {
    case 'put':
      return b.kind === 'put';
    case 'get':
      return b.kind === 'get' && a.value === b.value;
    case 'cas':
      return b.kind === 'cas' && a.ok === b.ok;
    case 'delete':
      return b.kind === 'delete' && a.existed === b.existed;
  }
}

function hashString(s: string | null): number {
  if (s === null) return 0x51ed270b;
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

export function describeKv(input: KvInput, output: KvOutput | undefined): string {
  const q = (v: string | null): string => (v === null ? 'absent' : JSON.stringify(v));
  let call: string;
  switch (input.kind) {
    case 'put':
      call = `put(${input.key}, ${q(input.value)})`;
      break;
    case 'get':
      call = `get(${input.key})`;
      break;
    case 'cas':
      call = `cas(${input.key}, ${q(input.expected)} -> ${q(input.value)})`;
      break;
    case 'delete':
      call = `delete(${input.key})`;
      break;
  }
  if (output === undefined) return `${call} -> unknown`;
  switch (output.kind) {
    case 'put':
      return `${call} -> ok`;
    case 'get':
      return `${call} -> ${q(output.value)}`;
    case 'cas':
      return `${call} -> ${output.ok ? 'ok' : 'mismatch'}`;
    case 'delete':
      return `${call} -> ${output.existed ? 'deleted' : 'absent'}`;
  }
}

/** Per-key register model; the state is the key's value, null when absent. */
export const kvModel: Model<string | null, KvInput, KvOutput> = {
  init: () => null,
  step(state, input, output) {
    const r = applyKv(state, input);
    if (output !== undefined && !sameOutput(r.output, output)) return undefined;
    return r.next;
  },
  equal: (a, b) => a === b,
  hash: hashString,
  partition: (input) => input.key,
  describe: describeKv,
  describeState: (s) => (s === null ? 'absent' : JSON.stringify(s)),
};

import { describe, expect, it } from 'vitest';
import type { Message } from '../types.js';
import { decodeBatch, encodeBatch } from './message-codec.js';

const base = { from: 'a', to: 'b', term: 7 };
const bytes = (...b: number[]): Uint8Array => new Uint8Array(b);

const ALL_MESSAGE_KINDS: readonly Message[] = [
  {
    ...base,
    type: 'append',
    prevIndex: 10,
    prevTerm: 6,
    commit: 9,
    entries: [
      { term: 7, index: 11, type: 'normal', data: bytes(1, 2, 3) },
      { term: 7, index: 12, type: 'conf-change', data: bytes() },
    ],
  },
  { ...base, type: 'append-resp', index: 12, reject: true, hintIndex: 8, hintTerm: 5 },
  { ...base, type: 'heartbeat', commit: 12, readRound: 3 },
  { ...base, type: 'heartbeat-resp', readRound: 3 },
  { ...base, type: 'vote', lastIndex: 12, lastTerm: 7, transfer: false },
  { ...base, type: 'pre-vote', lastIndex: 12, lastTerm: 7, transfer: true },
  { ...base, type: 'vote-resp', reject: false },
  { ...base, type: 'pre-vote-resp', reject: true },
  {
    ...base,
    type: 'snapshot',
    snapshot: {
      meta: { index: 100, term: 6, conf: { voters: ['a', 'b', 'c'], learners: ['d'] } },
      data: bytes(9, 9),
    },
  },
  { ...base, type: 'timeout-now' },
  { ...base, type: 'read-index', ctx: 'r-1' },
  { ...base, type: 'read-index-resp', ctx: 'r-1', index: 12, reject: false },
  { ...base, type: 'propose', entries: [{ type: 'normal', data: bytes(4) }] },
];

describe('raft message codec', () => {
  it('round-trips every message kind in one batch', () => {
    const decoded = decodeBatch(encodeBatch(ALL_MESSAGE_KINDS));
    // Buffers serialise through toJSON before a replacer sees them: compare bytes as plain arrays.
    const plain = (m: unknown): unknown =>
      JSON.parse(
        JSON.stringify(m, (_k, v: unknown) => {
          if (v instanceof Uint8Array) return [...v];
          const b = v as { type?: string; data?: number[] } | null;
          return b?.type === 'Buffer' && Array.isArray(b.data) ? b.data : v;
        }),
      );
    expect(decoded.map(plain)).toEqual(ALL_MESSAGE_KINDS.map(plain));
  });

  it('refuses a frame that is cut short', () => {
    const frame = encodeBatch(ALL_MESSAGE_KINDS);
    expect(() => decodeBatch(frame.subarray(0, frame.length - 3))).toThrow(/truncated/);
  });
});

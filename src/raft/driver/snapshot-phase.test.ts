import { describe, expect, it } from 'vitest';
import { nextSnapshotAt } from './snapshot-phase.js';

const conf = { voters: ['c', 'a', 'b'], learners: [] };

describe('nextSnapshotAt', () => {
  it('spreads the members of a new cluster evenly over the interval', () => {
    expect(['a', 'b', 'c'].map((id) => nextSnapshotAt(0, 9000, id, conf))).toEqual([9000, 6000, 3000]);
  });

  it('keeps a member in its phase: every interval after a snapshot in phase, or past it', () => {
    expect(nextSnapshotAt(6000, 9000, 'b', conf)).toBe(15_000);
    expect(nextSnapshotAt(15_000, 9000, 'b', conf)).toBe(24_000);
    // Applied entries come in batches: a snapshot a little past the phase does not shift it.
    expect(nextSnapshotAt(6040, 9000, 'b', conf)).toBe(15_000);
  });

  it("gets back in phase after a leader's snapshot at any index, never waiting more than the interval", () => {
    expect(nextSnapshotAt(7000, 9000, 'c', conf)).toBe(12_000);
    for (let last = 0; last < 20_000; last += 97) {
      for (const id of ['a', 'b', 'c', 'x']) {
        const at = nextSnapshotAt(last, 9000, id, conf);
        expect(at - last).toBeGreaterThanOrEqual(1);
        expect(at - last).toBeLessThanOrEqual(9000);
      }
    }
  });

  it('counts learners among the members, takes a node outside the membership as the first, and every 1 as every entry', () => {
    const withLearner = { voters: ['a', 'b'], learners: ['c', 'd'] };
    expect(['a', 'b', 'c', 'd'].map((id) => nextSnapshotAt(0, 100, id, withLearner))).toEqual([
      100, 75, 50, 25,
    ]);
    expect(nextSnapshotAt(0, 100, 'z', withLearner)).toBe(100);
    expect(nextSnapshotAt(41, 1, 'c', withLearner)).toBe(42);
  });
});

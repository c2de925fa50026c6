import { describe, expect, it } from 'vitest';
import { canRemoveVoter } from './membership.js';

describe('canRemoveVoter (docker demotion quorum safeguard)', () => {
  const reachableExcept =
    (...down: string[]) =>
    (id: string): boolean =>
      !down.includes(id);

  it.each([
    { voters: ['a', 'b', 'c'], target: 'c', down: [], ok: true, why: 'two reachable of two left' },
    { voters: ['a', 'b', 'c'], target: 'b', down: ['c'], ok: false, why: 'one reachable of two left' },
    { voters: ['a', 'b', 'c'], target: 'c', down: ['c'], ok: true, why: 'removing the dead one' },
    { voters: ['a', 'b'], target: 'b', down: [], ok: true, why: 'the last two: one left is its own quorum' },
    { voters: ['a'], target: 'a', down: [], ok: false, why: 'nobody would be left' },
    { voters: ['a', 'b', 'c', 'd', 'e'], target: 'e', down: ['d'], ok: true, why: 'three reachable of four' },
    { voters: ['a', 'b', 'c', 'd', 'e'], target: 'e', down: ['c', 'd'], ok: false, why: 'two of four' },
  ])('$why', ({ voters, target, down, ok }) => {
    // 'a' asks: it counts itself reachable whatever the records say.
    expect(canRemoveVoter(voters, target, 'a', reachableExcept(...down, 'a'))).toBe(ok);
  });
});

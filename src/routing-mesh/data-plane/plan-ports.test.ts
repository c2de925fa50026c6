import { describe, expect, it } from 'vitest';
import type { NodeId } from '../../api/index.js';
import { clientPortRange } from './plan.js';

const ids = ['n-c', 'n-a', 'n-b'] as NodeId[];

describe('clientPortRange', () => {
  it('gives every node its own share of the client ports, the same on every node', () => {
    const ranges = ids.map((id) => clientPortRange(id, ids));
    expect(ranges).toEqual([
      { first: 44032, last: 65535 },
      { first: 1024, last: 22527 },
      { first: 22528, last: 44031 },
    ]);
    // Computed from another node's copy of the list (another order): the same shares.
    expect(clientPortRange('n-c' as NodeId, [...ids].reverse())).toEqual(ranges[0]);
  });

  it('never lets two nodes share a port, whatever their number', () => {
    for (const n of [1, 2, 5, 64, 300]) {
      const nodes = Array.from({ length: n }, (_, i) => `node-${String(i).padStart(3, '0')}` as NodeId);
      const ranges = nodes.map((id) => clientPortRange(id, nodes)).sort((a, b) => a.first - b.first);
      for (const [i, r] of ranges.entries()) {
        expect(r.first).toBeGreaterThanOrEqual(1024);
        expect(r.last).toBeLessThanOrEqual(65535);
        expect(r.last).toBeGreaterThanOrEqual(r.first);
        if (i > 0) expect(r.first).toBeGreaterThan((ranges[i - 1] as { last: number }).last);
      }
    }
  });
});

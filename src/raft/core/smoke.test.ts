import { describe, expect, it } from 'vitest';
import { TestCluster } from './test-cluster.js';

describe('smoke', () => {
  it('elects and replicates', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.elect('a');
    expect(c.leader()).toBe('a');
    c.propose('a', 'x');
    c.stabilize();
    for (const id of ['a', 'b', 'c']) expect(c.node(id).applied).toEqual(['x']);
  });
  it('elects by ticking', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.tickAll(30);
    expect(c.leaders()).toHaveLength(1);
  });
});

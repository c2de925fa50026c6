import { describe, expect, it } from 'vitest';
import type { Node, NodeId } from '../../api/index.js';
import { isSwarmError } from '../../common/index.js';
import {
  failedConstraints,
  formatConstraint,
  nodeMatchesConstraints,
  parseConstraint,
  parseConstraints,
} from './constraints.js';

const node: Node = {
  id: 'n0000000000000000000000001' as NodeId,
  meta: { version: 1, createdAt: 0, updatedAt: 0 },
  spec: { desiredRole: 'worker', availability: 'active', labels: { zone: 'East', Tier: 'db' } },
  role: 'worker',
  status: { state: 'ready' },
  description: {
    hostname: 'host-1',
    platform: { os: 'linux', architecture: 'x86_64' },
    resources: { nanoCPUs: 1e9, memoryBytes: 1e9 },
    engine: { version: '27', labels: { storage: 'ssd' } },
  },
};

describe('parseConstraint', () => {
  it('reads key, operator and value, trimming blanks', () => {
    expect(parseConstraint(' node.labels.zone != west ')).toEqual({
      key: 'node.labels.zone',
      operator: '!=',
      value: 'west',
    });
  });

  it('lowercases fixed keys but keeps label names as written', () => {
    expect(parseConstraint('Node.Role==manager').key).toBe('node.role');
    expect(parseConstraint('NODE.LABELS.Tier==db').key).toBe('node.labels.Tier');
  });

  it.each([
    ['node.role=worker', 'form'],
    ['node.color==red', 'unknown attribute'],
    ['node.labels.==x', 'unknown attribute'],
    ['==x', 'form'],
    ['node.id==', 'form'],
  ])('refuses %j, naming the field', (expr, reason) => {
    try {
      parseConstraints(['node.role==worker', expr], 'placement.constraints');
      expect.unreachable();
    } catch (e) {
      expect(isSwarmError(e, 'INVALID_ARGUMENT')).toBe(true);
      expect((e as Error).message).toContain('placement.constraints[1]');
      expect((e as Error).message).toContain(reason);
    }
  });
});

describe('nodeMatchesConstraints', () => {
  it.each([
    ['node.id==n0000000000000000000000001', true],
    ['node.id!=n0000000000000000000000001', false],
    ['node.hostname==HOST-1', true],
    ['node.role==worker', true],
    ['node.role==manager', false],
    ['node.platform.os==linux', true],
    ['node.platform.arch!=x86_64', false],
    ['node.labels.zone==east', true],
    ['node.labels.zone!=east', false],
    ['node.labels.Tier==db', true],
    ['node.labels.tier==db', false],
    ['node.labels.missing!=x', true],
    ['node.labels.missing==x', false],
    ['engine.labels.storage==ssd', true],
    ['engine.labels.storage==hdd', false],
  ])('%s → %s', (expr, expected) => {
    expect(nodeMatchesConstraints(parseConstraints([expr]), node)).toBe(expected);
  });

  it('needs every constraint to hold, and lists the ones that fail', () => {
    const cs = parseConstraints([
      'node.role==worker',
      'node.labels.zone==west',
      'engine.labels.storage==hdd',
    ]);
    expect(nodeMatchesConstraints(cs, node)).toBe(false);
    expect(failedConstraints(cs, node).map(formatConstraint)).toEqual([
      'node.labels.zone==west',
      'engine.labels.storage==hdd',
    ]);
    expect(nodeMatchesConstraints([], node)).toBe(true);
  });

  it('reads a node without description as empty attributes', () => {
    const bare: Node = { ...node, description: undefined };
    expect(nodeMatchesConstraints(parseConstraints(['node.hostname!=host-1']), bare)).toBe(true);
    expect(nodeMatchesConstraints(parseConstraints(['engine.labels.storage==ssd']), bare)).toBe(false);
  });
});

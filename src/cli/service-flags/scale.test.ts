import { describe, expect, it } from 'vitest';
import type { NodeSpec } from '../../api/index.js';
import { isSwarmError } from '../../common/index.js';
import { applyNodeUpdate, parseScaleArgs, scaleMode } from './scale.js';

function errorOf(fn: () => unknown): { field: unknown; message: string } {
  try {
    fn();
  } catch (e) {
    if (isSwarmError(e, 'INVALID_ARGUMENT')) return { field: e.details.field, message: e.message };
    throw e;
  }
  throw new Error('expected an InvalidArgumentError');
}

describe('service scale', () => {
  it('parses every NAME=N', () => {
    expect(parseScaleArgs(['web=3', 'api=0'])).toEqual([
      { service: 'web', replicas: 3 },
      { service: 'api', replicas: 0 },
    ]);
  });

  it.each([
    [['web'], "invalid scale specifier 'web': use SERVICE=REPLICAS, e.g. web=3"],
    [['=3'], "invalid scale specifier '=3': use SERVICE=REPLICAS, e.g. web=3"],
    [['web='], "invalid scale specifier 'web=': use SERVICE=REPLICAS, e.g. web=3"],
    [['web=3', 'api=-1'], 'api: invalid replicas value -1: must be a non-negative integer'],
    [['web=x'], 'web: invalid replicas value x: must be a non-negative integer'],
    [[], '"service scale" requires at least 1 argument'],
  ])('%j is refused: %s', (args, message) => {
    expect(errorOf(() => parseScaleArgs(args))).toEqual({ field: 'SERVICE=REPLICAS', message });
  });

  it.each([
    [{ type: 'replicated', replicas: 1 } as const, { type: 'replicated', replicas: 4 }],
    [
      { type: 'replicated-job', maxConcurrent: 1, totalCompletions: 1 } as const,
      { type: 'replicated-job', maxConcurrent: 1, totalCompletions: 4 },
    ],
  ])('scaleMode %j', (mode, expected) => {
    expect(scaleMode(mode, 4)).toEqual(expected);
  });

  it.each([{ type: 'global' } as const, { type: 'global-job' } as const])('scaleMode refuses %j', (mode) => {
    expect(errorOf(() => scaleMode(mode, 2))).toEqual({
      field: '--replicas',
      message: 'scale can only be used with replicated or replicated-job mode',
    });
  });
});

describe('node update', () => {
  const node: NodeSpec = { desiredRole: 'worker', availability: 'active', labels: { zone: 'a' } };

  it.each([
    [{ availability: 'drain' }, { desiredRole: 'worker', availability: 'drain', labels: { zone: 'a' } }],
    [{ availability: 'PAUSE' }, { desiredRole: 'worker', availability: 'pause', labels: { zone: 'a' } }],
    [{ role: 'manager' }, { desiredRole: 'manager', availability: 'active', labels: { zone: 'a' } }],
    [
      { labelAdd: ['zone=b', 'ssd'] },
      { desiredRole: 'worker', availability: 'active', labels: { zone: 'b', ssd: '' } },
    ],
    [{ labelRm: ['zone'] }, { desiredRole: 'worker', availability: 'active' }],
  ])('%j', (opts, expected) => {
    expect(applyNodeUpdate(node, opts)).toEqual(expected);
  });

  it.each([
    [
      { availability: 'off' },
      '--availability',
      'invalid argument "off" for "--availability" flag: must be one of "active", "pause", "drain"',
    ],
    [
      { role: 'boss' },
      '--role',
      'invalid argument "boss" for "--role" flag: must be one of "worker", "manager"',
    ],
    [{ labelRm: ['rack'] }, '--label-rm', "key rack doesn't exist in node's labels"],
    [
      { labelAdd: ['=x'] },
      '--label-add',
      `invalid argument "=x" for "--label-add" flag: invalid label '=x': empty name`,
    ],
  ])('%j is refused', (opts, field, message) => {
    expect(errorOf(() => applyNodeUpdate(node, opts))).toEqual({ field, message });
  });
});

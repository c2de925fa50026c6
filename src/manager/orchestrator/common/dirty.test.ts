import { describe, expect, it } from 'vitest';
import type { Node, NodeId, Service, ServiceId, Task, TaskId, TaskSpec } from '../../../api/index.js';
import { isTaskDirty, jsonEqual } from './dirty.js';

const template: TaskSpec = {
  container: { image: 'web:v1', env: ['A=1'] },
  placement: { constraints: ['node.labels.zone==east'] },
};

function service(spec: TaskSpec, specVersion: number): Service {
  return {
    id: 's000000000000000000000001' as ServiceId,
    meta: { version: 1, createdAt: 0, updatedAt: 0 },
    spec: { name: 'web', mode: { type: 'replicated', replicas: 1 }, taskTemplate: spec },
    specVersion,
    status: {},
  };
}

function task(spec: TaskSpec, specVersion: number): Task {
  return {
    id: 't000000000000000000000001' as TaskId,
    meta: { version: 1, createdAt: 0, updatedAt: 0 },
    serviceId: 's000000000000000000000001' as ServiceId,
    serviceName: 'web',
    slot: 1,
    desiredState: 'running',
    spec,
    specVersion,
    status: { state: 'running', timestamp: 0, message: '' },
  };
}

function node(zone: string): Node {
  return {
    id: 'n000000000000000000000001' as NodeId,
    meta: { version: 1, createdAt: 0, updatedAt: 0 },
    spec: { desiredRole: 'worker', availability: 'active', labels: { zone } },
    role: 'worker',
    status: { state: 'ready' },
  };
}

describe('isTaskDirty', () => {
  it('is clean at the same spec version', () => {
    expect(isTaskDirty(service({ container: { image: 'other' } }, 3), task(template, 3))).toBe(false);
  });

  it('is clean when a new version has an equal spec (only the version moved)', () => {
    expect(isTaskDirty(service({ ...template }, 2), task(template, 1))).toBe(false);
  });

  it('is dirty when the container spec changed', () => {
    const next = { ...template, container: { ...template.container, image: 'web:v2' } };
    expect(isTaskDirty(service(next, 2), task(template, 1))).toBe(true);
  });

  it('ignores a placement-only change while the task node still matches', () => {
    const next = { ...template, placement: { constraints: ['node.labels.zone!=west'] } };
    expect(isTaskDirty(service(next, 2), task(template, 1), node('east'))).toBe(false);
    expect(isTaskDirty(service(next, 2), task(template, 1), node('west'))).toBe(true);
    expect(isTaskDirty(service(next, 2), task(template, 1))).toBe(true);
  });
});

describe('jsonEqual', () => {
  it.each([
    [{ a: 1, b: undefined }, { a: 1 }, true],
    [[1, { x: 'y' }], [1, { x: 'y' }], true],
    [[1, 2], [2, 1], false],
    [{ a: [1] }, { a: { 0: 1 } }, false],
    [null, {}, false],
  ])('%j vs %j → %s', (a, b, expected) => {
    expect(jsonEqual(a, b)).toBe(expected);
  });
});

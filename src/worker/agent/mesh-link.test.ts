import { describe, expect, it } from 'vitest';
import type { MeshState, Task, TaskId, TaskState } from '../../api/index.js';
import { deferred } from '../../common/index.js';
import { MeshLink } from './mesh-link.js';

function task(desiredState: TaskState): Task {
  return { id: 't1' as TaskId, desiredState } as Task;
}

describe('MeshLink', () => {
  it('hands the MeshState over and holds a stop until the backend left the rotation', async () => {
    const events: string[] = [];
    const gate = deferred<void>();
    const link = new MeshLink({
      update: (s: MeshState) => events.push(`update ${s.revision}`),
      withdraw: async (id) => {
        events.push(`withdraw ${id}`);
        await gate.promise;
        events.push('withdrawn');
      },
    });
    link.onMessage({
      kind: 'incremental',
      tasks: [],
      removed: [],
      managers: [],
      heartbeatPeriodMs: 1,
      mesh: { revision: 7, networks: [], nodes: [], services: [] },
    });
    link.beforeUpdate(task('running'), () => events.push('apply running'));
    const applied = deferred<void>();
    link.beforeUpdate(task('shutdown'), () => events.push('apply shutdown'));
    link.beforeUpdate(task('shutdown'), () => {
      events.push('apply shutdown again');
      applied.resolve();
    });
    expect(events).toEqual(['update 7', 'apply running', 'withdraw t1']);
    gate.resolve();
    await applied.promise;
    expect(events).toEqual([
      'update 7',
      'apply running',
      'withdraw t1',
      'withdrawn',
      'apply shutdown',
      'apply shutdown again',
    ]);
  });

  it('applies at once on a node without a data plane', () => {
    const events: string[] = [];
    new MeshLink(undefined).beforeUpdate(task('shutdown'), () => events.push('apply'));
    expect(events).toEqual(['apply']);
  });
});

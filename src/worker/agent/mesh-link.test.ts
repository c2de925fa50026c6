import { describe, expect, it } from 'vitest';
import type { MeshState, Task, TaskId, TaskState } from '../../api/index.js';
import { type Deferred, deferred, Emitter, noopLogger } from '../../common/index.js';
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

  describe('reporting the revisions applied to the session', () => {
    const withMesh = (revision: number) => ({
      kind: 'incremental' as const,
      tasks: [],
      removed: [],
      managers: [],
      heartbeatPeriodMs: 1,
      mesh: { revision, networks: [], nodes: [], services: [] },
    });

    it('reports what the data plane applied, not what it received; one call at a time, the newest', async () => {
      const applied = new Emitter<number>();
      const link = new MeshLink({ update: () => {}, withdraw: async () => {}, onDidApply: applied.event });
      const attached = link.attach();
      applied.fire(3); // before any session: reported when one starts
      const sent: number[] = [];
      const calls: Deferred<void>[] = [];
      const session = link.bindSession((revision) => {
        sent.push(revision);
        const d = deferred<void>();
        calls.push(d);
        return d.promise;
      }, noopLogger);
      expect(sent).toEqual([3]);
      link.onMessage(withMesh(5));
      expect(sent).toEqual([3]);
      applied.fire(4);
      applied.fire(5);
      expect(sent).toEqual([3]);
      calls[0]?.resolve();
      await waitForLength(sent, 2);
      expect(sent).toEqual([3, 5]);
      session.dispose();
      calls[1]?.resolve();
      applied.fire(6);
      expect(sent).toEqual([3, 5]);
      attached.dispose();
    });

    it('takes a state as applied on receipt when the data plane does not say (or there is none)', () => {
      for (const mesh of [{ update: () => {}, withdraw: async () => {} }, undefined]) {
        const link = new MeshLink(mesh);
        const sent: number[] = [];
        link.bindSession(async (r) => sent.push(r), noopLogger);
        link.onMessage(withMesh(9));
        expect(sent).toEqual([9]);
      }
    });
  });
});

/** Resolves once `list` has `n` entries (the reporter's next call follows the previous one's end). */
async function waitForLength(list: readonly unknown[], n: number): Promise<void> {
  for (let i = 0; i < 100 && list.length < n; i++) await Promise.resolve();
}

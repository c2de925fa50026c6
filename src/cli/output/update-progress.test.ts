import { describe, expect, it } from 'vitest';
import type { Service, UpdateStatus } from '../../api/index.js';
import { NOW, service, task } from './fixtures.test-helpers.js';
import { renderUpdateFrame, startedUpdate, tasksOfCurrentSpec, updateVerdict } from './update-progress.js';

const V2 = { container: { image: 'web:v2' } };

function web(updateStatus?: UpdateStatus, canaryAutoPromoteMs?: number): Service {
  return service(
    'svc',
    {
      name: 'web',
      mode: { type: 'replicated', replicas: 3 },
      taskTemplate: V2,
      ...(canaryAutoPromoteMs !== undefined && {
        updateConfig: {
          parallelism: 1,
          delayMs: 0,
          failureAction: 'pause',
          monitorMs: 5000,
          maxFailureRatio: 0,
          order: 'stop-first',
          canary: 1,
          canaryAutoPromoteMs,
        },
      }),
    },
    { status: updateStatus ? { updateStatus } : {} },
  );
}

describe('updateVerdict', () => {
  it('waits while the update or its rollback runs', () => {
    expect(updateVerdict(web({ state: 'updating' }), 'update')).toEqual({ kind: 'waiting' });
    expect(updateVerdict(web({ state: 'rollback_started' }), 'update')).toEqual({ kind: 'waiting' });
    expect(updateVerdict(web(), 'update')).toEqual({ kind: 'waiting' });
  });

  it('succeeds on completed, and fails with the updater’s message on paused and rolled back', () => {
    expect(updateVerdict(web({ state: 'completed' }), 'update')).toEqual({
      kind: 'done',
      line: 'verify: Service web converged',
    });
    expect(updateVerdict(web({ state: 'paused', message: 'task abc failed' }), 'update')).toEqual({
      kind: 'failed',
      reason: 'service web: update paused: task abc failed',
    });
    expect(
      updateVerdict(web({ state: 'paused', message: 'update paused: task abc failed' }), 'update'),
    ).toEqual({
      kind: 'failed',
      reason: 'service web: update paused: task abc failed',
    });
    expect(updateVerdict(web({ state: 'rollback_completed', message: 'rolled back' }), 'update')).toEqual({
      kind: 'failed',
      reason: 'service web: update rolled back: rolled back',
    });
    expect(updateVerdict(web({ state: 'rollback_paused' }), 'rollback')).toEqual({
      kind: 'failed',
      reason: 'service web: rollback paused',
    });
  });

  it('names the failed task when the message does not (a completed rollback forgets why)', () => {
    const failed = { ...task('t1', { slot: 2, state: 'failed', err: 'task: non-zero exit (1)' }), spec: V2 };
    const s = web({ state: 'rollback_completed', message: 'rollback completed', failedTasks: ['t1'] });
    expect(updateVerdict(s, 'update', [failed])).toEqual({
      kind: 'failed',
      reason:
        'service web: update rolled back: rollback completed (task t1, slot 2: task: non-zero exit (1))',
    });
    const named = web({
      state: 'paused',
      message: 'update paused: task t1 (slot 2) failed',
      failedTasks: ['t1'],
    });
    expect(updateVerdict(named, 'update', [failed])).toEqual({
      kind: 'failed',
      reason: 'service web: update paused: task t1 (slot 2) failed',
    });
  });

  it('treats a completed rollback as success for the rollback command only', () => {
    expect(updateVerdict(web({ state: 'rollback_completed' }), 'rollback').kind).toBe('done');
    expect(updateVerdict(web({ state: 'completed' }), 'rollback').kind).toBe('failed');
  });

  it('returns at a held canary with the promote hint, but waits when it promotes by itself', () => {
    const held = updateVerdict(web({ state: 'canary' }), 'update');
    expect(held.kind).toBe('done');
    expect(held.kind === 'done' && held.line).toMatch(/swarmctl service promote web/);
    expect(updateVerdict(web({ state: 'canary' }, 10_000), 'update')).toEqual({ kind: 'waiting' });
  });
});

describe('renderUpdateFrame', () => {
  it('counts running tasks of the new template only, and names a rollback', () => {
    const tasks = [
      { ...task('a', { slot: 1, image: 'web:v2' }), spec: V2 },
      task('b', { slot: 2, image: 'web:v1' }),
      { ...task('c', { slot: 3, state: 'starting' }), spec: V2 },
    ];
    const frame = renderUpdateFrame(web({ state: 'updating' }), tasks, { width: 80 });
    expect(frame.lines).toEqual([
      'overall progress: 1 out of 3 tasks',
      '1/3: running   ',
      '2/3:  ',
      '3/3: starting  ',
    ]);
    expect(frame.updated).toBe(1);
    const back = renderUpdateFrame(web({ state: 'rollback_started' }), tasks);
    expect(back.lines).toEqual(['overall progress: rolling back update: 1 out of 3 tasks']);
  });

  it('compares templates by content, whatever the key order', () => {
    const reordered = { ...task('a'), spec: { container: { image: 'web:v2' } } };
    const s = web();
    const withLabels = {
      ...s,
      spec: { ...s.spec, taskTemplate: { container: { labels: { a: '1' }, image: 'web:v2' } } },
    };
    const t2 = { ...task('b'), spec: { container: { image: 'web:v2', labels: { a: '1' } } } };
    expect(tasksOfCurrentSpec(s, [reordered]).length).toBe(1);
    expect(tasksOfCurrentSpec(withLabels, [t2, reordered]).map((t) => t.id)).toEqual(['b']);
  });

  it('leaves out tasks of the same template from an older version that are being shut down', () => {
    const s = { ...web({ state: 'updating' }), specVersion: 3 };
    const old = {
      ...task('old', { slot: 1, desired: 'shutdown', state: 'shutdown', specVersion: 1 }),
      spec: V2,
    };
    const kept = { ...task('kept', { slot: 2, specVersion: 1 }), spec: V2 };
    const fresh = { ...task('new', { slot: 1, state: 'ready', desired: 'ready', specVersion: 3 }), spec: V2 };
    expect(tasksOfCurrentSpec(s, [old, kept, fresh]).map((t) => t.id)).toEqual(['kept', 'new']);
  });
});

describe('startedUpdate', () => {
  it('tells a started update from a change of service fields only', () => {
    const done = web({ state: 'completed', startedAt: NOW - 5000, completedAt: NOW - 1000 });
    expect(startedUpdate(done, done)).toBe(false);
    expect(startedUpdate(web(), web())).toBe(false);
    expect(startedUpdate(done, web({ state: 'updating', startedAt: NOW }))).toBe(true);
    expect(startedUpdate(web(), web({ state: 'updating', startedAt: NOW }))).toBe(true);
  });
});

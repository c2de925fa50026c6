import { describe, expect, it } from 'vitest';
import type { NodeId, TaskState } from '../../api/index.js';
import { task } from './fixtures.test-helpers.js';
import {
  type ProgressTask,
  pickTasksBySlot,
  progressBar,
  renderConvergence,
  renderVerify,
  toProgressTask,
} from './progress.js';

const bar = (n: number) => `[${'='.repeat(n)}>${' '.repeat(50 - n)}] `;
const FULL = bar(50);
const t = (state: TaskState, desiredState: TaskState = 'running', err?: string): ProgressTask => ({
  state,
  desiredState,
  ...(err !== undefined && { err }),
});

describe('renderConvergence', () => {
  it('draws docker’s frame on a wide terminal', () => {
    const frame = renderConvergence(
      new Map([
        [1, t('running')],
        [2, t('preparing')],
        [3, t('pending')],
      ]),
      3,
      { width: 120 },
    );
    expect(frame).toEqual({
      lines: [
        'overall progress: 1 out of 3 tasks',
        `1/3: running   ${FULL}`,
        `2/3: preparing ${bar(33)}`,
        `3/3: pending   ${bar(16)}`,
      ],
      running: 1,
      converged: false,
    });
  });

  it('reports convergence when every slot runs', () => {
    const frame = renderConvergence(
      new Map([
        [1, t('running')],
        [2, t('running')],
      ]),
      2,
      { width: 200 },
    );
    expect(frame.converged).toBe(true);
    expect(frame.lines).toEqual([
      'overall progress: 2 out of 2 tasks',
      `1/2: running   ${FULL}`,
      `2/2: running   ${FULL}`,
    ]);
  });

  it('numbers slots 1..n in key order, leaves missing ones blank and shows errors', () => {
    const frame = renderConvergence(
      new Map([
        [7, t('rejected', 'shutdown', 'no suitable node (max replicas per node limit exceed)')],
        [4, t('assigned')],
      ]),
      3,
      { width: 80 },
    );
    expect(frame.lines).toEqual([
      'overall progress: 0 out of 3 tasks',
      '1/3: assigned  ',
      '2/3: no suitable node (max replicas per node limit exceed)',
      '3/3:  ',
    ]);
  });

  it('cuts long errors at 75 characters on one line', () => {
    const err = `${'x'.repeat(70)}\nline two`;
    const frame = renderConvergence(new Map([[1, t('failed', 'running', err)]]), 1, { width: 200 });
    expect(frame.lines[1]).toBe(`1/1: ${'x'.repeat(70)} lin…`);
  });

  it('shows only the overall line in a pipe, and for more than 20 slots', () => {
    const tasks = new Map([[1, t('running')]]);
    expect(renderConvergence(tasks, 1).lines).toEqual(['overall progress: 1 out of 1 tasks']);
    expect(renderConvergence(tasks, 21, { width: 200 }).lines).toEqual([
      'overall progress: 1 out of 21 tasks',
    ]);
  });

  it('says when an update is being rolled back', () => {
    expect(renderConvergence(new Map(), 2, { rollback: true }).lines).toEqual([
      'overall progress: rolling back update: 0 out of 2 tasks',
    ]);
  });

  it('does not count a running task the manager is shutting down', () => {
    expect(renderConvergence(new Map([[1, t('running', 'shutdown')]]), 1).running).toBe(0);
  });

  it('keys global services by node', () => {
    const frame = renderConvergence(
      new Map([
        ['node-b', t('running')],
        ['node-a', t('starting')],
      ]),
      2,
      { width: 200 },
    );
    expect(frame.lines.slice(1)).toEqual([`1/2: starting  ${bar(44)}`, `2/2: running   ${FULL}`]);
  });
});

describe('progressBar', () => {
  it.each([
    [9, 9, 200, FULL],
    [0, 9, 200, bar(0)],
    [9, 9, 110, ''],
    [12, 9, 200, FULL],
  ])('%i/%i at width %i', (current, total, width, bar) => {
    expect(progressBar(current, total, width)).toBe(bar);
  });
});

describe('renderVerify', () => {
  it.each([
    [
      { kind: 'waiting', remainingMs: 4200 } as const,
      'verify: Waiting 5 seconds to verify that tasks are stable...',
    ],
    [
      { kind: 'waiting', remainingMs: 0 } as const,
      'verify: Waiting 1 seconds to verify that tasks are stable...',
    ],
    [{ kind: 'converged' } as const, 'verify: Service converged'],
    [{ kind: 'converged', service: 'web' } as const, 'verify: Service web converged'],
    [{ kind: 'failure' } as const, 'verify: Detected task failure'],
  ])('%j', (step, line) => {
    expect(renderVerify(step)).toBe(line);
  });
});

describe('pickTasksBySlot', () => {
  it('prefers the task meant to run, skips old versions, down nodes and removed tasks', () => {
    const tasks = [
      task('old', { slot: 1, state: 'running', desired: 'shutdown', nodeId: 'n1' }),
      task('new', { slot: 1, state: 'starting', desired: 'running', nodeId: 'n1' }),
      task('stale', { slot: 2, state: 'running', specVersion: 1, nodeId: 'n1' }),
      task('fresh', { slot: 2, state: 'pending', specVersion: 2 }),
      task('lost', { slot: 3, state: 'running', specVersion: 2, nodeId: 'down' }),
      task('gone', { slot: 4, state: 'running', desired: 'remove', specVersion: 2 }),
      task('global', { slot: 0, state: 'running', nodeId: 'n9', specVersion: 2 }),
    ].map((x) => (x.id === 'old' || x.id === 'new' ? { ...x, specVersion: 2 } : x));
    const picked = pickTasksBySlot(tasks, { specVersion: 2, downNodes: new Set(['down' as NodeId]) });
    expect([...picked.entries()].map(([k, v]) => [k, v.id])).toEqual([
      [1, 'new'],
      [2, 'fresh'],
      ['n9', 'global'],
    ]);
    expect(toProgressTask(picked.get(1)!)).toEqual({ state: 'starting', desiredState: 'running' });
  });
});

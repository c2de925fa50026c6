import { describe, expect, it } from 'vitest';
import { isSwarmError } from '../common/index.js';
import {
  assertDesiredStateChange,
  assertTransition,
  canChangeDesiredState,
  canTransition,
  isPastRunning,
  isTerminalTaskState,
  TASK_STATE_RANK,
  TASK_STATES,
  type TaskState,
} from './task-state.js';

describe('task states', () => {
  it('are listed in strictly increasing rank', () => {
    const ranks = TASK_STATES.map((s) => TASK_STATE_RANK[s]);
    expect(ranks).toEqual([...ranks].sort((a, b) => a - b));
    expect(new Set(ranks).size).toBe(TASK_STATES.length);
  });

  it.each<[TaskState, TaskState, boolean]>([
    ['new', 'pending', true],
    ['pending', 'assigned', true],
    ['assigned', 'accepted', true],
    ['accepted', 'preparing', true],
    ['preparing', 'ready', true],
    ['ready', 'starting', true],
    ['starting', 'running', true],
    ['running', 'complete', true],
    ['running', 'shutdown', true],
    ['running', 'failed', true],
    ['assigned', 'rejected', true],
    ['running', 'orphaned', true],
    ['new', 'running', true],
    ['pending', 'shutdown', true],
    ['running', 'running', false],
    ['running', 'starting', false],
    ['assigned', 'pending', false],
    ['complete', 'failed', false],
    ['shutdown', 'failed', false],
    ['failed', 'orphaned', false],
    ['rejected', 'running', false],
    ['orphaned', 'shutdown', false],
    ['running', 'remove', false],
  ])('%s -> %s allowed: %s', (from, to, ok) => {
    expect(canTransition(from, to)).toBe(ok);
    if (ok) expect(() => assertTransition(from, to)).not.toThrow();
    else expect(() => assertTransition(from, to, 't1')).toThrow(/t1 state cannot move from/);
  });

  it.each<[TaskState, TaskState, boolean]>([
    ['ready', 'running', true],
    ['running', 'shutdown', true],
    ['running', 'complete', true],
    ['shutdown', 'remove', true],
    ['running', 'ready', false],
    ['remove', 'running', false],
    ['running', 'failed', false],
    ['new', 'pending', false],
  ])('desired state %s -> %s allowed: %s', (from, to, ok) => {
    expect(canChangeDesiredState(from, to)).toBe(ok);
    if (!ok) {
      try {
        assertDesiredStateChange(from, to);
        expect.unreachable();
      } catch (e) {
        expect(isSwarmError(e, 'FAILED_PRECONDITION')).toBe(true);
      }
    }
  });

  it.each<[TaskState, boolean, boolean]>([
    ['running', false, false],
    ['complete', true, true],
    ['shutdown', true, true],
    ['failed', true, true],
    ['rejected', true, true],
    ['orphaned', true, true],
    ['remove', false, true],
    ['pending', false, false],
  ])('%s terminal=%s pastRunning=%s', (state, terminal, past) => {
    expect(isTerminalTaskState(state)).toBe(terminal);
    expect(isPastRunning(state)).toBe(past);
  });
});

import { describe, expect, it } from 'vitest';
import type { TaskStatus } from '../../../api/index.js';
import { parseEngineEvent } from './engine-events.js';
import { type ControllerIntent, mapStatus, type ObservedContainer } from './status.js';

const NONE: ControllerIntent = { stopRequested: false, removeRequested: false, seen: true };
const STOPPING: ControllerIntent = { ...NONE, stopRequested: true };

function c(over: Partial<ObservedContainer>): ObservedContainer {
  return {
    id: 'abc',
    state: 'running',
    exitCode: 0,
    oomKilled: false,
    error: '',
    pid: 42,
    ports: [],
    ...over,
  };
}

function map(
  o: ObservedContainer | undefined,
  intent = NONE,
): Pick<TaskStatus, 'state' | 'err' | 'health'> | undefined {
  const s = mapStatus(o, intent, 1);
  return s && { state: s.state, err: s.err, health: s.health };
}

describe('Docker state → task state', () => {
  it.each<[string, ObservedContainer | undefined, ControllerIntent, string | undefined, string | undefined]>([
    ['created', c({ state: 'created', pid: 0 }), NONE, 'ready', undefined],
    [
      'created, start failed',
      c({ state: 'created', error: 'exec: "x": not found' }),
      NONE,
      'failed',
      'exec: "x": not found',
    ],
    ['created, then shut down', c({ state: 'created' }), STOPPING, 'shutdown', undefined],
    ['running, no healthcheck', c({}), NONE, 'running', undefined],
    ['running, health starting', c({ health: 'starting' }), NONE, 'starting', undefined],
    ['running, healthy', c({ health: 'healthy' }), NONE, 'running', undefined],
    ['running, unhealthy', c({ health: 'unhealthy' }), NONE, 'failed', 'container unhealthy'],
    ['paused', c({ state: 'paused' }), NONE, 'running', undefined],
    ['exited 0', c({ state: 'exited', exitCode: 0 }), NONE, 'complete', undefined],
    ['exited 2', c({ state: 'exited', exitCode: 2 }), NONE, 'failed', 'task: non-zero exit (2)'],
    ['exited 137 after our stop', c({ state: 'exited', exitCode: 137 }), STOPPING, 'shutdown', undefined],
    [
      'OOM killed',
      c({ state: 'exited', exitCode: 137, oomKilled: true }),
      NONE,
      'failed',
      'task: OOM killed',
    ],
    ['dead', c({ state: 'dead', exitCode: 0 }), NONE, 'failed', 'container is dead'],
    ['gone, removed by someone else', undefined, NONE, 'failed', 'container removed outside swarmctl'],
    ['gone, after our remove', undefined, { ...NONE, removeRequested: true }, 'shutdown', undefined],
    ['never existed', undefined, { ...NONE, seen: false }, undefined, undefined],
  ])('%s', (_name, observed, intent, state, err) => {
    const s = map(observed, intent);
    expect(s?.state).toBe(state);
    expect(s?.err).toBe(err);
  });

  it('reports health, exit code and ports alongside the state', () => {
    const port = { protocol: 'tcp', targetPort: 80, publishedPort: 8080, publishMode: 'host' } as const;
    const s = mapStatus(c({ health: 'healthy', ports: [port] }), NONE, 7);
    expect(s).toEqual({
      state: 'running',
      message: 'started',
      timestamp: 7,
      health: 'healthy',
      containerStatus: { containerId: 'abc', pid: 42 },
      portStatus: [port],
    });
    expect(mapStatus(c({ state: 'exited', exitCode: 1, pid: 0 }), NONE, 7)?.containerStatus).toEqual({
      containerId: 'abc',
      exitCode: 1,
    });
  });
});

describe('parseEngineEvent', () => {
  const actor = (attrs: Record<string, string>) => ({
    ID: 'cid',
    Attributes: { 'com.docker.swarm.task.id': 'tid', ...attrs },
  });

  it('types the events we track and drops the rest', () => {
    // As the engine sends it: more digits than a double holds, parsed by JSON.parse.
    const at = JSON.parse('{"timeNano":1700000000123456789}') as { timeNano: number };
    expect(parseEngineEvent({ Action: 'start', Actor: actor({}), ...at })).toEqual({
      kind: 'start',
      containerId: 'cid',
      taskId: 'tid',
      time: 1_700_000_000_123,
    });
    expect(parseEngineEvent({ Action: 'die', Actor: actor({ exitCode: '137' }), ...at })).toMatchObject({
      kind: 'die',
      exitCode: 137,
    });
    expect(parseEngineEvent({ Action: 'health_status: unhealthy', Actor: actor({}), ...at })).toMatchObject({
      kind: 'health',
      health: 'unhealthy',
    });
    expect(parseEngineEvent({ Action: 'oom', Actor: actor({}), time: 5 })).toMatchObject({
      kind: 'oom',
      time: 5000,
    });
    expect(parseEngineEvent({ Action: 'exec_start: ls', Actor: actor({}), ...at })).toBeUndefined();
    expect(
      parseEngineEvent({ Action: 'start', Actor: { ID: 'cid', Attributes: {} }, ...at }),
    ).toBeUndefined();
    expect(parseEngineEvent('start')).toBeUndefined();
  });
});

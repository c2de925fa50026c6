import type Docker from 'dockerode';
import { describe, expect, it } from 'vitest';
import type { NodeId, Task, TaskId } from '../../../api/index.js';
import { ManualClock, waitFor } from '../../../common/index.js';
import { DockerExecutor, ENGINE_CALL_TIMEOUT_MS } from './docker-executor.js';
import { LABEL_NODE_ID, LABEL_TASK_ID, taskName } from './labels.js';
import { testRun } from './testing.js';

type Call = 'inspect' | 'stop' | 'kill' | 'remove';

/**
 * A unit-test fake of the few dockerode calls a stop and a removal make (no engine is involved).
 * The calls named in `hung` never answer and ignore their abort signal, as an engine that stopped
 * replying would; the others answer at once from `state`.
 */
class FakeDocker {
  readonly hung = new Set<Call>();
  readonly calls: string[] = [];
  state: 'running' | 'exited' | 'gone' = 'running';

  constructor(private readonly taskId: TaskId) {}

  getContainer(id: string) {
    return {
      inspect: () => this.call('inspect', id, () => this.inspectInfo(id)),
      stop: () => this.call('stop', id, () => this.set('exited')),
      kill: () => this.call('kill', id, () => this.set('exited')),
      remove: () => this.call('remove', id, () => this.set('gone')),
    };
  }

  async listContainers(): Promise<Docker.ContainerInfo[]> {
    return ['c1', 'c2'].map(
      (id) =>
        ({
          Id: id,
          Names: [`/${id}`],
          Labels: { [LABEL_TASK_ID]: `task-${id}`, [LABEL_NODE_ID]: 'n' },
          State: 'exited',
          Status: 'Exited (0)',
          Created: 1,
        }) as unknown as Docker.ContainerInfo,
    );
  }

  private set(state: FakeDocker['state']): void {
    this.state = state;
  }

  private call<T>(what: Call, id: string, answer: () => T): Promise<T> {
    this.calls.push(`${what} ${id}`);
    if (this.hung.has(what) || (what === 'remove' && this.hung.has(`remove ${id}` as Call)))
      return new Promise<T>(() => {});
    return Promise.resolve().then(answer);
  }

  private inspectInfo(id: string): Docker.ContainerInspectInfo {
    if (this.state === 'gone') throw Object.assign(new Error('no such container'), { statusCode: 404 });
    return {
      Id: id,
      Name: `/${id}`,
      Config: { Labels: { [LABEL_TASK_ID]: this.taskId } },
      State: {
        Status: this.state,
        ExitCode: 0,
        OOMKilled: false,
        Error: '',
        Pid: this.state === 'running' ? 42 : 0,
      },
      NetworkSettings: { Ports: {} },
    } as unknown as Docker.ContainerInspectInfo;
  }
}

const CALL_TIMEOUT_MS = 1_000;
const NODE = 'n' as NodeId;
const STEP_MS = 100;

function setup(hung: Call[], state: FakeDocker['state'] = 'running') {
  const run = testRun('hung');
  const task: Task = run.task('web', {});
  const docker = new FakeDocker(task.id);
  for (const c of hung) docker.hung.add(c);
  docker.state = state;
  const clock = new ManualClock();
  const executor = new DockerExecutor(docker as unknown as Docker, {
    nodeId: NODE,
    clock,
    engineCallTimeoutMs: CALL_TIMEOUT_MS,
  });
  return { docker, clock, executor, task };
}

/** Advances the manual clock in steps until `p` settles; returns its outcome and the time it took. */
async function settle<T>(
  p: Promise<T>,
  clock: ManualClock,
): Promise<{ ok: boolean; value: unknown; advanced: number }> {
  let outcome: { ok: boolean; value: unknown } | undefined;
  p.then(
    (value) => {
      outcome = { ok: true, value };
    },
    (value: unknown) => {
      outcome = { ok: false, value };
    },
  );
  let advanced = 0;
  await waitFor(
    () => {
      if (outcome) return { done: true, value: 0 };
      clock.advance(STEP_MS);
      advanced += STEP_MS;
      return { done: false, state: `advanced ${advanced} ms, still waiting` };
    },
    { timeoutMs: 5_000, intervalMs: 1, what: 'the engine call to be given up' },
  );
  return { ...outcome!, advanced };
}

describe('Docker calls of a stop or a removal against an engine that never answers', () => {
  it('a hung stop fails after the stop grace plus the call timeout, naming the call', async () => {
    const { docker, clock, executor, task } = setup(['stop']);
    const controller = executor.controller(task);
    const r = await settle(controller.remove(), clock);
    expect(r.ok).toBe(false);
    expect(r.value).toMatchObject({
      code: 'DEADLINE_EXCEEDED',
      details: { call: `stop container ${taskName(task, NODE)}` },
    });
    // docker stop -t 10 (the default grace) may legitimately take 10 s: only after it, plus the bound.
    expect(r.advanced).toBeGreaterThanOrEqual(10_000 + CALL_TIMEOUT_MS);
    expect(r.advanced).toBeLessThan(10_000 + CALL_TIMEOUT_MS + 5 * STEP_MS);
    expect(docker.calls.filter((c) => c.startsWith('remove'))).toEqual([]);
    controller.dispose();
  });

  it('a hung remove fails after the call timeout, naming the call', async () => {
    const { clock, executor, task } = setup(['remove'], 'exited');
    const controller = executor.controller(task);
    const r = await settle(controller.remove(), clock);
    expect(r.value).toMatchObject({
      code: 'DEADLINE_EXCEEDED',
      details: { call: `remove container ${taskName(task, NODE)}`, timeoutMs: CALL_TIMEOUT_MS },
    });
    expect(r.advanced).toBeGreaterThanOrEqual(CALL_TIMEOUT_MS);
    expect(r.advanced).toBeLessThan(CALL_TIMEOUT_MS + 5 * STEP_MS);
    controller.dispose();
  });

  it('a hung kill and a hung inspect fail the same way', async () => {
    const killing = setup(['kill']);
    const k = killing.executor.controller(killing.task);
    const r1 = await settle(k.terminate(), killing.clock);
    expect(r1.value).toMatchObject({
      code: 'DEADLINE_EXCEEDED',
      details: { call: `kill container ${taskName(killing.task, NODE)}` },
    });
    k.dispose();
    const inspecting = setup(['inspect']);
    const i = inspecting.executor.controller(inspecting.task);
    const r2 = await settle(i.shutdown(), inspecting.clock);
    expect(r2.value).toMatchObject({
      code: 'DEADLINE_EXCEEDED',
      details: { call: `inspect container ${taskName(inspecting.task, NODE)}` },
    });
    i.dispose();
  });

  it("removing a leaving node's containers ends despite one hung removal and reports the others", async () => {
    const { docker, clock, executor } = setup([]);
    docker.hung.add('remove c2' as Call);
    const r = await settle(executor.removeUnownedContainers(new Set()), clock);
    expect(r.ok).toBe(true);
    expect((r.value as { containerId: string }[]).map((c) => c.containerId)).toEqual(['c1']);
    expect(r.advanced).toBeLessThan(CALL_TIMEOUT_MS + 5 * STEP_MS);
  });

  it('refuses a call timeout that is not a positive whole number of ms, naming the field', () => {
    const make = (ms: number): DockerExecutor =>
      new DockerExecutor({} as Docker, { nodeId: 'n' as NodeId, engineCallTimeoutMs: ms });
    for (const bad of [0, -5, 2.5, Number.NaN, 1e9])
      expect(() => make(bad), String(bad)).toThrow(
        expect.objectContaining({ code: 'INVALID_ARGUMENT', field: 'engineCallTimeoutMs' }),
      );
    expect(ENGINE_CALL_TIMEOUT_MS).toBeGreaterThan(0);
  });
});

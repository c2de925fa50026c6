import { describe, expect, it } from 'vitest';
import type { NodeId, ServiceId, Task, TaskId, TaskState, TaskStatus } from '../../api/index.js';
import { Emitter, ManualClock, noopLogger, waitFor } from '../../common/index.js';
import {
  type ContainerEvent,
  type Controller,
  type Executor,
  ExitLog,
  type ManagedContainer,
} from '../executor/index.js';
import { TaskRunner } from './task-runner.js';

/** A controller over an imaginary container: records the steps the runner asks for. */
class RecordingController implements Controller {
  readonly steps: string[] = [];
  private readonly changed = new Emitter<TaskStatus>();
  readonly onDidChangeStatus = this.changed.event;
  lastStatus: TaskStatus | undefined;

  constructor(
    readonly task: Task,
    private container: TaskState | undefined,
  ) {}

  private status_(state: TaskState): TaskStatus {
    this.container = state;
    this.lastStatus = { state, timestamp: 1, message: state };
    return this.lastStatus;
  }
  async prepare(): Promise<TaskStatus> {
    this.steps.push('prepare');
    return this.status_('ready');
  }
  async start(): Promise<TaskStatus> {
    this.steps.push('start');
    return this.status_('running');
  }
  async status(): Promise<TaskStatus | undefined> {
    return this.container ? { state: this.container, timestamp: 1, message: this.container } : undefined;
  }
  async waitUntil(): Promise<TaskStatus> {
    return this.status_(this.container ?? 'new');
  }
  async wait(): Promise<TaskStatus> {
    return this.status_('complete');
  }
  async shutdown(): Promise<TaskStatus> {
    this.steps.push('shutdown');
    return this.status_('shutdown');
  }
  async terminate(): Promise<void> {
    this.steps.push('terminate');
  }
  async remove(): Promise<void> {
    this.steps.push('remove');
  }
  dispose(): void {
    this.steps.push('dispose');
  }
  exit(state: TaskState): void {
    this.changed.fire(this.status_(state));
  }
}

function task(state: TaskState, desiredState: TaskState = 'running'): Task {
  return {
    id: 'task1' as TaskId,
    meta: { version: 1, createdAt: 0, updatedAt: 0 },
    serviceId: 'svc1' as ServiceId,
    serviceName: 'web',
    slot: 1,
    nodeId: 'node1' as NodeId,
    desiredState,
    spec: { container: { image: 'swarmctl-test/web:v1' } },
    specVersion: 1,
    status: { state, timestamp: 0, message: state },
  };
}

function setup(container: TaskState | undefined) {
  let controller: RecordingController | undefined;
  const executor = {
    controller: (t: Task) => {
      controller = new RecordingController(t, container);
      return controller;
    },
  } as Pick<Executor, 'controller'> as Executor;
  const reports: TaskState[] = [];
  const runner = (t: Task) =>
    new TaskRunner(t, executor, (_t, s) => reports.push(s.state), noopLogger, new ManualClock(5));
  return { runner, reports, controller: () => controller! };
}

const signal = new AbortController().signal;

describe('TaskRunner', () => {
  it('prepares and starts a new assignment, reporting each state', async () => {
    const { runner, reports, controller } = setup(undefined);
    runner(task('assigned')).update(task('assigned'), signal);
    await waitFor(
      () => (reports.includes('running') ? { done: true, value: 0 } : { done: false, state: reports.join() }),
      {
        timeoutMs: 1_000,
      },
    );
    expect(controller().steps).toEqual(['prepare', 'start']);
    expect(reports).toEqual(['preparing', 'ready', 'running']);
  });

  it('adopts a running container without preparing or starting it again', async () => {
    const { runner, reports, controller } = setup('running');
    const r = runner(task('running'));
    r.update(task('running'), signal);
    await r.remove(signal);
    expect(controller().steps).toEqual(['remove', 'dispose']);
    // The manager already knows it runs: nothing to report.
    expect(reports).toEqual([]);
  });

  it('reports an exit from the engine and shuts down on desired shutdown', async () => {
    const { runner, reports, controller } = setup('running');
    const r = runner(task('running'));
    controller().exit('failed');
    expect(reports).toEqual(['failed']);
    const { runner: runner2, reports: reports2, controller: controller2 } = setup('running');
    const r2 = runner2(task('running', 'shutdown'));
    r2.update(task('running', 'shutdown'), signal);
    await r2.remove(signal);
    expect(controller2().steps).toEqual(['shutdown', 'remove', 'dispose']);
    expect(reports2).toEqual(['shutdown']);
    r.dispose();
  });

  it('leaves a delayed restart prepared until the manager wants it running', async () => {
    const { runner, reports, controller } = setup(undefined);
    const r = runner(task('assigned', 'ready'));
    r.update(task('assigned', 'ready'), signal);
    await waitFor(
      () => (reports.includes('ready') ? { done: true, value: 0 } : { done: false, state: reports.join() }),
      {
        timeoutMs: 1_000,
      },
    );
    expect(controller().steps).toEqual(['prepare']);
    r.update(task('ready', 'running'), signal);
    await r.remove(signal);
    expect(controller().steps).toEqual(['prepare', 'start', 'remove', 'dispose']);
    expect(reports).toEqual(['preparing', 'ready', 'running']);
  });

  describe('stop-first handover (Task.startAfter)', () => {
    const old = 'old1' as TaskId;
    const held = (): Task => ({ ...task('assigned', 'ready'), startAfter: [old] });

    /** The runner's fake executor plus the node's other containers and their engine events. */
    function withEngine(others: Map<TaskId, ManagedContainer['state']>) {
      const events = new Emitter<ContainerEvent>();
      const exits = new ExitLog(events.event, async () =>
        [...others].map(([taskId, state]) => ({ taskId, state }) as ManagedContainer),
      );
      let controller: RecordingController | undefined;
      const executor = {
        controller: (t: Task) => {
          controller = new RecordingController(t, undefined);
          return controller;
        },
        waitExited: (ids: readonly TaskId[], s: AbortSignal) => exits.waitExited(ids, s),
      } as Pick<Executor, 'controller' | 'waitExited'> as Executor;
      const reports: TaskState[] = [];
      const runner = new TaskRunner(
        held(),
        executor,
        (_t, s) => reports.push(s.state),
        noopLogger,
        new ManualClock(5),
      );
      return { runner, reports, events, controller: () => controller! };
    }
    const reached = (reports: TaskState[], state: TaskState) => () =>
      reports.includes(state)
        ? { done: true as const, value: 0 }
        : { done: false as const, state: reports.join() };

    it('starts the prepared task once its predecessor stopped on this node, before the manager says so', async () => {
      const { runner, reports, events, controller } = withEngine(new Map([[old, 'running']]));
      runner.update(held(), signal);
      await waitFor(reached(reports, 'ready'), { timeoutMs: 1_000 });
      expect(controller().steps).toEqual(['prepare']);
      events.fire({ kind: 'stop', taskId: old, containerId: 'c-old', time: 1 });
      await waitFor(reached(reports, 'running'), { timeoutMs: 1_000 });
      expect(controller().steps).toEqual(['prepare', 'start']);
      // The manager's promotion afterwards changes nothing.
      runner.update({ ...held(), desiredState: 'running' }, signal);
      await runner.remove(signal);
      expect(controller().steps).toEqual(['prepare', 'start', 'remove', 'dispose']);
    });

    it('starts at once when the predecessor stopped before, though the listing taken after says running', async () => {
      const { runner, reports, events, controller } = withEngine(new Map([[old, 'running']]));
      events.fire({ kind: 'stop', taskId: old, containerId: 'c-old', time: 1 });
      runner.update(held(), signal);
      await waitFor(reached(reports, 'running'), { timeoutMs: 1_000 });
      expect(controller().steps).toEqual(['prepare', 'start']);
      runner.dispose();
    });

    it('starts at once when the predecessor has already exited here', async () => {
      const { runner, reports, controller } = withEngine(new Map([[old, 'exited']]));
      runner.update(held(), signal);
      await waitFor(reached(reports, 'running'), { timeoutMs: 1_000 });
      expect(controller().steps).toEqual(['prepare', 'start']);
      runner.dispose();
    });

    it('waits for the manager when the predecessor ran on another node', async () => {
      const { runner, reports, controller } = withEngine(new Map());
      runner.update(held(), signal);
      await waitFor(reached(reports, 'ready'), { timeoutMs: 1_000 });
      runner.update({ ...held(), desiredState: 'running' }, signal);
      await runner.remove(signal);
      expect(controller().steps).toEqual(['prepare', 'start', 'remove', 'dispose']);
    });

    it('never starts a held task shut down while it waited, even if the predecessor stops then', async () => {
      const { runner, reports, events, controller } = withEngine(new Map([[old, 'running']]));
      runner.update(held(), signal);
      await waitFor(reached(reports, 'ready'), { timeoutMs: 1_000 });
      runner.update({ ...held(), desiredState: 'shutdown' }, signal);
      await waitFor(reached(reports, 'shutdown'), { timeoutMs: 1_000 });
      events.fire({ kind: 'stop', taskId: old, containerId: 'c-old', time: 1 });
      await runner.remove(signal);
      expect(controller().steps).toEqual(['prepare', 'shutdown', 'remove', 'dispose']);
      expect(reports).not.toContain('running');
    });
  });
});

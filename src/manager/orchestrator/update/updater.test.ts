import { afterEach, describe, expect, it } from 'vitest';
import type { TaskId } from '../../../api/index.js';
import { isLiveTask } from '../common/task-rules.js';
import { RestartSupervisor } from '../restart/restart-supervisor.js';
import { RolloutRig } from './update-fixtures.js';
import { Updater } from './updater.js';

let rig: RolloutRig;

afterEach(async () => {
  await rig.h.stop();
});

function liveImages(): string[] {
  return rig.h
    .tasks(rig.serviceId)
    .filter(isLiveTask)
    .map((t) => t.spec.container.image)
    .sort();
}

/** Creation times of the rollout's new tasks, grouped: one group per batch. */
function batchTimes(image: string): number[] {
  const times = rig.h
    .tasks(rig.serviceId)
    .filter((t) => t.spec.container.image === image)
    .map((t) => t.meta.createdAt);
  return [...new Set(times)].sort((a, b) => a - b);
}

const state = () => rig.status?.state;

describe('Updater', () => {
  it('stop-first: batches of `parallelism` with the delay between them, never more slots down', async () => {
    rig = new RolloutRig();
    await rig.start(6, { parallelism: 2, delayMs: 1_000 });
    await rig.image('web:v2');
    await rig.runUntil(() => state() === 'completed');
    expect(rig.images()).toEqual(Array(6).fill('web:v2'));
    expect(liveImages()).toEqual(Array(6).fill('web:v2'));
    expect(rig.seen.maxDown).toBeLessThanOrEqual(2);
    expect(rig.seen.maxDown).toBeGreaterThan(0);
    expect(rig.seen.maxPerSlot).toBe(1);
    // Each held replacement names the old task its node's agent may hand the slot over from.
    const all = rig.h.tasks(rig.serviceId);
    for (const t of all.filter((x) => x.spec.container.image === 'web:v2')) {
      const old = all
        .filter((x) => x.slot === t.slot && x.spec.container.image === 'web:v1')
        .map((x) => x.id);
      expect(t.startAfter).toEqual(old);
    }
    // A batch starts when its old tasks are asked to stop (the replacements were prepared ahead).
    const stops = all
      .filter((t) => t.spec.container.image === 'web:v1')
      .map((t) => rig.stopAskedAt.get(t.id)!);
    const times = [...new Set(stops)].sort((a, b) => a - b);
    expect(times).toHaveLength(3);
    for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(1_000);
    for (const at of times) expect(stops.filter((x) => x === at)).toHaveLength(2);
    // Every replacement after the first batch was created (prepared) before its batch started.
    const v2 = all.filter((t) => t.spec.container.image === 'web:v2');
    const ahead = v2.filter((t) => t.meta.createdAt < times.at(-1)! && t.meta.createdAt > times[0]! - 1);
    expect(ahead.length).toBeGreaterThanOrEqual(4);
    expect(rig.status).toMatchObject({ state: 'completed', message: 'update completed' });
    expect(rig.status?.completedAt).toBeGreaterThan(rig.status?.startedAt ?? Number.POSITIVE_INFINITY);
  });

  it('parallelism 0 replaces every slot in one batch', async () => {
    rig = new RolloutRig();
    await rig.start(4, { parallelism: 0 });
    await rig.image('web:v2');
    await rig.runUntil(() => state() === 'completed');
    expect(batchTimes('web:v2')).toHaveLength(1);
    expect(rig.images()).toEqual(Array(4).fill('web:v2'));
  });

  it('global: replaces the task of one node at a time', async () => {
    rig = new RolloutRig();
    await rig.start(0, { parallelism: 1 });
    expect(rig.running()).toHaveLength(3);
    await rig.image('web:v2');
    await rig.runUntil(() => state() === 'completed');
    expect(batchTimes('web:v2')).toHaveLength(3);
    expect(rig.seen.maxDown).toBe(1);
    expect(rig.seen.maxPerSlot).toBe(1);
    const running = rig.running();
    expect(running.map((t) => t.spec.container.image)).toEqual(Array(3).fill('web:v2'));
    expect(new Set(running.map((t) => t.nodeId)).size).toBe(3);
  });

  it('start-first: the running count never drops below the replicas and no slot keeps two tasks', async () => {
    rig = new RolloutRig();
    await rig.start(6, { parallelism: 2, order: 'start-first' }, true);
    await rig.image('web:v2');
    await rig.runUntil(() => state() === 'completed');
    expect(rig.seen.minRunning).toBeGreaterThanOrEqual(6);
    expect(rig.seen.maxDown).toBe(0);
    expect(rig.images()).toEqual(Array(6).fill('web:v2'));
    expect(liveImages()).toEqual(Array(6).fill('web:v2'));
  });

  it('start-first with a healthcheck keeps the old task until the new one is healthy', async () => {
    rig = new RolloutRig();
    await rig.start(1, { order: 'start-first', monitorMs: 60_000 }, true);
    await rig.image('web:sick');
    await rig.cycle();
    await rig.cycle();
    // The new task runs but is still starting: the old one must keep running.
    expect(rig.images()).toEqual(['web:sick', 'web:v1']);
    expect(rig.h.tasks(rig.serviceId).find((t) => t.spec.container.image === 'web:v1')?.desiredState).toBe(
      'running',
    );
  });

  it('paused start-first: a slot whose new task turns healthy later still drops its old task', async () => {
    rig = new RolloutRig();
    await rig.start(3, { parallelism: 2, order: 'start-first', monitorMs: 60_000 }, true);
    await rig.image('web:v2');
    await rig.cycle();
    const fresh = rig.h.tasks(rig.serviceId).filter((t) => t.spec.container.image === 'web:v2');
    expect(fresh.map((t) => t.status.health)).toEqual(['starting', 'starting']);
    const [first, second] = fresh.sort((a, b) => a.slot - b.slot);
    await rig.h.simulateAgentReport(first!.id, 'failed');
    expect(state()).toBe('paused');
    await rig.cycle();
    await rig.cycle();
    const inSlot = (slot: number) => rig.running().filter((t) => t.slot === slot);
    expect(inSlot(second!.slot).map((t) => t.spec.container.image)).toEqual(['web:v2']);
    expect(inSlot(3).map((t) => t.spec.container.image)).toEqual(['web:v1']);
    expect(state()).toBe('paused');
  });

  it('start-first: a new task never healthy within the window makes way for the old one', async () => {
    rig = new RolloutRig();
    await rig.start(2, { order: 'start-first', monitorMs: 2_000 }, true);
    await rig.image('web:sick');
    await rig.runUntil(() => state() === 'paused');
    await rig.cycle();
    expect(rig.images()).toEqual(['web:v1', 'web:v1']);
    expect(rig.seen.minRunning).toBe(2);
  });

  it('pauses when a new task runs but is not healthy within the monitor window', async () => {
    rig = new RolloutRig();
    await rig.start(3, { monitorMs: 2_000 });
    await rig.image('web:sick');
    await rig.runUntil(() => state() === 'paused');
    expect(rig.status?.message).toMatch(/not healthy within the monitor window/);
    expect(rig.status?.failedTasks).toHaveLength(1);
    // Only the first slot was touched.
    expect(rig.images()).toEqual(['web:sick', 'web:v1', 'web:v1']);
    expect(rig.h.clock.now() - (rig.status?.startedAt ?? 0)).toBeGreaterThanOrEqual(2_000);
  });

  it('counts a container reported unhealthy as a failure', async () => {
    rig = new RolloutRig();
    await rig.start(3, {});
    await rig.image('web:unhealthy');
    await rig.runUntil(() => state() === 'paused');
    expect(rig.status?.failedTasks).toHaveLength(1);
  });

  it('pause: stops after the failing batch; an update with a good image resumes and completes', async () => {
    rig = new RolloutRig();
    await rig.start(6, { parallelism: 2, delayMs: 1_000 });
    await rig.image('web:fail');
    await rig.runUntil(() => state() === 'paused');
    expect(rig.status?.message).toMatch(/update paused: task \w+ \(slot \d\) failed: exit code 1/);
    // Only the first batch's two slots ran the failing image (the restart supervisor retries there).
    const failTasks = rig.h
      .tasks(rig.serviceId)
      .filter((t) => t.spec.container.image === 'web:fail' && rig.started.has(t.id));
    expect(new Set(failTasks.map((t) => t.slot)).size).toBe(2);
    // The next batch's replacements, prepared ahead, were given up: only the restart
    // supervisor's retries of the two failed slots still wait.
    const ranSlots = new Set(failTasks.map((t) => t.slot));
    const waiting = rig.h
      .tasks(rig.serviceId)
      .filter((t) => t.spec.container.image === 'web:fail' && t.desiredState === 'ready');
    expect(waiting.filter((t) => !ranSlots.has(t.slot))).toEqual([]);
    // Paused means paused: time passes, nothing more is replaced.
    for (let i = 0; i < 5; i++) {
      await rig.h.advance(1_000);
      await rig.cycle();
    }
    expect(rig.running().filter((t) => t.spec.container.image === 'web:v1')).toHaveLength(4);
    await rig.image('web:v2');
    await rig.runUntil(() => state() === 'completed');
    expect(rig.images()).toEqual(Array(6).fill('web:v2'));
    expect(rig.seen.maxPerSlot).toBe(1);
  });

  it('a replacement prepared ahead that cannot be prepared: paused, its slot stays with the old task alone', async () => {
    rig = new RolloutRig();
    await rig.start(3, { parallelism: 1 });
    await rig.image('web:unprepared');
    await rig.runUntil(() => state() === 'paused');
    // Time passes well beyond the old-task timeout: slot 2's old task, never asked to stop, keeps
    // running alone (no restart of the staged task waits to start behind it).
    for (let i = 0; i < 8; i++) {
      await rig.h.advance(10_000);
      await rig.cycle();
    }
    const slot2 = rig.h.tasks(rig.serviceId).filter((t) => t.slot === 2 && isLiveTask(t));
    expect(slot2.map((t) => [t.spec.container.image, t.status.state])).toEqual([['web:v1', 'running']]);
    expect(rig.seen.maxPerSlot).toBe(1);
    await rig.image('web:v2');
    await rig.runUntil(() => state() === 'completed');
    expect(rig.images()).toEqual(Array(3).fill('web:v2'));
  });

  it('continue: goes on through failures and completes', async () => {
    rig = new RolloutRig();
    await rig.start(3, { parallelism: 1, failureAction: 'continue' });
    await rig.image('web:fail');
    await rig.runUntil(() => state() === 'completed', 100, 1_000);
    expect(
      rig.h.tasks(rig.serviceId).filter((t) => t.spec.container.image === 'web:v1' && isLiveTask(t)),
    ).toEqual([]);
    expect(rig.status?.failedTasks?.length).toBeGreaterThanOrEqual(3);
  });

  it('rollback: failures roll back to the previous spec, which ends rollback_completed', async () => {
    rig = new RolloutRig();
    await rig.start(6, { parallelism: 2, failureAction: 'rollback' });
    await rig.image('web:v2');
    await rig.runUntil(() => state() === 'completed');
    await rig.image('web:fail');
    await rig.runUntil(() => state() === 'rollback_started');
    expect(rig.status?.message).toMatch(/update rolled back: task .* failed: exit code 1/);
    expect(rig.service.spec.taskTemplate.container.image).toBe('web:v2');
    expect(rig.service.previousSpec?.taskTemplate.container.image).toBe('web:fail');
    await rig.runUntil(() => state() === 'rollback_completed');
    expect(rig.status?.message).toMatch(
      /^rollback completed \(update rolled back: task \w+ .*exit code 1\)$/,
    );
    expect(rig.images()).toEqual(Array(6).fill('web:v2'));
    expect(liveImages()).toEqual(Array(6).fill('web:v2'));
    expect(rig.seen.maxPerSlot).toBe(1);
  });

  it('a rollback that fails too pauses as rollback_paused', async () => {
    rig = new RolloutRig();
    await rig.start(2, { failureAction: 'rollback' });
    await rig.image('web:fail');
    await rig.image('web:fail2:fail');
    await rig.runUntil(() => state() === 'rollback_paused');
    expect(rig.status?.message).toMatch(/^rollback paused: /);
  });

  it('a manual rollback after a completed update returns to the previous spec', async () => {
    rig = new RolloutRig();
    await rig.start(3, {});
    await rig.update((spec) => ({
      ...spec,
      taskTemplate: {
        ...spec.taskTemplate,
        container: { image: 'web:v2', env: ['MODE=new'] },
        resources: { limits: { memoryBytes: 64 * 2 ** 20 } },
      },
    }));
    await rig.runUntil(() => state() === 'completed');
    const before = rig.service.previousSpec!;
    await rig.setStatus((s) => ({
      ...s,
      spec: s.previousSpec!,
      previousSpec: s.spec,
      specVersion: s.specVersion + 1,
      status: { ...s.status, updateStatus: { state: 'rollback_started', startedAt: rig.h.clock.now() } },
    }));
    await rig.runUntil(() => state() === 'rollback_completed');
    for (const t of rig.running()) expect(t.spec).toEqual(before.taskTemplate);
    expect(rig.running()).toHaveLength(3);
  });

  it('a new update supersedes one in progress', async () => {
    rig = new RolloutRig();
    await rig.start(6, { delayMs: 1_000 });
    await rig.image('web:v2');
    await rig.runUntil(() => rig.images().filter((i) => i === 'web:v2').length === 2);
    await rig.image('web:v3');
    await rig.runUntil(() => state() === 'completed');
    expect(rig.images()).toEqual(Array(6).fill('web:v3'));
    expect(liveImages()).toEqual(Array(6).fill('web:v3'));
    expect(rig.seen.maxDown).toBeLessThanOrEqual(1);
    expect(rig.seen.maxPerSlot).toBe(1);
  });

  it('canary: holds after N slots; promote finishes the rollout', async () => {
    rig = new RolloutRig();
    await rig.start(4, { parallelism: 2, canary: 1 });
    await rig.image('web:v2');
    await rig.runUntil(() => state() === 'canary');
    expect(rig.images()).toEqual(['web:v1', 'web:v1', 'web:v1', 'web:v2']);
    for (let i = 0; i < 5; i++) {
      await rig.h.advance(10_000);
      await rig.cycle();
    }
    expect(state()).toBe('canary');
    expect(rig.images()).toEqual(['web:v1', 'web:v1', 'web:v1', 'web:v2']);
    await rig.setStatus((s) => ({
      ...s,
      status: {
        ...s.status,
        updateStatus: { ...s.status.updateStatus!, state: 'updating', canaryPromoted: true },
      },
    }));
    await rig.runUntil(() => state() === 'completed');
    expect(rig.images()).toEqual(Array(4).fill('web:v2'));
  });

  it('canary: promotes by itself once the canaries stayed healthy long enough', async () => {
    rig = new RolloutRig();
    await rig.start(3, { canary: 1, canaryAutoPromoteMs: 30_000 });
    await rig.image('web:v2');
    await rig.runUntil(() => state() === 'canary');
    const since = rig.status?.canarySince ?? 0;
    await rig.runUntil(() => state() === 'completed', 1_000);
    expect(rig.status?.canaryPromoted).toBe(true);
    const promotedAfter = Math.min(
      ...rig.h
        .tasks(rig.serviceId)
        .filter((t) => t.spec.container.image === 'web:v2' && t.slot !== 1)
        .map((t) => t.meta.createdAt),
    );
    expect(promotedAfter - since).toBeGreaterThanOrEqual(30_000);
    expect(rig.images()).toEqual(Array(3).fill('web:v2'));
  });

  it('canary: a rollback from the canary state restores the old version everywhere', async () => {
    rig = new RolloutRig();
    await rig.start(3, { canary: 1 });
    await rig.image('web:v2');
    await rig.runUntil(() => state() === 'canary');
    await rig.setStatus((s) => ({
      ...s,
      spec: s.previousSpec!,
      previousSpec: s.spec,
      specVersion: s.specVersion + 1,
      status: { ...s.status, updateStatus: { state: 'rollback_started', startedAt: rig.h.clock.now() } },
    }));
    await rig.runUntil(() => state() === 'rollback_completed');
    expect(rig.images()).toEqual(Array(3).fill('web:v1'));
    expect(liveImages()).toEqual(Array(3).fill('web:v1'));
  });

  it('a held task that fails before it starts is replaced by a task that still waits for the old one', async () => {
    rig = new RolloutRig();
    await rig.start(1, {});
    await rig.image('web:v2');
    const held = rig.status?.heldTasks?.[0];
    expect(held).toBeDefined();
    await rig.h.simulateScheduler(() => rig.nodes[0]);
    await rig.h.simulateAgentReport(held as TaskId, 'rejected');
    await rig.h.advance(10_000);
    // The old task has not reported its stop: nothing of the new spec may run yet.
    const old = rig.h.tasks(rig.serviceId).find((t) => t.spec.container.image === 'web:v1');
    expect(old?.status.state).toBe('running');
    const waiting = rig.h
      .tasks(rig.serviceId)
      .filter((t) => t.spec.container.image === 'web:v2' && isLiveTask(t));
    expect(waiting.map((t) => t.desiredState)).toEqual(['ready']);
    // The rejection counts as a failure (pause); the slot still ends on its replacement, alone.
    expect(state()).toBe('paused');
    await rig.runUntil(() => rig.images().join() === 'web:v2');
    expect(rig.seen.maxPerSlot).toBe(1);
  });

  it('a new updater (new leader) continues mid-update from the store alone', async () => {
    rig = new RolloutRig();
    await rig.start(6, { parallelism: 2 });
    await rig.image('web:v2');
    // Stop the updater with a batch half done: old tasks asked to stop, new ones held.
    await rig.runUntil(() => (rig.status?.heldTasks?.length ?? 0) > 0 || rig.images().includes('web:v2'));
    await rig.h.stopComponent(rig.updater);
    await rig.cycle();
    rig.updater = new Updater(rig.h.deps);
    rig.h.start(rig.updater);
    await rig.runUntil(() => state() === 'completed');
    expect(rig.images()).toEqual(Array(6).fill('web:v2'));
    expect(liveImages()).toEqual(Array(6).fill('web:v2'));
    expect(rig.seen.maxDown).toBeLessThanOrEqual(2);
    expect(rig.seen.maxPerSlot).toBe(1);
    // Exactly one new task per slot: the new leader did not redo finished slots.
    expect(rig.h.tasks(rig.serviceId).filter((t) => t.spec.container.image === 'web:v2')).toHaveLength(6);
  });

  it('a rollback that commits before the restart of the failed start-first task leaves one task per slot', async () => {
    rig = new RolloutRig();
    await rig.start(2, { order: 'start-first', failureAction: 'rollback' });
    await rig.image('web:fail');
    // The lab's race, in a fixed order: the new task fails; the updater's rollback commits; the
    // restart supervisor handles the failed task (still live) before the updater's next step.
    await rig.h.stopComponent(rig.updater);
    await rig.h.stopComponent(rig.restarts);
    await rig.cycle();
    const failed = rig.h.tasks(rig.serviceId).filter((t) => t.status.state === 'failed');
    expect(failed.map((t) => t.desiredState)).toEqual(['running']);
    await rig.setStatus((s) => ({
      ...s,
      spec: s.previousSpec!,
      previousSpec: s.spec,
      specVersion: s.specVersion + 1,
      status: {
        ...s.status,
        updateStatus: {
          state: 'rollback_started',
          startedAt: rig.h.clock.now(),
          message: 'update rolled back',
        },
      },
    }));
    rig.restarts = new RestartSupervisor(rig.h.deps);
    rig.h.start(rig.restarts);
    await rig.h.settle();
    rig.updater = new Updater(rig.h.deps);
    rig.h.start(rig.updater);
    await rig.runUntil(() => state() === 'rollback_completed');
    // Past every restart delay: nothing else may start in the slot.
    for (let i = 0; i < 10; i++) {
      await rig.h.advance(1_000);
      await rig.cycle();
    }
    const liveSlots = rig.h
      .tasks(rig.serviceId)
      .filter(isLiveTask)
      .map((t) => t.slot)
      .sort();
    expect(liveSlots).toEqual([1, 2]);
    expect(rig.images()).toEqual(['web:v1', 'web:v1']);
    expect(rig.seen.maxPerSlot).toBe(1);
  });
});

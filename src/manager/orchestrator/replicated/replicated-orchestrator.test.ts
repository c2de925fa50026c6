import { afterEach, describe, expect, it } from 'vitest';
import type { NodeId, Task } from '../../../api/index.js';
import { newTask } from '../common/task-factory.js';
import { RestartSupervisor } from '../restart/restart-supervisor.js';
import { OrchestrationHarness, slotsOf } from '../test-fixtures.js';
import { ReplicatedOrchestrator } from './replicated-orchestrator.js';
import { slotsToRemove } from './scale-down.js';

let h: OrchestrationHarness;

afterEach(async () => {
  await h.stop();
});

function live(tasks: readonly Task[]): Task[] {
  return tasks.filter((t) => t.desiredState === 'running');
}

async function placeRoundRobin(nodes: readonly NodeId[]): Promise<void> {
  await h.simulateScheduler((t) => nodes[(t.slot - 1) % nodes.length]);
  await h.simulateAgents();
}

describe('ReplicatedOrchestrator', () => {
  it('creates one pending task per replica, slots 1..n, unplaced, from the service spec', async () => {
    h = new OrchestrationHarness();
    h.start(new ReplicatedOrchestrator(h.deps));
    const web = await h.addService('web', { type: 'replicated', replicas: 6 });
    await h.settle();
    const tasks = h.tasks(web.id);
    expect(slotsOf(tasks)).toEqual([1, 2, 3, 4, 5, 6]);
    for (const t of tasks) {
      expect(t.status.state).toBe('pending');
      expect(t.desiredState).toBe('running');
      expect(t.nodeId).toBeUndefined();
      expect(t.specVersion).toBe(1);
      expect(t.serviceName).toBe('web');
      expect(t.spec).toEqual(web.spec.taskTemplate);
    }
  });

  it('can create tasks in state new for an allocator to move on', async () => {
    h = new OrchestrationHarness();
    h.start(new ReplicatedOrchestrator(h.deps, { initialTaskState: 'new' }));
    const web = await h.addService('web', { type: 'replicated', replicas: 2 });
    await h.settle();
    expect(h.tasks(web.id).map((t) => t.status.state)).toEqual(['new', 'new']);
  });

  it('scales 6 → 9 by adding slots 7..9 and 9 → 3 by removing the highest slots, one per node left', async () => {
    h = new OrchestrationHarness();
    h.start(new ReplicatedOrchestrator(h.deps));
    const nodes = [(await h.addNode('a')).id, (await h.addNode('b')).id, (await h.addNode('c')).id];
    const web = await h.addService('web', { type: 'replicated', replicas: 6 });
    await h.settle();
    await placeRoundRobin(nodes);

    await h.scale(web.id, 9);
    await h.settle();
    expect(slotsOf(live(h.tasks(web.id)))).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const added = h.tasks(web.id).filter((t) => t.slot > 6);
    expect(added.every((t) => t.status.state === 'pending' && t.specVersion === 2)).toBe(true);
    await placeRoundRobin(nodes);

    await h.scale(web.id, 3);
    await h.settle();
    const kept = live(h.tasks(web.id));
    expect(slotsOf(kept)).toEqual([1, 2, 3]);
    expect(new Set(kept.map((t) => t.nodeId)).size).toBe(3);
    const removed = h.tasks(web.id).filter((t) => t.desiredState === 'remove');
    expect(slotsOf(removed)).toEqual([4, 5, 6, 7, 8, 9]);
  });

  it('scales down on the busiest nodes first', async () => {
    h = new OrchestrationHarness();
    h.start(new ReplicatedOrchestrator(h.deps));
    const [a, b, c] = [(await h.addNode('a')).id, (await h.addNode('b')).id, (await h.addNode('c')).id];
    const web = await h.addService('web', { type: 'replicated', replicas: 6 });
    await h.settle();
    // Slots 1-4 on a, 5 on b, 6 on c.
    await h.simulateScheduler((t) => (t.slot <= 4 ? a : t.slot === 5 ? b : c));
    await h.simulateAgents();

    await h.scale(web.id, 3);
    await h.settle();
    const kept = live(h.tasks(web.id));
    expect(slotsOf(kept)).toEqual([1, 5, 6]);
    expect(kept.map((t) => t.nodeId).sort()).toEqual([a, b, c].sort());
  });

  it('sets desired remove on every task of a deleted service', async () => {
    h = new OrchestrationHarness();
    h.start(new ReplicatedOrchestrator(h.deps));
    const web = await h.addService('web', { type: 'replicated', replicas: 3 });
    await h.settle();
    await h.deleteService(web.id);
    await h.settle();
    const tasks = h.tasks(web.id);
    expect(tasks).toHaveLength(3);
    expect(tasks.every((t) => t.desiredState === 'remove')).toBe(true);
  });

  it('leaves tasks alone when only the task spec changes (the updater replaces them)', async () => {
    h = new OrchestrationHarness();
    h.start(new ReplicatedOrchestrator(h.deps));
    const web = await h.addService('web', { type: 'replicated', replicas: 2 });
    await h.settle();
    const before = h.tasks(web.id).map((t) => t.id);
    await h.updateService(web.id, (spec) => ({
      ...spec,
      taskTemplate: { ...spec.taskTemplate, container: { image: 'swarmctl-test/web:v2' } },
    }));
    await h.settle();
    const after = h.tasks(web.id);
    expect(after.map((t) => t.id)).toEqual(before);
    expect(after.every((t) => t.desiredState === 'running' && t.specVersion === 1)).toBe(true);
  });

  it('refills a slot whose task was deleted', async () => {
    h = new OrchestrationHarness();
    h.start(new ReplicatedOrchestrator(h.deps));
    const web = await h.addService('web', { type: 'replicated', replicas: 2 });
    await h.settle();
    const victim = h.tasks(web.id).find((t) => t.slot === 2)!;
    await h.store.update((tx) => tx.delete('task', victim.id));
    await h.settle();
    const tasks = h.tasks(web.id);
    expect(slotsOf(tasks)).toEqual([1, 2]);
    expect(tasks.some((t) => t.id === victim.id)).toBe(false);
  });

  it('does not duplicate tasks when a new instance starts on the same store', async () => {
    h = new OrchestrationHarness();
    const first = new ReplicatedOrchestrator(h.deps);
    const restarts = new RestartSupervisor(h.deps);
    h.start(first, restarts);
    const nodes = [(await h.addNode('a')).id, (await h.addNode('b')).id];
    const web = await h.addService('web', { type: 'replicated', replicas: 4 });
    await h.settle();
    await placeRoundRobin(nodes);
    // A task fails while the first instance runs: it is replaced (delayed start pending).
    const failed = h.tasks(web.id).find((t) => t.slot === 1)!;
    await h.simulateAgentReport(failed.id, 'failed');
    const snapshot = h.tasks(web.id).map((t) => `${t.id}:${t.desiredState}`);
    expect(snapshot).toHaveLength(5);

    await h.stopComponent(first);
    await h.stopComponent(restarts);
    h.start(new ReplicatedOrchestrator(h.deps), new RestartSupervisor(h.deps));
    await h.settle();
    expect(h.tasks(web.id).map((t) => `${t.id}:${t.desiredState}`)).toEqual(snapshot);
    // The adopted delayed start still completes after the delay.
    await h.advance(5_000);
    expect(slotsOf(live(h.tasks(web.id)))).toEqual([1, 2, 3, 4]);
  });

  it('splits large scale-ups into transactions of bounded size', async () => {
    h = new OrchestrationHarness();
    h.start(new ReplicatedOrchestrator(h.deps, { maxChangesPerTransaction: 7 }));
    const web = await h.addService('web', { type: 'replicated', replicas: 30 });
    await h.settle();
    const tasks = h.tasks(web.id);
    expect(slotsOf(tasks)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    // Tasks written by the same transaction share its store version: 7 + 7 + 7 + 7 + 2.
    const perTx = new Map<number, number>();
    for (const t of tasks) perTx.set(t.meta.version, (perTx.get(t.meta.version) ?? 0) + 1);
    expect([...perTx.values()].sort()).toEqual([2, 7, 7, 7, 7]);
  });
});

describe('ReplicatedOrchestrator: one task wanting to run per slot', () => {
  it('outside a rollout, a slot held twice keeps its older running task; during one it is left alone', async () => {
    h = new OrchestrationHarness();
    h.start(new ReplicatedOrchestrator(h.deps));
    const nodes = [(await h.addNode('a')).id, (await h.addNode('b')).id];
    const web = await h.addService('web', { type: 'replicated', replicas: 2 });
    await h.settle();
    await placeRoundRobin(nodes);
    const [first] = h.tasks(web.id).filter((t) => t.slot === 1);
    const setUpdate = (state: 'updating' | 'rollback_completed') =>
      h.store.update((tx) => {
        const s = tx.get('service', web.id)!;
        tx.update('service', { ...s, status: { ...s.status, updateStatus: { state, startedAt: 0 } } });
      });
    // A start-first rollout holds two tasks in a slot on purpose.
    await setUpdate('updating');
    h.clock.advance(1_000);
    const extra = await h.store.update((tx) =>
      tx.create(
        'task',
        newTask({
          service: tx.get('service', web.id)!,
          slot: 1,
          desiredState: 'running',
          initialState: 'pending',
          now: h.clock.now(),
          randomBytes: h.randomBytes,
        }),
      ),
    );
    await h.settle();
    await placeRoundRobin(nodes);
    expect(
      live(h.tasks(web.id).filter((t) => t.slot === 1))
        .map((t) => t.id)
        .sort(),
    ).toEqual([first!.id, extra.id].sort());
    // Once the rollout is over, the slot keeps one.
    await setUpdate('rollback_completed');
    await h.settle();
    expect(live(h.tasks(web.id).filter((t) => t.slot === 1)).map((t) => t.id)).toEqual([first!.id]);
    expect(h.task(extra.id)?.desiredState).toBe('shutdown');
    expect(slotsOf(live(h.tasks(web.id)))).toEqual([1, 2]);
  });
});

describe('slotsToRemove', () => {
  const task = (slot: number, nodeId: string | undefined, state: Task['status']['state'] = 'running'): Task =>
    ({ slot, nodeId, status: { state } }) as unknown as Task;

  it('removes unplaced and non-running slots before running ones on balanced nodes', () => {
    const holders = new Map<number, Task[]>([
      [1, [task(1, 'a')]],
      [2, [task(2, 'b')]],
      [3, [task(3, undefined, 'pending')]],
      [4, [task(4, 'a', 'preparing')]],
    ]);
    expect(slotsToRemove(holders, 2)).toEqual([4, 3]);
  });

  it('removes nothing when keeping at least as many slots as there are', () => {
    expect(slotsToRemove(new Map([[1, [task(1, 'a')]]]), 1)).toEqual([]);
  });
});

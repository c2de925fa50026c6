import { afterEach, describe, expect, it } from 'vitest';
import {
  type ClusterId,
  DEFAULT_CLUSTER_SPEC,
  type NodeId,
  type RestartPolicy,
  type Service,
  type TaskId,
} from '../../../api/index.js';
import { ReplicatedOrchestrator } from '../replicated/replicated-orchestrator.js';
import { RestartSupervisor } from '../restart/restart-supervisor.js';
import { OrchestrationHarness, slotsOf } from '../test-fixtures.js';
import { TaskReaper } from './task-reaper.js';

let h: OrchestrationHarness;

afterEach(async () => {
  await h.stop();
});

const BATCH = 250;

async function setCluster(taskHistoryRetentionLimit: number): Promise<void> {
  await h.store.update((tx) => {
    const existing = tx.find('cluster', { index: 'all', key: '' })[0];
    const spec = { ...DEFAULT_CLUSTER_SPEC, orchestration: { taskHistoryRetentionLimit } };
    if (existing) tx.update('cluster', { ...existing, spec });
    else
      tx.create('cluster', {
        id: h.id<NodeId>() as unknown as ClusterId,
        spec,
        joinTokens: { worker: 'w', manager: 'm' },
        rootCa: { caCertPem: '', caCertDigest: '' },
        status: {},
      });
  });
}

/** Every task of the last crash loop, oldest first. */
let created: TaskId[] = [];

/** A one-replica service whose task fails `failures` times, each replacement started after its delay. */
async function crashLoop(failures: number, policy: Partial<RestartPolicy> = {}): Promise<Service> {
  created = [];
  const node = (await h.addNode('a')).id;
  const web = await h.addService(
    'web',
    { type: 'replicated', replicas: 1 },
    { restartPolicy: { condition: 'any', delayMs: 1_000, maxAttempts: 0, windowMs: 0, ...policy } },
  );
  await h.settle();
  for (let i = 0; i < failures; i++) {
    const current = h.liveTasks(web.id)[0]!;
    created.push(current.id);
    if (current.desiredState === 'ready') await h.advance(1_000);
    await h.simulateScheduler(() => node);
    await h.simulateAgents();
    h.clock.advance(10);
    await h.simulateAgentReport(current.id, 'failed');
  }
  created.push(h.liveTasks(web.id)[0]!.id);
  return web;
}

async function seedTask(
  service: Service,
  slot: number,
  nodeId: NodeId,
  state: 'running' | 'failed',
): Promise<TaskId> {
  const id = h.id<TaskId>();
  await h.store.update((tx) =>
    tx.create('task', {
      id,
      serviceId: service.id,
      serviceName: service.spec.name,
      slot,
      nodeId,
      desiredState: state === 'running' ? 'running' : 'shutdown',
      spec: service.spec.taskTemplate,
      specVersion: service.specVersion,
      status: { state, timestamp: h.clock.now(), message: state },
    }),
  );
  await h.settle();
  return id;
}

function startAll(reaper = new TaskReaper(h.deps)): TaskReaper {
  h.start(new ReplicatedOrchestrator(h.deps), new RestartSupervisor(h.deps), reaper);
  return reaper;
}

describe('TaskReaper', () => {
  it('keeps 5 tasks per slot by default, deleting the oldest finished ones', async () => {
    h = new OrchestrationHarness();
    startAll();
    const web = await crashLoop(8);
    await h.advance(BATCH);
    const tasks = h.tasks(web.id);
    expect(tasks).toHaveLength(5);
    expect(slotsOf(tasks)).toEqual([1, 1, 1, 1, 1]);
    // The newest survive: the live replacement and the four latest failures.
    expect(created).toHaveLength(9);
    expect(tasks.map((t) => t.id).sort()).toEqual(created.slice(4).sort());
    expect(h.liveTasks(web.id).map((t) => t.id)).toEqual([created[8]]);
  });

  it('follows the cluster retention limit, and keeps maxAttempts+1 when that is more', async () => {
    h = new OrchestrationHarness();
    await setCluster(2);
    startAll();
    const web = await crashLoop(4);
    await h.advance(BATCH);
    expect(h.tasks(web.id)).toHaveLength(2);

    await h.stop();
    h = new OrchestrationHarness();
    await setCluster(2);
    startAll();
    const limited = await crashLoop(3, { maxAttempts: 4 });
    await h.advance(BATCH);
    expect(h.tasks(limited.id)).toHaveLength(4);
  });

  it('keeps everything with a negative limit', async () => {
    h = new OrchestrationHarness();
    await setCluster(-1);
    startAll();
    const web = await crashLoop(7);
    await h.advance(BATCH);
    expect(h.tasks(web.id)).toHaveLength(8);
  });

  it('acts the batch interval after a change, not before', async () => {
    h = new OrchestrationHarness();
    h.start(new TaskReaper(h.deps));
    const a = (await h.addNode('a')).id;
    const web = await h.addService('web', { type: 'replicated', replicas: 1 });
    const seeded: TaskId[] = [];
    for (let i = 0; i < 5; i++) {
      h.clock.advance(10);
      seeded.push(await seedTask(web, 1, a, 'failed'));
    }
    await h.advance(BATCH);
    expect(h.tasks(web.id)).toHaveLength(5);
    h.clock.advance(10);
    await seedTask(web, 1, a, 'running');
    await h.advance(BATCH - 1);
    expect(h.tasks(web.id)).toHaveLength(6);
    await h.advance(1);
    expect(h.tasks(web.id)).toHaveLength(5);
    expect(h.task(seeded[0]!)).toBeUndefined();
  });

  it('deletes scaled-down tasks once they stopped, and unplaced ones at once', async () => {
    h = new OrchestrationHarness();
    startAll();
    const a = (await h.addNode('a')).id;
    const web = await h.addService('web', { type: 'replicated', replicas: 4 });
    await h.settle();
    // Slots 1 and 2 run on a; 3 and 4 are never placed.
    await h.simulateScheduler((t) => (t.slot <= 2 ? a : undefined));
    await h.simulateAgents();
    await h.scale(web.id, 0);
    await h.advance(BATCH);
    expect(slotsOf(h.tasks(web.id))).toEqual([1, 2]);
    expect(h.tasks(web.id).every((t) => t.desiredState === 'remove')).toBe(true);
    await h.simulateAgents([a]);
    await h.advance(BATCH);
    expect(h.tasks(web.id)).toEqual([]);
  });

  it('deletes the tasks of a deleted service once their agents stopped them', async () => {
    h = new OrchestrationHarness();
    startAll();
    const a = (await h.addNode('a')).id;
    const web = await h.addService('web', { type: 'replicated', replicas: 2 });
    await h.settle();
    await h.simulateScheduler(() => a);
    await h.simulateAgents();
    await h.deleteService(web.id);
    await h.advance(BATCH);
    expect(h.tasks(web.id)).toHaveLength(2);
    await h.simulateAgents();
    await h.advance(BATCH);
    expect(h.tasks(web.id)).toEqual([]);
  });

  it('on start, marks live tasks of vanished services for removal and deletes finished ones', async () => {
    h = new OrchestrationHarness();
    const a = (await h.addNode('a')).id;
    const web = await h.addService('web', { type: 'replicated', replicas: 2 });
    const ids = [await seedTask(web, 1, a, 'running'), await seedTask(web, 2, a, 'failed')];
    await h.deleteService(web.id);
    h.start(new TaskReaper(h.deps));
    await h.settle();
    expect(h.task(ids[0]!)?.desiredState).toBe('remove');
    expect(h.task(ids[1]!)).toBeUndefined();
    await h.simulateAgentReport(ids[0]!, 'shutdown');
    await h.advance(BATCH);
    expect(h.task(ids[0]!)).toBeUndefined();
  });

  it('drops the finished history of slots a scale-down emptied', async () => {
    h = new OrchestrationHarness();
    startAll();
    const a = (await h.addNode('a')).id;
    const web = await h.addService('web', { type: 'replicated', replicas: 2 });
    await h.settle();
    await h.simulateScheduler(() => a);
    await h.simulateAgents();
    // Slot 2 fails once, is restarted, then the service is scaled down to one replica.
    const failing = h.tasks(web.id).find((t) => t.slot === 2)!;
    await h.simulateAgentReport(failing.id, 'failed');
    await h.advance(5_000);
    await h.scale(web.id, 1);
    await h.settle();
    await h.simulateScheduler(() => a);
    await h.simulateAgents();
    await h.advance(BATCH);
    expect(slotsOf(h.tasks(web.id))).toEqual([1]);
  });
});

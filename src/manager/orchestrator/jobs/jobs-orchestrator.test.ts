import { afterEach, describe, expect, it } from 'vitest';
import type { NodeId, Service, Task } from '../../../api/index.js';
import { isCompletedJobTask } from '../common/task-rules.js';
import { RestartSupervisor } from '../restart/restart-supervisor.js';
import { OrchestrationHarness, slotsOf } from '../test-fixtures.js';
import { JobsOrchestrator } from './jobs-orchestrator.js';

let h: OrchestrationHarness;

afterEach(async () => {
  await h.stop();
});

/** Tasks the job still waits for: wanted and not finished. */
function unfinished(service: Service): Task[] {
  return h.liveTasks(service.id).filter((t) => !isCompletedJobTask(t));
}

async function runPending(nodes: readonly NodeId[]): Promise<void> {
  await h.simulateScheduler((t) => nodes[t.slot % nodes.length]);
  await h.simulateAgents();
}

describe('JobsOrchestrator', () => {
  it('runs a replicated job to its total completions, never more than maxConcurrent at once', async () => {
    h = new OrchestrationHarness();
    h.start(new JobsOrchestrator(h.deps), new RestartSupervisor(h.deps));
    const nodes = [(await h.addNode('a')).id, (await h.addNode('b')).id];
    const job = await h.addService('migrate', {
      type: 'replicated-job',
      maxConcurrent: 2,
      totalCompletions: 5,
    });
    await h.settle();
    const first = h.tasks(job.id);
    expect(slotsOf(first)).toEqual([1, 2]);
    expect(first.every((t) => t.desiredState === 'complete' && t.jobIteration === 1)).toBe(true);

    let maxSeen = 0;
    for (let round = 0; round < 10 && unfinished(job).length > 0; round++) {
      maxSeen = Math.max(maxSeen, unfinished(job).length);
      await runPending(nodes);
      const next = unfinished(job).sort((x, y) => x.slot - y.slot)[0]!;
      await h.simulateAgentReport(next.id, 'complete', { exitCode: 0 });
    }
    expect(maxSeen).toBe(2);
    const tasks = h.tasks(job.id);
    expect(slotsOf(tasks)).toEqual([1, 2, 3, 4, 5]);
    expect(tasks.every(isCompletedJobTask)).toBe(true);
    await h.advance(10_000);
    expect(h.tasks(job.id)).toHaveLength(5);
  });

  it('retries a failed job task in its slot after the restart delay, holding its concurrency meanwhile', async () => {
    h = new OrchestrationHarness();
    h.start(new JobsOrchestrator(h.deps), new RestartSupervisor(h.deps));
    const nodes = [(await h.addNode('a')).id];
    const job = await h.addService('migrate', {
      type: 'replicated-job',
      maxConcurrent: 1,
      totalCompletions: 2,
    });
    await h.settle();
    await runPending(nodes);
    const [firstTry] = h.tasks(job.id);
    await h.simulateAgentReport(firstTry!.id, 'failed', { exitCode: 3 });
    const waiting = unfinished(job);
    expect(waiting).toHaveLength(1);
    expect(waiting[0]!.slot).toBe(1);
    expect(waiting[0]!.desiredState).toBe('ready');
    await h.advance(4_999);
    expect(h.tasks(job.id)).toHaveLength(2);
    await h.advance(1);
    expect(h.task(waiting[0]!.id)?.desiredState).toBe('complete');
    await runPending(nodes);
    await h.simulateAgentReport(waiting[0]!.id, 'complete');
    expect(slotsOf(unfinished(job))).toEqual([2]);
  });

  it('does not restart a job task that completed, even with condition any', async () => {
    h = new OrchestrationHarness();
    h.start(new JobsOrchestrator(h.deps), new RestartSupervisor(h.deps));
    const nodes = [(await h.addNode('a')).id];
    const job = await h.addService('once', { type: 'replicated-job', maxConcurrent: 0, totalCompletions: 1 });
    await h.settle();
    await runPending(nodes);
    const [t] = h.tasks(job.id);
    await h.simulateAgentReport(t!.id, 'complete');
    await h.advance(10_000);
    expect(h.tasks(job.id)).toHaveLength(1);
    expect(h.task(t!.id)?.desiredState).toBe('complete');
  });

  it('treats a slot whose failure is final (condition none) as done', async () => {
    h = new OrchestrationHarness();
    h.start(new JobsOrchestrator(h.deps), new RestartSupervisor(h.deps));
    const nodes = [(await h.addNode('a')).id];
    const job = await h.addService(
      'once',
      { type: 'replicated-job', maxConcurrent: 1, totalCompletions: 2 },
      { restartPolicy: { condition: 'none', delayMs: 5_000, maxAttempts: 0, windowMs: 0 } },
    );
    await h.settle();
    await runPending(nodes);
    await h.simulateAgentReport(h.tasks(job.id)[0]!.id, 'failed');
    await h.advance(5_000);
    expect(slotsOf(h.tasks(job.id))).toEqual([1, 2]);
    expect(slotsOf(unfinished(job))).toEqual([2]);
  });

  it('runs a global job once per eligible node, and on nodes that join later', async () => {
    h = new OrchestrationHarness();
    h.start(new JobsOrchestrator(h.deps), new RestartSupervisor(h.deps));
    const a = (await h.addNode('a')).id;
    const b = (await h.addNode('b')).id;
    await h.addNode('d', { availability: 'drain' });
    const job = await h.addService('prune', { type: 'global-job' });
    await h.settle();
    expect(
      h
        .tasks(job.id)
        .map((t) => t.nodeId)
        .sort(),
    ).toEqual([a, b].sort());
    await h.simulateScheduler(() => undefined);
    await h.simulateAgents();
    for (const t of h.tasks(job.id)) await h.simulateAgentReport(t.id, 'complete');
    await h.advance(10_000);
    expect(h.tasks(job.id)).toHaveLength(2);

    const c = (await h.addNode('c')).id;
    await h.settle();
    const onC = h.tasks(job.id).filter((t) => t.nodeId === c);
    expect(onC).toHaveLength(1);
    expect(onC[0]!.desiredState).toBe('complete');
  });

  it('runs the job again when its spec changes, retiring unfinished tasks of the earlier run', async () => {
    h = new OrchestrationHarness();
    h.start(new JobsOrchestrator(h.deps), new RestartSupervisor(h.deps));
    const nodes = [(await h.addNode('a')).id];
    const job = await h.addService('migrate', {
      type: 'replicated-job',
      maxConcurrent: 1,
      totalCompletions: 2,
    });
    await h.settle();
    await runPending(nodes);
    await h.simulateAgentReport(h.tasks(job.id)[0]!.id, 'complete');
    const [second] = unfinished(job);
    await h.updateService(job.id, (spec) => ({
      ...spec,
      taskTemplate: { ...spec.taskTemplate, container: { image: 'swarmctl-test/web:v2' } },
    }));
    await h.settle();
    expect(h.task(second!.id)?.desiredState).toBe('remove');
    const run2 = unfinished(job);
    expect(run2).toHaveLength(1);
    expect(run2[0]!.jobIteration).toBe(2);
    expect(run2[0]!.slot).toBe(1);
  });

  it('does not duplicate tasks when a new instance starts on the same store', async () => {
    h = new OrchestrationHarness();
    const first = new JobsOrchestrator(h.deps);
    h.start(first);
    await h.addNode('a');
    const job = await h.addService('migrate', {
      type: 'replicated-job',
      maxConcurrent: 3,
      totalCompletions: 9,
    });
    const sweep = await h.addService('sweep', { type: 'global-job' });
    await h.settle();
    const before = [...h.tasks(job.id), ...h.tasks(sweep.id)].map((t) => t.id);
    expect(before).toHaveLength(4);
    await h.stopComponent(first);
    h.start(new JobsOrchestrator(h.deps));
    await h.settle();
    expect([...h.tasks(job.id), ...h.tasks(sweep.id)].map((t) => t.id)).toEqual(before);
  });
});

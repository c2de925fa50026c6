import { afterEach, describe, expect, it } from 'vitest';
import type { NodeId, ServiceId, Task } from '../../api/index.js';
import { GlobalOrchestrator } from './global/global-orchestrator.js';
import { JobsOrchestrator } from './jobs/jobs-orchestrator.js';
import { TaskReaper } from './reaper/task-reaper.js';
import { ReplicatedOrchestrator } from './replicated/replicated-orchestrator.js';
import { RestartSupervisor } from './restart/restart-supervisor.js';
import { type HarnessComponent, OrchestrationHarness } from './test-fixtures.js';

let h: OrchestrationHarness;

afterEach(async () => {
  await h.stop();
});

function allComponents(): HarnessComponent[] {
  return [
    new ReplicatedOrchestrator(h.deps),
    new GlobalOrchestrator(h.deps),
    new JobsOrchestrator(h.deps),
    new RestartSupervisor(h.deps),
    new TaskReaper(h.deps),
  ];
}

/** The spread rule in miniature: the node with the fewest running tasks of the service. */
function leastLoaded(nodes: readonly NodeId[]): (t: Task) => NodeId | undefined {
  return (t) => {
    const count = (n: NodeId): number =>
      h.liveTasks(t.serviceId).filter((x) => x.nodeId === n && x.id !== t.id).length;
    const ready = nodes.filter(
      (n) => h.node(n).status.state === 'ready' && h.node(n).spec.availability === 'active',
    );
    return [...ready].sort((a, b) => count(a) - count(b))[0];
  };
}

/** Schedules and runs everything until nothing changes: the cluster "converges". */
async function converge(nodes: readonly NodeId[], up: readonly NodeId[] = nodes): Promise<void> {
  for (let i = 0; i < 5; i++) {
    await h.simulateScheduler(leastLoaded(nodes));
    await h.simulateAgents(up);
  }
}

function runningPerSlot(service: ServiceId): Map<number, number> {
  const m = new Map<number, number>();
  for (const t of h.tasks(service))
    if (t.desiredState === 'running' && t.status.state === 'running') m.set(t.slot, (m.get(t.slot) ?? 0) + 1);
  return m;
}

describe('orchestration components together', () => {
  it('keep a replicated service whole through a crash, a node failure, a leader change and scaling', async () => {
    h = new OrchestrationHarness();
    let components = allComponents();
    h.start(...components);
    const nodes = [(await h.addNode('h1')).id, (await h.addNode('h2')).id, (await h.addNode('h3')).id];
    const [h1, h2, h3] = nodes as [NodeId, NodeId, NodeId];
    const web = await h.addService('web', { type: 'replicated', replicas: 6 });
    await h.settle();
    await converge(nodes);
    expect([...runningPerSlot(web.id).values()]).toEqual([1, 1, 1, 1, 1, 1]);

    // A container is killed by hand: replaced after the 5 s delay, history kept.
    const victim = h.liveTasks(web.id).find((t) => t.slot === 3)!;
    await h.simulateAgentReport(victim.id, 'failed', { exitCode: 137 });
    await h.advance(5_000);
    await converge(nodes);
    expect(runningPerSlot(web.id).get(3)).toBe(1);
    expect(h.tasks(web.id).filter((t) => t.slot === 3)).toHaveLength(2);

    // Host 3 is cut off: marked down, its tasks run on h1 and h2 at once.
    await h.setNodeState(h3, 'down');
    await h.settle();
    await converge(nodes, [h1, h2]);
    expect(h.liveTasks(web.id).every((t) => t.nodeId !== h3 && t.status.state === 'running')).toBe(true);
    expect(h.liveTasks(web.id)).toHaveLength(6);

    // The leader changes: every component restarts on the same store and duplicates nothing.
    const before = h.tasks(web.id).map((t) => `${t.id}:${t.desiredState}`);
    for (const c of components) await h.stopComponent(c);
    components = allComponents();
    h.start(...components);
    await h.settle();
    expect(h.tasks(web.id).map((t) => `${t.id}:${t.desiredState}`)).toEqual(before);

    // Host 3 heals: its stale containers stop, no slot runs twice.
    await h.setNodeState(h3, 'ready');
    await h.settle();
    await converge(nodes);
    expect([...runningPerSlot(web.id).values()]).toEqual([1, 1, 1, 1, 1, 1]);

    await h.scale(web.id, 9);
    await h.settle();
    await converge(nodes);
    expect(runningPerSlot(web.id).size).toBe(9);
    await h.scale(web.id, 3);
    await h.settle();
    await converge(nodes);
    await h.advance(250);
    expect(h.liveTasks(web.id)).toHaveLength(3);
    expect(new Set(h.liveTasks(web.id).map((t) => t.nodeId)).size).toBe(3);

    await h.deleteService(web.id);
    await h.settle();
    await converge(nodes);
    await h.advance(250);
    expect(h.tasks(web.id)).toEqual([]);
  });
});

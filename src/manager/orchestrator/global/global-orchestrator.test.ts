import { afterEach, describe, expect, it } from 'vitest';
import type { NodeId, Service, Task } from '../../../api/index.js';
import { RestartSupervisor } from '../restart/restart-supervisor.js';
import { OrchestrationHarness } from '../test-fixtures.js';
import { GlobalOrchestrator } from './global-orchestrator.js';

let h: OrchestrationHarness;

afterEach(async () => {
  await h.stop();
});

function runningOn(service: Service): NodeId[] {
  return h
    .liveTasks(service.id)
    .map((t) => t.nodeId!)
    .sort();
}

function on(service: Service, node: NodeId): Task[] {
  return h.tasks(service.id).filter((t) => t.nodeId === node);
}

describe('GlobalOrchestrator', () => {
  it('creates one pending task per eligible node, with the node preset and slot 0', async () => {
    h = new OrchestrationHarness();
    h.start(new GlobalOrchestrator(h.deps));
    const a = (await h.addNode('a')).id;
    const b = (await h.addNode('b')).id;
    const paused = (await h.addNode('p', { availability: 'pause' })).id;
    const drained = (await h.addNode('d', { availability: 'drain' })).id;
    const down = (await h.addNode('x', { state: 'down' })).id;
    const agent = await h.addService('agent', { type: 'global' });
    await h.settle();
    expect(runningOn(agent)).toEqual([a, b].sort());
    for (const n of [paused, drained, down]) expect(on(agent, n)).toEqual([]);
    for (const t of h.tasks(agent.id)) {
      expect(t.slot).toBe(0);
      expect(t.status.state).toBe('pending');
      expect(t.desiredState).toBe('running');
    }
  });

  it('adds a task on a node that joins, and on one that becomes ready', async () => {
    h = new OrchestrationHarness();
    h.start(new GlobalOrchestrator(h.deps));
    const a = (await h.addNode('a')).id;
    const agent = await h.addService('agent', { type: 'global' });
    await h.settle();
    const b = (await h.addNode('b')).id;
    const late = (await h.addNode('late', { state: 'unknown' })).id;
    await h.settle();
    expect(runningOn(agent)).toEqual([a, b].sort());
    await h.setNodeState(late, 'ready');
    await h.settle();
    expect(runningOn(agent)).toEqual([a, b, late].sort());
  });

  it('shuts the task down on a drained node and adds one again when it is active', async () => {
    h = new OrchestrationHarness();
    h.start(new GlobalOrchestrator(h.deps));
    const a = (await h.addNode('a')).id;
    const b = (await h.addNode('b')).id;
    const agent = await h.addService('agent', { type: 'global' });
    await h.settle();
    await h.simulateScheduler(() => undefined);
    await h.simulateAgents();
    const first = on(agent, b)[0]!;

    await h.setAvailability(b, 'drain');
    await h.settle();
    expect(h.task(first.id)?.desiredState).toBe('shutdown');
    expect(runningOn(agent)).toEqual([a]);
    await h.simulateAgents([b]);

    await h.setAvailability(b, 'active');
    await h.settle();
    expect(runningOn(agent)).toEqual([a, b].sort());
    expect(on(agent, b)).toHaveLength(2);
  });

  it('keeps the task of a paused node but adds none to a paused node', async () => {
    h = new OrchestrationHarness();
    h.start(new GlobalOrchestrator(h.deps));
    const a = (await h.addNode('a')).id;
    const agent = await h.addService('agent', { type: 'global' });
    await h.settle();
    await h.setAvailability(a, 'pause');
    await h.settle();
    expect(runningOn(agent)).toEqual([a]);
    const b = (await h.addNode('b', { availability: 'pause' })).id;
    await h.settle();
    expect(on(agent, b)).toEqual([]);
  });

  it('follows node label changes against the placement constraints', async () => {
    h = new OrchestrationHarness();
    h.start(new GlobalOrchestrator(h.deps));
    const a = (await h.addNode('a', { labels: { zone: 'east' } })).id;
    const b = (await h.addNode('b', { labels: { zone: 'west' } })).id;
    const agent = await h.addService(
      'agent',
      { type: 'global' },
      { placement: { constraints: ['node.labels.zone==east'] } },
    );
    await h.settle();
    expect(runningOn(agent)).toEqual([a]);

    await h.updateNode(b, (n) => ({ ...n, spec: { ...n.spec, labels: { zone: 'east' } } }));
    await h.settle();
    expect(runningOn(agent)).toEqual([a, b].sort());

    await h.updateNode(a, (n) => ({ ...n, spec: { ...n.spec, labels: { zone: 'north' } } }));
    await h.settle();
    expect(runningOn(agent)).toEqual([b]);
    expect(on(agent, a)[0]?.desiredState).toBe('shutdown');
  });

  it('applies a constraint change of the service to every node', async () => {
    h = new OrchestrationHarness();
    h.start(new GlobalOrchestrator(h.deps));
    const a = (await h.addNode('a', { role: 'manager' })).id;
    const b = (await h.addNode('b')).id;
    const agent = await h.addService('agent', { type: 'global' });
    await h.settle();
    expect(runningOn(agent)).toEqual([a, b].sort());
    await h.updateService(agent.id, (spec) => ({
      ...spec,
      taskTemplate: { ...spec.taskTemplate, placement: { constraints: ['node.role==worker'] } },
    }));
    await h.settle();
    expect(runningOn(agent)).toEqual([b]);
  });

  it('shuts tasks down on a down node and replaces them when it is back', async () => {
    h = new OrchestrationHarness();
    h.start(new GlobalOrchestrator(h.deps), new RestartSupervisor(h.deps));
    const a = (await h.addNode('a')).id;
    const agent = await h.addService('agent', { type: 'global' });
    await h.settle();
    const first = on(agent, a)[0]!;
    await h.setNodeState(a, 'down');
    await h.settle();
    expect(h.task(first.id)?.desiredState).toBe('shutdown');
    expect(runningOn(agent)).toEqual([]);
    await h.setNodeState(a, 'ready');
    await h.settle();
    expect(runningOn(agent)).toEqual([a]);
  });

  it('removes the tasks of a deleted node and of a deleted service', async () => {
    h = new OrchestrationHarness();
    h.start(new GlobalOrchestrator(h.deps));
    const a = (await h.addNode('a')).id;
    const b = (await h.addNode('b')).id;
    const agent = await h.addService('agent', { type: 'global' });
    await h.settle();
    await h.store.update((tx) => tx.delete('node', b));
    await h.settle();
    expect(on(agent, b)[0]?.desiredState).toBe('remove');
    expect(runningOn(agent)).toEqual([a]);
    await h.deleteService(agent.id);
    await h.settle();
    expect(h.tasks(agent.id).every((t) => t.desiredState === 'remove')).toBe(true);
  });

  it('restarts a failed task on the same node after the delay (with the restart supervisor)', async () => {
    h = new OrchestrationHarness();
    h.start(new GlobalOrchestrator(h.deps), new RestartSupervisor(h.deps));
    const a = (await h.addNode('a')).id;
    const agent = await h.addService('agent', { type: 'global' });
    await h.settle();
    await h.simulateScheduler(() => undefined);
    await h.simulateAgents();
    const first = on(agent, a)[0]!;
    await h.simulateAgentReport(first.id, 'failed');
    const live = h.liveTasks(agent.id);
    expect(live).toHaveLength(1);
    expect(live[0]!.nodeId).toBe(a);
    expect(live[0]!.desiredState).toBe('ready');
    await h.advance(5_000);
    expect(h.liveTasks(agent.id)[0]?.desiredState).toBe('running');
    expect(h.tasks(agent.id)).toHaveLength(2);
  });

  it('does not duplicate tasks when a new instance starts on the same store', async () => {
    h = new OrchestrationHarness();
    const first = new GlobalOrchestrator(h.deps);
    h.start(first);
    await h.addNode('a');
    await h.addNode('b');
    const agent = await h.addService('agent', { type: 'global' });
    await h.settle();
    const before = h.tasks(agent.id).map((t) => t.id);
    await h.stopComponent(first);
    h.start(new GlobalOrchestrator(h.deps));
    await h.settle();
    expect(h.tasks(agent.id).map((t) => t.id)).toEqual(before);
  });
});

import { afterEach, describe, expect, it } from 'vitest';
import type { NodeId } from '../../api/index.js';
import { ASSIGNED_MESSAGE } from './pass.js';
import { type NodeOptions, SchedulerHarness, taskInput } from './test-fixtures.js';

const GiB = 2 ** 30;
let h: SchedulerHarness;

afterEach(async () => {
  await h.stop();
});

function sortedCounts(counts: Map<NodeId, number>): number[] {
  return [...counts.values()].sort((a, b) => a - b);
}

describe('scheduler', () => {
  it('spreads 6 tasks over 3 equal nodes two by two, in one transaction', async () => {
    h = new SchedulerHarness();
    for (let i = 0; i < 3; i++) await h.addNode();
    h.start();
    const web = await h.addService('web', 6);
    const tasks = await h.settleService(web.id);
    expect(sortedCounts(h.perNode(web.id))).toEqual([2, 2, 2]);
    for (const t of tasks) {
      expect(t.status).toEqual({ state: 'assigned', timestamp: h.clock.now(), message: ASSIGNED_MESSAGE });
    }
    expect(h.schedulerProposals()).toHaveLength(1);
  });

  it('fills the node with fewest tasks of the service first: 9 new next to 3 running on one node', async () => {
    h = new SchedulerHarness();
    const [busy, a, b] = [await h.addNode(), await h.addNode(), await h.addNode()];
    const web = await h.addService('web', 0);
    await h.store.update((tx) => {
      for (let i = 0; i < 3; i++)
        tx.create('task', taskInput(h.id(), web, i + 1, { nodeId: busy.id, state: 'running' }));
      for (let i = 3; i < 12; i++) tx.create('task', taskInput(h.id(), web, i + 1));
    });
    h.start();
    await h.settleService(web.id);
    // 4 per node in the end: the busy node gets 1, the others 4 each.
    expect(h.perNode(web.id)).toEqual(
      new Map([
        [busy.id, 1],
        [a.id, 4],
        [b.id, 4],
      ]),
    );
  });

  it('breaks ties on tasks of the service by fewest tasks in total', async () => {
    h = new SchedulerHarness();
    const busy = await h.addNode();
    const idle = await h.addNode();
    const db = await h.addService('db', 0);
    await h.store.update((tx) => {
      for (let i = 0; i < 2; i++)
        tx.create('task', taskInput(h.id(), db, i + 1, { nodeId: busy.id, state: 'running' }));
    });
    h.start();
    const web = await h.addService('web', 1);
    const [task] = await h.settleService(web.id);
    expect(task?.nodeId).toBe(idle.id);
  });

  it('spreads over the values of a placement preference first: 2 racks of 2 and 1 nodes take 3 and 3', async () => {
    h = new SchedulerHarness();
    const a1 = await h.addNode({ labels: { rack: 'a' } });
    const a2 = await h.addNode({ labels: { rack: 'a' } });
    const b1 = await h.addNode({ labels: { rack: 'b' } });
    h.start();
    const web = await h.addService('web', 6, {
      placement: { preferences: [{ spread: 'node.labels.rack' }] },
    });
    await h.settleService(web.id);
    const counts = h.perNode(web.id);
    expect((counts.get(a1.id) ?? 0) + (counts.get(a2.id) ?? 0)).toBe(3);
    expect(counts.get(b1.id)).toBe(3);
    expect(sortedCounts(new Map([...counts].filter(([id]) => id !== b1.id)))).toEqual([1, 2]);
  });

  it('puts nodes without the preference label in a group of their own', async () => {
    h = new SchedulerHarness();
    await h.addNode({ labels: { rack: 'a' } });
    await h.addNode({ labels: { rack: 'a' } });
    await h.addNode({ labels: { rack: 'b' } });
    const bare = await h.addNode();
    h.start();
    const web = await h.addService('web', 6, {
      placement: { preferences: [{ spread: 'node.labels.rack' }] },
    });
    await h.settleService(web.id);
    expect(h.perNode(web.id).get(bare.id)).toBe(2);
  });

  it('spreads over nested preferences tree-wise', async () => {
    h = new SchedulerHarness();
    const dc1 = [
      await h.addNode({ labels: { dc: '1', rack: 'x' } }),
      await h.addNode({ labels: { dc: '1', rack: 'y' } }),
    ];
    const dc2 = await h.addNode({ labels: { dc: '2', rack: 'x' } });
    h.start();
    const web = await h.addService('web', 8, {
      placement: { preferences: [{ spread: 'node.labels.dc' }, { spread: 'node.labels.rack' }] },
    });
    await h.settleService(web.id);
    const counts = h.perNode(web.id);
    expect(counts.get(dc2.id)).toBe(4);
    expect(dc1.map((n) => counts.get(n.id))).toEqual([2, 2]);
  });

  it('keeps a task that fits nowhere pending with docker-style reasons counted per node', async () => {
    h = new SchedulerHarness();
    await h.addNode({ labels: { zone: 'b' } });
    await h.addNode({ labels: { zone: 'c' } });
    await h.addNode({ labels: { zone: 'a' }, memoryBytes: GiB });
    h.start();
    const web = await h.addService('web', 2, {
      placement: { constraints: ['node.labels.zone==a'] },
      reservations: { memoryBytes: 2 * GiB },
    });
    const tasks = await h.settleService(web.id);
    for (const t of tasks) {
      expect(t.nodeId).toBeUndefined();
      expect(t.status.state).toBe('pending');
      expect(t.status.message).toBe('pending task scheduling');
      expect(t.status.err).toBe(
        'no suitable node (scheduling constraints not satisfied on 2 nodes; insufficient resources on 1 node)',
      );
    }
  });

  it('places what fits and leaves the rest pending once reservations use the nodes up', async () => {
    h = new SchedulerHarness();
    for (let i = 0; i < 3; i++) await h.addNode({ memoryBytes: 8 * GiB });
    h.start();
    const web = await h.addService('web', 8, { reservations: { memoryBytes: 3 * GiB } });
    const tasks = await h.settleService(web.id);
    expect(sortedCounts(h.perNode(web.id))).toEqual([2, 2, 2]);
    const pending = tasks.filter((t) => t.status.state === 'pending');
    expect(pending.map((t) => t.status.err)).toEqual([
      'no suitable node (insufficient resources on 3 nodes)',
      'no suitable node (insufficient resources on 3 nodes)',
    ]);
  });

  it('honours max replicas per node', async () => {
    h = new SchedulerHarness();
    await h.addNode();
    await h.addNode();
    h.start();
    const web = await h.addService('web', 5, { placement: { maxReplicasPerNode: 2 } });
    const tasks = await h.settleService(web.id);
    expect(sortedCounts(h.perNode(web.id))).toEqual([2, 2]);
    expect(tasks.filter((t) => t.status.state === 'pending').map((t) => t.status.err)).toEqual([
      'no suitable node (max replicas per node limit exceeded on 2 nodes)',
    ]);
  });

  it('gives drained, paused and down nodes nothing', async () => {
    h = new SchedulerHarness();
    const active = await h.addNode();
    await h.addNode({ availability: 'drain' });
    await h.addNode({ availability: 'pause' });
    await h.addNode({ state: 'down' });
    h.start();
    const web = await h.addService('web', 4);
    await h.settleService(web.id);
    expect(h.perNode(web.id)).toEqual(new Map([[active.id, 4]]));
  });

  it('keeps a task pending while no node takes tasks, and places it when a node joins', async () => {
    h = new SchedulerHarness();
    await h.addNode({ availability: 'drain' });
    h.start();
    const web = await h.addService('web', 1);
    const [pending] = await h.settleService(web.id);
    expect(pending?.status.err).toBe('no suitable node (1 node not available for new tasks)');
    const joined = await h.addNode();
    await h.settle('task placed on the new node', () => h.perNode(web.id).get(joined.id) === 1 || 'not yet');
    const [placed] = h.tasks(web.id);
    expect(placed?.status.err).toBeUndefined();
  });

  it('places a pending task once resources free up on a node', async () => {
    h = new SchedulerHarness();
    const node = await h.addNode({ memoryBytes: 4 * GiB });
    h.start();
    const big = await h.addService('big', 1, { reservations: { memoryBytes: 3 * GiB } });
    await h.settleService(big.id);
    const other = await h.addService('other', 1, { reservations: { memoryBytes: 2 * GiB } });
    const [waiting] = await h.settleService(other.id);
    expect(waiting?.status.err).toBe('no suitable node (insufficient resources on 1 node)');
    // The big task ends: its reservation is released.
    await h.store.update((tx) => {
      const [t] = tx.find('task', { index: 'serviceId', key: big.id });
      if (t) tx.update('task', { ...t, status: { ...t.status, state: 'failed', message: 'exited' } });
    });
    await h.settle('waiting task placed', () => h.perNode(other.id).get(node.id) === 1 || 'still pending');
  });

  it('does not rewrite an unchanged "no suitable node" message', async () => {
    h = new SchedulerHarness();
    const node = await h.addNode({ labels: { zone: 'b' } });
    h.start();
    const web = await h.addService('web', 1, { placement: { constraints: ['node.labels.zone==a'] } });
    await h.settleService(web.id);
    const written = h.schedulerProposals().length;
    const passes = h.reports.length;
    // A node change that changes nothing for the task: a pass runs, nothing is written.
    await h.store.update((tx) => {
      const n = tx.get('node', node.id)!;
      tx.update('node', { ...n, spec: { ...n.spec, labels: { zone: 'b', disk: 'ssd' } } });
    });
    await h.settle('another pass', () => h.reports.length > passes || 'no pass yet');
    expect(h.reports.at(-1)).toMatchObject({ placed: 0, unplaced: 1, written: 0 });
    expect(h.schedulerProposals()).toHaveLength(written);
  });
});

describe('scheduler constraints', () => {
  const nodes: Record<string, NodeOptions> = {
    m1: { hostname: 'm1', role: 'manager', labels: { zone: 'a' }, engineLabels: { os: 'ubuntu' } },
    w1: { hostname: 'w1', labels: { zone: 'b' }, engineLabels: { os: 'debian' } },
    w2: { hostname: 'w2' },
  };
  it.each<[string, string[]]>([
    ['node.role==manager', ['m1']],
    ['node.role!=manager', ['w1', 'w2']],
    ['node.hostname==w2', ['w2']],
    ['node.hostname!=w2', ['m1', 'w1']],
    ['node.labels.zone==b', ['w1']],
    ['node.labels.zone!=b', ['m1', 'w2']],
    ['engine.labels.os==ubuntu', ['m1']],
    ['engine.labels.os!=ubuntu', ['w1', 'w2']],
    ['node.id==<w1>', ['w1']],
    ['node.id!=<w1>', ['m1', 'w2']],
  ])('%s places only on %j', async (constraint, allowed) => {
    h = new SchedulerHarness();
    const byName = new Map<string, NodeId>();
    for (const [name, o] of Object.entries(nodes)) byName.set(name, (await h.addNode(o)).id);
    h.start();
    const expr = constraint.replace('<w1>', byName.get('w1')!);
    const web = await h.addService('web', 6, { placement: { constraints: [expr] } });
    await h.settleService(web.id);
    const used = [...h.perNode(web.id).keys()].map((id) => [...byName].find(([, v]) => v === id)?.[0]);
    expect(used.sort()).toEqual(allowed);
  });
});

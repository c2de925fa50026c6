import { afterEach, describe, expect, it } from 'vitest';
import type { NodeId, Task } from '../../api/index.js';
import { createLogger, humanSink, UnavailableError } from '../../common/index.js';
import type { ChangeSet } from '../store/index.js';
import { CONFIRMED_MESSAGE } from './pass.js';
import { nodeInput, SchedulerHarness, taskInput } from './test-fixtures.js';

const GiB = 2 ** 30;
let h: SchedulerHarness;

afterEach(async () => {
  await h.stop();
});

function assignedCount(tasks: readonly Task[]): number {
  return tasks.filter((t) => t.status.state === 'assigned').length;
}

/** Task updates of a change set, as the proposer saw them. */
function taskUpdates(cs: ChangeSet): Task[] {
  return cs.changes.flatMap((c) => (c.action === 'update' && c.kind === 'task' ? [c.object] : []));
}

describe('scheduler batching', () => {
  it('places 200 pending tasks in 2 transactions of at most 100', async () => {
    h = new SchedulerHarness({ batchSize: 100 });
    for (let i = 0; i < 4; i++) await h.addNode();
    h.start();
    const web = await h.addService('web', 200);
    await h.settleService(web.id);
    expect(assignedCount(h.tasks(web.id))).toBe(200);
    expect(h.schedulerProposals().map((cs) => cs.changes.length)).toEqual([100, 100]);
    expect([...h.perNode(web.id).values()]).toEqual([50, 50, 50, 50]);
  });

  it('writes one pass over several services in chunks of the default 200', async () => {
    h = new SchedulerHarness();
    for (let i = 0; i < 10; i++) await h.addNode();
    const services = [];
    for (let i = 0; i < 5; i++) services.push(await h.addService(`s${i}`, 200));
    h.start();
    await h.settle('all placed and the pass reported', () => {
      const n = assignedCount(h.tasks());
      return (n === 1000 && h.reports.length > 0) || `${n} of 1000 placed, ${h.reports.length} reports`;
    });
    expect(h.schedulerProposals().map((cs) => cs.changes.length)).toEqual([200, 200, 200, 200, 200]);
    expect(h.reports[0]).toMatchObject({ placed: 1000, written: 1000, transactions: 5 });
    for (const s of services) expect([...h.perNode(s.id).values()]).toEqual(Array(10).fill(20));
  });

  it('skips tasks changed under it, retries the rest and loses none', async () => {
    h = new SchedulerHarness();
    for (let i = 0; i < 3; i++) await h.addNode();
    const web = await h.addService('web', 200);
    const [poked, stopped] = h.tasks(web.id);
    let injected = false;
    // Another writer's change lands in the log just before the scheduler's first change set.
    h.proposer.beforeApply = (cs) => {
      if (injected || !taskUpdates(cs).some((t) => t.status.state === 'assigned')) return;
      injected = true;
      const result = h.proposer.applier.applyCommitted({
        changes: [
          {
            action: 'update',
            kind: 'task',
            object: { ...poked!, status: { ...poked!.status, message: 'touched by someone else' } },
            expectedVersion: poked!.meta.version,
          },
          {
            action: 'update',
            kind: 'task',
            object: { ...stopped!, desiredState: 'shutdown' },
            expectedVersion: stopped!.meta.version,
          },
        ],
      });
      expect(result.ok).toBe(true);
    };
    h.start();
    await h.settle('all but the stopped task placed', () => {
      const n = assignedCount(h.tasks(web.id));
      return n === 199 || `${n} of 199 placed`;
    });
    expect(injected).toBe(true);
    const [first, retried] = h.proposals.filter((cs) =>
      taskUpdates(cs).some((t) => t.status.state === 'assigned'),
    );
    // The first change set lost the race; the re-run left out both changed tasks.
    expect(first?.changes).toHaveLength(200);
    expect(retried?.changes).toHaveLength(198);
    expect(h.reports[0]).toMatchObject({ written: 198, skipped: 2 });
    const now = new Map(h.tasks(web.id).map((t) => [t.id, t]));
    expect(now.get(poked!.id)?.status.state).toBe('assigned');
    expect(now.get(stopped!.id)?.status.state).toBe('pending');
    expect(now.get(stopped!.id)?.nodeId).toBeUndefined();
    expect([...h.perNode(web.id).values()].sort()).toEqual([66, 66, 67]);
  });

  it('retries a pass whose write failed for a retryable reason', async () => {
    h = new SchedulerHarness();
    await h.addNode();
    let failures = 0;
    h.proposer.beforeApply = (cs) => {
      if (failures < 2 && taskUpdates(cs).some((t) => t.status.state === 'assigned')) {
        failures++;
        throw new UnavailableError('raft is electing a leader');
      }
    };
    h.start();
    const web = await h.addService('web', 3);
    await h.settle('placed after the failures', () => {
      const n = assignedCount(h.tasks(web.id));
      return n === 3 || `${n} of 3 placed after ${failures} failures`;
    });
    expect(failures).toBe(2);
    expect(h.reports.slice(0, 2).map((r) => r.written)).toEqual([0, 0]);
  });

  it('resyncs from the store after a snapshot restore and goes on scheduling', async () => {
    h = new SchedulerHarness();
    await h.addNode();
    h.start();
    const before = await h.addService('before', 1);
    await h.settleService(before.id);
    h.store.restore(h.store.snapshot());
    const after = await h.addService('after', 2);
    await h.settle('tasks after the restore placed', () => {
      const n = assignedCount(h.tasks(after.id));
      return n === 2 || `${n} of 2 placed`;
    });
    expect(h.resyncs()).toBe(1);
  });
});

describe('scheduler preassigned tasks', () => {
  it('confirms a preassigned task whose node fits and explains one that does not', async () => {
    h = new SchedulerHarness();
    const ok = await h.addNode();
    const drained = await h.addNode({ availability: 'drain' });
    const small = await h.addNode({ memoryBytes: GiB / 2 });
    h.start();
    const global = await h.addService('agent', 3, {
      global: true,
      reservations: { memoryBytes: GiB },
      nodeIds: [ok.id, drained.id, small.id],
    });
    await h.settleService(global.id);
    const byNode = new Map(h.tasks(global.id).map((t) => [t.nodeId, t]));
    expect(byNode.get(ok.id)?.status).toMatchObject({ state: 'assigned', message: CONFIRMED_MESSAGE });
    expect(byNode.get(drained.id)?.status).toMatchObject({
      state: 'pending',
      err: '1 node not available for new tasks',
    });
    expect(byNode.get(small.id)?.status).toMatchObject({
      state: 'pending',
      err: 'insufficient resources on 1 node',
    });

    // Undrained, the node takes its task.
    await h.store.update((tx) => {
      const n = tx.get('node', drained.id)!;
      tx.update('node', { ...n, spec: { ...n.spec, availability: 'active' } });
    });
    await h.settle('task on the undrained node confirmed', () => {
      const t = h.tasks(global.id).find((x) => x.nodeId === drained.id);
      return t?.status.state === 'assigned' || `state ${t?.status.state}`;
    });
  });

  it('never moves a preassigned task to another node', async () => {
    h = new SchedulerHarness();
    const down = await h.addNode({ state: 'down' });
    await h.addNode();
    h.start();
    const global = await h.addService('agent', 1, { global: true, nodeIds: [down.id] });
    const [t] = await h.settleService(global.id);
    expect(t?.nodeId).toBe(down.id);
    expect(t?.status.state).toBe('pending');
  });
});

describe('scheduler failures', () => {
  it('prefers other nodes once a node has failed the service 5 times recently', async () => {
    h = new SchedulerHarness();
    const flaky = await h.addNode();
    const steady = await h.addNode();
    const web = await h.addService('web', 0);
    const running: Task[] = await h.store.update((tx) => [
      tx.create('task', taskInput(h.id(), web, 1, { nodeId: steady.id, state: 'running' })),
      ...Array.from({ length: 5 }, (_, i) =>
        tx.create('task', taskInput(h.id(), web, i + 2, { nodeId: flaky.id, state: 'running' })),
      ),
    ]);
    h.start();
    await h.store.update((tx) => {
      for (const t of running.slice(1)) {
        const cur = tx.get('task', t.id)!;
        tx.update('task', { ...cur, status: { ...cur.status, state: 'failed', message: 'exit 1' } });
      }
    });
    await h.store.update((tx) => {
      tx.create('task', taskInput(h.id(), web, 7));
    });
    await h.settleService(web.id);
    // Without the failures the empty flaky node (0 running) would win over steady (1 running).
    const placed = h.tasks(web.id).find((t) => t.slot === 7);
    expect(placed?.nodeId).toBe(steady.id);
  });
});

describe('scheduler benchmark', () => {
  it('schedules 10,000 tasks over 1,000 nodes in one pass', async () => {
    h = new SchedulerHarness({}, () => performance.now());
    await h.store.update((tx) => {
      for (let i = 0; i < 1000; i++)
        tx.create('node', nodeInput(h.id<NodeId>(), { labels: { rack: `r${i % 10}` } }));
    });
    for (let s = 0; s < 10; s++) await h.addService(`svc${s}`, 1000);
    const started = performance.now();
    h.start();
    await h.settle(
      'all 10,000 placed',
      () => {
        const n = h.reports[0]?.written ?? 0;
        return n === 10_000 || `${n} written`;
      },
      60_000,
    );
    const elapsedMs = performance.now() - started;
    const perNode = new Map<NodeId, number>();
    for (const t of h.tasks()) if (t.nodeId) perNode.set(t.nodeId, (perNode.get(t.nodeId) ?? 0) + 1);
    expect(new Set(perNode.values())).toEqual(new Set([10]));
    // The watch kept up with the pass's own 10,000 writes (no overflow, no re-read).
    expect(h.resyncs()).toBe(0);
    createLogger(humanSink((line) => process.stdout.write(line))).info('scheduler benchmark', {
      tasks: 10_000,
      nodes: 1000,
      transactions: h.reports[0]?.transactions,
      planMs: Math.round(h.reports[0]?.planMs ?? -1),
      passMs: Math.round(h.reports[0]?.durationMs ?? -1),
      ms: Math.round(elapsedMs),
      tasksPerSecond: Math.round(10_000 / (elapsedMs / 1000)),
    });
  }, 120_000);
});

import { afterEach, describe, expect, it } from 'vitest';
import type { NodeId, RestartPolicy, Service, Task } from '../../../api/index.js';
import type { Clock } from '../../../common/index.js';
import { ReplicatedOrchestrator } from '../replicated/replicated-orchestrator.js';
import { OrchestrationHarness, slotsOf } from '../test-fixtures.js';
import { RestartSupervisor } from './restart-supervisor.js';

let h: OrchestrationHarness;
let supervisor: RestartSupervisor;

afterEach(async () => {
  await h.stop();
});

const DELAY = 5_000;

/**
 * The harness's manual clock, except that every timer longer than 1 ms fires 1 ms early (what
 * setTimeout's whole-millisecond rounding once did to systemClock's timers).
 */
function earlyTimers(clock: Clock): Clock {
  return {
    now: () => clock.now(),
    monotonic: () => clock.monotonic(),
    setTimer: (ms, fn) => clock.setTimer(ms > 1 ? ms - 1 : ms, fn),
  };
}

async function setup(
  replicas: number,
  policy: Partial<RestartPolicy> = {},
  nodeNames = ['a', 'b', 'c'],
  options: { earlyTimers?: boolean } = {},
): Promise<{ service: Service; nodes: NodeId[] }> {
  h = new OrchestrationHarness();
  supervisor = new RestartSupervisor(
    options.earlyTimers ? { ...h.deps, clock: earlyTimers(h.clock) } : h.deps,
  );
  h.start(new ReplicatedOrchestrator(h.deps), supervisor);
  const nodes: NodeId[] = [];
  for (const name of nodeNames) nodes.push((await h.addNode(name)).id);
  const service = await h.addService(
    'web',
    { type: 'replicated', replicas },
    {
      restartPolicy: { condition: 'any', delayMs: DELAY, maxAttempts: 0, windowMs: 0, ...policy },
    },
  );
  await h.settle();
  await runPending(nodes);
  return { service, nodes };
}

/** Places pending tasks round-robin by slot and lets the agents start them. */
async function runPending(nodes: readonly NodeId[]): Promise<void> {
  await h.simulateScheduler((t) => nodes[(t.slot - 1) % nodes.length]);
  await h.simulateAgents();
}

function inSlot(service: Service, slot: number): Task[] {
  return h.tasks(service.id).filter((t) => t.slot === slot);
}

function wanted(service: Service, slot: number): Task[] {
  return inSlot(service, slot).filter((t) => ['ready', 'running'].includes(t.desiredState));
}

describe('RestartSupervisor', () => {
  it('replaces a failed task in its slot, starting it exactly after the restart delay', async () => {
    const { service } = await setup(2);
    const old = inSlot(service, 1)[0]!;
    h.clock.advance(1_000);
    await h.simulateAgentReport(old.id, 'failed', { exitCode: 1 });

    expect(h.task(old.id)?.desiredState).toBe('shutdown');
    const [replacement] = wanted(service, 1);
    expect(replacement).toBeDefined();
    expect(replacement!.id).not.toBe(old.id);
    expect(replacement!.desiredState).toBe('ready');
    expect(replacement!.status.state).toBe('pending');
    expect(replacement!.nodeId).toBeUndefined();
    expect(supervisor.delayedStarts).toBe(1);

    await h.advance(DELAY - 1);
    expect(h.task(replacement!.id)?.desiredState).toBe('ready');
    await h.advance(1);
    expect(h.task(replacement!.id)?.desiredState).toBe('running');
    expect(supervisor.delayedStarts).toBe(0);
    // Slot 2 was never touched, and the orchestrator added nothing.
    expect(slotsOf(h.liveTasks(service.id))).toEqual([1, 2]);
  });

  it('honours max attempts: no replacement once they are used up, and the slot is not refilled', async () => {
    const { service, nodes } = await setup(1, { maxAttempts: 2 });
    for (let attempt = 0; attempt < 3; attempt++) {
      const [current] = wanted(service, 1);
      expect(current, `attempt ${attempt}`).toBeDefined();
      if (current!.desiredState === 'ready') await h.advance(DELAY);
      await runPending(nodes);
      h.clock.advance(100);
      await h.simulateAgentReport(current!.id, 'failed');
    }
    const tasks = inSlot(service, 1);
    expect(tasks).toHaveLength(3);
    expect(tasks.every((t) => t.desiredState === 'shutdown' && t.status.state === 'failed')).toBe(true);
    await h.advance(DELAY);
    expect(inSlot(service, 1)).toHaveLength(3);
  });

  it('counts attempts only within the restart window', async () => {
    const { service, nodes } = await setup(1, { maxAttempts: 1, windowMs: 10_000 });
    const first = wanted(service, 1)[0]!;
    await h.simulateAgentReport(first.id, 'failed');
    await h.advance(DELAY);
    await runPending(nodes);
    // The first replacement fails 20 s after it was made: outside the window, so it is restarted.
    await h.advance(15_000);
    const second = wanted(service, 1)[0]!;
    await h.simulateAgentReport(second.id, 'failed');
    const third = wanted(service, 1)[0];
    expect(third).toBeDefined();
    await h.advance(DELAY);
    await runPending(nodes);
    // The next one fails within 10 s of its creation: its attempt counts, none is left.
    h.clock.advance(1_000);
    await h.simulateAgentReport(third!.id, 'failed');
    expect(wanted(service, 1)).toEqual([]);
    expect(inSlot(service, 1)).toHaveLength(3);
  });

  it('with condition none, a failed task stays down and its slot stays held', async () => {
    const { service } = await setup(2, { condition: 'none' });
    const old = inSlot(service, 2)[0]!;
    await h.simulateAgentReport(old.id, 'failed');
    await h.advance(DELAY);
    expect(inSlot(service, 2).map((t) => t.id)).toEqual([old.id]);
    expect(h.task(old.id)?.desiredState).toBe('shutdown');
    expect(slotsOf(h.tasks(service.id))).toEqual([1, 2]);
  });

  it('with condition on-failure, restarts a failed task but not one that exited 0', async () => {
    const { service } = await setup(2, { condition: 'on-failure' });
    const completed = inSlot(service, 1)[0]!;
    const failed = inSlot(service, 2)[0]!;
    await h.simulateAgentReport(completed.id, 'complete', { exitCode: 0 });
    await h.simulateAgentReport(failed.id, 'failed', { exitCode: 2 });
    expect(inSlot(service, 1)).toHaveLength(1);
    expect(h.task(completed.id)?.desiredState).toBe('shutdown');
    expect(wanted(service, 2)).toHaveLength(1);
  });

  it('with condition any, restarts a task that exited 0', async () => {
    const { service } = await setup(1);
    const old = inSlot(service, 1)[0]!;
    await h.simulateAgentReport(old.id, 'complete', { exitCode: 0 });
    expect(wanted(service, 1)).toHaveLength(1);
  });

  it('replaces the tasks of a node that goes down at once, and no slot ends with two running tasks when it returns', async () => {
    const { service, nodes } = await setup(6);
    const [a, b, c] = nodes as [NodeId, NodeId, NodeId];
    const onC = h.tasks(service.id).filter((t) => t.nodeId === c);
    expect(onC).toHaveLength(2);

    await h.setNodeState(c, 'down');
    await h.settle();
    for (const old of onC) {
      expect(h.task(old.id)?.desiredState).toBe('shutdown');
      const replacements = wanted(service, old.slot);
      expect(replacements).toHaveLength(1);
      // No restart delay and no wait for a node that cannot answer.
      expect(replacements[0]!.desiredState).toBe('running');
    }
    expect(supervisor.delayedStarts).toBe(0);
    await h.simulateScheduler((t) => (t.slot % 2 === 0 ? a : b));
    await h.simulateAgents([a, b]);

    // The node comes back: its agent still runs the old containers until it applies desired shutdown.
    await h.setNodeState(c, 'ready');
    await h.settle();
    for (let slot = 1; slot <= 6; slot++) {
      expect(
        inSlot(service, slot).filter((t) => t.desiredState === 'running'),
        `slot ${slot}`,
      ).toHaveLength(1);
    }
    await h.simulateAgents([c]);
    for (const old of onC) expect(h.task(old.id)?.status.state).toBe('shutdown');
    expect(slotsOf(h.liveTasks(service.id))).toEqual([1, 2, 3, 4, 5, 6]);
    expect(h.liveTasks(service.id).every((t) => t.nodeId !== c && t.status.state === 'running')).toBe(true);
  });

  it('moves tasks off a drained node without delay, starting each once its old task stopped', async () => {
    const { service, nodes } = await setup(3);
    const c = nodes[2]!;
    const old = h.tasks(service.id).find((t) => t.nodeId === c)!;
    await h.setAvailability(c, 'drain');
    await h.settle();
    const [replacement] = wanted(service, old.slot);
    expect(replacement?.desiredState).toBe('ready');
    expect(h.task(old.id)?.desiredState).toBe('shutdown');
    await h.simulateAgents([c]);
    expect(h.task(replacement!.id)?.desiredState).toBe('running');
  });

  it('gives up waiting for the old task after the old-task timeout', async () => {
    const { service, nodes } = await setup(1);
    const old = inSlot(service, 1)[0]!;
    await h.setAvailability(nodes[0]!, 'drain');
    await h.settle();
    const [replacement] = wanted(service, 1);
    await h.advance(59_999);
    expect(h.task(replacement!.id)?.desiredState).toBe('ready');
    expect(h.task(old.id)?.status.state).toBe('running');
    await h.advance(1);
    expect(h.task(replacement!.id)?.desiredState).toBe('running');
  });

  it('does not restart a replacement that fails during its delay before that delay is over', async () => {
    const { service } = await setup(1);
    const old = inSlot(service, 1)[0]!;
    await h.simulateAgentReport(old.id, 'failed');
    const [first] = wanted(service, 1);
    // Preparing fails at once (say the image is missing): rejected while still desired ready.
    await h.simulateAgentReport(first!.id, 'rejected');
    expect(inSlot(service, 1)).toHaveLength(2);
    await h.advance(DELAY - 1);
    expect(inSlot(service, 1)).toHaveLength(2);
    await h.advance(1);
    expect(inSlot(service, 1)).toHaveLength(3);
    expect(h.task(first!.id)?.desiredState).toBe('shutdown');
    expect(wanted(service, 1)[0]?.desiredState).toBe('ready');
  });

  it('after a leader change, a new instance keeps what remained of a delay and restarts failures it missed', async () => {
    const { service } = await setup(2);
    const [one, two] = [inSlot(service, 1)[0]!, inSlot(service, 2)[0]!];
    await h.simulateAgentReport(one.id, 'failed');
    const [waiting] = wanted(service, 1);
    await h.advance(3_000);
    await h.stopComponent(supervisor);
    // Slot 2 fails while no supervisor is watching.
    await h.simulateAgentReport(two.id, 'failed');
    expect(wanted(service, 2).map((t) => t.id)).toEqual([two.id]);

    supervisor = new RestartSupervisor(h.deps);
    h.start(supervisor);
    await h.settle();
    expect(h.task(two.id)?.desiredState).toBe('shutdown');
    expect(wanted(service, 2)[0]?.desiredState).toBe('ready');
    await h.advance(1_999);
    expect(h.task(waiting!.id)?.desiredState).toBe('ready');
    await h.advance(1);
    expect(h.task(waiting!.id)?.desiredState).toBe('running');
    expect(inSlot(service, 1)).toHaveLength(2);
  });

  it('re-arms itself when a timer wakes it before the delay is over, and still starts the replacement', async () => {
    const { service } = await setup(1, {}, ['a'], { earlyTimers: true });
    const old = inSlot(service, 1)[0]!;
    await h.simulateAgentReport(old.id, 'failed');
    const [replacement] = wanted(service, 1);
    expect(replacement?.desiredState).toBe('ready');
    // The delay timer fires here, 1 ms early: the plan is not due and must not start yet.
    await h.advance(DELAY - 1);
    expect(h.task(replacement!.id)?.desiredState).toBe('ready');
    expect(supervisor.delayedStarts).toBe(1);
    // Without a re-armed timer nothing wakes the supervisor again: the replacement stayed ready.
    await h.advance(1);
    expect(h.task(replacement!.id)?.desiredState).toBe('running');
    expect(supervisor.delayedStarts).toBe(0);
  });

  it('re-arms the old-task deadline when woken before it, and gives up waiting at the deadline', async () => {
    const { service, nodes } = await setup(1, {}, ['a'], { earlyTimers: true });
    const old = inSlot(service, 1)[0]!;
    await h.setAvailability(nodes[0]!, 'drain');
    await h.settle();
    const [replacement] = wanted(service, 1);
    expect(replacement?.desiredState).toBe('ready');
    await h.advance(59_999);
    expect(h.task(replacement!.id)?.desiredState).toBe('ready');
    expect(h.task(old.id)?.status.state).toBe('running');
    await h.advance(1);
    expect(h.task(replacement!.id)?.desiredState).toBe('running');
  });
});

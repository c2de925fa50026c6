/**
 * The scheduler next to the real orchestrators, over one store: the contract between them is
 * only the store (pending tasks in, node assignments out), as in the lab's acceptance runs.
 */
import { afterEach, describe, it } from 'vitest';
import type { Node, NodeId, Service } from '../../api/index.js';
import { SeededRandom } from '../../common/index.js';
import { GlobalOrchestrator, ReplicatedOrchestrator, RestartSupervisor } from '../orchestrator/index.js';
import { SchedulerHarness } from './test-fixtures.js';

let h: SchedulerHarness;
const stops: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const stop of stops.splice(0)) await stop();
  await h.stop();
});

function startOrchestrators(): void {
  const random = new SeededRandom(5);
  const deps = {
    store: h.store,
    clock: h.clock,
    logger: h.logs.logger,
    randomBytes: (n: number) => Uint8Array.from({ length: n }, () => random.int(0, 256)),
  };
  for (const c of [
    new ReplicatedOrchestrator(deps),
    new GlobalOrchestrator(deps),
    new RestartSupervisor(deps),
  ]) {
    const controller = new AbortController();
    const running = c.run(controller.signal);
    stops.push(async () => {
      controller.abort();
      await running;
    });
  }
}

/** Live tasks (desired ready or running: a replacement may wait for its predecessor) per node. */
function live(serviceId: Service['id']): Map<NodeId, number> {
  const counts = new Map<NodeId, number>();
  for (const t of h.tasks(serviceId))
    if (
      (t.desiredState === 'running' || t.desiredState === 'ready') &&
      t.nodeId &&
      t.status.state !== 'pending'
    )
      counts.set(t.nodeId, (counts.get(t.nodeId) ?? 0) + 1);
  return counts;
}

function expectPerNode(serviceId: Service['id'], nodes: readonly Node[], each: number): Promise<void> {
  return h.settle(`${each} live tasks on each of ${nodes.length} nodes`, () => {
    const counts = live(serviceId);
    const ok = counts.size === nodes.length && nodes.every((n) => counts.get(n.id) === each);
    return ok || JSON.stringify([...counts.values()]);
  });
}

async function setReplicas(service: Service, replicas: number): Promise<void> {
  await h.store.update((tx) => {
    const s = tx.get('service', service.id)!;
    tx.update('service', { ...s, spec: { ...s.spec, mode: { type: 'replicated', replicas } } });
  });
}

describe('scheduler with the orchestrators', () => {
  it('runs 6 replicas 2 per node, 9 as 3 per node, 3 as 1 per node', async () => {
    h = new SchedulerHarness();
    const nodes = [await h.addNode(), await h.addNode(), await h.addNode()];
    h.start();
    startOrchestrators();
    const web = await h.addService('web', 0, { replicas: 6 });
    await expectPerNode(web.id, nodes, 2);
    await setReplicas(web, 9);
    await expectPerNode(web.id, nodes, 3);
    await setReplicas(web, 3);
    await expectPerNode(web.id, nodes, 1);
  });

  it('places the replacements of a drained node on the others', async () => {
    h = new SchedulerHarness();
    const nodes = [await h.addNode(), await h.addNode(), await h.addNode()];
    h.start();
    startOrchestrators();
    const web = await h.addService('web', 0, { replicas: 6 });
    await expectPerNode(web.id, nodes, 2);
    await h.store.update((tx) => {
      const n = tx.get('node', nodes[2]!.id)!;
      tx.update('node', { ...n, spec: { ...n.spec, availability: 'drain' } });
    });
    await expectPerNode(web.id, nodes.slice(0, 2), 3);
  });

  it('confirms one global task per node, including a node that joins later', async () => {
    h = new SchedulerHarness();
    const nodes = [await h.addNode(), await h.addNode()];
    h.start();
    startOrchestrators();
    const agent = await h.addService('agent', 0, { global: true });
    await expectPerNode(agent.id, nodes, 1);
    nodes.push(await h.addNode());
    await expectPerNode(agent.id, nodes, 1);
  });
});

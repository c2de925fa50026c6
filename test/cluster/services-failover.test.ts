import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../src/common/index.js';
import { docker, nodeInfo, ok, startCluster, stopCluster, waitForReady } from '../harness/cluster-cli.js';
import { SwarmNodes } from '../harness/swarm-nodes.js';

/**
 * Three managers on loopback sharing the machine's engine (each manages only the containers
 * labelled with its node ID): the leader's process is killed, the agents find the new leader,
 * the dead node is marked down and its tasks run on the survivors, one per slot.
 */
let nodes: SwarmNodes;
let ids: string[] = [];

/** Running containers of this run per node ID. */
function runningByNode(): Map<string, number> {
  const out = docker(
    'ps',
    '--filter',
    'label=com.docker.swarm.service.name=fo',
    '--format',
    '{{.Label "com.docker.swarm.node.id"}}',
  );
  const m = new Map<string, number>();
  for (const id of out.split('\n').filter((l) => ids.includes(l))) m.set(id, (m.get(id) ?? 0) + 1);
  return m;
}

beforeAll(() => {
  nodes = new SwarmNodes(25400, 'swarm-failover-');
  ids = startCluster(nodes, ['manager', 'manager']);
}, 120_000);

afterAll(() => stopCluster(nodes, ids));

describe('services across a leader failure', () => {
  it('keeps 6 replicas, one per slot, after the leader process dies', async () => {
    const n0 = nodes.node(0);
    await waitForReady(n0, 3);
    ok(
      n0.cli(
        'service',
        'create',
        '--detach=false',
        '--replicas',
        '6',
        '--name',
        'fo',
        'swarmctl-test/web:v1',
      ),
    );
    expect([...runningByNode().values()]).toEqual([2, 2, 2]);

    const leaderIdx = ids.indexOf(nodeInfo(n0)?.cluster?.leader ?? '');
    expect(leaderIdx).toBeGreaterThanOrEqual(0);
    const leader = nodes.node(leaderIdx);
    const survivor = nodes.node(leaderIdx === 1 ? 2 : 1);
    const killedAt = Date.now();
    process.kill(nodes.pid(leader)!, 'SIGKILL');
    await waitFor(
      () =>
        survivor.cli('service', 'ls').status === 0
          ? { done: true, value: 0 }
          : { done: false, state: 'no answer' },
      {
        timeoutMs: 15_000,
        intervalMs: 100,
        what: 'the API on a survivor',
      },
    );
    const apiMs = Date.now() - killedAt;
    const deadId = ids[leaderIdx]!;
    await waitFor(
      () => {
        const m = runningByNode();
        const alive = ids.filter((id) => id !== deadId).reduce((a, id) => a + (m.get(id) ?? 0), 0);
        return alive === 6 ? { done: true, value: 0 } : { done: false, state: `${alive} on the survivors` };
      },
      { timeoutMs: 40_000, intervalMs: 250, what: '6 replicas on the two survivors' },
    );
    console.log(
      `leader killed: API answered after ${apiMs} ms, 6 replicas on survivors after ${Date.now() - killedAt} ms`,
    );
    const tasks = ok(survivor.cli('service', 'ps', 'fo', '--format', 'json'))
      .split('\n')
      .filter(Boolean)
      .map(
        (l) => JSON.parse(l) as { Name: string; Node: string; DesiredState: string; CurrentState: string },
      );
    const live = tasks.filter((t) => t.DesiredState === 'Running' && t.CurrentState.startsWith('Running'));
    const slots = live.map((t) => t.Name.replace(/^\\_ /, '').trim());
    expect(new Set(slots).size).toBe(slots.length);
    expect(slots.length).toBe(6);
  }, 120_000);
});

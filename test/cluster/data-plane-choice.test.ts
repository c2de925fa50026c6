import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../src/common/index.js';
import { ok, stopCluster } from '../harness/cluster-cli.js';
import { SwarmNodes, type TestNode } from '../harness/swarm-nodes.js';

/**
 * The data plane a node was started with survives a restart of its process without the flag
 * (a node started with `userland` used to come back with `auto`). One manager on loopback.
 */
let nodes: SwarmNodes;
let node: TestNode;
let nodeIds: string[] = [];

interface DataPlaneInfo {
  node: { nodeId: string; pid: number; dataPlane?: { kind: string; reason?: string } };
}

function info(n: TestNode): DataPlaneInfo | undefined {
  const r = n.cli('info', '--format', 'json');
  return r.status === 0 ? (JSON.parse(r.stdout) as DataPlaneInfo) : undefined;
}

/** Waits for the node's agent to have started its data plane, and returns what it runs. */
async function dataPlane(n: TestNode): Promise<{ kind: string; reason?: string }> {
  return waitFor(
    () => {
      const dp = info(n)?.node.dataPlane;
      return dp ? { done: true, value: dp } : { done: false, state: JSON.stringify(info(n) ?? 'no answer') };
    },
    { timeoutMs: 20_000, intervalMs: 200, what: `${n.name}'s data plane started` },
  );
}

beforeAll(() => {
  // The choice must come from the flag and the state directory only, not from this environment.
  delete process.env.SWARMCTL_DATA_PLANE;
  nodes = new SwarmNodes(27200, 'swarm-dp-choice-');
  node = nodes.node(0);
  ok(nodes.init(0, '--data-plane', 'userland'));
  nodeIds = [info(node)?.node.nodeId ?? ''];
}, 60_000);

afterAll(() => {
  stopCluster(nodes, nodeIds.filter(Boolean));
});

describe('data plane choice across a restart', () => {
  it('records userland at the first start and comes back with it when restarted without the flag', async () => {
    expect(await dataPlane(node)).toMatchObject({
      kind: 'userland',
      reason: 'chosen by --data-plane userland',
    });
    expect(JSON.parse(readFileSync(join(node.dir, 'data-plane.json'), 'utf8'))).toEqual({
      format: 1,
      dataPlane: 'userland',
    });
    const pid = nodes.pid(node);
    expect(pid).toBeDefined();
    process.kill(pid!, 'SIGTERM');
    await waitFor(
      () =>
        nodes.pid(node) === undefined ? { done: true, value: 0 } : { done: false, state: 'still running' },
      { timeoutMs: 20_000, intervalMs: 200, what: 'the node to stop' },
    );
    ok(node.cli('daemon', '-d', '--state-dir', node.dir, '--control-socket', node.socket));
    const after = await dataPlane(node);
    expect(info(node)?.node.pid).not.toBe(pid);
    expect(after).toMatchObject({
      kind: 'userland',
      reason: "chosen by the state directory's record (userland)",
    });
  }, 60_000);
});

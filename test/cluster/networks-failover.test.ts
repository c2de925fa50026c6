import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Network, Service } from '../../src/api/index.js';
import { waitFor } from '../../src/common/index.js';
import { nodeInfo as info, ok, startCluster } from '../harness/cluster-cli.js';
import { SwarmNodes, type TestNode } from '../harness/swarm-nodes.js';

/**
 * Allocations survive a leader change: three managers on loopback, the leader is SIGKILLed, and
 * the next leader's allocator, rebuilt from the replicated store, neither moves what was given
 * nor hands out an address, VNI, subnet or port that is taken. Services are constrained to no
 * node (allocation happens before scheduling; no container is started).
 */
let nodes: SwarmNodes;
const NOWHERE = ['--constraint', 'node.labels.nowhere==1'];

const inspect = <T>(n: TestNode, what: 'network' | 'service', ref: string): T =>
  (JSON.parse(ok(n.cli(what, 'inspect', ref))) as T[])[0]!;

async function vips(n: TestNode, ref: string, count: number): Promise<Service> {
  return waitFor(
    () => {
      const r = n.cli('service', 'inspect', ref);
      const s = r.status === 0 ? (JSON.parse(r.stdout) as Service[])[0]! : undefined;
      return s && s.status.endpoint?.virtualIps.length === count
        ? { done: true, value: s }
        : { done: false, state: r.stderr || JSON.stringify(s?.status.endpoint) };
    },
    { timeoutMs: 20_000, intervalMs: 100, what: `${count} VIPs for ${ref}` },
  );
}

beforeAll(() => {
  nodes = new SwarmNodes(25810, 'swarm-networks-ha-');
  startCluster(nodes, ['manager', 'manager']);
}, 180_000);

afterAll(() => {
  nodes?.teardown();
});

describe('allocations across a leader change', () => {
  it('keeps what was allocated and allocates around it on the next leader', async () => {
    const all = [0, 1, 2].map((i) => nodes.node(i));
    const ids = all.map((n) => info(n)!.node.nodeId);
    await waitFor(
      () => {
        const c = info(all[0]!)?.cluster;
        const reachable = c?.managers.filter((m) => m.reachability === 'reachable').length ?? 0;
        return c?.leader && reachable === 3
          ? { done: true, value: undefined }
          : { done: false, state: JSON.stringify(c) };
      },
      { timeoutMs: 30_000, intervalMs: 200, what: 'three reachable managers and a leader' },
    );
    const n0 = all[0]!;
    ok(n0.cli('network', 'create', 'front'));
    ok(
      n0.cli(
        'service',
        'create',
        '--detach',
        '--name',
        'web',
        '--replicas',
        '2',
        '--network',
        'front',
        '-p',
        '8080:80',
        ...NOWHERE,
        'swarmctl-test/web:v1',
      ),
    );
    const web = await vips(n0, 'web', 2);
    // Every node takes part in the ingress while a service publishes there.
    const ingressBefore = await waitFor(
      () => {
        const f = inspect<Network>(n0, 'network', 'ingress');
        return f.status.nodeAddrs?.length === 3
          ? { done: true, value: f }
          : { done: false, state: JSON.stringify(f.status) };
      },
      { timeoutMs: 20_000, intervalMs: 100, what: 'an address on ingress for each node' },
    );
    const front = inspect<Network>(n0, 'network', 'front');

    const leader = info(n0)!.cluster!.leader!;
    const dead = all[ids.indexOf(leader)]!;
    const alive = all.filter((n) => n !== dead);
    process.kill(nodes.pid(dead)!, 'SIGKILL');
    await waitFor(
      () => {
        const l = info(alive[0]!)?.cluster?.leader;
        return l && l !== leader ? { done: true, value: l } : { done: false, state: `leader ${l ?? 'none'}` };
      },
      { timeoutMs: 30_000, intervalMs: 100, what: 'a new leader' },
    );
    const n = alive[0]!;

    // What was allocated stays as it was.
    expect(inspect<Service>(n, 'service', 'web').status.endpoint).toEqual(web.status.endpoint);
    expect(inspect<Network>(n, 'network', 'front').status).toEqual(front.status);
    expect(inspect<Network>(n, 'network', 'ingress').status).toEqual(ingressBefore.status);
    expect(inspect<Network>(n, 'network', 'ingress').status).toEqual(ingressBefore.status);

    // New allocations go around the old ones.
    ok(
      n.cli(
        'service',
        'create',
        '--detach',
        '--name',
        'api',
        '--network',
        'front',
        ...NOWHERE,
        'swarmctl-test/web:v1',
      ),
    );
    const api = await vips(n, 'api', 1);
    const taken = [
      front.status.ipam!.configs[0]!.gateway,
      ...web.status.endpoint!.virtualIps.map((v) => v.addr),
    ];
    expect(taken).not.toContain(api.status.endpoint!.virtualIps[0]!.addr);
    ok(n.cli('network', 'create', 'second'));
    const second = inspect<Network>(n, 'network', 'second');
    const ingress = inspect<Network>(n, 'network', 'ingress');
    expect(second.status.ipam!.configs[0]!.subnet).toBe('10.0.2.0/24');
    expect(new Set([ingress, front, second].map((x) => x.status.vni)).size).toBe(3);
    const r = n.cli(
      'service',
      'create',
      '--detach',
      '--name',
      'web3',
      '-p',
      '8080:80',
      ...NOWHERE,
      'swarmctl-test/web:v1',
    );
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain(`port '8080' is already in use by service 'web'`);
  });
});

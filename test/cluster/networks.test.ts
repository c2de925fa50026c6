import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Network, Service } from '../../src/api/index.js';
import { waitFor } from '../../src/common/index.js';
import {
  fails,
  inspectNetwork as inspectNetworkOn,
  inspectService as inspectServiceOn,
  ok,
  startCluster,
  stopCluster,
} from '../harness/cluster-cli.js';
import { SwarmNodes, type TestNode } from '../harness/swarm-nodes.js';

/**
 * Networks and the allocator through the CLI on a real node process: the cluster is made with its
 * own address pool, networks are created, listed, inspected and removed, services get VIPs and
 * cluster-unique published ports. Services are constrained to no node: allocation happens before
 * scheduling, so their tasks hold addresses without a container being started (the data plane
 * has its own tests).
 */
let nodes: SwarmNodes;
let mgr: TestNode;
const NOWHERE = ['--constraint', 'node.labels.nowhere==1'];

const inspectNetwork = (ref: string): Network => inspectNetworkOn(mgr, ref);
const inspectService = (ref: string): Service => inspectServiceOn(mgr, ref);

/** The service once the allocator gave it a VIP on each of `count` networks. */
async function withVips(ref: string, count: number): Promise<Service> {
  return waitFor(
    () => {
      const s = inspectService(ref);
      return (s.status.endpoint?.virtualIps.length ?? 0) === count
        ? { done: true, value: s }
        : { done: false, state: JSON.stringify(s.status.endpoint) };
    },
    { timeoutMs: 10_000, intervalMs: 100, what: `${count} VIPs for ${ref}` },
  );
}

let nodeIds: string[] = [];

beforeAll(() => {
  nodes = new SwarmNodes(25800, 'swarm-networks-');
  nodeIds = startCluster(
    nodes,
    [],
    '--default-addr-pool',
    '10.96.0.0/16',
    '--default-addr-pool-mask-length',
    '24',
  );
  mgr = nodes.node(0);
}, 120_000);

afterAll(() => stopCluster(nodes, nodeIds));

describe('networks', () => {
  it('has an ingress network from the cluster pool, created at init', async () => {
    const ingress = await waitFor(
      () => {
        const r = mgr.cli('network', 'inspect', 'ingress');
        return r.status === 0
          ? { done: true, value: inspectNetwork('ingress') }
          : { done: false, state: r.stderr };
      },
      { timeoutMs: 10_000, intervalMs: 100, what: 'the ingress network' },
    );
    expect(ingress.spec.ingress).toBe(true);
    expect(ingress.status.ipam?.configs[0]).toEqual({ subnet: '10.96.0.0/24', gateway: '10.96.0.1' });
    expect(ingress.status.vni).toBe(4096);
  });

  it('creates, lists and inspects overlay networks, from the pool or with a given subnet', () => {
    const id = ok(mgr.cli('network', 'create', '-d', 'overlay', '--label', 'team=a', 'front')).trim();
    expect(id).toMatch(/^[0-9a-z]{25}$/);
    ok(
      mgr.cli(
        'network',
        'create',
        '--subnet',
        '10.50.0.0/24',
        '--gateway',
        '10.50.0.254',
        '--attachable',
        'back',
      ),
    );
    const front = inspectNetwork('front');
    expect(front).toMatchObject({
      id,
      spec: { name: 'front', labels: { team: 'a' }, driver: { name: 'overlay' } },
    });
    expect(front.status.ipam?.configs[0]).toEqual({ subnet: '10.96.1.0/24', gateway: '10.96.1.1' });
    const back = inspectNetwork(inspectNetwork('back').id.slice(0, 8));
    expect(back.spec.attachable).toBe(true);
    expect(back.status.ipam?.configs[0]).toEqual({ subnet: '10.50.0.0/24', gateway: '10.50.0.254' });
    expect(new Set([inspectNetwork('ingress'), front, back].map((n) => n.status.vni)).size).toBe(3);

    const ls = ok(mgr.cli('network', 'ls')).split('\n');
    expect(ls[0]).toMatch(/^NETWORK ID\s+NAME\s+DRIVER\s+SCOPE$/);
    expect(
      ls
        .slice(1)
        .filter(Boolean)
        .map((l) => l.split(/\s+/).slice(1).join(' ')),
    ).toEqual(['back overlay swarm', 'front overlay swarm', 'ingress overlay swarm']);
    expect(ls[2]!.startsWith(id.slice(0, 12))).toBe(true);
  });

  it('refuses bad input with the field and value, and leaves nothing behind', () => {
    expect(fails(mgr.cli('network', 'create', '-d', 'bridge', 'x'))).toContain('"bridge"');
    expect(fails(mgr.cli('network', 'create', '--subnet', '10.60.0.0', 'x'))).toContain('"10.60.0.0"');
    expect(
      fails(mgr.cli('network', 'create', '--subnet', '10.60.0.0/24', '--gateway', '10.61.0.1', 'x')),
    ).toMatch(/10\.61\.0\.1.*not inside subnet 10\.60\.0\.0\/24/);
    expect(fails(mgr.cli('network', 'create', '--subnet', '10.50.0.128/25', 'x'))).toContain(
      '10.50.0.128/25 overlaps 10.50.0.0/24 of network back',
    );
    expect(fails(mgr.cli('network', 'create', 'front'))).toContain('network with name front already exists');
    expect(fails(mgr.cli('network', 'inspect', 'nosuch'))).toMatch(/nosuch/);
    expect(
      ok(mgr.cli('network', 'ls', '-q'))
        .trim()
        .split('\n'),
    ).toHaveLength(3);
  });

  it('gives a service a VIP per network and its published port; a second service cannot take the port', async () => {
    ok(
      mgr.cli(
        'service',
        'create',
        '--detach',
        '--name',
        'web',
        '--network',
        'front',
        '--publish',
        '8080:80',
        ...NOWHERE,
        'swarmctl-test/web:v1',
      ),
    );
    const web = await withVips('web', 2);
    const front = inspectNetwork('front');
    const ingress = inspectNetwork('ingress');
    const vips = new Map(web.status.endpoint!.virtualIps.map((v) => [v.networkId, v.addr]));
    expect(vips.get(front.id)).toMatch(/^10\.96\.1\.\d+$/);
    expect(vips.get(ingress.id)).toMatch(/^10\.96\.0\.\d+$/);
    expect(web.spec.taskTemplate.networks).toEqual([{ target: front.id }]);
    expect(web.status.endpoint!.ports).toEqual([
      { protocol: 'tcp', targetPort: 80, publishedPort: 8080, publishMode: 'ingress' },
    ]);

    const err = fails(
      mgr.cli(
        'service',
        'create',
        '--detach',
        '--name',
        'web2',
        '-p',
        '8080:81',
        ...NOWHERE,
        'swarmctl-test/web:v1',
      ),
    );
    expect(err).toContain(`port '8080' is already in use by service 'web' (${web.id}) as an ingress port`);
    expect(mgr.cli('service', 'inspect', 'web2').status).not.toBe(0);

    const dnsrr = fails(
      mgr.cli(
        'service',
        'create',
        '--detach',
        '--name',
        'rr',
        '--endpoint-mode',
        'dnsrr',
        '-p',
        '9090:80',
        'swarmctl-test/web:v1',
      ),
    );
    expect(dnsrr).toMatch(/ingress mode can(no|')t be used with dnsrr mode/);
    expect(
      fails(
        mgr.cli(
          'service',
          'create',
          '--detach',
          '--name',
          'x',
          '--network',
          'nosuch',
          'swarmctl-test/web:v1',
        ),
      ),
    ).toContain('network nosuch not found');
  });

  it('picks a port from 30000-32767 when none is given', async () => {
    ok(
      mgr.cli(
        'service',
        'create',
        '--detach',
        '--name',
        'auto',
        '--publish',
        'target=80',
        ...NOWHERE,
        'swarmctl-test/web:v1',
      ),
    );
    const auto = await withVips('auto', 1);
    const port = auto.status.endpoint!.ports[0]!.publishedPort;
    expect(port).toBeGreaterThanOrEqual(30000);
    expect(port).toBeLessThanOrEqual(32767);
  });

  it('refuses to remove a network in use, and the ingress network while services publish', () => {
    const web = inspectService('web');
    expect(fails(mgr.cli('network', 'rm', 'front'))).toContain(
      `network front is in use by service ${web.id}`,
    );
    expect(fails(mgr.cli('network', 'rm', 'ingress'))).toContain(
      'ingress network cannot be removed because service',
    );
  });

  it('releases everything when services go: ports are reusable and networks removable', async () => {
    const port = inspectService('auto').status.endpoint!.ports[0]!.publishedPort;
    ok(mgr.cli('service', 'rm', 'web', 'auto'));
    ok(
      mgr.cli(
        'service',
        'create',
        '--detach',
        '--name',
        'web2',
        '-p',
        '8080:81',
        '-p',
        `${port}:82`,
        ...NOWHERE,
        'swarmctl-test/web:v1',
      ),
    );
    const web2 = await withVips('web2', 1);
    expect(web2.status.endpoint!.ports.map((p) => p.publishedPort)).toEqual([8080, port]);
    // The removed services' tasks hold addresses until they are gone.
    await waitFor(
      () => {
        const r = mgr.cli('network', 'rm', 'front');
        return r.status === 0 ? { done: true, value: undefined } : { done: false, state: r.stderr };
      },
      { timeoutMs: 20_000, intervalMs: 200, what: 'front removable' },
    );
    ok(mgr.cli('network', 'rm', 'back'));
    ok(mgr.cli('service', 'rm', 'web2'));
    expect(
      ok(mgr.cli('network', 'ls', '-q'))
        .trim()
        .split('\n'),
    ).toHaveLength(1);
    // Its subnet is free again.
    ok(mgr.cli('network', 'create', 'again'));
    expect(inspectNetwork('again').status.ipam?.configs[0]?.subnet).toBe('10.96.1.0/24');
  });

  it('still runs tasks that attach to no network (the allocator passes them to the scheduler)', async () => {
    ok(mgr.cli('service', 'create', '--detach', '--name', 'plain', 'swarmctl-test/web:v1'));
    await waitFor(
      () => {
        const ls = ok(mgr.cli('service', 'ls'));
        return /plain\s+replicated\s+1\/1/.test(ls)
          ? { done: true, value: undefined }
          : { done: false, state: ls };
      },
      { timeoutMs: 60_000, intervalMs: 250, what: 'plain 1/1' },
    );
    ok(mgr.cli('service', 'rm', 'plain'));
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlService, type Network, type Service, type Task } from '../../src/api/index.js';
import { waitFor } from '../../src/common/index.js';
import { ChannelCredentials, createClient } from '../../src/rpc/index.js';
import {
  fails,
  inspectNetwork as inspectNetworkOn,
  inspectService as inspectServiceOn,
  ok,
} from '../harness/cluster-cli.js';
import { SwarmNodes, type TestNode } from '../harness/swarm-nodes.js';

/**
 * `service update --publish-add/--publish-rm/--network-add/--network-rm` on a real node process:
 * the manager re-resolves the endpoint in the update's transaction (a taken port refuses the
 * whole update), the allocator adds and drops VIPs, and the updater replaces the tasks with ones
 * holding addresses on the new set of networks. Services are constrained to no node: allocation
 * happens before scheduling (the data plane has its own tests), so tasks stay pending.
 */
let nodes: SwarmNodes;
let mgr: TestNode;
const NOWHERE = ['--constraint', 'node.labels.nowhere==1'];

const inspectNetwork = (ref: string): Network => inspectNetworkOn(mgr, ref);
const inspectService = (ref: string): Service => inspectServiceOn(mgr, ref);

function vipsOf(s: Service): Map<string, string> {
  return new Map((s.status.endpoint?.virtualIps ?? []).map((v) => [v.networkId, v.addr]));
}

/** The service once its VIPs are on exactly `networkIds`. */
async function vipsOn(ref: string, networkIds: readonly string[]): Promise<Service> {
  const want = [...networkIds].sort().join(',');
  return waitFor(
    () => {
      const s = inspectService(ref);
      const have = [...vipsOf(s).keys()].sort().join(',');
      return have === want ? { done: true, value: s } : { done: false, state: have };
    },
    { timeoutMs: 10_000, intervalMs: 100, what: `VIPs of ${ref} on ${want}` },
  );
}

/** The service's one task desired running, once it holds addresses on exactly `networkIds`. */
async function taskOn(serviceId: string, networkIds: readonly string[]): Promise<Task> {
  const want = [...networkIds].sort().join(',');
  const control = createClient(ControlService, `unix://${mgr.socket}`, ChannelCredentials.createInsecure());
  try {
    return await waitFor(
      async () => {
        const { tasks } = await control.call.ListTasks({ serviceIds: [serviceId] });
        const live = tasks.filter((t) => t.desiredState === 'running');
        const have = live.map((t) =>
          (t.networks ?? [])
            .map((n) => n.networkId)
            .sort()
            .join(','),
        );
        return live.length === 1 && have[0] === want
          ? { done: true, value: live[0]! }
          : { done: false, state: JSON.stringify(have) };
      },
      { timeoutMs: 20_000, intervalMs: 200, what: `a task of ${serviceId} on ${want}` },
    );
  } finally {
    control.close();
  }
}

beforeAll(() => {
  nodes = new SwarmNodes(26300, 'swarm-netupd-');
  ok(nodes.init(0, '--default-addr-pool', '10.98.0.0/16', '--default-addr-pool-mask-length', '24'));
  mgr = nodes.node(0);
  ok(mgr.cli('network', 'create', 'front'));
  ok(mgr.cli('network', 'create', 'back'));
}, 120_000);

afterAll(() => {
  nodes?.teardown();
});

describe('service update of ports and networks', () => {
  it('--publish-add gives the service a port and an ingress VIP', async () => {
    ok(
      mgr.cli(
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
    ok(
      mgr.cli(
        'service',
        'create',
        '--detach',
        '--name',
        'other',
        '-p',
        '9300:80',
        ...NOWHERE,
        'swarmctl-test/web:v1',
      ),
    );
    const front = inspectNetwork('front').id;
    const ingress = inspectNetwork('ingress').id;
    await vipsOn('api', [front]);
    const before = await taskOn(inspectService('api').id, [front]);

    ok(
      mgr.cli(
        'service',
        'update',
        '--detach',
        '--publish-add',
        '9301:80',
        '--publish-add',
        'published=9302,target=53,protocol=udp',
        'api',
      ),
    );
    const api = await vipsOn('api', [front, ingress]);
    expect(api.status.endpoint?.ports).toEqual([
      { protocol: 'tcp', targetPort: 80, publishedPort: 9301, publishMode: 'ingress' },
      { protocol: 'udp', targetPort: 53, publishedPort: 9302, publishMode: 'ingress' },
    ]);
    // The endpoint changed: the task is replaced by one attached to ingress too.
    const after = await taskOn(api.id, [front, ingress]);
    expect(after.id).not.toBe(before.id);
  });

  it('refuses a port another service has, and leaves the spec unchanged', () => {
    const before = inspectService('api');
    const err = fails(mgr.cli('service', 'update', '--detach', '--publish-add', '9300:81', 'api'));
    const other = inspectService('other');
    expect(err).toContain(
      `port '9300' is already in use by service 'other' (${other.id}) as an ingress port`,
    );
    const after = inspectService('api');
    expect(after.specVersion).toBe(before.specVersion);
    expect(after.spec).toEqual(before.spec);
    expect(after.status.endpoint?.ports).toEqual(before.status.endpoint?.ports);
  });

  it('--publish-rm (by target port) frees the port for another service', async () => {
    ok(mgr.cli('service', 'update', '--detach', '--publish-rm', '80', 'api'));
    const api = inspectService('api');
    expect(api.spec.endpointSpec?.ports, JSON.stringify(api)).toEqual([
      { protocol: 'udp', targetPort: 53, publishedPort: 9302, publishMode: 'ingress' },
    ]);
    expect(api.status.endpoint?.ports.map((p) => p.publishedPort)).toEqual([9302]);
    ok(mgr.cli('service', 'update', '--detach', '--publish-add', '9301:82', 'other'));
    expect(inspectService('other').status.endpoint?.ports.map((p) => p.publishedPort)).toEqual([9300, 9301]);
    // Removing the last port drops the ingress VIP.
    ok(mgr.cli('service', 'update', '--detach', '--publish-rm', '53/udp', 'api'));
    await vipsOn('api', [inspectNetwork('front').id]);
  });

  it('--network-add gives a VIP on the new network and tasks with an address there', async () => {
    const front = inspectNetwork('front').id;
    const back = inspectNetwork('back');
    ok(mgr.cli('service', 'update', '--detach', '--network-add', 'back', 'api'));
    const api = await vipsOn('api', [front, back.id]);
    expect(api.spec.taskTemplate.networks?.map((n) => n.target).sort()).toEqual([front, back.id].sort());
    expect(vipsOf(api).get(back.id)).toMatch(/^10\.98\.2\.\d+$/);
    const task = await taskOn(api.id, [front, back.id]);
    const onBack = task.networks?.find((n) => n.networkId === back.id);
    expect(onBack?.addresses[0]).toMatch(/^10\.98\.2\.\d+\/24$/);

    expect(fails(mgr.cli('service', 'update', '--detach', '--network-add', back.id, 'api'))).toContain(
      'already attached to network',
    );
    expect(fails(mgr.cli('service', 'update', '--detach', '--network-add', 'nosuch', 'api'))).toContain(
      'network nosuch not found',
    );
    // By name too: the CLI resolves names against the cluster's networks, as docker does.
    expect(fails(mgr.cli('service', 'update', '--detach', '--network-add', 'back', 'api'))).toContain(
      'service is already attached to network back',
    );
    expect(inspectService('api').specVersion).toBe(api.specVersion);
  });

  it('refuses an ingress port on a dnsrr service; a host-mode one is taken', () => {
    ok(
      mgr.cli(
        'service',
        'create',
        '--detach',
        '--name',
        'rr',
        '--endpoint-mode',
        'dnsrr',
        ...NOWHERE,
        'swarmctl-test/web:v1',
      ),
    );
    const before = inspectService('rr');
    expect(fails(mgr.cli('service', 'update', '--detach', '--publish-add', '9400:80', 'rr'))).toMatch(
      /ingress mode can(no|')t be used with dnsrr mode/,
    );
    expect(inspectService('rr').specVersion).toBe(before.specVersion);
    ok(mgr.cli('service', 'update', '--detach', '--publish-add', 'published=9400,target=80,mode=host', 'rr'));
    expect(inspectService('rr').spec.endpointSpec).toEqual({
      mode: 'dnsrr',
      ports: [{ protocol: 'tcp', targetPort: 80, publishedPort: 9400, publishMode: 'host' }],
    });
    ok(mgr.cli('service', 'rm', 'rr'));
  });

  it('--network-rm removes the VIP and the attachment; the network goes once the old tasks do', async () => {
    const front = inspectNetwork('front').id;
    expect(fails(mgr.cli('service', 'update', '--detach', '--network-rm', 'nosuch', 'api'))).toContain(
      '"--network-rm"',
    );
    ok(mgr.cli('service', 'update', '--detach', '--network-rm', 'back', 'api'));
    const api = await vipsOn('api', [front]);
    expect(api.spec.taskTemplate.networks).toEqual([{ target: front }]);
    await taskOn(api.id, [front]);
    // The replaced tasks never ran (no node fits), so they stay pending with their addresses on
    // back until they are deleted: the network is refused until then, and free after.
    expect(fails(mgr.cli('network', 'rm', 'back'))).toContain('network back is in use by task');
    ok(mgr.cli('service', 'rm', 'api'));
    await waitFor(
      () => {
        const r = mgr.cli('network', 'rm', 'back');
        return r.status === 0 ? { done: true, value: undefined } : { done: false, state: r.stderr };
      },
      { timeoutMs: 20_000, intervalMs: 200, what: 'back removable' },
    );
  });
});

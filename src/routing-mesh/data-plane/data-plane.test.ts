import { describe, expect, it } from 'vitest';
import type { MeshState, NetworkId, NodeId, PortConfig, ServiceId, Task, TaskId } from '../../api/index.js';
import { ManualClock, noopLogger, waitFor } from '../../common/index.js';
import type { CommandRunner } from './command-runner.js';
import { CONVERGE_RETRY_MS, KernelDataPlane } from './data-plane.js';
import type { EngineNetwork, NetworkEngine } from './docker-networks.js';
import { planMesh } from './plan.js';

const ING = 'net-ingress' as NetworkId;
const N1 = 'node1' as NodeId;
const N2 = 'node2' as NodeId;
const N3 = 'node3' as NodeId;

function state(
  revision: number,
  backends: { task: string; node: NodeId; addr: string }[],
  nodes = [N1, N2, N3],
): MeshState {
  return {
    revision,
    networks: [
      {
        id: ING,
        name: 'ingress',
        vni: 4096,
        subnet: '10.0.0.0/24',
        gateway: '10.0.0.1',
        ingress: true,
        attachable: false,
      },
    ],
    nodes: nodes.map((n, i) => ({
      nodeId: n,
      addr: `192.168.1.${11 + i}`,
      networkAddrs: [{ networkId: ING, addr: `10.0.0.${2 + i}/24` }],
    })),
    services: [
      {
        id: 'svc1' as ServiceId,
        name: 'web',
        endpointMode: 'vip',
        vips: [{ networkId: ING, addr: '10.0.0.100' }],
        ports: [
          { protocol: 'tcp', targetPort: 80, publishedPort: 8080, publishMode: 'ingress' },
          { protocol: 'udp', targetPort: 7, publishedPort: 7007, publishMode: 'ingress' },
          { protocol: 'tcp', targetPort: 81, publishedPort: 9090, publishMode: 'host' },
        ],
        backends: backends.map((b) => ({
          taskId: b.task as TaskId,
          taskName: `web.1.${b.task}`,
          nodeId: b.node,
          addrs: [{ networkId: ING, addr: `${b.addr}/24` }],
        })),
      },
    ],
  };
}

class Recorder {
  readonly calls: string[] = [];
  /** stdout by command line; anything else answers nothing. */
  readonly answers = new Map<string, string>();
  readonly run: CommandRunner = async (argv, input) => {
    this.calls.push(input ? `${argv.join(' ')} <<${input}` : argv.join(' '));
    return {
      code: argv[0] === 'iptables' && (argv[1] === '-C' || argv[1] === '-D') ? 1 : 0,
      stdout: this.answers.get(argv.join(' ')) ?? '',
      stderr: '',
    };
  };
  take(): string[] {
    return this.calls.splice(0);
  }
}

class FakeEngine implements NetworkEngine {
  readonly nets = new Map<string, EngineNetwork>();
  async listOurs(): Promise<EngineNetwork[]> {
    return [...this.nets.values()];
  }
  async create(p: Parameters<NetworkEngine['create']>[0]): Promise<void> {
    this.nets.set(p.dockerName, {
      id: p.dockerName,
      name: p.dockerName,
      subnet: p.subnet,
      gateway: p.localAddr,
      bridge: p.bridge,
    });
  }
  async remove(name: string): Promise<void> {
    this.nets.delete(name);
  }
}

describe('planMesh', () => {
  it('gives each node its own bridge address and the other nodes as VXLAN peers', () => {
    const p = planMesh(N2, state(1, []));
    expect(p.networks).toEqual([
      expect.objectContaining({
        localAddr: '10.0.0.3',
        bridge: 'swmb4096',
        vxlan: 'swmv4096',
        dockerName: 'swarmctl-ingress',
        peers: ['192.168.1.11', '192.168.1.13'],
      }),
    ]);
  });

  it('DNATs each ingress port over every backend, masquerading only towards remote ones', () => {
    const p = planMesh(
      N1,
      state(1, [
        { task: 't2', node: N2, addr: '10.0.0.12' },
        { task: 't1', node: N1, addr: '10.0.0.11' },
      ]),
    );
    const chains = Object.fromEntries(p.rules?.chains ?? []);
    expect(chains).toEqual({
      'svc-svc1': [
        'tcp dport 8080 ct mark set ct mark | 0x10000000 dnat to numgen random mod 2 map { 0 : 10.0.0.11, 1 : 10.0.0.12 } : 80',
        // What the DNAT let through is dropped, never delivered to the node's own stack.
        'tcp dport 8080 drop',
        'udp dport 7007 ct mark set ct mark | 0x10000000 dnat to numgen random mod 2 map { 0 : 10.0.0.11, 1 : 10.0.0.12 } : 7',
        'udp dport 7007 drop',
      ],
      published: ['tcp dport 8080 jump svc-svc1', 'udp dport 7007 jump svc-svc1'],
      'return-mark': [],
      'to-overlay': [
        'ct mark & 0x10000000 == 0x10000000 oifname "swmb4096" ip daddr != { 10.0.0.11 } masquerade',
        'ct mark & 0x10000000 == 0x10000000 ct status dnat oifname "swmb4096" meta l4proto { tcp, udp } snat to ip saddr : 1024-22527',
      ],
    });
  });

  it('refuses connections to a published port with no backend instead of leaving it to the host', () => {
    const chains = planMesh(N1, state(1, [])).rules?.chains;
    expect(chains?.get('svc-svc1')).toEqual([
      'tcp dport 8080 reject with tcp reset',
      'udp dport 7007 reject',
    ]);
  });

  it('plans nothing for a node the state does not list', () => {
    expect(planMesh('other' as NodeId, state(1, []))).toEqual({
      localAddr: undefined,
      networks: [],
      rules: undefined,
      returnRoutes: [],
    });
  });
});

describe('planMesh keeping the client address', () => {
  it('does not masquerade; replies of connections from another node go back through it', () => {
    const p = planMesh(N1, state(1, [{ task: 't2', node: N2, addr: '10.0.0.12' }]), { keepSourceIp: true });
    expect(p.returnRoutes).toEqual([
      { mark: 3, via: '10.0.0.3', mac: '02:53:0a:00:00:03', dev: 'swmb4096' },
      { mark: 4, via: '10.0.0.4', mac: '02:53:0a:00:00:04', dev: 'swmb4096' },
    ]);
    expect(p.networks[0]?.mac).toBe('02:53:0a:00:00:02');
    expect(p.rules?.chains.get('to-overlay')).toEqual([
      'ct mark & 0x10000000 == 0x10000000 oifname "swmb4096" ip saddr { 192.168.1.11, 192.168.1.12, 192.168.1.13 } masquerade',
      'ct mark & 0x10000000 == 0x10000000 ct status dnat oifname "swmb4096" meta l4proto { tcp, udp } snat to ip saddr : 1024-22527',
    ]);
    expect(p.rules?.chains.get('return-mark')).toEqual([
      'iifname "swmb4096" ct state new ct mark set ether saddr map { 02:53:0a:00:00:03 : 0x10000003, 02:53:0a:00:00:04 : 0x10000004 }',
      'ct direction reply ct mark & 0x0000ffff != 0 meta mark set ct mark & 0x0000ffff',
    ]);
  });
});

describe('planMesh client port shares', () => {
  it('maps only connections this node DNATed, not those bridged in from another node', () => {
    const p = planMesh(N1, state(1, [{ task: 't1', node: N1, addr: '10.0.0.11' }]), { keepSourceIp: true });
    // `return-mark` gives a connection bridged in from another node the mesh bit as well (it comes
    // with that node's port already): a port-mapping rule must not take it on the mesh bit alone.
    expect(p.rules?.chains.get('return-mark')?.[0]).toContain('ct mark set ether saddr map');
    const mapping = (p.rules?.chains.get('to-overlay') ?? []).filter((r) => r.includes('snat to ip saddr :'));
    expect(mapping).toHaveLength(1);
    for (const rule of mapping) expect(rule).toMatch(/^ct mark & 0x10000000 == 0x10000000 ct status dnat /);
  });
});

describe('KernelDataPlane', () => {
  async function started(): Promise<{
    dp: KernelDataPlane;
    rec: Recorder;
    engine: FakeEngine;
    stop: () => Promise<void>;
  }> {
    const rec = new Recorder();
    const engine = new FakeEngine();
    const dp = new KernelDataPlane({ nodeId: N1, run: rec.run, engine, logger: noopLogger });
    const ac = new AbortController();
    const done = dp.run(ac.signal);
    return {
      dp,
      rec,
      engine,
      stop: async () => {
        ac.abort();
        await done;
      },
    };
  }
  let converges = 0;
  async function apply(dp: KernelDataPlane, s: MeshState): Promise<void> {
    const before = converges;
    const sub = dp.onDidConverge(() => converges++);
    dp.update(s);
    await waitFor(
      () => (converges > before ? { done: true, value: 0 } : { done: false, state: 'not converged' }),
      { timeoutMs: 2000, intervalMs: 5 },
    );
    sub.dispose();
  }

  it('builds network, VXLAN, fdb and table once; the same state again runs nothing; a backend change rewrites one chain', async () => {
    const { dp, rec, engine, stop } = await started();
    await apply(dp, state(1, [{ task: 't1', node: N1, addr: '10.0.0.11' }]));
    const first = rec.take();
    expect(engine.nets.get('swarmctl-ingress')).toMatchObject({
      subnet: '10.0.0.0/24',
      gateway: '10.0.0.2',
      bridge: 'swmb4096',
    });
    expect(first).toContain(
      'ip link add swmv4096 type vxlan id 4096 dstport 4789 local 192.168.1.11 nolearning',
    );
    expect(first).toContain('ip link set swmv4096 mtu 1450 master swmb4096 up');
    expect(first).toContain('bridge fdb append 00:00:00:00:00:00 dev swmv4096 dst 192.168.1.12');
    expect(first).toContain('bridge fdb append 00:00:00:00:00:00 dev swmv4096 dst 192.168.1.13');
    expect(first).toContain(
      'iptables -I FORWARD 1 -m connmark --mark 0x10000000/0x10000000 -m comment --comment swarmctl-mesh -j ACCEPT',
    );
    expect(first.some((c) => c.startsWith('nft -f - <<table ip swarmctl-mesh {}\ndelete table'))).toBe(true);

    await apply(dp, state(2, [{ task: 't1', node: N1, addr: '10.0.0.11' }]));
    expect(rec.take()).toEqual([]);

    await apply(
      dp,
      state(3, [
        { task: 't1', node: N1, addr: '10.0.0.11' },
        { task: 't2', node: N2, addr: '10.0.0.12' },
      ]),
    );
    const change = rec.take();
    expect(change).toHaveLength(1);
    expect(change[0]).toContain(
      'flush chain ip swarmctl-mesh svc-svc1\nadd rule ip swarmctl-mesh svc-svc1 tcp dport 8080',
    );
    expect(change[0]).not.toContain('to-overlay');
    expect(change[0]).not.toContain('published');

    // Node 3 goes down: its fdb entry goes, and the client-port shares are split over two nodes.
    await apply(
      dp,
      state(
        4,
        [
          { task: 't1', node: N1, addr: '10.0.0.11' },
          { task: 't2', node: N2, addr: '10.0.0.12' },
        ],
        [N1, N2],
      ),
    );
    expect(rec.take()).toEqual([
      'bridge fdb del 00:00:00:00:00:00 dev swmv4096 dst 192.168.1.13',
      'nft -f - <<flush chain ip swarmctl-mesh to-overlay\n' +
        'add rule ip swarmctl-mesh to-overlay ct mark & 0x10000000 == 0x10000000 oifname "swmb4096" ip daddr != { 10.0.0.11 } masquerade\n' +
        'add rule ip swarmctl-mesh to-overlay ct mark & 0x10000000 == 0x10000000 ct status dnat oifname "swmb4096" meta l4proto { tcp, udp } snat to ip saddr : 1024-33279\n',
    ]);

    await stop();
    const down = rec.take();
    expect(down).toContain('ip link del swmv4096');
    expect(down.some((c) => c.includes('delete table ip swarmctl-mesh'))).toBe(true);
    expect(engine.nets.size).toBe(0);
  });

  it("readies a started task's namespace on the ingress, and leaves one with a host-mode UDP port as Docker made it", async () => {
    const { dp, rec, stop } = await started();
    await apply(dp, state(1, [{ task: 't1', node: N1, addr: '10.0.0.11' }]));
    rec.take();
    const task = (ports: PortConfig[]): Task =>
      ({
        id: 't1' as TaskId,
        networks: [{ networkId: ING, addresses: ['10.0.0.11/24'] }],
        endpoint: { spec: { mode: 'vip' }, ports, virtualIps: [] },
      }) as Partial<Task> as Task;
    const ingressPort: PortConfig = {
      protocol: 'tcp',
      targetPort: 80,
      publishedPort: 8080,
      publishMode: 'ingress',
    };
    await dp.prepareContainer(4242, task([ingressPort]));
    // The fake `ip -j route show default` answers nothing: no default route, nothing more to do.
    expect(rec.take()).toEqual(['nsenter --net=/proc/4242/ns/net ip -j route show default']);
    await dp.prepareContainer(
      4242,
      task([ingressPort, { protocol: 'udp', targetPort: 53, publishedPort: 53, publishMode: 'host' }]),
    );
    expect(rec.take()).toEqual(['nsenter --net=/proc/4242/ns/net ip -j route show default']);
    await stop();
  });

  it("makes strict reverse-path filtering loose on the bridge of tasks' default routes, once, and puts it back at stop", async () => {
    const { dp, rec, stop } = await started();
    await apply(dp, state(1, [{ task: 't1', node: N1, addr: '10.0.0.11' }]));
    rec.take();
    const inNs = 'nsenter --net=/proc/4242/ns/net';
    rec.answers.set(
      `${inNs} ip -j route show default`,
      '[{"dst":"default","gateway":"10.214.1.1","dev":"eth0"}]',
    );
    rec.answers.set('ip -j -4 addr show to 10.214.1.1', '[{"ifname":"docker0"}]');
    rec.answers.set('sysctl -n net/ipv4/conf/all/rp_filter', '1\n');
    rec.answers.set('sysctl -n net/ipv4/conf/docker0/rp_filter', '0\n');
    rec.answers.set(`${inNs} sysctl -n net.ipv4.conf.all.rp_filter`, '0\n');
    const task = (ports: PortConfig[]): Task =>
      ({
        id: 't1' as TaskId,
        networks: [{ networkId: ING, addresses: ['10.0.0.11/24'] }],
        endpoint: { spec: { mode: 'vip' }, ports, virtualIps: [] },
      }) as Partial<Task> as Task;
    // A host-mode UDP port keeps Docker's route source, but its TCP through the ingress still
    // answers by the bridge: the bridge is loosened for it too.
    await dp.prepareContainer(
      4242,
      task([{ protocol: 'udp', targetPort: 53, publishedPort: 53, publishMode: 'host' }]),
    );
    expect(rec.take()).toEqual([
      `${inNs} ip -j route show default`,
      'ip -j -4 addr show to 10.214.1.1',
      'sysctl -n net/ipv4/conf/all/rp_filter',
      'sysctl -n net/ipv4/conf/docker0/rp_filter',
      'sysctl -q -w net/ipv4/conf/docker0/rp_filter=2',
    ]);
    rec.answers.set('sysctl -n net/ipv4/conf/docker0/rp_filter', '2\n');
    await dp.prepareContainer(4242, task([]));
    expect(rec.take()).toEqual([
      `${inNs} ip -j route show default`,
      'ip -j -4 addr show to 10.214.1.1',
      'sysctl -n net/ipv4/conf/all/rp_filter',
      'sysctl -n net/ipv4/conf/docker0/rp_filter',
      `${inNs} ip route replace default via 10.214.1.1 dev eth0 src 10.0.0.11`,
      `${inNs} sysctl -n net.ipv4.conf.all.rp_filter`,
    ]);
    await stop();
    expect(rec.take()).toContain('sysctl -q -w net/ipv4/conf/docker0/rp_filter=0');
  });

  it('retries a failed convergence on a timer, without waiting for another state', async () => {
    const rec = new Recorder();
    let failNft = true;
    const run: CommandRunner = async (argv, input) => {
      if (argv[0] === 'nft' && input?.includes('table ip swarmctl-mesh') && failNft) {
        return { code: 1, stdout: '', stderr: 'Error: Could not process rule: Device or resource busy' };
      }
      return rec.run(argv, input);
    };
    const clock = new ManualClock();
    const dp = new KernelDataPlane({ nodeId: N1, run, engine: new FakeEngine(), logger: noopLogger, clock });
    const ac = new AbortController();
    const done = dp.run(ac.signal);
    await apply(dp, state(1, [{ task: 't1', node: N1, addr: '10.0.0.11' }]));
    expect(rec.take().some((c) => c.startsWith('nft -f - <<table ip swarmctl-mesh'))).toBe(false);
    failNft = false;
    const before = converges;
    const sub = dp.onDidConverge(() => converges++);
    clock.advance(CONVERGE_RETRY_MS);
    await waitFor(
      () => (converges > before ? { done: true, value: 0 } : { done: false, state: 'no retry yet' }),
      { timeoutMs: 2000, intervalMs: 5, what: 'the retry' },
    );
    sub.dispose();
    expect(rec.take().some((c) => c.startsWith('nft -f - <<table ip swarmctl-mesh'))).toBe(true);
    ac.abort();
    await done;
  });

  it('withdraws a local backend before the leader does', async () => {
    const { dp, rec, stop } = await started();
    await apply(
      dp,
      state(1, [
        { task: 't1', node: N1, addr: '10.0.0.11' },
        { task: 't2', node: N1, addr: '10.0.0.12' },
      ]),
    );
    rec.take();
    await dp.withdraw('t2' as TaskId);
    const change = rec.take().join('\n');
    expect(change).toContain('numgen random mod 1 map { 0 : 10.0.0.11 } : 80');
    await stop();
  });
});

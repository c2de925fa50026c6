import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../src/common/index.js';
import { Lab } from '../harness/lab.js';
import { containerPid, findKey, peerRequests, startPeerServer } from '../harness/lab-peers.js';
import { LabSwarm } from '../harness/lab-swarm.js';
import { ensureBuilt } from '../harness/swarm-nodes.js';

/**
 * Service discovery, UDP and the client's address through a real swarmctl cluster on three lab
 * hosts (issue 7, points 3, 5, 6 and 7). Queries are made from inside a container of service A
 * (docker exec on its engine, busybox nslookup and nc of the test images). The test images have
 * no UDP server and do not report the peer's address, so the `peer` service's tasks get a small
 * node server in their network namespace (as in mesh-lab.test.ts): TCP 9000 and UDP 9053 answer
 * with the container's hostname and the peer's address.
 */
const PREFIX = 'swld';
const SUBNET = '10.213.10';
const IMAGE = 'swarmctl-test/web:v1';
const HOSTS = [1, 2, 3] as const;

let lab: Lab;
let swarm: LabSwarm;
const servers: ChildProcess[] = [];

const cli = (n: number, ...args: string[]): Promise<string> => swarm.cli(n, ...args);

interface Container {
  host: number;
  id: string;
  hostname: string;
  /** Address on the user overlay. */
  addr: string;
}

/** The running containers of a service on every host, with their address on appnet. */
async function containers(service: string): Promise<Container[]> {
  const out: Container[] = [];
  for (const host of HOSTS) {
    const ids = (
      await lab.dockerCli(host, ['ps', '-q', '--filter', `label=com.docker.swarm.service.name=${service}`])
    ).stdout
      .trim()
      .split('\n')
      .filter(Boolean);
    for (const id of ids) {
      const r = await lab.dockerCli(host, [
        'inspect',
        '-f',
        '{{.Config.Hostname}} {{range $k, $v := .NetworkSettings.Networks}}{{$k}}={{$v.IPAddress}} {{end}}',
        id,
      ]);
      const [hostname, ...nets] = r.stdout.trim().split(' ');
      const app = nets.find((n) => n.includes('appnet'))?.split('=')[1];
      out.push({ host, id, hostname: hostname ?? '', addr: app ?? '' });
    }
  }
  return out;
}

async function runningSpread(service: string, count: number, onAppnet = true): Promise<Container[]> {
  return waitFor(
    async () => {
      const cs = await containers(service);
      const hosts = new Set(cs.map((c) => c.host));
      return cs.length === count && hosts.size === Math.min(count, 3) && cs.every((c) => c.addr || !onAppnet)
        ? { done: true, value: cs }
        : { done: false, state: cs.map((c) => `${c.host}:${c.addr}`).join(', ') };
    },
    { timeoutMs: 90_000, intervalMs: 300, what: `${count} tasks of ${service} spread over the hosts` },
  );
}

/** Runs a command in a container; stdout (or stderr when empty). */
async function inContainer(c: Container, argv: string[]): Promise<string> {
  const r = await lab.dockerCli(c.host, ['exec', c.id, ...argv], { allowFailure: true, timeoutMs: 15_000 });
  return r.stdout.trim() || r.stderr.trim();
}

/** The A answers of busybox nslookup (its first "Address" is the resolver's own). */
function addresses(nslookup: string): string[] {
  const lines = nslookup.split('\n');
  const start = lines.findIndex((l) => /^Name:/.test(l));
  if (start < 0) return [];
  return lines
    .slice(start)
    .flatMap((l) => [...l.matchAll(/Address(?: \d+)?:\s+(\d+\.\d+\.\d+\.\d+)/g)].map((m) => m[1] as string));
}

/** Waits until `name` resolves in `c` to exactly `want` (sorted); returns ms taken. */
async function resolvesTo(
  c: Container,
  name: string,
  want: readonly string[],
  timeoutMs = 30_000,
): Promise<number> {
  const started = performance.now();
  const sorted = [...want].sort();
  await waitFor(
    async () => {
      const got = addresses(await inContainer(c, ['nslookup', name])).sort();
      return got.join(',') === sorted.join(',')
        ? { done: true, value: 0 }
        : { done: false, state: `${name} -> ${got.join(',') || 'nothing'} (want ${sorted.join(',')})` };
    },
    { timeoutMs, intervalMs: 20, what: `${name} from ${c.hostname}` },
  );
  return performance.now() - started;
}

const fromRoot = (proto: 'tcp' | 'udp', target: string, port: number, count: number): Promise<string[]> =>
  peerRequests(lab, 0, { proto, target, port, count });

beforeAll(async () => {
  ensureBuilt();
  // Strict reverse-path filtering on every host, as some distributions ship: the client
  // address paths below must hold under it (a task's replies enter its node by Docker's bridge).
  lab = await Lab.up({ hosts: 3, prefix: PREFIX, subnet: SUBNET, images: [IMAGE], rpFilter: 1 });
  swarm = new LabSwarm(lab);
  await swarm.init(1);
  for (const n of [2, 3]) await swarm.join(n, 'worker');
}, 240_000);

afterAll(async () => {
  for (const s of servers) s.kill('SIGKILL');
  await lab?.teardown();
}, 120_000);

describe('service discovery, UDP and client addresses on a 3-host swarmctl cluster', () => {
  it('info says which data plane each node runs', async () => {
    for (const n of HOSTS) {
      const json = JSON.parse(await cli(n, 'info', '--format', 'json')) as {
        node: { dataPlane?: { kind: string } };
      };
      expect(json.node.dataPlane?.kind, `host ${n}`).toBe('nftables+vxlan');
      expect(await cli(n, 'info')).toContain('Data Plane: nftables+vxlan');
    }
  });

  describe('services A, B (vip) and C (dnsrr) on appnet', () => {
    let a: Container;
    let b: Container[];
    let appnetId: string;

    beforeAll(async () => {
      await cli(1, 'network', 'create', '-d', 'overlay', 'appnet');
      appnetId = String(findKey(JSON.parse(await cli(1, 'network', 'inspect', 'appnet')), 'id'));
      const common = ['--detach', '--network', 'appnet', '--replicas-max-per-node', '1'];
      await cli(1, 'service', 'create', ...common, '--name', 'a', '--replicas', '3', IMAGE);
      await cli(
        1,
        'service',
        'create',
        ...common,
        '--name',
        'b',
        '--replicas',
        '3',
        '-p',
        'published=8081,target=80',
        IMAGE,
      );
      await cli(
        1,
        'service',
        'create',
        ...common,
        '--name',
        'c',
        '--replicas',
        '3',
        '--endpoint-mode',
        'dnsrr',
        IMAGE,
      );
      a = (await runningSpread('a', 3)).find((c) => c.host === 1) as Container;
      b = await runningSpread('b', 3);
      await runningSpread('c', 3);
    }, 180_000);

    it("B's name resolves to B's VIP on appnet, and B answers by name from several tasks", async () => {
      const vips = findKey(JSON.parse(await cli(1, 'service', 'inspect', 'b')), 'virtualIps') as {
        networkId: string;
        addr: string;
      }[];
      const vip = vips.find((v) => v.networkId === appnetId)?.addr.split('/')[0];
      expect(vip, JSON.stringify(vips)).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
      await resolvesTo(a, 'b', [vip as string]);
      const answered = new Set<string>();
      for (let i = 0; i < 15; i++) {
        const reply = await inContainer(a, [
          'sh',
          '-c',
          "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 b 80",
        ]);
        const body = reply.split('\n').at(-1)?.trim() ?? '';
        expect(body, reply).toMatch(/^v1 /);
        answered.add(body);
      }
      console.log(`B by name from a container of A: ${answered.size} distinct tasks answered 15 requests`);
      expect(answered.size).toBeGreaterThan(1);
    });

    it('tasks.b lists exactly the task addresses; dnsrr c its task addresses', async () => {
      await resolvesTo(
        a,
        'tasks.b',
        b.map((c) => c.addr),
      );
      const cs = await containers('c');
      await resolvesTo(
        a,
        'c',
        cs.map((c) => c.addr),
      );
    });

    it('an SRV query for _8081._tcp.b answers with the target port and the targets', async () => {
      const out = await inContainer(a, ['nslookup', '-type=srv', '_8081._tcp.b']);
      const records = [...out.matchAll(/(\d+) (\d+) (\d+) (\S+)/g)].map((m) => ({
        priority: Number(m[1]),
        port: Number(m[3]),
        target: (m[4] as string).replace(/\.$/, ''),
      }));
      expect(records.length, out).toBe(4);
      expect(new Set(records.map((r) => r.port)), out).toEqual(new Set([80]));
      expect(
        records.filter((r) => r.priority === 0).map((r) => r.target),
        out,
      ).toEqual(['b']);
      expect(records.filter((r) => r.priority === 10).length, out).toBe(3);
    });

    it('answers follow a scale change within 1 s', async () => {
      await cli(1, 'service', 'scale', '--detach', 'b=2');
      const scaled = performance.now();
      // The removed task's address leaves tasks.b before its container is stopped.
      const down = await waitFor(
        async () => {
          const got = addresses(await inContainer(a, ['nslookup', 'tasks.b']));
          return got.length === 2 ? { done: true, value: got } : { done: false, state: got.join(',') };
        },
        { timeoutMs: 10_000, intervalMs: 20, what: 'tasks.b with 2 addresses' },
      );
      const downMs = performance.now() - scaled;
      console.log(`tasks.b lost the removed task ${Math.round(downMs)} ms after the scale command returned`);
      expect(downMs).toBeLessThan(1_000);
      const left = await runningSpread('b', 2);
      expect(down.sort()).toEqual(left.map((c) => c.addr).sort());
      await cli(1, 'service', 'scale', '--detach', 'b=3');
      const before = performance.now();
      b = await runningSpread('b', 3);
      const ms = await resolvesTo(
        a,
        'tasks.b',
        b.map((c) => c.addr),
      );
      console.log(
        `tasks.b listed the new task ${Math.round(ms)} ms after its container was seen running (${Math.round(performance.now() - before)} ms after scale)`,
      );
      expect(ms).toBeLessThan(1_000);
    });
  });

  describe('the peer service: UDP and the client address through the mesh', () => {
    let peers: Container[];

    beforeAll(async () => {
      await cli(
        1,
        'service',
        'create',
        '--detach',
        '--name',
        'peer',
        '--replicas',
        '3',
        '--replicas-max-per-node',
        '1',
        '-p',
        'published=8090,target=9000',
        '-p',
        'published=9053,target=9053,protocol=udp',
        IMAGE,
      );
      peers = await runningSpread('peer', 3, false);
      for (const p of peers) {
        servers.push(startPeerServer(lab, await containerPid(lab, p.host, p.id), `h${p.host}`, 9053));
      }
      // Every peer server answers through host 1 before the tests start.
      await waitFor(
        async () => {
          const seen = new Set(
            (await fromRoot('tcp', lab.host(1).address, 8090, 15)).map((r) => r.split(' ')[0]),
          );
          return seen.size === 3 ? { done: true, value: 0 } : { done: false, state: [...seen].join(', ') };
        },
        { timeoutMs: 30_000, intervalMs: 200, what: 'the three peer servers through host 1' },
      );
    }, 180_000);

    it('a UDP service answers through the mesh from every host', async () => {
      for (const n of HOSTS) {
        const replies = await fromRoot('udp', lab.host(n).address, 9053, 15);
        expect(
          replies.every((r) => /^h\d /.test(r)),
          `through host ${n}: ${replies.join('; ')}`,
        ).toBe(true);
        console.log(
          `UDP through host ${n}: answered by ${[...new Set(replies.map((r) => r.split(' ')[0]))].sort().join(',')}`,
        );
      }
    });

    it('a UDP client port reused through each host in turn is answered through each', async () => {
      // A backend's node keeps a flow's entry, and the node its replies go back through, for
      // 30-120 s. A client port reused through another node met that entry while nodes did not
      // map UDP client ports into shares of their own: the reply went back through the first
      // node, from an address the connected client had not asked, and was dropped.
      const failed: string[] = [];
      for (let sourcePort = 20_100; sourcePort < 20_120; sourcePort++) {
        for (const n of HOSTS) {
          const [reply] = await peerRequests(lab, 0, {
            proto: 'udp',
            target: lab.host(n).address,
            port: 9053,
            count: 1,
            sourcePort,
          });
          if (!reply || !/^h\d /.test(reply)) failed.push(`port ${sourcePort} through host ${n}: ${reply}`);
        }
      }
      expect(failed, failed.join('; ')).toEqual([]);
    });

    it('the server sees the lab client address, for a task on the receiving node and on another one', async () => {
      const client = `${SUBNET}.1`;
      for (const n of HOSTS) {
        const replies = await fromRoot('tcp', lab.host(n).address, 8090, 20);
        const local = replies.filter((r) => r.startsWith(`h${n} `));
        const remote = replies.filter((r) => /^h\d /.test(r) && !r.startsWith(`h${n} `));
        expect(local.length + remote.length, replies.join('; ')).toBe(20);
        expect(local.length, `no local task answered through host ${n}`).toBeGreaterThan(0);
        expect(remote.length, `no remote task answered through host ${n}`).toBeGreaterThan(0);
        expect(
          new Set(replies.map((r) => r.split(' ')[1])),
          `through host ${n}: ${replies.join('; ')}`,
        ).toEqual(new Set([client]));
        const udp = await fromRoot('udp', lab.host(n).address, 9053, 6);
        expect(new Set(udp.map((r) => r.split(' ')[1])), `UDP through host ${n}: ${udp.join('; ')}`).toEqual(
          new Set([client]),
        );
      }
    });
  });

  it('a host-mode UDP port of a task that also publishes through the ingress answers from its own address', async () => {
    // Docker DNATs a host-mode port to the container's bridge address: its replies must keep
    // leaving from there, so such a task's route source is left as Docker made it.
    await cli(
      1,
      'service',
      'create',
      '--detach',
      '--name',
      'hostudp',
      '-p',
      'published=8092,target=9000',
      '-p',
      'published=9056,target=9053,protocol=udp,mode=host',
      IMAGE,
    );
    const [task] = await runningSpread('hostudp', 1, false);
    if (!task) throw new Error('no hostudp task');
    servers.push(startPeerServer(lab, await containerPid(lab, task.host, task.id), 'hu', 9053));
    await waitFor(
      async () => {
        const [reply] = await fromRoot('tcp', lab.host(1).address, 8092, 1);
        return reply?.startsWith('hu ') ? { done: true, value: 0 } : { done: false, state: reply ?? '' };
      },
      { timeoutMs: 30_000, intervalMs: 200, what: 'the hostudp peer server through the ingress' },
    );
    const replies = await fromRoot('udp', lab.host(task.host).address, 9056, 10);
    expect(
      replies.every((r) => r.startsWith('hu ')),
      `host-mode UDP on host ${task.host}: ${replies.join('; ')}`,
    ).toBe(true);
  });
});

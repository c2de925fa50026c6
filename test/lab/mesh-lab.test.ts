import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MeshService, MeshState, NetworkId, NodeId, ServiceId, TaskId } from '../../src/api/index.js';
import { waitFor } from '../../src/common/index.js';
import {
  containerDefaultRoute,
  preferIngressSource,
  systemCommandRunner,
} from '../../src/routing-mesh/index.js';
import { Lab } from '../harness/lab.js';
import { containerPid, peerRequests, startPeerServer } from '../harness/lab-peers.js';
import { ensureBuilt } from '../harness/swarm-nodes.js';

/**
 * The kernel data plane alone on three lab hosts (issue 7, points 2, 3 and 6): each host runs
 * scripts/mesh-driver.ts in its namespace, fed a hand-made MeshState, with containers started
 * on the hosts' own engines and attached to the overlays the driver created. Every container
 * also runs a small server in its network namespace that answers with the peer's address (TCP
 * 9000, UDP 9001): the test images have no UDP server and do not log client addresses. The same
 * mesh driven by a swarmctl cluster is mesh-cluster-lab.test.ts.
 */
const PREFIX = 'swln';
const SUBNET = '10.213.8';
const ROOT = resolve(import.meta.dirname, '../..');
const TSX = join(ROOT, 'node_modules/.bin/tsx');
const ING = 'ingressnet' as NetworkId;
const APP = 'appnet' as NetworkId;
const NODES = ['meshnode1', 'meshnode2', 'meshnode3'] as NodeId[];

let lab: Lab;
let dir: string;
let revision = 0;
const servers: ChildProcess[] = [];

interface Replica {
  name: string;
  host: number;
  ingress: string;
  app: string;
}
const REPLICAS: Replica[] = [
  { name: 'mesh-a', host: 1, ingress: '10.240.0.11', app: '10.240.1.11' },
  { name: 'mesh-b', host: 1, ingress: '10.240.0.12', app: '10.240.1.12' },
  { name: 'mesh-c', host: 2, ingress: '10.240.0.13', app: '10.240.1.13' },
];

function state(backends: readonly Replica[]): MeshState {
  revision += 1;
  const service: MeshService = {
    id: 'svcweb' as ServiceId,
    name: 'web',
    endpointMode: 'vip',
    vips: [],
    ports: [
      { protocol: 'tcp', targetPort: 9000, publishedPort: 8080, publishMode: 'ingress' },
      { protocol: 'udp', targetPort: 9001, publishedPort: 7007, publishMode: 'ingress' },
    ],
    backends: backends.map((r) => ({
      taskId: r.name as TaskId,
      taskName: r.name,
      nodeId: NODES[r.host - 1] as NodeId,
      addrs: [
        { networkId: ING, addr: r.ingress },
        { networkId: APP, addr: r.app },
      ],
    })),
  };
  return {
    revision,
    networks: [
      {
        id: ING,
        name: 'ingress',
        vni: 4096,
        subnet: '10.240.0.0/24',
        gateway: '10.240.0.1',
        ingress: true,
        attachable: false,
      },
      {
        id: APP,
        name: 'appnet',
        vni: 4097,
        subnet: '10.240.1.0/24',
        gateway: '10.240.1.1',
        ingress: false,
        attachable: true,
      },
    ],
    nodes: NODES.map((nodeId, i) => ({
      nodeId,
      addr: lab.host(i + 1).address,
      networkAddrs: [
        { networkId: ING, addr: `10.240.0.${2 + i}/24` },
        { networkId: APP, addr: `10.240.1.${2 + i}/24` },
      ],
    })),
    services: [service],
  };
}

/** Writes the state for every driver and waits until all three applied it; returns how long that took. */
async function publish(s: MeshState): Promise<number> {
  const started = performance.now();
  for (let n = 1; n <= 3; n++) writeFileSync(join(dir, `state-${n}.json`), JSON.stringify(s));
  await waitFor(
    () => {
      const seen = [1, 2, 3].map((n) => appliedRevision(n));
      return seen.every((r) => r === s.revision)
        ? { done: true, value: 0 }
        : { done: false, state: `applied revisions ${seen.join(',')}` };
    },
    { timeoutMs: 20_000, intervalMs: 10, what: `revision ${s.revision} on every host` },
  );
  return performance.now() - started;
}

function appliedRevision(n: number): number {
  try {
    return (JSON.parse(readFileSync(join(dir, `status-${n}.json`), 'utf8')) as { revision: number }).revision;
  } catch {
    return -1;
  }
}

/** From lab host `from`, or from the root namespace (the lab bridge's address) when 0. */
const requests = (
  from: number,
  proto: 'tcp' | 'udp',
  target: string,
  port: number,
  count: number,
): Promise<string[]> => peerRequests(lab, from, { proto, target, port, count });

const replicaPid = (r: Replica): Promise<string> => containerPid(lab, r.host, r.name);

beforeAll(async () => {
  ensureBuilt();
  lab = await Lab.up({ hosts: 3, prefix: PREFIX, subnet: SUBNET, images: ['swarmctl-test/web:v1'] });
  dir = mkdtempSync(join(tmpdir(), 'mesh-lab-'));
}, 180_000);

afterAll(async () => {
  for (const s of servers) s.kill('SIGKILL');
  await lab?.teardown();
  if (dir) rmSync(dir, { recursive: true, force: true });
}, 120_000);

describe('kernel data plane on three lab hosts', () => {
  beforeAll(async () => {
    const first = state([]);
    for (let n = 1; n <= 3; n++) {
      writeFileSync(join(dir, `state-${n}.json`), JSON.stringify(first));
      lab.startProcess(
        n,
        [
          TSX,
          join(ROOT, 'scripts/mesh-driver.ts'),
          NODES[n - 1] as string,
          lab.docker(n).host,
          join(dir, `state-${n}.json`),
          join(dir, `status-${n}.json`),
        ],
        { name: 'mesh' },
      );
    }
    await publish(state([]));
    for (const r of REPLICAS) {
      await lab.dockerCli(r.host, [
        'run',
        '-d',
        '--name',
        r.name,
        '--network',
        'swarmctl-ingress',
        '--ip',
        r.ingress,
        'swarmctl-test/web:v1',
      ]);
      await lab.dockerCli(r.host, ['network', 'connect', '--ip', r.app, 'swarmctl-appnet', r.name]);
      const pid = await replicaPid(r);
      // What the executor has the data plane do to a started task (prepareContainer).
      const route = await containerDefaultRoute(systemCommandRunner, Number(pid));
      await preferIngressSource(systemCommandRunner, Number(pid), r.ingress, route);
      servers.push(startPeerServer(lab, pid, r.name, 9001));
    }
    // Every peer server listens before the tests start.
    for (const r of REPLICAS) {
      await waitFor(
        async () => {
          const [reply] = await requests(r.host, 'tcp', r.ingress, 9000, 1);
          return reply?.startsWith(r.name) ? { done: true, value: 0 } : { done: false, state: reply ?? '' };
        },
        { timeoutMs: 20_000, what: `${r.name}'s peer server` },
      );
    }
  }, 180_000);

  it('a container on host 2 reaches containers on host 1 over the user overlay', async () => {
    const c = REPLICAS[2] as Replica;
    const pid = await replicaPid(c);
    for (const target of REPLICAS.slice(0, 2)) {
      const r = await lab.exec(
        c.host,
        ['nsenter', `--net=/proc/${pid}/ns/net`, 'curl', '-sS', '--max-time', '3', `http://${target.app}/`],
        {
          allowFailure: true,
        },
      );
      expect(r.stdout).toMatch(/^v1 /);
    }
  });

  it('the published port on every host reaches both replicas on host 1', async () => {
    await publish(state(REPLICAS.slice(0, 2)));
    for (let target = 1; target <= 3; target++) {
      const from = (target % 3) + 1;
      const replies = await requests(from, 'tcp', lab.host(target).address, 8080, 40);
      const seen = new Set(replies.map((r) => r.split(' ')[0]));
      expect(
        [...seen].sort(),
        `through host ${target} from host ${from}: ${replies.slice(0, 5).join('; ')}`,
      ).toEqual(['mesh-a', 'mesh-b']);
    }
  });

  it('UDP answers through the mesh from every host', async () => {
    for (let target = 1; target <= 3; target++) {
      const replies = await requests(target === 3 ? 1 : 3, 'udp', lab.host(target).address, 7007, 10);
      expect(
        replies.every((r) => /^mesh-[ab] /.test(r)),
        replies.join('; '),
      ).toBe(true);
    }
  });

  it('a removed backend is out of the rotation within 1 s on every host', async () => {
    const ms = await publish(state(REPLICAS.slice(0, 1)));
    expect(ms).toBeLessThan(1_000);
    for (let target = 1; target <= 3; target++) {
      const replies = await requests(target === 3 ? 1 : 3, 'tcp', lab.host(target).address, 8080, 20);
      expect(new Set(replies.map((r) => r.split(' ')[0])), replies.join('; ')).toEqual(new Set(['mesh-a']));
    }
    await publish(state(REPLICAS.slice(0, 2)));
  });

  it('a backend sees the client address, on the receiving node and on another one', async () => {
    // The client is the lab's root namespace (its bridge address), not a node of the mesh.
    const client = `${SUBNET}.1`;
    const local = await requests(0, 'tcp', lab.host(1).address, 8080, 10);
    expect(new Set(local.map((r) => r.split(' ')[1]))).toEqual(new Set([client]));
    // Through host 2: DNATed there, replies return through host 2 (conntrack mark, policy route).
    const remote = await requests(0, 'tcp', lab.host(2).address, 8080, 10);
    expect(new Set(remote.map((r) => r.split(' ')[1])), remote.join('; ')).toEqual(new Set([client]));
    for (const target of [1, 2]) {
      const udp = await requests(0, 'udp', lab.host(target).address, 7007, 3);
      expect(
        udp.every((r) => r.split(' ')[1] === client),
        udp.join('; '),
      ).toBe(true);
    }
    // A client that is itself a node is masqueraded to the receiving node's ingress address.
    const fromNode = await requests(3, 'tcp', lab.host(2).address, 8080, 5);
    expect(new Set(fromNode.map((r) => r.split(' ')[1]))).toEqual(new Set(['10.240.0.3']));
  });

  it('with FORWARD policy DROP (Docker) and ACCEPT alike', async () => {
    // The hosts' engines leave ACCEPT (forwarding was on already); an engine that enables
    // forwarding itself sets DROP.
    for (const policy of ['DROP', 'ACCEPT']) {
      for (const n of [1, 2]) await lab.exec(n, ['iptables', '-P', 'FORWARD', policy]);
      for (const [from, target] of [
        [1, 2],
        [3, 1],
      ] as const) {
        const replies = await requests(from, 'tcp', lab.host(target).address, 8080, 10);
        expect(
          replies.every((r) => r.startsWith('mesh-')),
          `${policy}: ${replies.join('; ')}`,
        ).toBe(true);
      }
    }
  });

  it('stopping the data plane leaves no table, device, rule or Docker network of ours', async () => {
    for (let n = 1; n <= 3; n++) await lab.killProcess(n, 'SIGTERM', { name: 'mesh' });
    for (let n = 1; n <= 3; n++) {
      expect((await lab.exec(n, ['nft', 'list', 'tables'])).stdout).not.toContain('swarmctl-mesh');
      expect((await lab.exec(n, ['ip', '-o', 'link', 'show'])).stdout).not.toMatch(/swm[bv]\d/);
      expect((await lab.exec(n, ['iptables', '-S', 'FORWARD'])).stdout).not.toContain('swarmctl-mesh');
      const nets = await lab.dockerCli(n, ['network', 'ls', '--filter', 'label=swarmctl.mesh', '-q']);
      expect(nets.stdout.trim()).toBe('');
    }
  });
});

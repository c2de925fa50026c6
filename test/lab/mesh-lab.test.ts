import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MeshService, MeshState, NetworkId, NodeId, ServiceId, TaskId } from '../../src/api/index.js';
import { waitFor } from '../../src/common/index.js';
import { Lab } from '../harness/lab.js';
import { runCommand } from '../harness/run-command.js';
import { ensureBuilt, SWARMCTL } from '../harness/swarm-nodes.js';

/**
 * The kernel data plane alone on three lab hosts (issue 7, points 2, 3 and 6): each host runs
 * scripts/mesh-driver.ts in its namespace, fed a hand-made MeshState, with containers started
 * on the hosts' own engines and attached to the overlays the driver created. Every container
 * also runs a small server in its network namespace that answers with the peer's address (TCP
 * 9000, UDP 9001): the test images have no UDP server and do not log client addresses.
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

const PEER_SERVER = `
const net = require('node:net'); const dgram = require('node:dgram'); const label = process.argv[1];
net.createServer((s) => s.end(label + ' ' + s.remoteAddress + '\\n')).listen(9000, '0.0.0.0');
const u = dgram.createSocket('udp4'); u.on('message', (m, r) => u.send(label + ' ' + r.address + ' ' + m, r.port, r.address)); u.bind(9001);
`;

/** `count` requests from inside host `from`; prints one reply per line ("error" for a failure). */
const CLIENT = `
const net = require('node:net'); const dgram = require('node:dgram');
const [proto, host, port, count] = [process.argv[1], process.argv[2], Number(process.argv[3]), Number(process.argv[4])];
function tcp() { return new Promise((res) => { let d = ''; const s = net.connect(port, host); s.setTimeout(2000, () => { s.destroy(); res('error timeout'); }); // hygiene-ok: a per-request deadline of the client, not a wait
  s.on('data', (x) => { d += x; }); s.on('end', () => res(d.trim())); s.on('error', (e) => res('error ' + e.code)); }); }
function udp() { return new Promise((res) => { const u = dgram.createSocket('udp4'); const t = setTimeout(() => { u.close(); res('error timeout'); }, 2000); // hygiene-ok: a UDP reply deadline of the client, not a wait
  u.on('message', (m) => { clearTimeout(t); u.close(); res(String(m).trim()); }); u.send('ping', port, host); }); }
(async () => { for (let i = 0; i < count; i++) console.log(await (proto === 'udp' ? udp() : tcp())); })();
`;

/** From lab host `from`, or from the root namespace (the lab bridge's address) when 0. */
async function requests(
  from: number,
  proto: 'tcp' | 'udp',
  target: string,
  port: number,
  count: number,
): Promise<string[]> {
  const argv = [process.execPath, '-e', CLIENT, proto, target, String(port), String(count)];
  const r =
    from === 0
      ? await runCommand(argv, { timeoutMs: 60_000 })
      : await lab.exec(from, argv, { timeoutMs: 60_000 });
  return r.stdout.trim().split('\n');
}

async function containerPid(r: Replica): Promise<string> {
  return (await lab.dockerCli(r.host, ['inspect', '-f', '{{.State.Pid}}', r.name])).stdout.trim();
}

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
      const pid = await containerPid(r);
      const child = spawn(
        'nsenter',
        [`--net=/proc/${pid}/ns/net`, '--', process.execPath, '-e', PEER_SERVER, r.name],
        {
          stdio: 'ignore',
          env: { ...process.env, SWARMCTL_LAB: PREFIX },
        },
      );
      servers.push(child);
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
    const pid = await containerPid(c);
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

/** swarmctl nodes on the same hosts: the allocator's MeshState drives every node's data plane. */
describe('the ingress mesh of a swarmctl cluster on three lab hosts', () => {
  const ids: string[] = [];

  async function cli(n: number, ...args: string[]): Promise<string> {
    const r = await runCommand([SWARMCTL, '-H', `unix://${lab.host(n).swarmctlSocket}`, ...args], {
      timeoutMs: 60_000,
    });
    return r.stdout;
  }

  async function startNode(n: number, argv: string[]): Promise<void> {
    const h = lab.host(n);
    const addr = `${h.address}:2377`;
    lab.startProcess(
      n,
      [
        SWARMCTL,
        ...argv,
        '--state-dir',
        h.swarmctlStateDir,
        '--control-socket',
        h.swarmctlSocket,
        '--docker-host',
        h.dockerHost,
        '--listen-addr',
        addr,
        '--advertise-addr',
        addr,
        '--foreground',
      ],
      { name: 'swarmctl' },
    );
    ids[n] = await waitFor(
      async () => {
        const r = await runCommand(
          [SWARMCTL, '-H', `unix://${h.swarmctlSocket}`, 'info', '--format', 'json'],
          { allowFailure: true, timeoutMs: 10_000 },
        );
        return r.code === 0
          ? { done: true, value: (JSON.parse(r.stdout) as { node: { nodeId: string } }).node.nodeId }
          : { done: false, state: r.stderr.trim() };
      },
      { timeoutMs: 60_000, intervalMs: 200, what: `the node on host ${n}` },
    );
  }

  /** Container bodies ("v1 <container hostname>") seen through host `target`'s port 8080 from host `from`. */
  async function bodies(from: number, target: number, count: number): Promise<string[]> {
    const out: string[] = [];
    for (let i = 0; i < count; i++) {
      const r = await lab.httpGet(from, `http://${lab.host(target).address}:8080/`, 2_000);
      out.push(r.ok ? r.body.trim() : `error ${r.exitCode}`);
    }
    return out;
  }

  /** Our links, Docker networks (with their containers), containers and the node's last warnings. */
  async function leftovers(n: number): Promise<string> {
    const links = (await lab.exec(n, ['ip', '-o', 'link', 'show'], { allowFailure: true })).stdout
      .split('\n')
      .filter((l) => /swm[bv]\d/.test(l));
    const ids = (
      await lab.dockerCli(n, ['network', 'ls', '--filter', 'label=swarmctl.mesh', '-q'], {
        allowFailure: true,
      })
    ).stdout.trim();
    const nets = ids
      ? (
          await lab.dockerCli(
            n,
            ['network', 'inspect', '-f', '{{.Name}} {{json .Containers}}', ...ids.split('\n')],
            {
              allowFailure: true,
            },
          )
        ).stdout
      : '';
    const ps = (
      await lab.dockerCli(n, ['ps', '-a', '--format', '{{.ID}} {{.Status}} {{.Names}}'], {
        allowFailure: true,
      })
    ).stdout;
    let log = '';
    try {
      log = readFileSync(join(lab.host(n).logDir, 'swarmctl.log'), 'utf8')
        .split('\n')
        .filter((l) => /"level":"(warn|error)"|mesh|leav|overlay/.test(l))
        .slice(-40)
        .join('\n');
    } catch {
      log = '(no log)';
    }
    return `links:\n${links.join('\n')}\nnetworks:\n${nets}\ncontainers:\n${ps}\nlog:\n${log}`;
  }

  async function meshAddrs(n: number): Promise<string> {
    return (await lab.exec(n, ['nft', 'list', 'table', 'ip', 'swarmctl-mesh'], { allowFailure: true }))
      .stdout;
  }

  beforeAll(async () => {
    // Fresh hosts: nothing of the data-plane tests (containers, their servers, conntrack) carries over.
    for (const srv of servers.splice(0)) srv.kill('SIGKILL');
    await lab.teardown();
    lab = await Lab.up({ hosts: 3, prefix: PREFIX, subnet: SUBNET, images: ['swarmctl-test/web:v1'] });
    await startNode(1, ['init']);
    const token = (await cli(1, 'join-token', 'worker', '-q')).trim();
    for (const n of [2, 3]) await startNode(n, ['join', '--token', token, `${lab.host(1).address}:2377`]);
  }, 180_000);

  it('2 replicas on host 1 published on 8080 answer through hosts 2 and 3, both of them', async () => {
    await cli(
      1,
      'service',
      'create',
      '--detach',
      '--name',
      'web',
      '--replicas',
      '2',
      '--constraint',
      `node.id==${ids[1]}`,
      '-p',
      '8080:80',
      'swarmctl-test/web:v1',
    );
    for (const target of [2, 3]) {
      const seen = await waitFor(
        async () => {
          const got = new Set(
            (await bodies(target === 2 ? 3 : 2, target, 12)).filter((b) => b.startsWith('v1 ')),
          );
          return got.size === 2 ? { done: true, value: got } : { done: false, state: [...got].join(', ') };
        },
        { timeoutMs: 60_000, intervalMs: 200, what: `both replicas through host ${target}` },
      );
      expect(seen.size).toBe(2);
    }
  });

  it("a killed replica is out of every node's rotation within 1 s, and its replacement serves", async () => {
    const running = (
      await lab.dockerCli(1, ['ps', '-q', '--filter', 'label=com.docker.swarm.service.name=web'])
    ).stdout
      .trim()
      .split('\n');
    const victim = running[0] as string;
    const ip = (
      await lab.dockerCli(1, [
        'inspect',
        '-f',
        '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}',
        victim,
      ])
    ).stdout
      .trim()
      .split(' ')
      .filter((a) => !a.startsWith('10.214.'));
    expect(ip.length).toBeGreaterThan(0);
    for (const n of [1, 2, 3]) expect(await meshAddrs(n)).toContain(ip[0]);
    const killed = performance.now();
    await lab.dockerCli(1, ['kill', victim]);
    const outAt = new Map<number, number>();
    const outMs = await waitFor(
      async () => {
        // The hosts are read in parallel, one `nft` each, and each is timed when its read returns:
        // read one after the other (six commands under load) the polling itself took ~0.5 s.
        await Promise.all(
          [1, 2, 3]
            .filter((n) => !outAt.has(n))
            .map(async (n) => {
              const table = await meshAddrs(n);
              if (!table.includes(`${ip[0]},`) && !table.includes(`${ip[0]} }`))
                outAt.set(n, performance.now() - killed);
            }),
        );
        const still = [1, 2, 3].filter((n) => !outAt.has(n));
        return still.length === 0
          ? { done: true, value: Math.max(...outAt.values()) }
          : { done: false, state: `still routed on hosts ${still}` };
      },
      { timeoutMs: 10_000, intervalMs: 20, what: 'the killed replica out of every rotation' },
    );
    console.log(`killed replica out of the rotation on every node ${Math.round(outMs)} ms after docker kill`);
    expect(outMs).toBeLessThan(1_000);
    const seen = await waitFor(
      async () => {
        const got = new Set((await bodies(3, 2, 12)).filter((b) => b.startsWith('v1 ')));
        return got.size === 2 ? { done: true, value: got } : { done: false, state: [...got].join(', ') };
      },
      { timeoutMs: 60_000, intervalMs: 200, what: 'two replicas again (the replacement serves)' },
    );
    expect(seen.has(`v1 ${victim.slice(0, 12)}`)).toBe(false);
  });

  /** Our Docker networks and links on host `n`. */
  async function ours(n: number): Promise<{ networks: string[]; links: string[] }> {
    const nets = await lab.dockerCli(n, [
      'network',
      'ls',
      '--filter',
      'label=swarmctl.mesh',
      '--format',
      '{{.Name}}',
    ]);
    const links = (await lab.exec(n, ['ip', '-o', 'link', 'show'])).stdout.match(/swm[bv]\d+/g) ?? [];
    return {
      networks: nets.stdout.trim().split('\n').filter(Boolean).sort(),
      links: [...new Set(links)].sort(),
    };
  }

  /** The id of the running container of `service` on host `n`, once there is one. */
  async function taskContainer(n: number, service: string): Promise<string> {
    return waitFor(
      async () => {
        const filter = `label=com.docker.swarm.service.name=${service}`;
        const id = (await lab.dockerCli(n, ['ps', '-q', '--filter', filter])).stdout.trim();
        return id
          ? { done: true, value: id }
          : { done: false, state: `no ${service} container on host ${n}` };
      },
      { timeoutMs: 60_000, intervalMs: 200, what: `the ${service} container on host ${n}` },
    );
  }

  it('a node sets up a user overlay only while it has a task on it; the ingress stays on every node', async () => {
    await cli(1, 'network', 'create', '-d', 'overlay', 'solo');
    const on = (n: number, ...more: string[]) =>
      cli(
        1,
        'service',
        'create',
        '--detach',
        '--network',
        'solo',
        '--constraint',
        `node.id==${ids[n]}`,
        ...more,
      );
    await on(2, '--name', 'lone2', 'swarmctl-test/web:v1');
    const lone2 = await taskContainer(2, 'lone2');
    const bridge = (
      await lab.dockerCli(2, [
        'network',
        'inspect',
        '-f',
        '{{index .Options "com.docker.network.bridge.name"}}',
        'swarmctl-solo',
      ])
    ).stdout.trim();
    const solo = [bridge, bridge.replace('swmb', 'swmv')];
    expect((await ours(2)).links).toEqual(expect.arrayContaining(solo));
    for (const n of [1, 3]) {
      const o = await ours(n);
      expect(o.networks, `host ${n}`).toEqual(['swarmctl-ingress']);
      expect(
        o.links.filter((l) => solo.includes(l)),
        `host ${n}`,
      ).toEqual([]);
    }
    // A task landing on host 3 brings the overlay there, and the two tasks reach each other over it.
    const landed = performance.now();
    await on(3, '--name', 'lone3', 'swarmctl-test/web:v1');
    const lone3 = await taskContainer(3, 'lone3');
    console.log(
      `overlay up on host 3 and its task running ${Math.round(performance.now() - landed)} ms after service create`,
    );
    expect((await ours(3)).networks).toEqual(['swarmctl-ingress', 'swarmctl-solo']);
    expect((await ours(3)).links).toEqual(expect.arrayContaining(solo));
    expect((await ours(1)).networks).toEqual(['swarmctl-ingress']);
    const addr2 = (
      await lab.dockerCli(2, [
        'inspect',
        '-f',
        '{{(index .NetworkSettings.Networks "swarmctl-solo").IPAddress}}',
        lone2,
      ])
    ).stdout.trim();
    const pid3 = (await lab.dockerCli(3, ['inspect', '-f', '{{.State.Pid}}', lone3])).stdout.trim();
    const r = await waitFor(
      async () => {
        const got = await lab.exec(
          3,
          ['nsenter', `--net=/proc/${pid3}/ns/net`, 'curl', '-sS', '--max-time', '2', `http://${addr2}/`],
          { allowFailure: true },
        );
        return got.stdout.startsWith('v1 ')
          ? { done: true, value: got.stdout }
          : { done: false, state: got.stderr.trim() };
      },
      { timeoutMs: 10_000, intervalMs: 200, what: `lone2 (${addr2}) from lone3 over solo` },
    );
    expect(r).toMatch(/^v1 /);
    // Their last tasks gone, hosts 2 and 3 tear the overlay down.
    const removed = performance.now();
    await cli(1, 'service', 'rm', 'lone2', 'lone3');
    await waitFor(
      async () => {
        const still = [];
        for (const n of [2, 3]) {
          const o = await ours(n);
          if (o.networks.includes('swarmctl-solo') || o.links.some((l) => solo.includes(l))) still.push(n);
        }
        return still.length === 0
          ? { done: true, value: 0 }
          : { done: false, state: `still on hosts ${still}` };
      },
      { timeoutMs: 30_000, intervalMs: 200, what: 'the solo overlay gone from hosts 2 and 3' },
    );
    console.log(
      `overlay gone from hosts 2 and 3 ${Math.round(performance.now() - removed)} ms after service rm`,
    );
    await cli(1, 'network', 'rm', 'solo');
  });

  it('a container on a user overlay resolves tasks.<service> through its node and reaches those tasks on other hosts', async () => {
    await cli(1, 'network', 'create', '-d', 'overlay', 'appnet');
    await cli(
      1,
      'service',
      'create',
      '--detach',
      '--name',
      'api',
      '--replicas',
      '2',
      '--network',
      'appnet',
      '--constraint',
      `node.id!=${ids[2]}`,
      'swarmctl-test/web:v1',
    );
    await cli(
      1,
      'service',
      'create',
      '--detach',
      '--name',
      'client',
      '--network',
      'appnet',
      '--constraint',
      `node.id==${ids[2]}`,
      'swarmctl-test/web:v1',
    );
    const client = await waitFor(
      async () => {
        const id = (
          await lab.dockerCli(2, ['ps', '-q', '--filter', 'label=com.docker.swarm.service.name=client'])
        ).stdout.trim();
        return id ? { done: true, value: id } : { done: false, state: 'no client container on host 2' };
      },
      { timeoutMs: 60_000, intervalMs: 200, what: 'the client container' },
    );
    const addrs = await waitFor(
      async () => {
        const r = await lab.dockerCli(2, ['exec', client, 'nslookup', 'tasks.api'], { allowFailure: true });
        const found = [...r.stdout.matchAll(/Address(?: \d+)?:\s+(\d+\.\d+\.\d+\.\d+)/g)].map(
          (m) => m[1] as string,
        );
        // The first "Address" is the resolver's own.
        const tasks = found.slice(1);
        return tasks.length === 2
          ? { done: true, value: tasks }
          : { done: false, state: r.stdout.trim() || r.stderr.trim() };
      },
      { timeoutMs: 60_000, intervalMs: 300, what: 'tasks.api with 2 addresses from the client container' },
    );
    const pid = (await lab.dockerCli(2, ['inspect', '-f', '{{.State.Pid}}', client])).stdout.trim();
    for (const a of addrs) {
      const r = await lab.exec(
        2,
        ['nsenter', `--net=/proc/${pid}/ns/net`, 'curl', '-sS', '--max-time', '3', `http://${a}/`],
        { allowFailure: true },
      );
      expect(r.stdout, `api task ${a} from the client container: ${r.stderr}`).toMatch(/^v1 /);
    }
    await cli(1, 'service', 'rm', 'api', 'client');
  });

  it('service rm and leave on every node leave no table, device, rule or Docker network of ours', async () => {
    await cli(1, 'service', 'rm', 'web');
    await waitFor(
      async () => {
        const left = await Promise.all(
          [1, 2, 3].map(async (n) => (await meshAddrs(n)).includes('dport 8080')),
        );
        return left.every((x) => !x)
          ? { done: true, value: 0 }
          : { done: false, state: `port rules on ${left}` };
      },
      { timeoutMs: 10_000, intervalMs: 100, what: 'the published port gone from every node' },
    );
    // Host 3 leaves with a task still running on the user overlay: leave removes the container
    // (as docker's does), whose endpoint would otherwise keep the network busy, then the network.
    await cli(
      1,
      'service',
      'create',
      '--detach',
      '--name',
      'stay',
      '--network',
      'appnet',
      '--constraint',
      `node.id==${ids[3]}`,
      'swarmctl-test/web:v1',
    );
    await taskContainer(3, 'stay');
    for (const n of [3, 2, 1]) {
      const started = performance.now();
      const leave = await runCommand(
        [SWARMCTL, '-H', `unix://${lab.host(n).swarmctlSocket}`, 'leave', '--force'],
        {
          timeoutMs: 90_000,
          allowFailure: true,
        },
      );
      const tookMs = Math.round(performance.now() - started);
      // Checked once, when leave returns: it returns only once everything of ours is gone.
      const r = await lab.exec(n, ['ip', '-o', 'link', 'show'], {});
      const nets = await lab.dockerCli(n, ['network', 'ls', '--filter', 'label=swarmctl.mesh', '-q']);
      const tasks = await lab.dockerCli(n, ['ps', '-aq', '--filter', 'label=com.docker.swarm.task.id']);
      const nft = (await lab.exec(n, ['nft', 'list', 'tables'])).stdout;
      const ipt = (await lab.exec(n, ['iptables', '-S', 'FORWARD'])).stdout;
      const left = [
        /swm[bv]\d/.test(r.stdout) && 'links',
        nets.stdout.trim() !== '' && 'docker networks',
        tasks.stdout.trim() !== '' && 'task containers',
        nft.includes('swarmctl-mesh') && 'nft table',
        ipt.includes('swarmctl-mesh') && 'FORWARD rule',
      ].filter(Boolean);
      console.log(
        `leave on host ${n}: exit ${leave.code} after ${tookMs} ms; left: ${left.join(', ') || 'nothing'}`,
      );
      expect(
        left,
        `host ${n} after leave (exit ${leave.code}: ${leave.stderr.trim()})\n${left.length > 0 ? await leftovers(n) : ''}`,
      ).toEqual([]);
      expect(leave.code, leave.stderr).toBe(0);
    }
  });
});

import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../src/common/index.js';
import { Lab } from '../harness/lab.js';
import { containerPid, findKey, peerRequests, startPeerServer } from '../harness/lab-peers.js';
import { LabSwarm } from '../harness/lab-swarm.js';
import { runCommand } from '../harness/run-command.js';
import { ensureBuilt } from '../harness/swarm-nodes.js';

/**
 * The userland fallback data plane on a 3-host swarmctl cluster (issue 7, points 6 and 7): every
 * node started with `--data-plane userland`, the way an operator forces it (auto picks it where
 * nftables or VXLAN is missing). Clients run in the lab's root namespace (the lab bridge's
 * address, not a node). The test images report neither UDP nor the peer's address, so the `peer`
 * service's tasks get a small node server in their network namespace (as in mesh-dns-lab):
 * TCP 9000 and UDP 9053 answer with the host's label and the address the server sees.
 */
const PREFIX = 'swlf';
const SUBNET = '10.213.11';
const IMAGE = 'swarmctl-test/web:v1';
const HEALTH_IMAGE = 'swarmctl-test/health';
const HOSTS = [1, 2, 3] as const;
const CLIENT_ADDR = `${SUBNET}.1`;

let lab: Lab;
let swarm: LabSwarm;
const ids: string[] = [];
const servers: ChildProcess[] = [];

const cli = (n: number, ...args: string[]): Promise<string> => swarm.cli(n, ...args);

/** `count` HTTP bodies through host `n`'s `port`, from the root namespace ("error …" on failure). */
async function bodies(n: number, count: number, port = 8080): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const r = await runCommand(['curl', '-sS', '--max-time', '3', `http://${lab.host(n).address}:${port}/`], {
      allowFailure: true,
      timeoutMs: 10_000,
    });
    out.push(r.code === 0 ? r.stdout.trim() : `error ${r.stderr.trim()}`);
  }
  return out;
}

async function runningContainers(service: string): Promise<{ host: number; id: string }[]> {
  const perHost = await Promise.all(HOSTS.map((host) => swarm.serviceContainers(host, service)));
  return perHost.flatMap((ids, i) => ids.map((id) => ({ host: HOSTS[i] as number, id })));
}

/** The node's log lines saying a published port's backends changed, with their time. */
function backendChanges(n: number, port: number): { at: number; backends: string }[] {
  const text = readFileSync(join(lab.host(n).logDir, 'swarmctl.log'), 'utf8');
  const out: { at: number; backends: string }[] = [];
  for (const line of text.split('\n')) {
    if (!line.includes('"published port backends"')) continue;
    const r = JSON.parse(line) as { time: string; port: number; backends: string };
    if (r.port === port) out.push({ at: Date.parse(r.time), backends: r.backends });
  }
  return out;
}

/** On failure: the tasks, each host's containers and the nodes' mesh log lines. */
async function diagnose(): Promise<string> {
  const out: string[] = [
    (await cli(1, 'service', 'ps', 'web', 'hc').catch((e: unknown) => String(e))).trim(),
  ];
  for (const n of HOSTS) {
    out.push(
      `host ${n} containers:`,
      (
        await lab.dockerCli(n, ['ps', '-a', '--format', '{{.ID}} {{.Status}} {{.Names}}'], {
          allowFailure: true,
        })
      ).stdout,
    );
    const log = readFileSync(join(lab.host(n).logDir, 'swarmctl.log'), 'utf8')
      .split('\n')
      .filter((l) => /"level":"(warn|error)"|published port|address/.test(l))
      .slice(-25);
    out.push(`host ${n} log:`, ...log);
  }
  return out.join('\n');
}

/** `count` HTTP GETs, 8 in parallel, new connection each; prints JSON {ok, failed, rps, p50, p99}. */
const LOAD = `
const http = require('node:http'); const [url, count] = [process.argv[1], Number(process.argv[2])];
const lat = []; let failed = 0; let next = 0; const t0 = performance.now();
function one() { return new Promise((res) => { const t = performance.now();
  const r = http.get(url, { agent: false, timeout: 3000 }, (m) => { m.resume(); m.on('end', () => { lat.push(performance.now() - t); res(); }); });
  r.on('timeout', () => r.destroy(new Error('timeout'))); r.on('error', () => { failed++; res(); }); }); }
async function worker() { while (next++ < count) await one(); }
Promise.all(Array.from({ length: 8 }, worker)).then(() => { const s = (performance.now() - t0) / 1000; lat.sort((a, b) => a - b);
  const q = (p) => Math.round(lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] * 10) / 10;
  console.log(JSON.stringify({ ok: lat.length, failed, rps: Math.round(lat.length / s), p50: q(0.5), p99: q(0.99) })); });
`;

/** `count` requests from the root namespace to host n; one reply per line. */
const fromRoot = (proto: 'tcp' | 'udp', n: number, port: number, count: number): Promise<string[]> =>
  peerRequests(lab, 0, { proto, target: lab.host(n).address, port, count, deadlineMs: 3_000 });

/** Our listeners in host n's namespace (any of the test's published ports). */
async function listeners(n: number): Promise<string[]> {
  const r = await lab.exec(n, ['ss', '-Hltun'], {});
  return r.stdout.split('\n').filter((l) => /:(8080|8090|9053)\s/.test(l));
}

beforeAll(async () => {
  ensureBuilt();
  lab = await Lab.up({ hosts: 3, prefix: PREFIX, subnet: SUBNET, images: [IMAGE, HEALTH_IMAGE] });
  swarm = new LabSwarm(lab, { nodeFlags: ['--data-plane', 'userland'] });
  ids[1] = await swarm.init(1);
  for (const n of [2, 3]) ids[n] = await swarm.join(n, 'worker');
}, 240_000);

afterAll(async () => {
  for (const s of servers) s.kill('SIGKILL');
  await lab?.teardown();
}, 120_000);

describe('the userland data plane on a 3-host swarmctl cluster', () => {
  it('info reports the userland data plane, why, and what it covers', async () => {
    for (const n of HOSTS) {
      const json = JSON.parse(await cli(n, 'info', '--format', 'json')) as {
        node: { dataPlane?: { kind: string; reason?: string; covers?: string } };
      };
      expect(json.node.dataPlane, `host ${n}`).toMatchObject({
        kind: 'userland',
        reason: 'chosen by --data-plane userland',
      });
      expect(json.node.dataPlane?.covers).toContain('user overlays local to each node');
      expect(await cli(n, 'info')).toContain(
        'Data Plane: userland (chosen by --data-plane userland; published ports on every node, relayed between nodes;',
      );
    }
  });

  it('2 replicas on host 1 published on 8080 answer from every node, both of them', async () => {
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
      IMAGE,
    );
    for (const n of HOSTS) {
      const seen = await waitFor(
        async () => {
          const got = new Set((await bodies(n, 10)).filter((b) => b.startsWith('v1 ')));
          return got.size === 2 ? { done: true, value: got } : { done: false, state: [...got].join(', ') };
        },
        { timeoutMs: 90_000, intervalMs: 200, what: `both replicas through host ${n}` },
      );
      // Once both serve, no request fails.
      const again = await bodies(n, 20);
      expect(
        again.every((b) => b.startsWith('v1 ')),
        `through host ${n}: ${again.join('; ')}`,
      ).toBe(true);
      console.log(`host ${n}:8080 answered by ${[...seen].join(', ')}`);
    }
    // Figures, not a goal: host 1 holds both tasks (local), hosts 2 and 3 relay to it; the
    // baseline is one container straight from host 1's namespace (its bridge address).
    const one = (await runningContainers('web'))[0]?.id as string;
    const ip = (
      await lab.dockerCli(1, ['inspect', '-f', '{{.NetworkSettings.IPAddress}}', one])
    ).stdout.trim();
    const direct = await lab.exec(1, [process.execPath, '-e', LOAD, `http://${ip}/`, '400'], {
      timeoutMs: 120_000,
    });
    console.log(
      `load direct to one container from host 1 (8 clients, new connection each): ${direct.stdout.trim()}`,
    );
    for (const n of HOSTS) {
      const r = await runCommand(
        [process.execPath, '-e', LOAD, `http://${lab.host(n).address}:8080/`, '400'],
        {
          timeoutMs: 120_000,
        },
      );
      const fig = JSON.parse(r.stdout) as {
        ok: number;
        failed: number;
        rps: number;
        p50: number;
        p99: number;
      };
      console.log(`load through host ${n}:8080 (8 clients, new connection each): ${r.stdout.trim()}`);
      expect(fig.failed, `through host ${n}`).toBe(0);
    }
  });

  describe('the peer service: UDP and the client address', () => {
    beforeAll(async () => {
      await cli(
        1,
        'service',
        'create',
        '--detach',
        '--name',
        'peer',
        '--replicas',
        '2',
        '--replicas-max-per-node',
        '1',
        '--constraint',
        `node.id!=${ids[3]}`,
        '-p',
        'published=8090,target=9000',
        '-p',
        'published=9053,target=9053,protocol=udp',
        IMAGE,
      );
      const peers = await waitFor(
        async () => {
          const cs = await runningContainers('peer');
          return cs.length === 2 ? { done: true, value: cs } : { done: false, state: JSON.stringify(cs) };
        },
        { timeoutMs: 90_000, intervalMs: 300, what: 'two peer tasks on hosts 1 and 2' },
      );
      for (const p of peers) {
        servers.push(startPeerServer(lab, await containerPid(lab, p.host, p.id), `h${p.host}`, 9053));
      }
      await waitFor(
        async () => {
          const seen = new Set((await fromRoot('tcp', 3, 8090, 12)).map((r) => r.split(' ')[0]));
          return seen.has('h1') && seen.has('h2')
            ? { done: true, value: 0 }
            : { done: false, state: [...seen].join(', ') };
        },
        { timeoutMs: 30_000, intervalMs: 200, what: 'both peer servers through host 3' },
      );
    }, 180_000);

    it('a UDP echo answers through every node, from both tasks', async () => {
      for (const n of HOSTS) {
        const replies = await fromRoot('udp', n, 9053, 16);
        expect(
          replies.every((r) => /^h\d \S+ ping$/.test(r)),
          `through host ${n}: ${replies.join('; ')}`,
        ).toBe(true);
        const by = new Set(replies.map((r) => r.split(' ')[0]));
        console.log(`UDP through host ${n}: answered by ${[...by].sort().join(',')}`);
        expect([...by].sort(), `through host ${n}`).toEqual(['h1', 'h2']);
      }
    });

    it('inspect says the client address is not kept, and the tasks indeed see a node address', async () => {
      const [svc] = JSON.parse(await cli(1, 'service', 'inspect', 'peer')) as {
        clientAddress?: { kept: string; userlandNodes?: string[] };
      }[];
      expect(svc?.clientAddress?.kept).toBe('no');
      expect(svc?.clientAddress?.userlandNodes?.length).toBe(3);
      expect(await cli(1, 'service', 'inspect', '--pretty', 'peer')).toContain(
        'Client Address:\tnot kept: every node runs the userland proxy',
      );
      for (const n of HOSTS) {
        const replies = await fromRoot('tcp', n, 8090, 8);
        expect(
          replies.every((r) => /^h\d \S+$/.test(r)),
          `through host ${n}: ${replies.join('; ')}`,
        ).toBe(true);
        const seen = new Set(replies.map((r) => r.split(' ')[1]));
        console.log(`through host ${n} the tasks saw ${[...seen].sort().join(', ')} (client ${CLIENT_ADDR})`);
        expect(seen.has(CLIENT_ADDR)).toBe(false);
      }
    });
  });

  describe('a user overlay: VIP and name from a container on another host', () => {
    let client: { host: number; id: string };
    let vip: string;

    beforeAll(async () => {
      await cli(1, 'network', 'create', '-d', 'overlay', 'appnet');
      const common = ['--detach', '--network', 'appnet'];
      await cli(
        1,
        'service',
        'create',
        ...common,
        '--name',
        'api',
        '--replicas',
        '2',
        '--constraint',
        `node.id==${ids[1]}`,
        '-p',
        'published=8085,target=80',
        IMAGE,
      );
      await cli(
        1,
        'service',
        'create',
        ...common,
        '--name',
        'client',
        '--constraint',
        `node.id==${ids[2]}`,
        IMAGE,
      );
      client = await waitFor(
        async () => {
          const cs = await runningContainers('client');
          return cs[0] ? { done: true, value: cs[0] } : { done: false, state: 'no client container' };
        },
        { timeoutMs: 90_000, intervalMs: 300, what: 'the client container on host 2' },
      );
      const vips = findKey(JSON.parse(await cli(1, 'service', 'inspect', 'api')), 'virtualIps') as
        | { networkId: string; addr: string }[]
        | undefined;
      const netId = String(findKey(JSON.parse(await cli(1, 'network', 'inspect', 'appnet')), 'id'));
      vip = vips?.find((v) => v.networkId === netId)?.addr.split('/')[0] ?? JSON.stringify(vips);
      expect(vip).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    }, 180_000);

    /** HTTP bodies from the client container to `target`:80 (busybox nc). */
    async function fromClient(target: string, count: number): Promise<string[]> {
      const out: string[] = [];
      for (let i = 0; i < count; i++) {
        const r = await lab.dockerCli(
          client.host,
          ['exec', client.id, 'sh', '-c', `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 ${target} 80`],
          { allowFailure: true, timeoutMs: 15_000 },
        );
        out.push(r.stdout.trim().split('\n').at(-1)?.trim() || `error ${r.stderr.trim()}`);
      }
      return out;
    }

    it('the name resolves to the VIP, and the VIP answers from both tasks on host 1', async () => {
      await waitFor(
        async () => {
          const r = await lab.dockerCli(client.host, ['exec', client.id, 'nslookup', 'api'], {
            allowFailure: true,
          });
          return r.stdout.includes(`Address: ${vip}`) || r.stdout.includes(`Address 1: ${vip}`)
            ? { done: true, value: 0 }
            : { done: false, state: r.stdout.trim() || r.stderr.trim() };
        },
        { timeoutMs: 30_000, intervalMs: 200, what: `api -> ${vip} from the client container` },
      );
      for (const target of [vip, 'api']) {
        const seen = await waitFor(
          async () => {
            const got = new Set((await fromClient(target, 10)).filter((b) => b.startsWith('v1 ')));
            return got.size === 2 ? { done: true, value: got } : { done: false, state: [...got].join(', ') };
          },
          { timeoutMs: 30_000, intervalMs: 200, what: `both api tasks through ${target}` },
        );
        console.log(`${target}:80 from a container on host 2 answered by ${[...seen].join(', ')}`);
      }
    });

    it('a scaled-down task leaves the VIP rotation of the other host within 1 s', async () => {
      const before = backendChanges(2, 80).at(-1)?.backends ?? '';
      expect(before.split(',').length).toBe(2);
      const started = Date.now();
      await cli(1, 'service', 'scale', '--detach', 'api=1');
      // As in mesh-dns-lab: from the command's return (the CLI's own start is not the mesh's).
      const returned = Date.now();
      const change = await waitFor(
        () => {
          const c = backendChanges(2, 80).find((x) => x.at >= started && x.backends.split(',').length === 1);
          return c
            ? { done: true, value: c }
            : { done: false, state: String(backendChanges(2, 80).at(-1)?.backends) };
        },
        { timeoutMs: 10_000, intervalMs: 20, what: "host 2's VIP listener with one backend" },
      );
      console.log(
        `the VIP on host 2 dropped the task ${change.at - returned} ms after the scale command returned (${change.at - started} ms after it started)`,
      );
      expect(change.at - returned).toBeLessThan(1_000);
      const bodies = await fromClient(vip, 6);
      expect(new Set(bodies).size, bodies.join('; ')).toBe(1);
      await cli(1, 'service', 'rm', 'api', 'client');
    });
  });

  it('a replica whose health check fails leaves every rotation within 1 s of turning unhealthy, and its replacement serves', async () => {
    await cli(
      1,
      'service',
      'create',
      '--detach',
      '--name',
      'hc',
      '--replicas',
      '2',
      '--constraint',
      `node.id==${ids[1]}`,
      '-p',
      '8086:80',
      HEALTH_IMAGE,
    );
    const both = async (what: string): Promise<Set<string>> =>
      waitFor(
        async () => {
          const got = new Set((await bodies(3, 10, 8086)).filter((b) => b.startsWith('health ')));
          return got.size === 2 ? { done: true, value: got } : { done: false, state: [...got].join(', ') };
        },
        { timeoutMs: 90_000, intervalMs: 200, what },
      );
    await both('both hc replicas through host 3');
    const victim = (await runningContainers('hc'))[0]?.id as string;
    const started = Date.now();
    await lab.dockerCli(1, ['exec', victim, 'rm', '/tmp/healthy']);
    const unhealthyAt = await waitFor(
      async () => {
        const st = (
          await lab.dockerCli(1, ['inspect', '-f', '{{.State.Health.Status}}', victim])
        ).stdout.trim();
        return st === 'unhealthy' ? { done: true, value: Date.now() } : { done: false, state: st };
      },
      { timeoutMs: 20_000, intervalMs: 20, what: 'the engine to report the replica unhealthy' },
    );
    const delays = await waitFor(
      () => {
        const ms: number[] = [];
        const state: string[] = [];
        for (const n of HOSTS) {
          const c = backendChanges(n, 8086).find(
            (x) => x.at >= started && x.backends.split(',').length === 1,
          );
          if (c) ms.push(c.at - unhealthyAt);
          else state.push(`host ${n}: ${backendChanges(n, 8086).at(-1)?.backends}`);
        }
        return state.length === 0 ? { done: true, value: ms } : { done: false, state: state.join('; ') };
      },
      { timeoutMs: 10_000, intervalMs: 20, what: 'the unhealthy replica out of every rotation' },
    );
    console.log(
      `unhealthy replica out of the rotation on hosts 1-3 ${delays.join(', ')} ms after the engine was seen reporting it unhealthy`,
    );
    expect(Math.max(...delays)).toBeLessThan(1_000);
    // It still answers HTTP, so a request reaching it would show: none does.
    for (const n of HOSTS) {
      const got = await bodies(n, 10, 8086);
      expect(
        got.every((b) => b.startsWith('health ') && b !== `health ${victim.slice(0, 12)}`),
        `through host ${n}: ${got.join('; ')}`,
      ).toBe(true);
    }
    // As in docker, the unhealthy task is replaced (not waited for): two replicas serve again.
    const back = await both('the replacement serving through host 3').catch(async (e: unknown) => {
      throw new Error(`${String(e)}\n${await diagnose()}`);
    });
    expect(back.has(`health ${victim.slice(0, 12)}`)).toBe(false);
  });

  it("a killed replica leaves every node's rotation within 1 s, and its replacement serves", async () => {
    const running = await runningContainers('web');
    expect(running.map((c) => c.host)).toEqual([1, 1]);
    const victim = running[0]?.id as string;
    const before = HOSTS.map((n) => backendChanges(n, 8080).at(-1)?.backends ?? '');
    const killed = Date.now();
    await lab.dockerCli(1, ['kill', victim]);
    // Host 1 lists both containers' bridge addresses, hosts 2 and 3 host 1's listener twice
    // (one entry per remote task): each list loses one entry.
    const delays = await waitFor(
      () => {
        const ms: number[] = [];
        const state: string[] = [];
        for (const [i, n] of HOSTS.entries()) {
          const want = (before[i] ?? '').split(',').length - 1;
          const change = backendChanges(n, 8080).find(
            (c) => c.at >= killed - 50 && c.backends.split(',').filter(Boolean).length === want,
          );
          if (change) ms.push(change.at - killed);
          else state.push(`host ${n} still ${backendChanges(n, 8080).at(-1)?.backends}`);
        }
        return state.length === 0 ? { done: true, value: ms } : { done: false, state: state.join('; ') };
      },
      { timeoutMs: 15_000, intervalMs: 20, what: 'the killed replica out of every rotation' },
    );
    console.log(
      `killed replica out of the rotation on hosts 1-3 ${delays.map((d) => Math.round(d)).join(', ')} ms after docker kill`,
    );
    expect(Math.max(...delays)).toBeLessThan(1_000);
    const seen = await waitFor(
      async () => {
        const got = new Set((await bodies(2, 10)).filter((b) => b.startsWith('v1 ')));
        return got.size === 2 ? { done: true, value: got } : { done: false, state: [...got].join(', ') };
      },
      {
        timeoutMs: 60_000,
        intervalMs: 200,
        what: 'two replicas again through host 2 (the replacement serves)',
      },
    ).catch(async (e: unknown) => {
      throw new Error(`${String(e)}\n${await diagnose()}`);
    });
    expect(seen.has(`v1 ${victim.slice(0, 12)}`)).toBe(false);
  });

  it('service rm and leave leave no listener and no Docker network of ours', async () => {
    const left = (await cli(1, 'service', 'ls', '-q')).trim().split('\n').filter(Boolean);
    if (left.length > 0) await cli(1, 'service', 'rm', ...left);
    await waitFor(
      async () => {
        const left = (await Promise.all(HOSTS.map(async (n) => (await listeners(n)).length))).join(',');
        return left === '0,0,0'
          ? { done: true, value: 0 }
          : { done: false, state: `listeners per host ${left}` };
      },
      { timeoutMs: 10_000, intervalMs: 100, what: 'the published ports closed on every node' },
    );
    for (const n of [3, 2, 1]) {
      await swarm.run(n, ['leave', '--force'], { timeoutMs: 60_000, allowFailure: true });
      await waitFor(
        async () => {
          const nets = (await lab.dockerCli(n, ['network', 'ls', '--format', '{{.Name}}'])).stdout
            .trim()
            .split('\n')
            .filter((x) => !['bridge', 'host', 'none'].includes(x));
          const ls = await listeners(n);
          const ps = (await lab.dockerCli(n, ['ps', '-q'])).stdout.trim();
          const left = [
            nets.length > 0 && `docker networks ${nets.join(' ')}`,
            ls.length > 0 && `listeners ${ls.join(' | ')}`,
            ps !== '' && 'containers',
          ].filter(Boolean);
          return left.length === 0 ? { done: true, value: 0 } : { done: false, state: left.join(', ') };
        },
        { timeoutMs: 30_000, intervalMs: 200, what: `nothing of ours left on host ${n}` },
      );
    }
  });
});

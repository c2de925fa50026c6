import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../src/common/index.js';
import { Lab } from '../harness/lab.js';
import { LabSwarm, NODE_PROC } from '../harness/lab-swarm.js';
import { ensureBuilt } from '../harness/swarm-nodes.js';

/**
 * The services acceptance of issue 5 on lab hosts, each with its own network namespace and Docker
 * engine: swarmctl runs inside each host's namespace, host 1 inits, hosts 2 and 3 join as workers,
 * host 4 joins later (a global service follows it). Hosts share the machine's hostname, so nodes
 * are told apart by ID and containers by the engine they run on.
 */
const PREFIX = 'swlv';
const SUBNET = '10.213.5';
/** Hosts in the cluster: 1 inits, 2 and 3 join; host 4 joins during the global service test. */
const joined: number[] = [1, 2, 3];
const IMAGE = 'swarmctl-test/web:v1';

let lab: Lab;
let swarm: LabSwarm;
/** Node ID per host (index 1..3). */
const nodeId: string[] = [];

interface Container {
  id: string;
  state: string;
  task: string;
}

interface TaskRow {
  ID: string;
  Name: string;
  Node: string;
  DesiredState: string;
  CurrentState: string;
  Error: string;
}

const cli = (n: number, ...args: string[]): Promise<string> => swarm.cli(n, ...args);

async function daemonPid(n: number): Promise<number> {
  return (await swarm.info(n)).pid;
}

/** Containers of `service` in host n's engine (running only unless `all`). */
async function containers(n: number, service: string, all = false): Promise<Container[]> {
  const r = await lab.dockerCli(n, [
    'ps',
    ...(all ? ['-a'] : []),
    '--filter',
    `label=com.docker.swarm.service.name=${service}`,
    '--format',
    '{{.ID}} {{.State}} {{.Label "com.docker.swarm.task.id"}}',
  ]);
  return r.stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      const [id, state, task] = l.split(' ');
      return { id: id!, state: state!, task: task! };
    });
}

/** Running containers of `service` per host, e.g. [2, 2, 2]. */
async function runningPerHost(service: string): Promise<number[]> {
  return Promise.all(joined.map(async (n) => (await containers(n, service)).length));
}

async function waitPerHost(
  service: string,
  ok: (counts: number[]) => boolean,
  timeoutMs: number,
  what: string,
): Promise<number[]> {
  return waitFor(
    async () => {
      const counts = await runningPerHost(service);
      return ok(counts) ? { done: true, value: counts } : { done: false, state: `per host ${counts}` };
    },
    { timeoutMs, intervalMs: 200, what },
  );
}

const each =
  (want: number) =>
  (counts: number[]): boolean =>
    counts.every((c) => c === want);

async function tasks(service: string): Promise<TaskRow[]> {
  return (await cli(1, 'service', 'ps', service, '--no-trunc', '--format', 'json'))
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as TaskRow);
}

/** Status and availability per node ID. */
async function nodeStatus(): Promise<Map<string, { status: string; availability: string }>> {
  const nodes = await swarm.nodes(1);
  return new Map(nodes.map((n) => [n.id, { status: n.status.state, availability: n.spec.availability }]));
}

async function waitGone(service: string, timeoutMs: number): Promise<void> {
  await waitFor(
    async () => {
      const left = await Promise.all(joined.map(async (n) => (await containers(n, service, true)).length));
      return left.every((c) => c === 0) ? { done: true, value: 0 } : { done: false, state: `left ${left}` };
    },
    { timeoutMs, intervalMs: 200, what: `no container of ${service} on any host` },
  );
}

/** Joins host n as a worker through host 1 and records its node ID. */
async function joinWorker(n: number): Promise<void> {
  nodeId[n] = await swarm.join(n, 'worker');
}

beforeAll(async () => {
  ensureBuilt();
  lab = await Lab.up({ prefix: PREFIX, subnet: SUBNET, hosts: 4, images: [] });
  await lab.loadImages('all', [IMAGE]);
  swarm = new LabSwarm(lab);
  nodeId[1] = await swarm.init(1);
  await Promise.all([2, 3].map(joinWorker));
  await swarm.waitReady(3, 'three ready nodes');
}, 120_000);

afterAll(async () => {
  await lab?.teardown();
  await Lab.cleanupStale({ prefix: PREFIX });
}, 120_000);

describe('services on lab hosts with their own engines', () => {
  it('runs 6 replicas as 2 per host, each answering v1 on its container address', async () => {
    const started = performance.now();
    await cli(1, 'service', 'create', '--detach', '--replicas', '6', '--name', 'web', IMAGE);
    await waitPerHost('web', each(2), 30_000, '2 running web containers per host');
    console.log(`web: 6 running (2 per host) ${Math.round(performance.now() - started)} ms after create`);
    for (const n of joined) {
      for (const c of await containers(n, 'web')) {
        const ip = (
          await lab.dockerCli(n, ['inspect', '-f', '{{.NetworkSettings.IPAddress}}', c.id])
        ).stdout.trim();
        expect(ip.startsWith(`10.214.${n}.`)).toBe(true);
        const body = await waitFor(
          async () => {
            const r = await lab.httpGet(n, `http://${ip}:80/`);
            return r.ok
              ? { done: true, value: r.body }
              : { done: false, state: `curl ${r.exitCode} ${r.error}` };
          },
          { timeoutMs: 10_000, intervalMs: 200, what: `web ${c.id} on host ${n} to answer` },
        );
        expect(body).toMatch(/^v1 /);
      }
    }
    expect(await cli(1, 'service', 'ls')).toMatch(/web\s+replicated\s+6\/6\s+swarmctl-test\/web:v1/);
  });

  it('scales to 9 (one more per host), then to 3 (one per host)', async () => {
    await cli(1, 'service', 'scale', 'web=9', '--detach');
    await waitPerHost('web', each(3), 30_000, '3 running web containers per host');
    await cli(1, 'service', 'scale', 'web=3', '--detach');
    await waitPerHost('web', each(1), 30_000, '1 running web container per host');
  });

  it('replaces a container killed by hand within 10 s and shows the history', async () => {
    const [victim] = await containers(2, 'web');
    const killedAt = performance.now();
    await lab.dockerCli(2, ['kill', victim!.id]);
    await waitFor(
      async () => {
        const now = (await Promise.all(joined.map((n) => containers(n, 'web')))).flat();
        const others = now.filter((c) => c.id !== victim!.id).length;
        return others === 3 ? { done: true, value: 0 } : { done: false, state: `${others} others running` };
      },
      { timeoutMs: 10_000, intervalMs: 200, what: 'a replacement of the killed container' },
    );
    console.log(`killed container replaced in ${Math.round(performance.now() - killedAt)} ms`);
    const ps = await cli(1, 'service', 'ps', 'web');
    expect(ps).toMatch(/\\_ web\.\d+/);
    expect(ps).toMatch(/Shutdown\s+Failed/);
  });

  it('removes every container of the service on every host', async () => {
    await cli(1, 'service', 'rm', 'web');
    await waitGone('web', 30_000);
  });

  it('replaces the tasks of a cut host on the others within 20 s, and runs each slot once after healing', async () => {
    await cli(1, 'service', 'create', '--name', 'cut', '--replicas', '6', '--detach', IMAGE);
    await waitPerHost('cut', each(2), 30_000, '2 running cut containers per host');
    const cutAt = performance.now();
    await lab.cutLink(3);
    try {
      await waitFor(
        async () => {
          const down = (await nodeStatus()).get(nodeId[3]!)?.status === 'down';
          const [a, b] = await Promise.all([containers(1, 'cut'), containers(2, 'cut')]);
          const moved = a.length + b.length;
          return down && moved === 6
            ? { done: true, value: 0 }
            : { done: false, state: `host 3 down: ${down}; running on hosts 1 and 2: ${moved}` };
        },
        { timeoutMs: 20_000, intervalMs: 200, what: 'host 3 down and its tasks running on hosts 1 and 2' },
      );
      console.log(`cut host's tasks running elsewhere after ${Math.round(performance.now() - cutAt)} ms`);
    } finally {
      await lab.healLink(3);
    }
    await waitFor(
      async () => {
        const ready = (await nodeStatus()).get(nodeId[3]!)?.status === 'ready';
        const running = (await Promise.all(joined.map((n) => containers(n, 'cut')))).flat().length;
        const slots = (await tasks('cut'))
          .filter((t) => t.DesiredState === 'Running' && t.CurrentState.startsWith('Running'))
          .map((t) => t.Name.replace(/^\\_ /, ''));
        return ready && running === 6 && new Set(slots).size === 6
          ? { done: true, value: 0 }
          : {
              done: false,
              state: `host 3 ready: ${ready}; running containers ${running}; running slots ${slots}`,
            };
      },
      { timeoutMs: 30_000, intervalMs: 200, what: 'host 3 back with every slot running exactly once' },
    );
    await cli(1, 'service', 'rm', 'cut');
    await waitGone('cut', 30_000);
  });

  it('runs a global service once per node, follows a newly joined host and drain', async () => {
    await cli(1, 'service', 'create', '--detach', '--mode', 'global', '--name', 'glob', IMAGE);
    await waitPerHost('glob', each(1), 30_000, 'one glob container per host');
    await joinWorker(4);
    joined.push(4);
    await waitPerHost('glob', each(1), 30_000, 'a glob container on the newly joined host 4');
    await cli(1, 'node', 'update', '--availability', 'drain', nodeId[2]!);
    await waitPerHost('glob', (c) => c.join() === '1,0,1,1', 20_000, 'no glob container on drained host 2');
    await cli(1, 'node', 'update', '--availability', 'active', nodeId[2]!);
    await waitPerHost('glob', each(1), 20_000, 'glob back on host 2');
    await cli(1, 'service', 'rm', 'glob');
    await waitGone('glob', 30_000);
  });

  it('keeps unplaceable tasks pending with the reason in service ps', async () => {
    await cli(1, 'node', 'update', '--label-add', 'zone=a', nodeId[3]!);
    await cli(
      1,
      'service',
      'create',
      '--detach',
      '--replicas',
      '2',
      '--constraint',
      'node.labels.zone==a',
      '--name',
      'pinned',
      IMAGE,
    );
    await cli(
      1,
      'service',
      'create',
      '--detach',
      '--replicas',
      String(joined.length + 1),
      '--replicas-max-per-node',
      '1',
      '--name',
      'capped',
      IMAGE,
    );
    await cli(
      1,
      'service',
      'create',
      '--detach',
      '--replicas',
      '1',
      '--reserve-memory',
      '100000G',
      '--name',
      'huge',
      IMAGE,
    );
    await cli(
      1,
      'service',
      'create',
      '--detach',
      '--constraint',
      'node.labels.zone==b',
      '--name',
      'nowhere',
      IMAGE,
    );
    await waitPerHost('pinned', (c) => c.join() === '0,0,2,0', 30_000, 'both pinned tasks on host 3');
    await waitPerHost('capped', each(1), 30_000, 'one capped task per host');
    const pendingReason = async (service: string, want: number): Promise<string[]> =>
      waitFor(
        async () => {
          const rows = await tasks(service);
          const pending = rows.filter((t) => t.CurrentState.startsWith('Pending'));
          return pending.length === want && pending.every((t) => t.Error.includes('no suitable node'))
            ? { done: true, value: pending.map((t) => t.Error) }
            : { done: false, state: JSON.stringify(rows) };
        },
        { timeoutMs: 20_000, intervalMs: 200, what: `${want} pending ${service} task(s) with a reason` },
      );
    const capped = await pendingReason('capped', 1);
    const huge = await pendingReason('huge', 1);
    const nowhere = await pendingReason('nowhere', 1);
    console.log(`pending reasons: capped ${capped}; huge ${huge}; nowhere ${nowhere}`);
    expect(nowhere[0]).toMatch(/constraint/i);
    expect(huge[0]).toMatch(/resources|memory/i);
    expect(capped[0]).toMatch(/max replicas per node/i);
    expect(await runningPerHost('huge')).toEqual([0, 0, 0, 0]);
    expect(await runningPerHost('nowhere')).toEqual([0, 0, 0, 0]);
    const all = ['pinned', 'capped', 'huge', 'nowhere'];
    await cli(1, 'service', 'rm', ...all);
    await Promise.all(all.map((s) => waitGone(s, 30_000)));
  });

  it('adopts every container when every node swarmctl process restarts (engines keep running)', async () => {
    const replicas = 2 * joined.length;
    await cli(1, 'service', 'create', '--detach', '--replicas', String(replicas), '--name', 'keep', IMAGE);
    await waitPerHost('keep', each(2), 30_000, '2 running keep containers per host');
    const before = await Promise.all(
      joined.map(async (n) => (await containers(n, 'keep')).map((c) => c.id).sort()),
    );
    const sessionsOpened = (n: number): number =>
      readFileSync(join(lab.host(n).logDir, `${NODE_PROC}.log`), 'utf8')
        .split('\n')
        .filter((l) => l.includes('"session opened"')).length;
    const sessions = joined.map(sessionsOpened);
    // A crash of each node process (not a graceful stop), the managers' first.
    for (const n of joined) {
      process.kill(await daemonPid(n), 'SIGKILL');
      await swarm.waitExited(n);
    }
    const restartedAt = performance.now();
    const daemon = { listen: false, foreground: false };
    await swarm.startNode(1, ['daemon'], daemon);
    await Promise.all(joined.slice(1).map((n) => swarm.startNode(n, ['daemon'], daemon)));
    await waitFor(
      () => {
        const now = joined.map(sessionsOpened);
        return now.every((c, i) => c > sessions[i]!)
          ? { done: true, value: 0 }
          : { done: false, state: `sessions ${now} (before ${sessions})` };
      },
      { timeoutMs: 30_000, intervalMs: 200, what: 'every restarted node to open a session' },
    );
    await waitFor(
      async () => {
        const ls = await cli(1, 'service', 'ls');
        return new RegExp(`keep\\s+replicated\\s+${replicas}/${replicas}`).test(ls)
          ? { done: true, value: 0 }
          : { done: false, state: ls };
      },
      { timeoutMs: 30_000, intervalMs: 200, what: `keep ${replicas}/${replicas} after the restarts` },
    );
    console.log(
      `all nodes restarted: sessions and all keep tasks running after ${Math.round(performance.now() - restartedAt)} ms`,
    );
    const after = await Promise.all(
      joined.map(async (n) => (await containers(n, 'keep', true)).map((c) => c.id).sort()),
    );
    expect(after).toEqual(before);
    expect(await runningPerHost('keep')).toEqual(joined.map(() => 2));
  });
});

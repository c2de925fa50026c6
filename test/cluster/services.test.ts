import { readFileSync } from 'node:fs';
import { get } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../src/common/index.js';
import { docker, ok, removeContainersOf, startCluster, waitForReady } from '../harness/cluster-cli.js';
import { SwarmNodes, type TestNode } from '../harness/swarm-nodes.js';

/**
 * Services on real node processes and the machine's Docker engine: a manager (init) and a worker
 * joined on loopback, both on the same engine (containers carry their node's ID, so each node
 * manages only its own). Needs `bash scripts/build-images.sh` (swarmctl-test/web:v1).
 */
let nodes: SwarmNodes;
let mgr: TestNode;
let nodeIds: string[] = [];

/** This run's containers of `service` (running ones only unless `all`): other runs' are ignored. */
function containers(service: string, all = false): { id: string; state: string; node: string }[] {
  const out = docker(
    'ps',
    ...(all ? ['-a'] : []),
    '--filter',
    `label=com.docker.swarm.service.name=${service}`,
    '--format',
    '{{.ID}} {{.State}} {{.Label "com.docker.swarm.node.id"}}',
  );
  return out
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      const [id, state, node] = l.split(' ');
      return { id: id!, state: state!, node: node! };
    })
    .filter((c) => nodeIds.includes(c.node));
}

function httpGet(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = get(url, { timeout: 3000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        body += c;
      });
      res.on('end', () => resolve(body));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out`)));
  });
}

async function runningCount(service: string, want: number, timeoutMs: number): Promise<void> {
  await waitFor(
    () => {
      const running = containers(service).filter((c) => c.state === 'running').length;
      return running === want
        ? { done: true, value: undefined }
        : { done: false, state: `${running} running` };
    },
    { timeoutMs, intervalMs: 200, what: `${want} running containers of ${service}` },
  );
}

async function stopped(n: TestNode): Promise<void> {
  await waitFor(
    () => (nodes.pid(n) === undefined ? { done: true, value: 0 } : { done: false, state: 'still running' }),
    {
      timeoutMs: 10_000,
      what: `${n.name} to stop`,
    },
  );
}

beforeAll(() => {
  nodes = new SwarmNodes(25300, 'swarm-services-');
  nodeIds = startCluster(nodes, ['worker']);
  mgr = nodes.node(0);
}, 120_000);

afterAll(() => {
  try {
    mgr?.cli('service', 'rm', 'web');
  } finally {
    nodes?.teardown();
    removeContainersOf(nodeIds);
  }
});

describe('services on real engines', () => {
  it('creates 3 replicas that answer v1 on their container addresses', async () => {
    await waitForReady(mgr, 2, 20_000);
    const started = Date.now();
    ok(
      mgr.cli(
        'service',
        'create',
        '--detach=false',
        '--replicas',
        '3',
        '--name',
        'web',
        'swarmctl-test/web:v1',
      ),
    );
    const convergedMs = Date.now() - started;
    await runningCount('web', 3, 20_000);
    const running = containers('web');
    const answers = await Promise.all(
      running.map(async (c) => {
        const ip = docker(
          'inspect',
          '-f',
          '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}',
          c.id,
        ).trim();
        return httpGet(`http://${ip}:80/`);
      }),
    );
    for (const a of answers) expect(a).toMatch(/^v1 /);
    // Both nodes got tasks: the scheduler spreads 3 replicas over 2 nodes (2 + 1).
    const perNode = new Map<string, number>();
    for (const c of running) {
      const node = docker(
        'inspect',
        '-f',
        '{{index .Config.Labels "com.docker.swarm.node.id"}}',
        c.id,
      ).trim();
      perNode.set(node, (perNode.get(node) ?? 0) + 1);
    }
    expect([...perNode.values()].sort()).toEqual([1, 2]);
    const ls = ok(mgr.cli('service', 'ls'));
    expect(ls).toMatch(/web\s+replicated\s+3\/3\s+swarmctl-test\/web:v1/);
    console.log(`service create --replicas 3 converged in ${convergedMs} ms`);
  }, 60_000);

  it('updates to 4 replicas and scales to 5', async () => {
    ok(mgr.cli('service', 'update', '--detach=false', '--replicas', '4', 'web'));
    await runningCount('web', 4, 20_000);
    ok(mgr.cli('service', 'scale', 'web=5', '--detach=false'));
    await runningCount('web', 5, 20_000);
  }, 60_000);

  it('replaces a container killed by hand within 10 s and keeps its history', async () => {
    const victim = containers('web')[0]!;
    const killedAt = Date.now();
    docker('kill', victim.id);
    await waitFor(
      () => {
        const now = containers('web').filter((c) => c.state === 'running' && c.id !== victim.id).length;
        return now === 5 ? { done: true, value: undefined } : { done: false, state: `${now} others running` };
      },
      { timeoutMs: 10_000, intervalMs: 200, what: 'a replacement of the killed container' },
    );
    console.log(`killed container replaced in ${Date.now() - killedAt} ms`);
    const ps = ok(mgr.cli('service', 'ps', 'web'));
    expect(ps).toMatch(/\\_ web\.\d+/);
    expect(ps).toMatch(/Shutdown\s+Failed/);
  }, 30_000);

  it('refuses bad input and creates nothing', () => {
    const neg = mgr.cli('service', 'create', '--replicas', '-1', '--name', 'bad1', 'swarmctl-test/web:v1');
    expect(neg.status).not.toBe(0);
    expect(neg.stderr).toMatch(/replicas/);
    const global = mgr.cli(
      'service',
      'create',
      '--mode',
      'global',
      '--replicas',
      '2',
      '--name',
      'bad2',
      'swarmctl-test/web:v1',
    );
    expect(global.status).not.toBe(0);
    expect(global.stderr).toMatch(/replicas/);
    const dnsrr = mgr.cli(
      'service',
      'create',
      '--publish',
      '8080:80',
      '--endpoint-mode',
      'dnsrr',
      '--name',
      'bad3',
      'swarmctl-test/web:v1',
    );
    expect(dnsrr.status).not.toBe(0);
    expect(dnsrr.stderr).toMatch(/dnsrr/);
    const action = mgr.cli('service', 'update', '--update-failure-action', 'explode', 'web');
    expect(action.status).not.toBe(0);
    expect(action.stderr).toMatch(/update-failure-action.*explode|explode.*update-failure-action/);
    const names = ok(mgr.cli('service', 'ls', '--format', 'json'));
    expect(names).not.toMatch(/bad[123]/);
  });

  it('runs a global service once per node and removes it', async () => {
    ok(
      mgr.cli(
        'service',
        'create',
        '--detach=false',
        '--mode',
        'global',
        '--name',
        'glob',
        'swarmctl-test/web:v1',
      ),
    );
    await waitFor(
      () => {
        const perNode = containers('glob')
          .map((c) => c.node)
          .sort();
        return perNode.length === 2 && perNode[0] !== perNode[1]
          ? { done: true, value: 0 }
          : { done: false, state: perNode.join(',') };
      },
      { timeoutMs: 20_000, intervalMs: 200, what: 'one glob container per node' },
    );
    ok(mgr.cli('service', 'rm', 'glob'));
    await waitFor(
      () => {
        const left = containers('glob', true).length;
        return left === 0 ? { done: true, value: 0 } : { done: false, state: `${left} left` };
      },
      { timeoutMs: 20_000, intervalMs: 200, what: 'no glob container' },
    );
  }, 60_000);

  it('exits non-zero in a script when the service cannot converge', () => {
    const r = mgr.cli('service', 'create', '--detach=false', '--name', 'nope', 'swarmctl-test/missing:v9');
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/did not converge.*No such image/);
    ok(mgr.cli('service', 'rm', 'nope'));
  });

  it('adopts its containers when the worker process restarts', async () => {
    const worker = nodes.node(1);
    const before = containers('web')
      .filter((c) => c.node === nodeIds[1])
      .map((c) => c.id)
      .sort();
    expect(before.length).toBeGreaterThan(0);
    const opened = (): number =>
      readFileSync(join(worker.dir, 'daemon.log'), 'utf8')
        .split('\n')
        .filter((l) => l.includes('"session opened"')).length;
    const sessions = opened();
    process.kill(nodes.pid(worker)!, 'SIGKILL');
    await stopped(worker);
    ok(worker.cli('daemon', '-d', '--state-dir', worker.dir, '--control-socket', worker.socket));
    await waitFor(
      () => (opened() > sessions ? { done: true, value: 0 } : { done: false, state: `${opened()} sessions` }),
      {
        timeoutMs: 20_000,
        what: 'the restarted worker to open a session',
      },
    );
    await runningCount('web', 5, 10_000);
    const after = containers('web')
      .filter((c) => c.node === nodeIds[1])
      .map((c) => c.id)
      .sort();
    expect(after).toEqual(before);
  }, 60_000);

  it('marks a dead worker down and runs its tasks on the manager', async () => {
    const worker = nodes.node(1);
    const killedAt = Date.now();
    process.kill(nodes.pid(worker)!, 'SIGKILL');
    await stopped(worker);
    await waitFor(
      () => {
        const ls = ok(mgr.cli('node', 'ls'));
        return /\bDown\b/.test(ls) ? { done: true, value: 0 } : { done: false, state: ls };
      },
      { timeoutMs: 25_000, intervalMs: 200, what: 'the worker marked down' },
    );
    const downMs = Date.now() - killedAt;
    await waitFor(
      () => {
        const onMgr = containers('web').filter((c) => c.node === nodeIds[0] && c.state === 'running').length;
        return onMgr === 5 ? { done: true, value: 0 } : { done: false, state: `${onMgr} on the manager` };
      },
      { timeoutMs: 20_000, intervalMs: 200, what: 'all 5 tasks on the manager' },
    );
    console.log(
      `worker marked down after ${downMs} ms, tasks running elsewhere after ${Date.now() - killedAt} ms`,
    );
    // Back again: its old tasks are shut down, so no slot runs twice.
    ok(worker.cli('daemon', '-d', '--state-dir', worker.dir, '--control-socket', worker.socket));
    await runningCount('web', 5, 20_000);
    await waitFor(
      () => {
        const ls = ok(mgr.cli('node', 'ls'));
        return /\bDown\b/.test(ls) ? { done: false, state: ls } : { done: true, value: 0 };
      },
      { timeoutMs: 20_000, intervalMs: 200, what: 'the worker ready again' },
    );
    await runningCount('web', 5, 10_000);
  }, 90_000);

  it('removes every container on rm', async () => {
    ok(mgr.cli('service', 'rm', 'web'));
    await waitFor(
      () => {
        const left = containers('web', true).length;
        return left === 0 ? { done: true, value: undefined } : { done: false, state: `${left} left` };
      },
      { timeoutMs: 30_000, intervalMs: 200, what: 'no container of web' },
    );
  }, 40_000);
});

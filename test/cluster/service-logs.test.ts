import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../src/common/index.js';
import { docker, ok, removeContainersOf, startCluster, waitForReady } from '../harness/cluster-cli.js';
import { SWARMCTL, SwarmNodes, type TestNode } from '../harness/swarm-nodes.js';

/**
 * `service logs` on real node processes: a leader (n0), a follower manager (n1) and a worker (n2)
 * on loopback, sharing the machine's engine (each node reads only its own containers). Each task
 * prints five known lines, then sleeps. Needs `bash scripts/build-images.sh`.
 */
let nodes: SwarmNodes;
let leader: TestNode;
let follower: TestNode;
let nodeIds: string[] = [];
const SERVICE = 'logsvc';
// stderr well before stdout: `--tail N` counts the lines of both streams, and the engine copies
// the two streams independently (no order between them within a moment).
const SCRIPT = 'echo oops >&2; sleep 1; for i in 1 2 3 4 5; do echo "line $i"; done; exec sleep 100000';

/** This run's running containers of the service, with their node and task. */
function containers(): { id: string; node: string; task: string }[] {
  return docker(
    'ps',
    '--filter',
    `label=com.docker.swarm.service.name=${SERVICE}`,
    '--format',
    '{{.ID}} {{.Label "com.docker.swarm.node.id"}} {{.Label "com.docker.swarm.task.id"}}',
  )
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      const [id, node, task] = l.split(' ');
      return { id: id!, node: node!, task: task! };
    })
    .filter((c) => nodeIds.includes(c.node));
}

/** This run's running containers of another service. */
function containersOf(service: string): string[] {
  return docker(
    'ps',
    '--filter',
    `label=com.docker.swarm.service.name=${service}`,
    '--format',
    '{{.ID}} {{.Label "com.docker.swarm.node.id"}}',
  )
    .split('\n')
    .map((l) => l.split(' '))
    .filter(([id, node]) => id && nodeIds.includes(node ?? ''))
    .map(([id]) => id!);
}

/** Subscriptions each node's publisher started and ended, from its daemon log. */
function subscriptionCounts(): { started: number; ended: number }[] {
  return [0, 1, 2].map((i) => {
    const text = readFileSync(join(nodes.node(i).dir, 'daemon.log'), 'utf8');
    return {
      started: (text.match(/"log subscription started"/g) ?? []).length,
      ended: (text.match(/"log subscription ended"/g) ?? []).length,
    };
  });
}

/** Lines of `logs` output: `<service>.<slot>.<task>@<node>    | <text>`. */
function parse(out: string): { service: string; slot: string; task: string; node: string; text: string }[] {
  return out
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      const m = /^([\w-]+)\.(\w+)\.(\w+)@(\S+)\s+\| (.*)$/.exec(l);
      if (!m) throw new Error(`unexpected log line: ${JSON.stringify(l)}`);
      return { service: m[1]!, slot: m[2]!, task: m[3]!, node: m[4]!, text: m[5]! };
    });
}

/** Every running container has printed its five lines (the engine has them). */
async function allPrinted(want: number): Promise<void> {
  await waitFor(
    () => {
      const cs = containers();
      const printed = cs.filter((c) => /line 5/.test(docker('logs', c.id))).length;
      return cs.length === want && printed === want
        ? { done: true, value: undefined }
        : { done: false, state: `${cs.length} running, ${printed} printed` };
    },
    { timeoutMs: 30_000, intervalMs: 250, what: `${want} containers with their lines` },
  );
}

beforeAll(async () => {
  nodes = new SwarmNodes(25600, 'swarm-logs-');
  nodeIds = startCluster(nodes, ['manager', 'worker']);
  leader = nodes.node(0);
  follower = nodes.node(1);
  await waitForReady(leader, 3);
  ok(
    leader.cli(
      'service',
      'create',
      '--detach=false',
      '--replicas',
      '3',
      '--stop-grace-period',
      '1s',
      '--name',
      SERVICE,
      'swarmctl-test/web:v1',
      'sh',
      '-c',
      SCRIPT,
    ),
  );
  await allPrinted(3);
}, 120_000);

afterAll(() => {
  try {
    leader?.cli('service', 'rm', SERVICE);
  } finally {
    nodes?.teardown();
    removeContainersOf(nodeIds);
  }
});

describe('service logs across nodes', () => {
  it('shows every task of every node with docker prefixes, stderr lines on stderr, and exits 0', () => {
    const started = Date.now();
    const r = leader.cli('service', 'logs', SERVICE);
    const tookMs = Date.now() - started;
    expect(r.status, r.stderr).toBe(0);
    const lines = parse(r.stdout);
    expect(lines).toHaveLength(15);
    expect(lines.every((l) => l.service === SERVICE)).toBe(true);
    expect(new Set(lines.map((l) => l.slot))).toEqual(new Set(['1', '2', '3']));
    const running = containers();
    for (const c of running) {
      const mine = lines.filter((l) => c.task.startsWith(l.task)).map((l) => l.text);
      expect(mine).toEqual(['line 1', 'line 2', 'line 3', 'line 4', 'line 5']);
    }
    expect(lines.every((l) => l.task.length === 12)).toBe(true);
    expect(r.stderr.match(/\| oops$/gm)).toHaveLength(3);
    // --no-resolve names the nodes by ID: one task on each of the three nodes.
    const byId = parse(ok(leader.cli('service', 'logs', '--no-resolve', '--no-trunc', SERVICE)));
    expect(new Set(byId.map((l) => l.node))).toEqual(new Set(nodeIds));
    expect(new Set(byId.map((l) => l.task))).toEqual(new Set(running.map((c) => c.task)));
    console.log(`service logs of 3 tasks on 3 nodes: ${tookMs} ms (CLI process included)`);
  });

  it('--tail 2 gives the last two lines of each task; a task ID gives that task only', () => {
    const tail = parse(ok(leader.cli('service', 'logs', '--tail', '2', SERVICE)));
    expect(tail.map((l) => l.text).sort()).toEqual([
      'line 4',
      'line 4',
      'line 4',
      'line 5',
      'line 5',
      'line 5',
    ]);
    const one = containers()[0]!;
    // --raw: no prefix; -t: the engine's time first.
    const raw = ok(leader.cli('service', 'logs', '--raw', '-t', one.task.slice(0, 12)))
      .split('\n')
      .filter(Boolean);
    expect(raw.map((l) => l.replace(/^\S+ /, ''))).toEqual([
      'line 1',
      'line 2',
      'line 3',
      'line 4',
      'line 5',
    ]);
    expect(raw[0]).toMatch(/^\d{4}-\d{2}-\d{2}T[\d:.]+Z line 1$/);
    const bad = leader.cli('service', 'logs', 'nosuchthing');
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toMatch(/no such task or service: nosuchthing/);
    const badTail = leader.cli('service', 'logs', '--tail', 'x', SERVICE);
    expect(badTail.status).not.toBe(0);
    expect(badTail.stderr).toMatch(/--tail/);
  });

  it('works when asked on a follower manager (forwarded to the leader)', () => {
    const info = JSON.parse(ok(follower.cli('info', '--format', 'json')));
    expect(info.cluster.leader).toBe(nodeIds[0]);
    const lines = parse(ok(follower.cli('service', 'logs', '--tail', '1', SERVICE)));
    expect(lines.map((l) => l.text)).toEqual(['line 5', 'line 5', 'line 5']);
  });

  it('-f follows new lines and newly started tasks, and ends cleanly on SIGINT', async () => {
    const child = spawn(
      SWARMCTL,
      ['-H', `unix://${follower.socket}`, 'service', 'logs', '-f', '--tail', '1', SERVICE],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => {
      out += c;
    });
    child.stderr.setEncoding('utf8').on('data', (c: string) => {
      err += c;
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const count = (re: RegExp) => (out.match(re) ?? []).length;
      const until = (what: string, cond: () => boolean, timeoutMs = 20_000) =>
        waitFor(
          () =>
            cond()
              ? { done: true, value: undefined }
              : { done: false, state: `stdout: ${out}\nstderr: ${err}` },
          {
            timeoutMs,
            intervalMs: 100,
            what,
          },
        );
      await until('the last line of each task', () => count(/\| line 5$/gm) === 3);
      // A line written to a container's stdout now reaches the follower's CLI through the leader.
      const target = containers()[0]!;
      docker('exec', target.id, 'sh', '-c', 'echo fresh-line >/proc/1/fd/1');
      await until('the new line', () => /\.\w{12}@\S+\s+\| fresh-line$/m.test(out));
      expect(parse(out).find((l) => l.text === 'fresh-line')!.task).toBe(target.task.slice(0, 12));
      // A task started later is picked up with all its lines.
      ok(leader.cli('service', 'scale', `${SERVICE}=4`, '--detach=false'));
      await until('the new task', () => parse(out).filter((l) => l.slot === '4').length === 5);
      const t0 = Date.now();
      child.kill('SIGINT');
      expect(await exited).toBe(0);
      console.log(`service logs -f ended ${Date.now() - t0} ms after SIGINT`);
      // No leak: the cancel reached every node, whose engine reads of the subscription stopped.
      await waitFor(
        () => {
          const counts = subscriptionCounts();
          return counts.every((c) => c.started > 0 && c.ended === c.started)
            ? { done: true, value: undefined }
            : { done: false, state: JSON.stringify(counts) };
        },
        { timeoutMs: 10_000, intervalMs: 100, what: 'every node to end its log subscriptions' },
      );
      console.log(`every node's log subscriptions ended ${Date.now() - t0} ms after SIGINT`);
    } finally {
      child.kill('SIGKILL');
    }
  }, 90_000);

  it('streams a large log whole and in order (batches, back-pressure)', async () => {
    ok(
      leader.cli(
        'service',
        'create',
        '--detach=false',
        '--stop-grace-period',
        '1s',
        '--name',
        'bulk',
        'swarmctl-test/web:v1',
        'sh',
        '-c',
        'seq 1 50000; exec sleep 100000',
      ),
    );
    try {
      const bulkId = (): string => containersOf('bulk')[0] ?? '';
      await waitFor(
        () => {
          const id = bulkId();
          const last = id ? docker('logs', '--tail', '1', id).trim() : '';
          return last === '50000' ? { done: true, value: id } : { done: false, state: `last line ${last}` };
        },
        { timeoutMs: 30_000, intervalMs: 250, what: 'the bulk container to print its lines' },
      );
      const started = Date.now();
      const r = leader.cli('service', 'logs', '--raw', 'bulk');
      const ms = Date.now() - started;
      expect(r.status, r.stderr).toBe(0);
      const got = r.stdout.split('\n').filter(Boolean);
      expect(got).toHaveLength(50_000);
      expect(got.every((l, i) => l === String(i + 1))).toBe(true);
      const d0 = Date.now();
      execFileSync('docker', ['logs', bulkId()], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
      console.log(
        `service logs of 50000 lines: ${ms} ms; docker logs of the same container: ${Date.now() - d0} ms`,
      );
    } finally {
      leader.cli('service', 'rm', 'bulk');
    }
  }, 90_000);

  it("reports a node that is down on stderr and exits non-zero, with the other nodes' lines", async () => {
    ok(leader.cli('service', 'scale', `${SERVICE}=3`, '--detach=false'));
    await allPrinted(3);
    const worker = nodes.node(2);
    const pid = nodes.pid(worker)!;
    process.kill(pid, 'SIGKILL');
    await waitFor(
      () => (nodes.pid(worker) === undefined ? { done: true, value: 0 } : { done: false, state: 'running' }),
      { timeoutMs: 10_000, what: 'the worker process to exit' },
    );
    // Until it is marked down the worker's tasks still count: its lines are missing, and said so.
    const r = leader.cli('service', 'logs', '--tail', '1', '--no-resolve', SERVICE);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(
      new RegExp(`error from node \\S+ \\(${nodeIds[2]!.slice(0, 12)}\\): node is not connected`),
    );
    expect(parse(r.stdout).some((l) => l.node === nodeIds[2])).toBe(false);
    expect(r.stderr).toMatch(/output is incomplete/);
    // The other two nodes answered (last lines: 'line 5', or the line the -f case wrote).
    const shown = parse(r.stdout);
    expect(new Set(shown.map((l) => l.node))).toEqual(new Set(nodeIds.slice(0, 2)));
    expect(shown.every((l) => l.text === 'line 5' || l.text === 'fresh-line')).toBe(true);
  }, 60_000);
});

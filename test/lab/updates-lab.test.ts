import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SlotWatch } from '../../scripts/bench/slot-watch.js';
import { waitFor } from '../../src/common/index.js';
import { Lab } from '../harness/lab.js';
import { type LabNodeInfo, type LabNodeJson, LabSwarm } from '../harness/lab-swarm.js';
import type { CommandResult } from '../harness/run-command.js';
import { ensureBuilt } from '../harness/swarm-nodes.js';

/**
 * The rolling update acceptance of issue 6 on three lab hosts, each with its own network namespace
 * and Docker engine, all three managers (the leader-kill case needs a quorum without it). What the
 * containers did is read from the engines' own event streams (start/die with nanosecond times), so
 * "slots without a running task" is measured on every container change, not sampled.
 */
const PREFIX = 'swlu';
const SUBNET = '10.213.6';
const HOSTS = [1, 2, 3];
const V1 = 'swarmctl-test/web:v1';
const V2 = 'swarmctl-test/web:v2';
const FAIL = 'swarmctl-test/fail';
const HEALTH = 'swarmctl-test/health';

let lab: Lab;
let swarm: LabSwarm;
const nodeId: string[] = [];

const cli = (n: number, ...args: string[]): Promise<string> => swarm.cli(n, ...args);

/**
 * `service <verb> --detach=false <words>` on host 1, which waits and may fail: its exit and output.
 * `words` is split on spaces (no value in these tests has one).
 */
async function waiting(verb: 'update' | 'rollback' | 'promote', words: string): Promise<CommandResult> {
  const args = [verb, '--detach=false', ...words.split(' ')];
  const n = 1;
  const started = performance.now();
  const r = await swarm.run(n, ['service', ...args], { allowFailure: true, timeoutMs: 240_000 });
  console.log(
    `swarmctl service ${args.join(' ')} → exit ${r.code} after ${Math.round(performance.now() - started)} ms; ${r.stderr.trim()}`,
  );
  return r;
}

interface ServiceJson {
  spec: { taskTemplate: { container: { image: string; env?: string[] }; resources?: unknown } };
  status: { updateStatus?: { state: string; startedAt?: number; message?: string } };
}

async function inspect(name: string, n = 1): Promise<ServiceJson> {
  return (JSON.parse(await cli(n, 'service', 'inspect', name)) as ServiceJson[])[0]!;
}

const info = (n: number): Promise<LabNodeInfo> => swarm.info(n);
const nodes = (n = 1): Promise<LabNodeJson[]> => swarm.nodes(n);

let watch: SlotWatch | undefined;

async function watched(service: string, replicas: number): Promise<SlotWatch> {
  watch = await SlotWatch.start(lab, HOSTS, service, replicas);
  return watch;
}

/** `w.settled`, and on failure the manager's view of the tasks in the test's output. */
async function settle(w: SlotWatch, image: string, timeoutMs?: number): Promise<void> {
  try {
    await w.settled(image, timeoutMs);
  } catch (e) {
    const ps = await swarm.run(2, ['service', 'ps', '--no-trunc', w.service], { allowFailure: true });
    console.log(`service ps ${w.service} when it did not settle:\n${ps.stdout}${ps.stderr}`);
    throw e;
  }
}

/** Creates a service and waits until each slot runs its container. */
async function create(name: string, replicas: number, ...flags: string[]): Promise<void> {
  const image = flags.pop()!;
  await cli(
    1,
    'service',
    'create',
    '--detach',
    '--name',
    name,
    '--replicas',
    String(replicas),
    ...flags,
    image,
  );
  const w = await SlotWatch.start(lab, HOSTS, name, replicas);
  try {
    await settle(w, image);
  } finally {
    w.stop();
  }
}

async function remove(name: string): Promise<void> {
  await cli(1, 'service', 'rm', name);
}

beforeAll(async () => {
  ensureBuilt();
  lab = await Lab.up({ prefix: PREFIX, subnet: SUBNET, hosts: 3, images: [] });
  await lab.loadImages('all', [V1, V2, FAIL, HEALTH]);
  swarm = new LabSwarm(lab);
  nodeId[1] = await swarm.init(1);
  for (const n of [2, 3]) nodeId[n] = await swarm.join(n, 'manager');
  await swarm.waitReady(3, 'three ready managers');
}, 180_000);

afterEach(() => {
  watch?.stop();
  watch = undefined;
});

afterAll(async () => {
  await lab?.teardown();
  await Lab.cleanupStale({ prefix: PREFIX });
}, 120_000);

describe('rolling updates on lab hosts', () => {
  it('updates 6 replicas 2 at a time, 1 s apart, never more than 2 slots down, and exits 0', async () => {
    await create('web', 6, V1);
    const w = await watched('web', 6);
    const r = await waiting(
      'update',
      '--image swarmctl-test/web:v2 --update-parallelism 2 --update-delay 1s web',
    );
    expect(r.code).toBe(0);
    await settle(w, V2);
    const starts = w.starts(V2);
    const { maxSlotsDown } = w.worst();
    const gaps = [2, 4].map((i) => Math.round(starts[i]! - starts[i - 2]!));
    console.log(`web v1→v2: max slots without a running task ${maxSlotsDown}; batch start gaps ${gaps} ms`);
    expect(starts.length).toBe(6);
    expect(maxSlotsDown).toBeLessThanOrEqual(2);
    for (const g of gaps) expect(g).toBeGreaterThanOrEqual(1000);
    expect((await inspect('web')).status.updateStatus?.state).toBe('completed');
  });

  it('start-first never leaves a slot without a running task (never below 6 running)', async () => {
    const w = await watched('web', 6);
    const r = await waiting(
      'update',
      '--env-add ROUND=2 --update-order start-first --update-parallelism 2 web',
    );
    expect(r.code).toBe(0);
    await settle(w, V2);
    const { maxSlotsDown, minRunning } = w.worst();
    console.log(`start-first: max slots down ${maxSlotsDown}, min running ${minRunning}`);
    expect(maxSlotsDown).toBe(0);
    expect(minRunning).toBeGreaterThanOrEqual(6);
  });

  it('rolls back by itself from a failing image: back on v2, rollback_completed, non-zero exit', async () => {
    const w = await watched('web', 6);
    const r = await waiting(
      'update',
      '--image swarmctl-test/fail --update-failure-action rollback --update-parallelism 2 --update-monitor 3s web',
    );
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/rolled back/);
    await settle(w, V2);
    const s = await inspect('web');
    expect(s.status.updateStatus?.state).toBe('rollback_completed');
    expect(s.spec.taskTemplate.container.image).toBe(V2);
    expect(s.spec.taskTemplate.container.env).toEqual(['ROUND=2']);
  });

  it('pauses after the first failing batch; an update with a good image resumes and completes', async () => {
    const w = await watched('web', 6);
    const r = await waiting(
      'update',
      '--image swarmctl-test/fail --update-failure-action pause --update-parallelism 2 --update-monitor 3s web',
    );
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/paused/);
    expect((await inspect('web')).status.updateStatus?.state).toBe('paused');
    // Only the first batch was touched: the other 4 slots still run their v2 container.
    const untouched = [...w.now().values()].filter((b) => b.length === 1 && b[0]!.image === V2).length;
    expect(untouched).toBeGreaterThanOrEqual(4);
    expect(w.starts(FAIL).length).toBeGreaterThan(0);
    const resumed = await waiting('update', '--image swarmctl-test/web:v1 --update-parallelism 3 web');
    expect(resumed.code).toBe(0);
    await settle(w, V1);
    expect((await inspect('web')).status.updateStatus?.state).toBe('completed');
    await remove('web');
  });

  it('counts a new version whose healthcheck fails as failed within the monitor window', async () => {
    await create('hc', 3, HEALTH);
    const w = await watched('hc', 3);
    const since = Date.now();
    const started = performance.now();
    const r = await waiting('update', '--env-add START_UNHEALTHY=1 --update-monitor 20s hc');
    const took = performance.now() - started;
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/paused/);
    expect(took).toBeLessThan(20_000);
    // The unhealthy container was never killed: it still runs, so the failure was its health.
    const unhealthy = await Promise.all(
      HOSTS.map(async (n) =>
        (
          await lab.dockerCli(n, [
            'ps',
            '--filter',
            'label=com.docker.swarm.service.name=hc',
            '--filter',
            'health=unhealthy',
            '-q',
          ])
        ).stdout.trim(),
      ),
    );
    expect(unhealthy.filter(Boolean).length).toBeGreaterThan(0);
    expect(w.starts(HEALTH, since).length).toBe(1);
    await remove('hc');
  });

  it('service rollback after a completed update restores image, env and resources', async () => {
    await create('rb', 3, '--env', 'A=1', '--limit-memory', '64m', V1);
    const up = await waiting('update', '--image swarmctl-test/web:v2 --env-add A=2 --limit-memory 128m rb');
    expect(up.code).toBe(0);
    const w = await watched('rb', 3);
    const back = await waiting('rollback', 'rb');
    expect(back.code).toBe(0);
    await settle(w, V1);
    const s = await inspect('rb');
    expect(s.spec.taskTemplate.container).toMatchObject({ image: V1, env: ['A=1'] });
    expect(s.spec.taskTemplate.resources).toEqual({ limits: { memoryBytes: 64 * 1024 * 1024 } });
    expect(s.status.updateStatus?.state).toBe('rollback_completed');
    for (const n of HOSTS) {
      const ids = (
        await lab.dockerCli(n, ['ps', '-q', '--filter', 'label=com.docker.swarm.service.name=rb'])
      ).stdout
        .split('\n')
        .filter(Boolean);
      for (const id of ids) {
        const got = (
          await lab.dockerCli(n, ['inspect', '-f', '{{.HostConfig.Memory}} {{json .Config.Env}}', id])
        ).stdout;
        expect(got).toMatch(/^67108864 .*"A=1"/);
      }
    }
    await remove('rb');
  });

  it('canary 1 updates exactly one slot and holds; promote finishes', async () => {
    await create('can', 4, V1);
    const w = await watched('can', 4);
    const r = await waiting('update', '--image swarmctl-test/web:v2 --update-canary 1 can');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/service promote can/);
    expect((await inspect('can')).status.updateStatus?.state).toBe('canary');
    const images = [...w.now().values()]
      .flat()
      .map((b) => b.image)
      .sort();
    expect(images).toEqual([V1, V1, V1, V2]);
    const p = await waiting('promote', 'can');
    expect(p.code).toBe(0);
    await settle(w, V2);
    expect((await inspect('can')).status.updateStatus?.state).toBe('completed');
    await remove('can');
  });

  it('rollback from the canary state restores v1 everywhere', async () => {
    await create('can2', 4, V1);
    const w = await watched('can2', 4);
    expect((await waiting('update', '--image swarmctl-test/web:v2 --update-canary 1 can2')).code).toBe(0);
    expect(w.starts(V2).length).toBe(1);
    const back = await waiting('rollback', 'can2');
    expect(back.code).toBe(0);
    await settle(w, V1);
    expect((await inspect('can2')).spec.taskTemplate.container.image).toBe(V1);
    await remove('can2');
  });

  it('--update-canary-auto promotes by itself after the hold; the waiting update returns once completed', async () => {
    await create('auto', 3, V1);
    const w = await watched('auto', 3);
    const since = Date.now();
    const r = await waiting('update', `--image ${V2} --update-canary 1 --update-canary-auto 3s auto`);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/converged/);
    expect((await inspect('auto')).status.updateStatus?.state).toBe('completed');
    await settle(w, V2);
    const [canary, next] = w.starts(V2, since);
    console.log(`canary-auto 3s: next slot started ${Math.round(next! - canary!)} ms after the canary`);
    expect(next! - canary!).toBeGreaterThanOrEqual(3000);
    await remove('auto');
  });

  it('continues the same update on the new leader when the leader is killed mid-update', async () => {
    await create('lk', 6, V1);
    const leaderNode = (await nodes()).find((x) => x.managerStatus?.leader)!.id;
    const leader = HOSTS.find((n) => nodeId[n] === leaderNode)!;
    const other = HOSTS.find((n) => n !== leader)!;
    const w = await watched('lk', 6);
    await cli(
      1,
      'service',
      'update',
      '--detach',
      '--image',
      V2,
      '--update-parallelism',
      '1',
      '--update-delay',
      '2s',
      'lk',
    );
    await waitFor(
      () => {
        const n = w.starts(V2).length;
        return n >= 3 ? { done: true, value: n } : { done: false, state: `${n} v2 started` };
      },
      { timeoutMs: 60_000, intervalMs: 100, what: 'three slots on v2' },
    );
    const startedAt = (await inspect('lk', other)).status.updateStatus?.startedAt;
    // v2 containers already running on the hosts that stay up: continuing must leave them alone.
    const leaderIds = new Set(
      (await lab.dockerCli(leader, ['ps', '-q', '--no-trunc'])).stdout.split('\n').filter(Boolean),
    );
    const done = w.runningIds(V2).filter((id) => !leaderIds.has(id));
    process.kill((await info(leader)).pid, 'SIGKILL');
    const killedAt = performance.now();
    await swarm.waitExited(leader);
    await waitFor(
      async () => {
        const s = await inspect('lk', other);
        const state = s.status.updateStatus?.state;
        return state === 'completed' ? { done: true, value: 0 } : { done: false, state: `${state}` };
      },
      { timeoutMs: 120_000, intervalMs: 500, what: 'the update to complete under the new leader' },
    );
    console.log(
      `leader (host ${leader}) killed; update completed ${Math.round(performance.now() - killedAt)} ms later`,
    );
    expect((await inspect('lk', other)).status.updateStatus?.startedAt).toBe(startedAt);
    // The killed node comes back and its agent stops what the cluster moved elsewhere.
    await swarm.startNode(leader, ['daemon'], { listen: false, foreground: false });
    await settle(w, V2, 90_000);
    const kept = new Set(w.runningIds(V2));
    console.log(
      `v2 containers running before the kill on surviving hosts: ${done.length}, still running: ${done.filter((id) => kept.has(id)).length}`,
    );
    expect(done.filter((id) => !kept.has(id))).toEqual([]);
    const ps = (await cli(other, 'service', 'ps', 'lk', '--format', 'json'))
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { Name: string; DesiredState: string; CurrentState: string });
    const running = ps.filter((t) => t.DesiredState === 'Running' && t.CurrentState.startsWith('Running'));
    expect(new Set(running.map((t) => t.Name)).size).toBe(running.length);
    await remove('lk');
  });
});

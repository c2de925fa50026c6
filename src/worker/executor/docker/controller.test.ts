import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { TaskStatus } from '../../../api/index.js';
import { isSwarmError, waitFor } from '../../../common/index.js';
import type { Controller, TaskContainerEvent } from '../executor.js';
import type { DockerExecutor } from './docker-executor.js';
import { assertDockerAnswers, dockerCli, inspect, removeRunResources, testRun } from './testing.js';

const run = testRun('ctl');
let executor: DockerExecutor;
const stop = new AbortController();
let running: Promise<void>;
const controllers: Controller[] = [];

beforeAll(async () => {
  await assertDockerAnswers();
  executor = await run.executor();
  running = executor.run(stop.signal);
  await waitFor(
    () => (executor.eventsConnected ? { done: true, value: true } : { done: false, state: 'connecting' }),
    {
      timeoutMs: 10_000,
      what: 'the docker event stream',
    },
  );
});

afterEach(() => {
  for (const c of controllers.splice(0)) c.dispose();
});

afterAll(async () => {
  stop.abort();
  await running;
  executor?.dispose();
  await removeRunResources(run.runId);
});

/** Measured figures, printed for the report (a test's output, not the product's logging). */
function report(line: string): void {
  process.stdout.write(`${line}\n`);
}

function track(c: Controller): Controller {
  controllers.push(c);
  return c;
}

/** Records every status the controller announces, with the local time it was announced. */
function recordStatuses(c: Controller): { status: TaskStatus; at: number }[] {
  const seen: { status: TaskStatus; at: number }[] = [];
  c.onDidChangeStatus((status) => seen.push({ status, at: Date.now() }));
  return seen;
}

function nextEngineEvent(
  predicate: (e: TaskContainerEvent) => boolean,
): Promise<{ event: TaskContainerEvent; at: number }> {
  return new Promise((resolve) => {
    const sub = executor.onDidContainerEvent((event) => {
      if (event.kind === 'resync' || !predicate(event)) return;
      sub.dispose();
      resolve({ event, at: Date.now() });
    });
  });
}

describe('DockerController', () => {
  it('prepares and starts the web image: ready, then running', async () => {
    const c = track(executor.controller(run.task('web', {})));
    const t0 = performance.now();
    const prepared = await c.prepare();
    const t1 = performance.now();
    expect(prepared.state).toBe('ready');
    expect(prepared.containerStatus?.containerId).toMatch(/^[0-9a-f]{64}$/);
    const started = await c.start();
    const t2 = performance.now();
    expect(started.state).toBe('running');
    expect(started.health).toBe('none');
    expect(started.containerStatus?.pid).toBeGreaterThan(0);
    // Idempotent steps: again, nothing new happens and the status stands.
    expect((await c.prepare()).state).toBe('running');
    expect((await c.start()).state).toBe('running');
    expect(await dockerCli(['ps', '-q', '--filter', `label=com.docker.swarm.task.id=${c.task.id}`])).not.toBe(
      '',
    );
    report(
      `[measure] web v1: prepare (create) ${(t1 - t0).toFixed(0)} ms, start→running ${(t2 - t1).toFixed(0)} ms`,
    );
  });

  it('with a healthcheck: starting until healthy, then failed within a second of the unhealthy event', async () => {
    const c = track(executor.controller(run.task('health', { image: 'swarmctl-test/health' })));
    const seen = recordStatuses(c);
    expect((await c.prepare()).state).toBe('ready');
    const started = await c.start();
    // The image's check runs every second: right after start the engine says "starting".
    expect(started.state).toBe('starting');
    expect(started.health).toBe('starting');
    const healthy = await c.waitUntil((s) => s.state === 'running', AbortSignal.timeout(10_000));
    expect(healthy.health).toBe('healthy');
    expect(seen.map((s) => s.status.state)).toEqual(['ready', 'starting', 'running']);

    const unhealthyEvent = nextEngineEvent(
      (e) => e.kind === 'health' && e.health === 'unhealthy' && e.taskId === c.task.id,
    );
    await dockerCli(['exec', healthy.containerStatus!.containerId!, 'rm', '/tmp/healthy']);
    const failed = await c.wait(AbortSignal.timeout(15_000));
    const reportedAt = Date.now();
    const { event, at: eventSeenAt } = await unhealthyEvent;
    expect(failed.state).toBe('failed');
    expect(failed.health).toBe('unhealthy');
    expect(failed.err).toBe('container unhealthy');
    const latency = reportedAt - eventSeenAt;
    report(
      `[measure] unhealthy: engine event → our receipt ${eventSeenAt - event.time} ms, receipt → task failed ${latency} ms`,
    );
    expect(latency).toBeLessThan(1000);
  });

  it('the fail image ends failed with its exit code', async () => {
    const c = track(
      executor.controller(run.task('fail', { image: 'swarmctl-test/fail', env: ['EXIT_CODE=3'] })),
    );
    await c.prepare();
    await c.start();
    const done = await c.wait(AbortSignal.timeout(10_000));
    expect(done.state).toBe('failed');
    expect(done.containerStatus?.exitCode).toBe(3);
    expect(done.err).toBe('task: non-zero exit (3)');
  });

  it('a process that exits 0 completes', async () => {
    const c = track(executor.controller(run.task('job', { command: ['true'] })));
    await c.prepare();
    await c.start();
    const done = await c.wait(AbortSignal.timeout(10_000));
    expect(done.state).toBe('complete');
    expect(done.containerStatus?.exitCode).toBe(0);
  });

  it('reports a container killed by hand within a second and a half, from engine events', async () => {
    const c = track(executor.controller(run.task('killed', {})));
    await c.prepare();
    const started = await c.start();
    expect(started.state).toBe('running');
    const dieEvent = nextEngineEvent((e) => e.kind === 'die' && e.taskId === c.task.id);
    const t0 = Date.now();
    await dockerCli(['kill', started.containerStatus!.containerId!]);
    const failed = await c.wait(AbortSignal.timeout(5_000));
    const reported = Date.now();
    const { event } = await dieEvent;
    expect(failed.state).toBe('failed');
    expect(failed.containerStatus?.exitCode).toBe(137);
    expect(failed.err).toBe('task: non-zero exit (137)');
    report(
      `[measure] docker kill: command issued → task failed ${reported - t0} ms (engine die event → task failed ${reported - event.time} ms)`,
    );
    expect(reported - t0).toBeLessThan(1500);
  });

  it('shutdown sends SIGTERM: the web server stops at once, long before its grace period', async () => {
    const c = track(executor.controller(run.task('stop', { stopGracePeriodMs: 10_000 })));
    await c.prepare();
    await c.start();
    const t0 = performance.now();
    const stopped = await c.shutdown();
    const elapsed = performance.now() - t0;
    expect(stopped.state).toBe('shutdown');
    // The image's server exits on SIGTERM with status 0 (it traps the signal).
    expect(stopped.containerStatus?.exitCode).toBe(0);
    expect(elapsed).toBeLessThan(5_000);
    // Idempotent: a second shutdown of a stopped container changes nothing.
    expect((await c.shutdown()).state).toBe('shutdown');
  });

  it('shutdown uses the spec stop signal and kills after the grace period', async () => {
    // PID 1 ignores signals it has no handler for: SIGUSR1 does nothing, so the engine kills at 1 s.
    const c = track(
      executor.controller(run.task('usr1', { stopSignal: 'SIGUSR1', stopGracePeriodMs: 1_000 })),
    );
    const prepared = await c.prepare();
    const i = await inspect(prepared.containerStatus!.containerId!);
    expect(i.Config.StopSignal).toBe('SIGUSR1');
    expect(i.Config.StopTimeout).toBe(1);
    await c.start();
    const t0 = performance.now();
    const stopped = await c.shutdown();
    const elapsed = performance.now() - t0;
    expect(stopped.state).toBe('shutdown');
    expect(stopped.containerStatus?.exitCode).toBe(137);
    expect(elapsed).toBeGreaterThanOrEqual(900);
    expect(elapsed).toBeLessThan(5_000);
  });

  it('terminate kills and remove deletes; both are idempotent', async () => {
    const c = track(executor.controller(run.task('term', {})));
    await c.prepare();
    const started = await c.start();
    await c.terminate();
    expect(c.lastStatus?.state).toBe('shutdown');
    await c.terminate();
    await c.remove();
    await c.remove();
    expect(await dockerCli(['ps', '-aq', '--filter', `id=${started.containerStatus!.containerId!}`])).toBe(
      '',
    );
    expect(c.lastStatus?.state).toBe('shutdown');
  });

  it('remove of a running container stops it gracefully first (SIGTERM, exit 0, not a kill)', async () => {
    const c = track(executor.controller(run.task('rmrun', {})));
    await c.prepare();
    expect((await c.start()).state).toBe('running');
    const die = nextEngineEvent((e) => e.kind === 'die' && e.taskId === c.task.id);
    await c.remove();
    const { event } = await die;
    expect(event.kind === 'die' && event.exitCode).toBe(0);
    expect(c.lastStatus?.state).toBe('shutdown');
    expect(await dockerCli(['ps', '-aq', '--filter', `label=com.docker.swarm.task.id=${c.task.id}`])).toBe(
      '',
    );
  });

  it('a container removed by hand fails its task', async () => {
    const c = track(executor.controller(run.task('gone', {})));
    await c.prepare();
    const started = await c.start();
    await dockerCli(['rm', '-f', started.containerStatus!.containerId!]);
    const failed = await c.wait(AbortSignal.timeout(5_000));
    expect(failed.state).toBe('failed');
    // `rm -f` kills before it removes, so the engine's die event (exit 137) may arrive before the
    // destroy event; either way the task must fail at once rather than wait for a heartbeat.
    expect(['container removed outside swarmctl', 'task: non-zero exit (137)']).toContain(failed.err);
  });

  it('a missing image rejects the task (there is no registry to pull from)', async () => {
    const c = track(executor.controller(run.task('noimg', { image: 'swarmctl-test/nope:latest' })));
    const s = await c.prepare();
    expect(s.state).toBe('rejected');
    expect(s.err).toBe('No such image: swarmctl-test/nope:latest');
    expect(await c.status()).toEqual(s);
  });

  it('a command that cannot be executed fails the task at start', async () => {
    const c = track(executor.controller(run.task('noexec', { command: ['/no/such/binary'] })));
    expect((await c.prepare()).state).toBe('ready');
    const s = await c.start();
    expect(s.state).toBe('failed');
    expect(s.err).toMatch(/no such file or directory/);
  });

  it('start before prepare is a task failure, not an exception', async () => {
    const c = track(executor.controller(run.task('unprepared', {})));
    const s = await c.start();
    expect(s.state).toBe('failed');
    expect(s.err).toMatch(/^No such container: /);
  });

  it('an unreachable engine is an UNAVAILABLE exception, not a task status', async () => {
    const dead = await run.executor('unix:///tmp/swarmctl-no-such-engine.sock');
    const c = dead.controller(run.task('dead', {}));
    const e = await c.prepare().then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(isSwarmError(e, 'UNAVAILABLE')).toBe(true);
    await expect(dead.describe()).rejects.toMatchObject({ code: 'UNAVAILABLE', retryable: true });
    c.dispose();
  });
});

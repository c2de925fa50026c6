import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isSwarmError, waitFor } from '../../../common/index.js';
import type { Controller, LogLine } from '../executor.js';
import type { DockerExecutor } from './docker-executor.js';
import { dockerOptions } from './docker-executor.js';
import { assertDockerAnswers, dockerCli, removeRunResources, testRun } from './testing.js';

const run = testRun('exe');
let executor: DockerExecutor;
const stop = new AbortController();
let running: Promise<void>;
const controllers: Controller[] = [];

beforeAll(async () => {
  await assertDockerAnswers();
  executor = await run.executor();
  running = executor.run(stop.signal);
  await waitConnected(executor, true);
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

function waitConnected(e: DockerExecutor, connected: boolean): Promise<boolean> {
  return waitFor(
    () =>
      e.eventsConnected === connected
        ? { done: true, value: connected }
        : { done: false, state: `connected=${e.eventsConnected}` },
    { timeoutMs: 10_000, what: `event stream connected=${connected}` },
  );
}

async function collect(lines: AsyncIterable<LogLine>): Promise<LogLine[]> {
  const out: LogLine[] = [];
  for await (const l of lines) out.push(l);
  return out;
}

async function startTask(service: string, container: Parameters<typeof run.task>[1]): Promise<Controller> {
  const c = executor.controller(run.task(service, container));
  controllers.push(c);
  expect((await c.prepare()).state).toBe('ready');
  await c.start();
  return c;
}

/**
 * A unix-socket proxy in front of the engine that can cut every connection and refuse new
 * ones: how a dropped event stream (engine restart, socket hiccup) looks to the executor.
 */
class FlakyProxy {
  private readonly sockets = new Set<Socket>();
  private refusing = false;
  readonly server: Server;

  constructor(readonly path: string) {
    this.server = createServer((client) => {
      if (this.refusing) {
        client.destroy();
        return;
      }
      const upstream = createConnection('/var/run/docker.sock');
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => s.destroy());
      }
      client.pipe(upstream).pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
  }

  listen(): Promise<void> {
    return new Promise((resolve) => this.server.listen(this.path, resolve));
  }

  cut(): void {
    this.refusing = true;
    for (const s of this.sockets) s.destroy();
  }

  heal(): void {
    this.refusing = false;
  }

  close(): Promise<void> {
    this.cut();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

describe('DockerExecutor', () => {
  it('describes the node from the engine', async () => {
    const d = await executor.describe();
    expect(d.hostname).toBe(hostname());
    expect(d.platform.os).toBe('linux');
    expect(d.resources.nanoCPUs).toBe(Number(await dockerCli(['info', '--format', '{{.NCPU}}'])) * 1e9);
    expect(d.resources.memoryBytes).toBeGreaterThan(0);
    expect(d.engine.version).toBe(await dockerCli(['version', '--format', '{{.Server.Version}}']));
  });

  it('adoption: a new executor instance finds the running container instead of creating another', async () => {
    const c = await startTask('adopt', {});
    const running = await c.waitUntil((s) => s.state === 'running', AbortSignal.timeout(5_000));
    const again = await run.executor();
    const found = await again.listManagedContainers();
    const mine = found.find((m) => m.taskId === c.task.id);
    expect(mine).toMatchObject({
      containerId: running.containerStatus?.containerId,
      name: `${c.task.serviceName}.1.${c.task.id}`,
      serviceId: c.task.serviceId,
      serviceName: c.task.serviceName,
      nodeId: run.nodeId,
      state: 'running',
    });
    // Its controller picks the container up where it is: prepare and start change nothing.
    const adopted = again.controller(c.task);
    controllers.push(adopted);
    expect((await adopted.prepare()).state).toBe('running');
    expect((await adopted.start()).containerStatus?.containerId).toBe(running.containerStatus?.containerId);
    const withLabel = await dockerCli([
      'ps',
      '-aq',
      '--filter',
      `label=com.docker.swarm.task.id=${c.task.id}`,
    ]);
    expect(withLabel.split('\n')).toHaveLength(1);
    again.dispose();
  });

  it('another node id sees none of our containers', async () => {
    await startTask('other', {});
    const stranger = await testRun('exo').executor();
    expect(await stranger.listManagedContainers()).toEqual([]);
    stranger.dispose();
  });

  it('removes the containers of tasks the node no longer owns, and only those', async () => {
    const keep = await startTask('keep', {});
    const drop = await startTask('drop', {});
    const dieOfDrop = new Promise<{ exitCode: number }>((resolve) => {
      const sub = executor.onDidContainerEvent((e) => {
        if (e.kind !== 'die' || e.taskId !== drop.task.id) return;
        sub.dispose();
        resolve(e);
      });
    });
    const owned = new Set((await executor.listManagedContainers()).map((m) => m.taskId));
    owned.delete(drop.task.id);
    const removed = await executor.removeUnownedContainers(owned);
    expect(removed.map((r) => r.taskId)).toEqual([drop.task.id]);
    const left = (await executor.listManagedContainers()).map((m) => m.taskId);
    expect(left).toContain(keep.task.id);
    expect(left).not.toContain(drop.task.id);
    // Stopped with its stop signal first (the web server exits 0 on SIGTERM), not killed.
    expect((await dieOfDrop).exitCode).toBe(0);
  });

  it('logs: demultiplexed lines with their stream and timestamp; tail and since', async () => {
    const c = await startTask('logs', {
      command: ['sh', '-c', 'echo out1; echo err1 >&2; echo out2; echo out3'],
    });
    await c.wait(AbortSignal.timeout(10_000));
    const all = await collect(executor.logs(c.task.id));
    expect(all.filter((l) => l.stream === 'stdout').map((l) => l.line)).toEqual(['out1', 'out2', 'out3']);
    expect(all.filter((l) => l.stream === 'stderr').map((l) => l.line)).toEqual(['err1']);
    const now = Date.now();
    for (const l of all) {
      expect(l.timestamp).toBeGreaterThan(now - 60_000);
      expect(l.timestamp).toBeLessThanOrEqual(now);
    }
    const last = await collect(executor.logs(c.task.id, { tail: 1 }));
    expect(last.map((l) => l.line)).toEqual([all.at(-1)?.line]);
    const later = await collect(executor.logs(c.task.id, { since: all.at(-1)!.timestamp + 1000 }));
    expect(later).toEqual([]);
    // Following an exited container returns what exists and ends by itself.
    const followed = await collect(executor.logs(c.task.id, { follow: true }));
    expect(followed).toHaveLength(4);
  });

  it('logs: follow streams new lines until aborted', async () => {
    const c = await startTask('follow', {
      command: ['sh', '-c', 'i=0; while true; do echo tick$i; i=$((i+1)); sleep 0.1; done'],
    });
    const abort = new AbortController();
    const seen: string[] = [];
    for await (const l of executor.logs(c.task.id, { follow: true, tail: 0, signal: abort.signal })) {
      seen.push(l.line);
      if (seen.length === 5) abort.abort();
    }
    expect(seen).toHaveLength(5);
    // Consecutive ticks: every line arrived, in order, with nothing from before the tail point.
    const n = seen.map((s) => Number(s.replace('tick', '')));
    expect(n).toEqual([n[0], n[0]! + 1, n[0]! + 2, n[0]! + 3, n[0]! + 4]);
  });

  it('waitExited: true once a running task here was stopped, at once for one that exited, false for one never here', async () => {
    const a = await startTask('handover', { image: 'swarmctl-test/web:v1' });
    const b = await startTask('handover', { image: 'swarmctl-test/fail' });
    await b.wait(AbortSignal.timeout(10_000));
    const waiting = executor.waitExited([a.task.id, b.task.id], AbortSignal.timeout(15_000));
    // Still running: not handed over until it stops.
    expect(await Promise.race([waiting, (await a.status())?.state])).toBe('running');
    await a.shutdown();
    expect(await waiting).toBe(true);
    const elsewhere = run.task('handover', { image: 'swarmctl-test/web:v1' }).id;
    expect(await executor.waitExited([a.task.id, elsewhere], AbortSignal.timeout(10_000))).toBe(false);
  });

  it('logs of an unknown task is NOT_FOUND', async () => {
    const e = await collect(executor.logs(run.task('x', {}).id)).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(isSwarmError(e, 'NOT_FOUND')).toBe(true);
  });

  it('reconnects a dropped event stream and catches up on what it missed', async () => {
    const proxy = new FlakyProxy(join('/tmp', `${run.runId}-docker.sock`));
    await proxy.listen();
    const flaky = await run.executor(`unix://${proxy.path}`);
    const flakyStop = new AbortController();
    const flakyRun = flaky.run(flakyStop.signal);
    try {
      await waitConnected(flaky, true);
      const c = flaky.controller(run.task('flaky', {}));
      controllers.push(c);
      await c.prepare();
      const started = await c.start();
      expect(started.state).toBe('running');

      proxy.cut();
      await waitConnected(flaky, false);
      // Killed while nobody listens: the die event is lost for this executor.
      await dockerCli(['kill', started.containerStatus!.containerId!]);
      expect(c.lastStatus?.state).toBe('running');

      proxy.heal();
      // Only the resync after reconnecting can tell the controller (no step or wait asks the engine).
      const failed = await waitFor(
        () =>
          c.lastStatus?.state === 'failed'
            ? { done: true, value: c.lastStatus }
            : { done: false, state: `task ${c.lastStatus?.state}, connected=${flaky.eventsConnected}` },
        { timeoutMs: 10_000, what: 'the missed exit to be caught up after reconnecting' },
      );
      expect(flaky.eventsConnected).toBe(true);
      expect(failed.containerStatus?.exitCode).toBe(137);
    } finally {
      flakyStop.abort();
      await flakyRun;
      flaky.dispose();
      await proxy.close();
    }
  });
});

describe('dockerOptions', () => {
  it('reads DOCKER_HOST syntax', () => {
    expect(dockerOptions(undefined)).toBeUndefined();
    expect(dockerOptions('unix:///var/run/docker.sock')).toEqual({ socketPath: '/var/run/docker.sock' });
    expect(dockerOptions('/run/x.sock')).toEqual({ socketPath: '/run/x.sock' });
    expect(dockerOptions('tcp://10.0.0.1:2375')).toEqual({ protocol: 'http', host: '10.0.0.1', port: 2375 });
    expect(() => dockerOptions('ftp://x')).toThrow(/invalid --docker-host "ftp:\/\/x"/);
  });
});

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { get } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../../common/index.js';
import type { Controller } from '../executor.js';
import type { DockerExecutor } from './docker-executor.js';
import {
  assertDockerAnswers,
  dockerCli,
  inspect,
  RUN_LABEL,
  removeRunResources,
  testRun,
} from './testing.js';

const run = testRun('cfg');
let executor: DockerExecutor;
let bindDir: string;
const controllers: Controller[] = [];

beforeAll(async () => {
  await assertDockerAnswers();
  executor = await run.executor();
  bindDir = await mkdtemp(join(tmpdir(), 'swarmctl-exec-'));
  await writeFile(join(bindDir, 'hello.txt'), 'from the host\n');
});

afterEach(() => {
  for (const c of controllers.splice(0)) c.dispose();
});

afterAll(async () => {
  await removeRunResources(run.runId);
  if (bindDir) await rm(bindDir, { recursive: true, force: true });
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

function httpGet(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = get(url, { timeout: 2_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        body += d;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

describe('container configuration from the task spec', () => {
  it('labels, env, command, resources, mounts, init, hostname, user and workdir land in docker inspect', async () => {
    const volume = `${run.runId}-data`;
    const task = run.task(
      'full',
      {
        labels: { 'com.example.team': 'blue', 'com.docker.swarm.task.id': 'spoofed' },
        env: ['FOO=bar', 'PORT=8080'],
        entrypoint: ['/bin/sh', '-c'],
        command: ['exec "$0"'],
        args: ['/usr/local/bin/web-server'],
        hostname: 'myhost',
        user: '0:0',
        workdir: '/www',
        init: true,
        mounts: [
          { type: 'bind', source: bindDir, target: '/host', readOnly: true },
          {
            type: 'volume',
            source: volume,
            target: '/data',
            volumeOptions: { labels: { [RUN_LABEL]: run.runId } },
          },
          { type: 'tmpfs', target: '/scratch', tmpfsOptions: { sizeBytes: 1 << 20, mode: 0o700 } },
        ],
      },
      { resources: { limits: { nanoCPUs: 500_000_000, memoryBytes: 64 << 20 } } },
    );
    const c = executor.controller(task);
    controllers.push(c);
    const prepared = await c.prepare();
    expect(prepared.state).toBe('ready');
    const i = await inspect(prepared.containerStatus!.containerId!);
    expect(i.Name).toBe(`/${task.serviceName}.1.${task.id}`);
    expect(i.Config.Labels).toMatchObject({
      'com.example.team': 'blue',
      'com.docker.swarm.task': '',
      'com.docker.swarm.task.id': task.id,
      'com.docker.swarm.task.name': `${task.serviceName}.1.${task.id}`,
      'com.docker.swarm.service.id': task.serviceId,
      'com.docker.swarm.service.name': task.serviceName,
      'com.docker.swarm.node.id': run.nodeId,
      [RUN_LABEL]: run.runId,
    });
    expect(i.Config.Env).toEqual(expect.arrayContaining(['FOO=bar', 'PORT=8080']));
    expect(i.Config.Entrypoint).toEqual(['/bin/sh', '-c']);
    expect(i.Config.Cmd).toEqual(['exec "$0"', '/usr/local/bin/web-server']);
    expect(i.Config.Hostname).toBe('myhost');
    expect(i.Config.User).toBe('0:0');
    expect(i.Config.WorkingDir).toBe('/www');
    expect(i.Config.StopTimeout).toBe(10);
    expect(i.HostConfig.Init).toBe(true);
    expect(i.HostConfig.NanoCpus).toBe(500_000_000);
    expect(i.HostConfig.Memory).toBe(64 << 20);
    expect(i.HostConfig.RestartPolicy).toMatchObject({ Name: 'no' });
    expect(i.HostConfig.Mounts).toEqual([
      { Type: 'bind', Source: bindDir, Target: '/host', ReadOnly: true },
      {
        Type: 'volume',
        Source: volume,
        Target: '/data',
        VolumeOptions: { Labels: { [RUN_LABEL]: run.runId }, DriverConfig: {} },
      },
      { Type: 'tmpfs', Target: '/scratch', TmpfsOptions: { SizeBytes: 1 << 20, Mode: 0o700 } },
    ]);

    const started = await c.start();
    expect(started.state).toBe('running');
    const id = started.containerStatus!.containerId!;
    // What the process sees: the bind is read-only, the volume is writable, tmpfs is mounted.
    expect(await dockerCli(['exec', id, 'cat', '/host/hello.txt'])).toBe('from the host');
    await expect(dockerCli(['exec', id, 'touch', '/host/x'])).rejects.toThrow(/Read-only file system/);
    await dockerCli(['exec', id, 'touch', '/data/x']);
    expect(await dockerCli(['exec', id, 'sh', '-c', 'grep " /scratch " /proc/mounts'])).toMatch(
      /^tmpfs \/scratch tmpfs rw.*size=1024k,mode=700/,
    );
    // docker-init is PID 1 with --init; our command runs under it.
    expect(await dockerCli(['exec', id, 'cat', '/proc/1/cmdline'])).toMatch(/^\/sbin\/docker-init/);
    expect(await dockerCli(['exec', id, 'hostname'])).toBe('myhost');
  });

  it('global tasks (slot 0) are named after the node, like docker', async () => {
    const task = run.task('global', {}, { slot: 0 });
    const c = executor.controller(task);
    controllers.push(c);
    const s = await c.prepare();
    expect((await inspect(s.containerStatus!.containerId!)).Name).toBe(
      `/${task.serviceName}.${run.nodeId}.${task.id}`,
    );
  });

  it('the spec healthcheck overrides the image one; --no-healthcheck disables it', async () => {
    const custom = executor.controller(
      run.task('hc', {
        image: 'swarmctl-test/health',
        healthcheck: {
          test: ['CMD-SHELL', 'test -f /tmp/healthy'],
          intervalMs: 500,
          timeoutMs: 2_000,
          retries: 3,
          startPeriodMs: 1_500,
        },
      }),
    );
    const none = executor.controller(
      run.task('nohc', { image: 'swarmctl-test/health', healthcheck: { test: ['NONE'] } }),
    );
    controllers.push(custom, none);
    const a = await inspect((await custom.prepare()).containerStatus!.containerId!);
    expect(a.Config.Healthcheck).toEqual({
      Test: ['CMD-SHELL', 'test -f /tmp/healthy'],
      Interval: 500_000_000,
      Timeout: 2_000_000_000,
      StartPeriod: 1_500_000_000,
      Retries: 3,
    });
    await none.prepare();
    // No healthcheck: running as soon as started, no health state at all.
    const s = await none.start();
    expect(s.state).toBe('running');
    expect(s.health).toBe('none');
    expect((await inspect(s.containerStatus!.containerId!)).Config.Healthcheck).toMatchObject({
      Test: ['NONE'],
    });
  });

  it('a host-mode published port answers on 127.0.0.1 and is reported in the status', async () => {
    const port = await freePort();
    const c = executor.controller(
      run.task(
        'pub',
        { hostname: 'pubhost' },
        { ports: [{ protocol: 'tcp', targetPort: 80, publishedPort: port, publishMode: 'host' }] },
      ),
    );
    controllers.push(c);
    await c.prepare();
    const s = await c.start();
    expect(s.state).toBe('running');
    expect(s.portStatus).toEqual([
      { protocol: 'tcp', targetPort: 80, publishedPort: port, publishMode: 'host' },
    ]);
    // The server needs a moment after the container starts before it listens.
    const r = await waitFor(
      async () => {
        const res = await httpGet(`http://127.0.0.1:${port}/`);
        return { done: true, value: res };
      },
      { timeoutMs: 5_000, what: `the web server on 127.0.0.1:${port}` },
    );
    expect(r).toEqual({ status: 200, body: 'v1 pubhost\n' });
  });

  it('a host port already taken fails the second task at start, with the engine message', async () => {
    const port = await freePort();
    const ports = [{ protocol: 'tcp', targetPort: 80, publishedPort: port, publishMode: 'host' }] as const;
    const first = executor.controller(run.task('taken1', {}, { ports }));
    const second = executor.controller(run.task('taken2', {}, { ports }));
    controllers.push(first, second);
    await first.prepare();
    expect((await first.start()).state).toBe('running');
    expect((await second.prepare()).state).toBe('ready');
    const s = await second.start();
    expect(s.state).toBe('failed');
    expect(s.err).toMatch(/port is already allocated|address already in use/);
  });

  it('ingress-mode ports are left to the routing mesh', async () => {
    const c = executor.controller(
      run.task(
        'ingress',
        {},
        { ports: [{ protocol: 'tcp', targetPort: 80, publishedPort: 30080, publishMode: 'ingress' }] },
      ),
    );
    controllers.push(c);
    const s = await c.prepare();
    const i = await inspect(s.containerStatus!.containerId!);
    // Docker reports no bindings as null (or {} on some versions).
    expect(i.HostConfig.PortBindings ?? {}).toEqual({});
  });
});

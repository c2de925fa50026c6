import { describe, expect, it } from 'vitest';
import type { NetworkId } from '../../api/index.js';
import { NOW, node, service } from './fixtures.test-helpers.js';
import { formatNodePretty } from './node-pretty.js';
import { formatServicePretty } from './service-pretty.js';

describe('service inspect --pretty', () => {
  it('prints the smallest service with docker’s inserted defaults', () => {
    const s = service('de179gar9d0o7ltdybungplod', {
      name: 'redis',
      taskTemplate: { container: { image: 'redis:7' } },
    });
    expect(formatServicePretty(s, { now: NOW })).toBe(
      [
        '',
        'ID:\t\tde179gar9d0o7ltdybungplod',
        'Name:\t\tredis',
        'Service Mode:\tReplicated',
        ' Replicas:\t1',
        'Placement:',
        'UpdateConfig:',
        ' Parallelism:\t1',
        ' On failure:\tpause',
        ' Monitoring Period: 5s',
        ' Max failure ratio: 0',
        ' Update order:      stop-first',
        'RollbackConfig:',
        ' Parallelism:\t1',
        ' On failure:\tpause',
        ' Monitoring Period: 5s',
        ' Max failure ratio: 0',
        ' Rollback order:    stop-first',
        'ContainerSpec:',
        ' Image:\t\tredis:7',
        ' Init:\t\tfalse',
        'Resources:',
        'Endpoint Mode:\tvip',
        '',
        '',
      ].join('\n'),
    );
  });

  it('prints every section in docker’s order and whitespace', () => {
    const s = service(
      'de179gar9d0o7ltdybungplod',
      {
        name: 'my_service',
        labels: { 'com.label': 'foo', empty: '' },
        mode: { type: 'replicated', replicas: 2 },
        taskTemplate: {
          container: {
            image: 'foo/bar:1@sha256:abc',
            command: ['serve'],
            args: ['--port', '80'],
            env: ['A=1', 'B=2'],
            workdir: '/srv',
            init: true,
            user: 'app',
            mounts: [
              { type: 'bind', source: '/a', target: '/b', readOnly: true },
              { type: 'tmpfs', target: '/t' },
            ],
            healthcheck: { test: ['CMD-SHELL', 'curl'], intervalMs: 4000, retries: 3, timeoutMs: 1000 },
          },
          placement: {
            constraints: ['node.role==worker', 'node.labels.zone==a'],
            preferences: [{ spread: 'node.labels.zone' }],
            maxReplicasPerNode: 2,
          },
          resources: {
            reservations: { nanoCPUs: 500_000_000, memoryBytes: 512 * 1024 ** 2 },
            limits: { nanoCPUs: 1_500_000_000, memoryBytes: 10 * 1024 ** 2 },
          },
          networks: [{ target: 'n1' as NetworkId }, { target: 'n2' as NetworkId }],
        },
        updateConfig: {
          parallelism: 2,
          delayMs: 10_000,
          failureAction: 'rollback',
          monitorMs: 30_000,
          maxFailureRatio: 0.25,
          order: 'start-first',
          canary: 1,
          canaryAutoPromoteMs: 120_000,
        },
        endpointSpec: {
          mode: 'vip',
          ports: [{ protocol: 'tcp', targetPort: 5000, publishedPort: 30000, publishMode: 'host' }],
        },
      },
      {
        status: {
          updateStatus: {
            state: 'completed',
            startedAt: NOW - 120_000,
            completedAt: NOW - 30_000,
            message: 'update completed',
          },
        },
      },
    );
    expect(
      formatServicePretty(s, { now: NOW, networkNames: new Map([['n1' as NetworkId, 'mynetwork']]) }),
    ).toBe(
      [
        '',
        'ID:\t\tde179gar9d0o7ltdybungplod',
        'Name:\t\tmy_service',
        'Labels:',
        ' com.label=foo',
        ' empty',
        'Service Mode:\tReplicated',
        ' Replicas:\t2',
        'UpdateStatus:',
        ' State:\t\tcompleted',
        ' Started:\t2 minutes ago',
        ' Completed:\t30 seconds ago',
        ' Message:\tupdate completed',
        'Placement:',
        ' Constraints:\t[node.role==worker node.labels.zone==a]',
        ' Preferences:   [spread=node.labels.zone]',
        ' Max Replicas Per Node:   2',
        'UpdateConfig:',
        ' Parallelism:\t2',
        ' Delay:\t\t10s',
        ' On failure:\trollback',
        ' Monitoring Period: 30s',
        ' Max failure ratio: 0.25',
        ' Update order:      start-first',
        ' Canary:\t1',
        ' Canary auto-promote: 2m0s',
        'RollbackConfig:',
        ' Parallelism:\t1',
        ' On failure:\tpause',
        ' Monitoring Period: 5s',
        ' Max failure ratio: 0',
        ' Rollback order:    stop-first',
        'ContainerSpec:',
        ' Image:\t\tfoo/bar:1@sha256:abc',
        ' Args:\t\tserve --port 80 ',
        ' Env:\t\tA=1 B=2 ',
        ' Dir:\t\t/srv',
        ' Init:\t\ttrue',
        ' User: app',
        'Mounts:',
        ' Target:\t/b',
        '  Source:\t/a',
        '  ReadOnly:\ttrue',
        '  Type:\t\tbind',
        ' Target:\t/t',
        '  Source:\t',
        '  ReadOnly:\tfalse',
        '  Type:\t\ttmpfs',
        'Resources:',
        ' Reservations:',
        '  CPU:\t\t0.5',
        '  Memory:\t512MiB',
        ' Limits:',
        '  CPU:\t\t1.5',
        '  Memory:\t10MiB',
        'Networks: mynetwork n2 ',
        'Endpoint Mode:\tvip',
        'Ports:',
        ' PublishedPort = 30000',
        '  Protocol = tcp',
        '  TargetPort = 5000',
        '  PublishMode = host ',
        ' Healthcheck:',
        '  Interval = 4s',
        '  Retries = 3',
        '  StartPeriod =\t0s',
        '  Timeout =\t1s',
        '  Tests:',
        '\t Test = CMD-SHELL',
        '\t Test = curl ',
        '',
        '',
      ].join('\n'),
    );
  });

  it.each([
    [{ type: 'global' } as const, ['Service Mode:\tGlobal', 'Placement:']],
    [
      { type: 'replicated-job', maxConcurrent: 2, totalCompletions: 5 } as const,
      [
        'Service Mode:\tReplicated Job',
        ' Total Completions:\t5',
        ' Max Concurrent:\t2',
        'Placement:',
        'ContainerSpec:',
      ],
    ],
    [{ type: 'global-job' } as const, ['Service Mode:\tGlobal Job', 'Placement:', 'ContainerSpec:']],
  ])('names mode %j (jobs have no update config)', (mode, expected) => {
    const lines = formatServicePretty(service('x', { name: 'x', mode }), { now: NOW }).split('\n');
    const at = lines.findIndex((l) => l.startsWith('Service Mode:'));
    expect(lines.slice(at, at + expected.length)).toEqual(expected);
  });
});

describe('node inspect --pretty', () => {
  it('matches docker’s layout for a leader (docker golden: node-inspect-pretty.manager-leader, without plugins)', () => {
    const n = node('nodeID', 'defaultNodeHostname', {
      spec: { name: 'defaultNodeName', desiredRole: 'manager', availability: 'active' },
      role: 'manager',
      status: { state: 'ready', addr: '127.0.0.1' },
      managerStatus: { raftId: '1', addr: '127.0.0.1', leader: true, reachability: 'reachable' },
      description: {
        hostname: 'defaultNodeHostname',
        platform: { os: 'linux', architecture: 'x86_64' },
        resources: { nanoCPUs: 0, memoryBytes: 20 * 1024 ** 2 },
        engine: { version: '1.13.0', labels: { engine: 'label' } },
      },
    });
    expect(formatNodePretty(n)).toBe(
      [
        'ID:\t\t\tnodeID',
        'Name:\t\t\tdefaultNodeName',
        'Hostname:              \tdefaultNodeHostname',
        'Joined at:             \t2009-11-10 23:00:00 +0000 utc',
        'Status:',
        ' State:\t\t\tReady',
        ' Availability:         \tActive',
        ' Address:\t\t127.0.0.1',
        'Manager Status:',
        ' Address:\t\t127.0.0.1',
        ' Raft Status:\t\tReachable',
        ' Leader:\t\tYes',
        'Platform:',
        ' Operating System:\tlinux',
        ' Architecture:\t\tx86_64',
        'Resources:',
        ' CPUs:\t\t\t0',
        ' Memory:\t\t20MiB',
        'Engine Version:\t\t1.13.0',
        'Engine Labels:',
        ' - engine=label',
        '',
      ].join('\n'),
    );
  });

  it('prints a down worker with labels and a status message', () => {
    const n = node('w1', 'worker-1', {
      spec: { desiredRole: 'worker', availability: 'drain', labels: { zone: 'b', ssd: '' } },
      status: { state: 'down', message: 'Heartbeat failure' },
    });
    expect(formatNodePretty(n)).toBe(
      [
        'ID:\t\t\tw1',
        'Labels:',
        ' - ssd',
        ' - zone=b',
        'Hostname:              \tworker-1',
        'Joined at:             \t2009-11-10 23:00:00 +0000 utc',
        'Status:',
        ' State:\t\t\tDown',
        ' Message:              \tHeartbeat failure',
        ' Availability:         \tDrain',
        'Platform:',
        ' Operating System:\tlinux',
        ' Architecture:\t\tx86_64',
        'Resources:',
        ' CPUs:\t\t\t4',
        ' Memory:\t\t8GiB',
        'Engine Version:\t\t1.13.0',
        '',
      ].join('\n'),
    );
  });
});

import { describe, expect, it } from 'vitest';
import type { NodeId, PortConfig } from '../../api/index.js';
import { NOW, node, service, task } from './fixtures.test-helpers.js';
import { formatNodeList } from './node-list.js';
import {
  countServiceTasks,
  familiarImage,
  formatServiceList,
  portsColumn,
  replicasColumn,
} from './service-list.js';
import { formatTaskList } from './task-list.js';

const HOUR = 3_600_000;
const port = (
  publishedPort: number,
  targetPort: number,
  protocol: 'tcp' | 'udp' = 'tcp',
  publishMode: 'host' | 'ingress' = 'ingress',
): PortConfig => ({
  publishedPort,
  targetPort,
  protocol,
  publishMode,
});

describe('service ls', () => {
  const web = service('ky2sbecmtl2rwd4hc5t7e2r1s', {
    name: 'web',
    taskTemplate: { container: { image: 'swarmctl-test/web:v1' } },
    mode: { type: 'replicated', replicas: 3 },
    endpointSpec: { mode: 'vip', ports: [port(8080, 80, 'tcp', 'host')] },
  });
  const capped = service('a1b2c3d4e5f6g7h8i9j0k1l2m', {
    name: 'capped',
    taskTemplate: { container: { image: 'redis:7@sha256:abc' }, placement: { maxReplicasPerNode: 2 } },
    mode: { type: 'replicated', replicas: 6 },
  });
  const agent = service('zzzzzzzzzzzzzzzzzzzzzzzzz', { name: 'agent', mode: { type: 'global' } });
  const job = service('jjjjjjjjjjjjjjjjjjjjjjjjj', {
    name: 'job',
    taskTemplate: { container: { image: 'busybox' } },
    mode: { type: 'replicated-job', maxConcurrent: 2, totalCompletions: 5 },
  });
  const rows = [
    { service: web, counts: { running: 2, desired: 3, completed: 0 } },
    { service: capped, counts: { running: 6, desired: 6, completed: 0 } },
    { service: agent, counts: { running: 3, desired: 3, completed: 0 } },
    { service: job, counts: { running: 2, desired: 2, completed: 3 } },
  ];

  it('prints docker’s table, sorted by name', () => {
    expect(formatServiceList(rows)).toBe(
      [
        'ID             NAME      MODE             REPLICAS               IMAGE                  PORTS',
        'zzzzzzzzzzzz   agent     global           3/3                    nginx:latest           ',
        'a1b2c3d4e5f6   capped    replicated       6/6 (max 2 per node)   redis:7                ',
        'jjjjjjjjjjjj   job       replicated job   2/2 (3/5 completed)    busybox                ',
        'ky2sbecmtl2r   web       replicated       2/3                    swarmctl-test/web:v1   *:8080->80/tcp',
        '',
      ].join('\n'),
    );
  });

  it('-q prints IDs only; --no-trunc full IDs', () => {
    expect(formatServiceList(rows, { quiet: true })).toBe(
      'zzzzzzzzzzzz\na1b2c3d4e5f6\njjjjjjjjjjjj\nky2sbecmtl2r\n',
    );
    expect(formatServiceList(rows.slice(0, 1), { quiet: true, noTrunc: true })).toBe(
      'ky2sbecmtl2rwd4hc5t7e2r1s\n',
    );
  });

  it('--format json prints one object per line', () => {
    expect(formatServiceList(rows.slice(0, 1), { format: 'json' })).toBe(
      '{"ID":"ky2sbecmtl2r","Name":"web","Mode":"replicated","Replicas":"2/3","Image":"swarmctl-test/web:v1","Ports":"*:8080->80/tcp"}\n',
    );
  });

  it('prints only the header when there are no services', () => {
    expect(formatServiceList([])).toBe('ID        NAME      MODE      REPLICAS   IMAGE     PORTS\n');
  });

  it.each([
    [[port(8080, 80)], '*:8080->80/tcp'],
    [[port(8081, 81), port(8080, 80)], '*:8080-8081->80-81/tcp'],
    [[port(8080, 80), port(8082, 82)], '*:8080->80/tcp, *:8082->82/tcp'],
    [[port(53, 53, 'udp'), port(53, 53, 'tcp')], '*:53->53/tcp, *:53->53/udp'],
    [[port(0, 80)], ''],
    [[], ''],
  ])('ports %j → %s', (ports, text) => {
    expect(portsColumn(ports)).toBe(text);
  });

  it.each([
    ['nginx', 'nginx'],
    ['nginx:1.25', 'nginx:1.25'],
    ['nginx:1.25@sha256:abcd', 'nginx:1.25'],
    ['nginx@sha256:abcd', 'nginx@sha256:abcd'],
    ['docker.io/library/nginx:latest', 'nginx:latest'],
    ['docker.io/me/app:v2', 'me/app:v2'],
    ['registry:5000/app', 'registry:5000/app'],
    ['registry:5000/app:v1', 'registry:5000/app:v1'],
  ])('image %s → %s', (image, shown) => {
    expect(familiarImage(image)).toBe(shown);
  });

  it('counts running and desired tasks like the daemon', () => {
    const tasks = [
      task('t1', { serviceId: 'svc', slot: 1, state: 'running', nodeId: 'n1' }),
      task('t2', { serviceId: 'svc', slot: 2, state: 'running', nodeId: 'down' }),
      task('t3', { serviceId: 'svc', slot: 3, state: 'preparing', nodeId: 'n1' }),
      task('t4', { serviceId: 'svc', slot: 1, state: 'shutdown', desired: 'shutdown', nodeId: 'n1' }),
      task('t5', { serviceId: 'other', slot: 1, state: 'running', nodeId: 'n1' }),
    ];
    const svc = service('svc', { name: 'web', mode: { type: 'replicated', replicas: 3 } });
    expect(countServiceTasks(svc, tasks, new Set(['down' as NodeId]))).toEqual({
      running: 1,
      desired: 3,
      completed: 0,
    });
    const global = service('svc', { name: 'agent', mode: { type: 'global' } });
    expect(countServiceTasks(global, tasks)).toEqual({ running: 2, desired: 3, completed: 0 });
    const job = service('svc', {
      name: 'job',
      mode: { type: 'replicated-job', maxConcurrent: 1, totalCompletions: 4 },
    });
    const done = [
      ...tasks,
      task('t6', { serviceId: 'svc', slot: 4, state: 'complete', desired: 'complete' }),
    ];
    expect(replicasColumn(job, countServiceTasks(job, done))).toBe('2/3 (1/4 completed)');
  });
});

describe('service ps', () => {
  it('matches docker’s layout for a slot’s history (docker golden: task-print-with-indentation)', () => {
    const tasks = [
      task('id-bar', {
        serviceName: 'service-name-foo',
        createdAt: NOW - 2000,
        nodeId: 'node-id-bar',
        image: 'myimage:mytag',
        desired: 'ready',
        state: 'failed',
        at: NOW - 2 * HOUR,
      }),
      task('id-foo', {
        serviceName: 'service-name-foo',
        createdAt: NOW - 1000,
        nodeId: 'node-id-bar',
        image: 'myimage:mytag',
        desired: 'ready',
        state: 'failed',
        at: NOW - 2 * HOUR,
      }),
    ];
    const nodeNames = new Map([['node-id-bar' as NodeId, 'node-name-bar']]);
    expect(formatTaskList(tasks, { nodeNames, now: NOW })).toBe(
      [
        'ID        NAME                     IMAGE           NODE            DESIRED STATE   CURRENT STATE        ERROR     PORTS',
        'id-foo    service-name-foo.1       myimage:mytag   node-name-bar   Ready           Failed 2 hours ago             ',
        'id-bar     \\_ service-name-foo.1   myimage:mytag   node-name-bar   Ready           Failed 2 hours ago             ',
        '',
      ].join('\n'),
    );
  });

  const tasks = [
    task('t2aaaaaaaaaaaaaaaaaaaaaaaa', {
      slot: 2,
      nodeId: 'n1',
      at: NOW - 5000,
      ports: [port(8080, 80, 'tcp', 'host')],
    }),
    task('t10aaaaaaaaaaaaaaaaaaaaaaa', {
      slot: 10,
      state: 'pending',
      at: NOW - 300,
      err: 'no suitable node (scheduling constraints not satisfied on 3 nodes)',
    }),
    task('t1newaaaaaaaaaaaaaaaaaaaaa', {
      slot: 1,
      nodeId: 'n2',
      createdAt: NOW - 10,
      image: 'web:v1@sha256:ff',
      at: NOW - 65_000,
    }),
    task('t1oldaaaaaaaaaaaaaaaaaaaaa', {
      slot: 1,
      nodeId: 'n2',
      createdAt: NOW - 500_000,
      desired: 'shutdown',
      state: 'failed',
      at: NOW - 70_000,
      err: 'task: non-zero exit (137)',
    }),
    task('tglobalaaaaaaaaaaaaaaaaaaa', {
      serviceName: 'agent',
      slot: 0,
      nodeId: 'n1',
      state: 'starting',
      at: NOW,
    }),
  ];
  const ctx = {
    nodeNames: new Map([
      ['n1' as NodeId, 'host-1'],
      ['n2' as NodeId, 'host-2'],
    ]),
    now: NOW,
  };

  it('sorts by name (natural), newest first, shows errors quoted and cut at 30, and host ports', () => {
    expect(formatTaskList(tasks, ctx)).toBe(
      [
        'ID             NAME        IMAGE          NODE      DESIRED STATE   CURRENT STATE                     ERROR                              PORTS',
        'tglobalaaaaa   agent.n1    nginx:latest   host-1    Running         Starting less than a second ago                                      ',
        't1newaaaaaaa   web.1       web:v1         host-2    Running         Running about a minute ago                                           ',
        't1oldaaaaaaa    \\_ web.1   nginx:latest   host-2    Shutdown        Failed about a minute ago         "task: non-zero exit (137)"        ',
        't2aaaaaaaaaa   web.2       nginx:latest   host-1    Running         Running 5 seconds ago                                                *:8080->80/tcp',
        't10aaaaaaaaa   web.10      nginx:latest             Running         Pending less than a second ago    "no suitable node (scheduling …"   ',
        '',
      ].join('\n'),
    );
  });

  it('--no-trunc keeps IDs, images and errors whole', () => {
    const out = formatTaskList(tasks.slice(1, 3), ctx, { noTrunc: true });
    expect(out).toContain('t10aaaaaaaaaaaaaaaaaaaaaaa ');
    expect(out).toContain('"no suitable node (scheduling constraints not satisfied on 3 nodes)"');
    expect(out).toContain('web:v1@sha256:ff');
  });

  it('-q prints task IDs; --format json has docker’s keys and no history prefix', () => {
    expect(formatTaskList(tasks.slice(2, 4), ctx, { quiet: true })).toBe('t1newaaaaaaa\nt1oldaaaaaaa\n');
    const lines = formatTaskList(tasks.slice(2, 4), ctx, { format: 'json' }).trim().split('\n');
    expect(JSON.parse(lines[1]!)).toEqual({
      ID: 't1oldaaaaaaa',
      Name: 'web.1',
      Image: 'nginx:latest',
      Node: 'host-2',
      DesiredState: 'Shutdown',
      CurrentState: 'Failed about a minute ago',
      Error: '"task: non-zero exit (137)"',
      Ports: '',
    });
  });
});

describe('node ls', () => {
  const nodes = [
    node('nodeID1', 'node-2-foo', {
      role: 'manager',
      managerStatus: { raftId: '1', addr: '10.0.0.1:2377', leader: true, reachability: 'reachable' },
      description: {
        hostname: 'node-2-foo',
        platform: { os: 'linux', architecture: 'x86_64' },
        resources: { nanoCPUs: 0, memoryBytes: 0 },
        engine: { version: '.' },
      },
    }),
    node('nodeID2', 'node-10-foo', {
      role: 'manager',
      managerStatus: { raftId: '2', addr: '10.0.0.2:2377', leader: false, reachability: 'reachable' },
      description: {
        hostname: 'node-10-foo',
        platform: { os: 'linux', architecture: 'x86_64' },
        resources: { nanoCPUs: 0, memoryBytes: 0 },
        engine: { version: '18.03.0-ce' },
      },
    }),
    node('nodeID3', 'node-1-foo'),
  ];

  it('matches docker’s layout (docker golden: node-list-sort)', () => {
    expect(formatNodeList(nodes, { selfId: 'nodeID1' as NodeId })).toBe(
      [
        'ID          HOSTNAME      STATUS    AVAILABILITY   MANAGER STATUS   ENGINE VERSION',
        'nodeID3     node-1-foo    Ready     Active                          1.13.0',
        'nodeID1 *   node-2-foo    Ready     Active         Leader           .',
        'nodeID2     node-10-foo   Ready     Active         Reachable        18.03.0-ce',
        '',
      ].join('\n'),
    );
  });

  it('shows down, drained and unreachable nodes', () => {
    const sick = node('abcdefghijklmnopqrstuvwxy', 'worker-3', {
      status: { state: 'down' },
      spec: { desiredRole: 'worker', availability: 'drain' },
    });
    const lost = node('bcdefghijklmnopqrstuvwxyz', 'manager-2', {
      managerStatus: { raftId: '5', addr: 'x', leader: false, reachability: 'unreachable' },
      status: { state: 'unknown' },
      spec: { desiredRole: 'manager', availability: 'pause' },
    });
    expect(formatNodeList([sick, lost])).toBe(
      [
        'ID                            HOSTNAME    STATUS    AVAILABILITY   MANAGER STATUS   ENGINE VERSION',
        'bcdefghijklmnopqrstuvwxyz     manager-2   Unknown   Pause          Unreachable      1.13.0',
        'abcdefghijklmnopqrstuvwxy     worker-3    Down      Drain                           1.13.0',
        '',
      ].join('\n'),
    );
  });

  it('-q prints full node IDs; --format json', () => {
    expect(formatNodeList(nodes, { quiet: true })).toBe('nodeID3\nnodeID1\nnodeID2\n');
    expect(formatNodeList(nodes.slice(0, 1), { format: 'json', selfId: 'nodeID1' as NodeId })).toBe(
      '{"ID":"nodeID1","Self":true,"Hostname":"node-2-foo","Status":"Ready","Availability":"Active","ManagerStatus":"Leader","EngineVersion":"."}\n',
    );
  });
});

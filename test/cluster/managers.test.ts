import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlService } from '../../src/api/index.js';
import { errorMessage, waitFor } from '../../src/common/index.js';
import { ChannelCredentials, createClient } from '../../src/rpc/index.js';
import {
  docker,
  nodeInfo as info,
  ok,
  startCluster,
  stopCluster,
  waitForReady,
} from '../harness/cluster-cli.js';
import { runCommand } from '../harness/run-command.js';
import { SWARMCTL, SwarmNodes, type TestNode } from '../harness/swarm-nodes.js';

/**
 * Managers in plural on real node processes (loopback, mutual TLS, the machine's engine shared:
 * each node runs only the containers labelled with its node ID). Promote/demote change the Raft
 * membership; the leader's process is SIGKILLed, once idle and once under a stream of creates.
 */
let nodes: SwarmNodes;
const ids: string[] = [];

/** `node ls` rows as ID → MANAGER STATUS (empty for workers). */
function managerStatuses(n: TestNode): Map<string, string> {
  const out = new Map<string, string>();
  const lines = ok(n.cli('node', 'ls')).split('\n').filter(Boolean);
  const header = lines[0]!;
  const at = header.indexOf('MANAGER STATUS');
  const end = header.indexOf('ENGINE VERSION');
  for (const l of lines.slice(1)) out.set(l.split(/\s+/)[0]!, l.slice(at, end).trim());
  return out;
}

/** Running containers of `service`: container ID → node ID. */
function running(service: string): Map<string, string> {
  const out = docker(
    'ps',
    '--filter',
    `label=com.docker.swarm.service.name=${service}`,
    '--format',
    '{{.ID}} {{.Label "com.docker.swarm.node.id"}}',
  );
  const m = new Map<string, string>();
  for (const l of out.split('\n').filter(Boolean)) {
    const [cid, node] = l.split(' ');
    if (ids.includes(node!)) m.set(cid!, node!);
  }
  return m;
}

/** The leader as `alive` sees it, once it answers with one. */
async function leaderSeenBy(alive: TestNode, not?: string): Promise<string> {
  return waitFor(
    () => {
      const i = info(alive);
      const leader = i?.cluster?.leader ?? null;
      return leader && leader !== not
        ? { done: true, value: leader }
        : { done: false, state: `leader ${leader ?? 'none'}` };
    },
    { timeoutMs: 20_000, intervalMs: 100, what: `a leader seen by ${alive.name}` },
  );
}

beforeAll(() => {
  nodes = new SwarmNodes(25700, 'swarm-managers-');
  ids.push(...startCluster(nodes, ['worker', 'worker']));
}, 120_000);

afterAll(() => stopCluster(nodes, ids));

describe('promote and demote change the Raft membership', () => {
  it('promotes two workers to voters, survives the leader being killed, demotes one back to a worker that keeps its task', async () => {
    const [n0, n1, n2] = [nodes.node(0), nodes.node(1), nodes.node(2)];
    await waitForReady(n0, 3);
    ok(
      n0.cli(
        'service',
        'create',
        '--detach=false',
        '--replicas',
        '3',
        '--name',
        'mw',
        'swarmctl-test/web:v1',
      ),
    );
    expect(new Set(running('mw').values()).size).toBe(3);

    // Docker's safeguards, before anything changes.
    const last = n0.cli('node', 'demote', ids[0]!);
    expect(last.status).not.toBe(0);
    expect(last.stderr).toContain('attempting to demote the last manager of the swarm');
    const leave = n0.cli('leave');
    expect(leave.status).not.toBe(0);
    expect(leave.stderr).toContain('Removing the last manager erases all current state of the swarm');

    const promoted = ok(n0.cli('node', 'promote', ids[1]!, ids[2]!));
    expect(promoted).toContain(`Node ${ids[1]} promoted to a manager in the swarm.`);
    const promotedAt = Date.now();
    // Each promoted node serves the control API itself, and sees three managers.
    for (const n of [n1, n2]) {
      await waitFor(
        () => {
          const i = info(n);
          const managers = i?.cluster?.managers.length ?? 0;
          return i?.node.role === 'manager' && managers === 3
            ? { done: true, value: 0 }
            : { done: false, state: `role ${i?.node.role}, ${managers} managers` };
        },
        { timeoutMs: 30_000, intervalMs: 200, what: `${n.name} serving as one of three managers` },
      );
    }
    await waitFor(
      () => {
        const s = [...managerStatuses(n1).values()].sort().join(',');
        return s === 'Leader,Reachable,Reachable' ? { done: true, value: 0 } : { done: false, state: s };
      },
      { timeoutMs: 20_000, intervalMs: 200, what: 'node ls: a leader and two reachable managers' },
    );
    console.log(`promotion of two workers: three managers listed after ${Date.now() - promotedAt} ms`);

    // A new leader needs two voters out of three: the promoted nodes must be voters, not learners.
    const leader = await leaderSeenBy(n1);
    const leaderIdx = ids.indexOf(leader);
    const dead = nodes.node(leaderIdx);
    const alive = [n0, n1, n2].filter((n) => n !== dead);
    const killedAt = Date.now();
    process.kill(nodes.pid(dead)!, 'SIGKILL');
    const next = await leaderSeenBy(alive[0]!, leader);
    await waitFor(
      () =>
        alive[1]!.cli('service', 'ls').status === 0
          ? { done: true, value: 0 }
          : { done: false, state: 'no answer' },
      { timeoutMs: 15_000, intervalMs: 100, what: 'the API on the other survivor' },
    );
    console.log(`idle leader killed: new leader ${next} and the API after ${Date.now() - killedAt} ms`);
    await waitFor(
      () => {
        const s = managerStatuses(alive[0]!).get(leader) ?? '';
        return s === 'Unreachable' ? { done: true, value: 0 } : { done: false, state: s };
      },
      { timeoutMs: 20_000, intervalMs: 250, what: 'the killed manager listed as unreachable' },
    );
    // Docker's leave warning on a manager names what leaving would cost.
    const leaving = alive[0]!.cli('leave');
    expect(leaving.status).not.toBe(0);
    expect(leaving.stderr).toContain(
      'Removing this node leaves 1 managers out of 3. Without a Raft quorum your swarm will be inaccessible.',
    );
    // Losing a second voter of three would cost quorum: refused.
    const unsafe = alive[0]!.cli('node', 'demote', ids[[n0, n1, n2].indexOf(alive[1]!)]!);
    expect(unsafe.status).not.toBe(0);
    expect(unsafe.stderr).toContain(
      "can't remove member from the raft: this would result in a loss of quorum",
    );

    // The killed node comes back from its state directory and rejoins as a member.
    ok(dead.cli('daemon', '-d', '--state-dir', dead.dir, '--control-socket', dead.socket));
    await waitFor(
      () => {
        const s = managerStatuses(alive[0]!).get(leader) ?? '';
        return s === 'Reachable' ? { done: true, value: 0 } : { done: false, state: s };
      },
      { timeoutMs: 30_000, intervalMs: 250, what: 'the restarted manager reachable again' },
    );

    // Demote the current leader: it hands leadership over, leaves Raft and runs on as a worker.
    const current = await leaderSeenBy(alive[0]!);
    const demoted = nodes.node(ids.indexOf(current));
    const pid = nodes.pid(demoted)!;
    const containers = [...running('mw')].filter(([, node]) => node === current).map(([c]) => c);
    expect(containers.length).toBe(1);
    const asker = [n0, n1, n2].find((n) => n !== demoted)!;
    expect(ok(asker.cli('node', 'demote', current))).toContain(`Manager ${current} demoted in the swarm.`);
    await waitFor(
      () => {
        const i = info(demoted);
        const managers = info(asker)?.cluster?.managers.length ?? 0;
        return i?.node.role === 'worker' && managers === 2
          ? { done: true, value: 0 }
          : { done: false, state: `role ${i?.node.role}, ${managers} managers` };
      },
      { timeoutMs: 30_000, intervalMs: 200, what: 'the demoted leader a worker, two managers left' },
    );
    expect(nodes.pid(demoted)).toBe(pid);
    expect(await leaderSeenBy(asker)).not.toBe(current);
    const statuses = managerStatuses(asker);
    expect(statuses.get(current)).toBe('');
    expect([...statuses.values()].filter(Boolean).sort()).toEqual(['Leader', 'Reachable']);
    // Its manager side is gone (no control API of its own), its task is untouched.
    expect(demoted.cli('service', 'ls').stderr).toContain('not a swarm manager');
    expect([...running('mw')].filter(([, node]) => node === current).map(([c]) => c)).toEqual(containers);
    // `node rm` refuses a manager; the demoted node is refused only for being up.
    const otherManager = ids.find((id) => id !== current && id !== info(asker)!.node.nodeId)!;
    expect(asker.cli('node', 'rm', otherManager).stderr).toContain(
      'must be demoted to worker before removal',
    );
    expect(asker.cli('node', 'rm', current).stderr).toContain(
      `node ${current} is not down and can't be removed`,
    );
  }, 240_000);
});

/** `service create` through the CLI, without blocking the test's event loop. */
async function createWithCli(n: TestNode, name: string): Promise<{ code: number; stderr: string }> {
  const r = await runCommand(
    [SWARMCTL, '-H', `unix://${n.socket}`, 'service', 'create', '-d', '--name', name, 'swarmctl-test/web:v1'],
    { allowFailure: true, timeoutMs: 60_000 },
  );
  return { code: r.code, stderr: r.stderr };
}

type Control = ReturnType<typeof controlOf>;
function controlOf(n: TestNode) {
  return createClient(ControlService, `unix://${n.socket}`, ChannelCredentials.createInsecure());
}

interface Outcome {
  ok: boolean;
  error?: string;
  startedAt: number;
  endedAt: number;
}

describe('the leader killed under a stream of creates', () => {
  it('keeps every acknowledged service, answers again within 5 s, duplicates no task', async () => {
    const managers = [0, 1, 2].map((i) => nodes.node(i));
    // Whatever the first test left: three managers again, all up.
    for (const n of managers)
      if (info(n) === undefined)
        ok(n.cli('daemon', '-d', '--state-dir', n.dir, '--control-socket', n.socket));
    const anyManager = managers.find((n) => info(n)?.node.role === 'manager')!;
    for (const [i, n] of managers.entries())
      if (info(n)?.node.role !== 'manager') ok(anyManager.cli('node', 'promote', ids[i]!));
    await waitFor(
      () => {
        const roles = managers.map((n) => info(n)?.node.role);
        const statuses = [...managerStatuses(anyManager).values()].filter(Boolean).sort().join(',');
        return roles.every((r) => r === 'manager') && statuses === 'Leader,Reachable,Reachable'
          ? { done: true, value: 0 }
          : { done: false, state: `${roles.join(',')}; ${statuses}` };
      },
      { timeoutMs: 40_000, intervalMs: 250, what: 'three reachable managers' },
    );
    const leader = await leaderSeenBy(anyManager);
    const victim = managers[ids.indexOf(leader)]!;
    const survivors = managers.filter((n) => n !== victim);
    // A spec as the CLI builds it; the in-process clients send it under new names.
    ok(survivors[0]!.cli('service', 'create', '-d', '--name', 'st-template', 'swarmctl-test/web:v1'));
    const controls: Control[] = survivors.map(controlOf);
    const template = await controls[0]!.call.InspectService({ id: 'st-template' });

    // Four in-process clients (two per surviving manager) each create a service every ~50 ms,
    // and one CLI client creates back to back, all with distinct names.
    const results = new Map<string, Outcome>();
    let stopAt = Number.POSITIVE_INFINITY;
    let seq = 0;
    const record = async (name: string, call: () => Promise<unknown>): Promise<void> => {
      const startedAt = Date.now();
      try {
        await call();
        results.set(name, { ok: true, startedAt, endedAt: Date.now() });
      } catch (e) {
        results.set(name, { ok: false, error: errorMessage(e), startedAt, endedAt: Date.now() });
      }
    };
    const grpcStream = async (c: Control, tag: string): Promise<void> => {
      while (Date.now() < stopAt) {
        const name = `st-${tag}-${seq++}`;
        await record(name, () =>
          c.call.CreateService({ spec: { ...template.spec, name } }, { timeoutMs: 20_000 }),
        );
        await new Promise((r) => setTimeout(r, 50)); // hygiene-ok: paces a client's stream of creates (one every ~50 ms)
      }
    };
    const cliStream = async (n: TestNode): Promise<void> => {
      while (Date.now() < stopAt) {
        const name = `st-cli-${seq++}`;
        await record(name, async () => {
          const r = await createWithCli(n, name);
          if (r.code !== 0) throw new Error(r.stderr.trim());
        });
      }
    };
    const streams = [
      grpcStream(controls[0]!, 'a'),
      grpcStream(controls[1]!, 'b'),
      grpcStream(controls[0]!, 'c'),
      grpcStream(controls[1]!, 'd'),
      cliStream(survivors[1]!),
    ];
    await waitFor(
      () =>
        results.size >= 20 ? { done: true, value: 0 } : { done: false, state: `${results.size} creates` },
      { timeoutMs: 30_000, intervalMs: 50, what: 'the create stream under way' },
    );
    // The API is back when a write goes through again: a node label set through Raft, one probe
    // launched every 100 ms (each may wait up to 5 s for its commit), timed by the first to land.
    const probeNode = ids[managers.indexOf(survivors[0]!)]!;
    const probe = controlOf(survivors[0]!);
    const probing: Promise<void>[] = [];
    let firstProbeAt: number | undefined;
    const killedAt = Date.now();
    let backMs: number;
    try {
      process.kill(nodes.pid(victim)!, 'SIGKILL');
      backMs = await waitFor(
        () => {
          if (firstProbeAt !== undefined) return { done: true, value: firstProbeAt - killedAt };
          probing.push(
            probe.call
              .UpdateNode(
                { id: probeNode, labelAdd: { probe: String(probing.length) } },
                { timeoutMs: 5_000 },
              )
              .then(
                () => {
                  firstProbeAt ??= Date.now();
                },
                () => undefined,
              ),
          );
          return { done: false, state: `${probing.length} probes, none through` };
        },
        { timeoutMs: 15_000, intervalMs: 100, what: 'a write through the API after the kill' },
      );
      stopAt = Date.now() + 3_000;
      await Promise.all([...streams, ...probing]);
    } finally {
      probe.close();
      for (const c of controls) c.close();
    }
    const acked = [...results].filter(([, r]) => r.ok).map(([name]) => name);
    const failed = [...results].filter(([, r]) => !r.ok);
    const firstAck = Math.min(
      ...[...results.values()].filter((r) => r.ok && r.startedAt > killedAt).map((r) => r.endedAt),
    );
    const firstAckAny = Math.min(
      ...[...results.values()].filter((r) => r.ok && r.endedAt > killedAt).map((r) => r.endedAt),
    );
    const errors = new Map<string, number>();
    for (const [, r] of failed) errors.set(r.error!, (errors.get(r.error!) ?? 0) + 1);
    console.log(
      `leader killed under creates: a write went through ${backMs} ms after the kill (${probing.length} probes); ` +
        `first create acknowledged after the kill at +${firstAckAny - killedAt} ms, first started after it at +${firstAck - killedAt} ms; ` +
        `${acked.length} creates acknowledged, ${failed.length} failed: ${[...errors].map(([e, n]) => `${n}× ${e}`).join(' | ')}`,
    );
    expect(backMs).toBeLessThan(5_000);

    // Every acknowledged service exists; a failed one may exist, and then whole.
    const listed = new Map(
      ok(survivors[0]!.cli('service', 'ls', '--format', 'json'))
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { Name: string; Replicas: string })
        .map((s) => [s.Name, s] as const),
    );
    for (const name of acked) expect(listed.has(name), `acknowledged ${name} listed`).toBe(true);
    const present = [...results.keys()].filter((n) => listed.has(n));
    console.log(`${present.length - acked.length} failed creates exist all the same (outcome was unknown)`);

    // A retried create of a name that exists gets "already in use", never a second service.
    const retry = await createWithCli(survivors[1]!, acked[0]!);
    expect(retry.code).not.toBe(0);
    expect(retry.stderr).toMatch(/already in use/);
    expect([...listed.keys()].filter((n) => n === acked[0]).length).toBe(1);

    // Every service present runs one task: never two (the killed node's containers live on
    // until it comes back, but its tasks are no longer running for the cluster).
    const runningTasks = async (): Promise<Map<string, number>> => {
      const c = controlOf(survivors[0]!);
      try {
        const { services, tasks } = await c.call.ListServices({});
        const names = new Map(services.map((sv) => [sv.id as string, sv.spec.name]));
        const byService = new Map<string, number>();
        for (const t of tasks) {
          const name = names.get(t.serviceId) ?? '';
          if (name.startsWith('st-') && t.status.state === 'running' && t.desiredState === 'running')
            byService.set(name, (byService.get(name) ?? 0) + 1);
        }
        return byService;
      } finally {
        c.close();
      }
    };
    await waitFor(
      async () => {
        const counts = await runningTasks();
        const over = [...counts].filter(([, n]) => n > 1);
        expect(over).toEqual([]);
        return counts.size === present.length + 1
          ? { done: true, value: 0 }
          : { done: false, state: `${counts.size} of ${present.length + 1} services running` };
      },
      { timeoutMs: 90_000, intervalMs: 500, what: 'one running task per service' },
    );

    // Once the killed node is back, its agent removes the containers it no longer owns: one
    // container per service on the engine.
    ok(victim.cli('daemon', '-d', '--state-dir', victim.dir, '--control-socket', victim.socket));
    await waitFor(
      () => {
        const perService = new Map<string, number>();
        const out = docker(
          'ps',
          '--filter',
          'label=com.docker.swarm.service.name',
          '--format',
          '{{.Label "com.docker.swarm.service.name"}} {{.Label "com.docker.swarm.node.id"}}',
        );
        for (const l of out.split('\n').filter(Boolean)) {
          const [svc, node] = l.split(' ');
          if (svc!.startsWith('st-') && ids.includes(node!))
            perService.set(svc!, (perService.get(svc!) ?? 0) + 1);
        }
        const over = [...perService].filter(([, n]) => n > 1);
        return over.length === 0 && perService.size === present.length + 1
          ? { done: true, value: 0 }
          : {
              done: false,
              state: `${perService.size} services with containers, over: ${JSON.stringify(over)}`,
            };
      },
      { timeoutMs: 60_000, intervalMs: 500, what: 'one container per service after the killed node is back' },
    );
  }, 300_000);
});

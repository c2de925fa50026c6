import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../src/common/index.js';
import { runCommand } from '../harness/run-command.js';
import { SWARMCTL, SwarmNodes, type TestNode } from '../harness/swarm-nodes.js';

/**
 * Managers in plural on real node processes (loopback, mutual TLS, the machine's engine shared:
 * each node runs only the containers labelled with its node ID). Promote/demote change the Raft
 * membership; the leader's process is SIGKILLed, once idle and once under a stream of creates.
 */
let nodes: SwarmNodes;
const ids: string[] = [];

function ok(r: { status: number; stdout: string; stderr: string }): string {
  if (r.status !== 0) throw new Error(`exit ${r.status}: ${r.stderr}`);
  return r.stdout;
}

function docker(...args: string[]): string {
  return execFileSync('docker', args, { encoding: 'utf8' });
}

interface InfoJson {
  node: { nodeId: string; role: string; pid: number };
  cluster?: { leader: string | null; managers: { nodeId: string; reachability: string }[] };
}

function info(n: TestNode): InfoJson | undefined {
  const r = n.cli('info', '--format', 'json');
  return r.status === 0 ? (JSON.parse(r.stdout) as InfoJson) : undefined;
}

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
  ok(nodes.init(0));
  const token = ok(nodes.node(0).cli('join-token', 'worker', '-q')).trim();
  ok(nodes.join(1, token, nodes.node(0)));
  ok(nodes.join(2, token, nodes.node(0)));
  for (const i of [0, 1, 2]) ids.push(info(nodes.node(i))!.node.nodeId);
}, 120_000);

afterAll(() => {
  nodes?.teardown();
  for (const id of ids) {
    const left = docker('ps', '-aq', '--filter', `label=com.docker.swarm.node.id=${id}`)
      .split('\n')
      .filter(Boolean);
    if (left.length > 0) docker('rm', '-f', ...left);
  }
});

describe('promote and demote change the Raft membership', () => {
  it('promotes two workers to voters, survives the leader being killed, demotes one back to a worker that keeps its task', async () => {
    const [n0, n1, n2] = [nodes.node(0), nodes.node(1), nodes.node(2)];
    await waitFor(
      () => {
        const ready = ok(n0.cli('node', 'ls'))
          .split('\n')
          .filter((l) => /\bReady\b/.test(l)).length;
        return ready === 3 ? { done: true, value: 0 } : { done: false, state: `${ready} ready` };
      },
      { timeoutMs: 30_000, intervalMs: 200, what: 'three ready nodes' },
    );
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
    const rm = asker.cli('node', 'rm', ids.find((id) => id !== current && id !== info(asker)!.node.nodeId)!);
    expect(rm.stderr).toContain('must be demoted to worker before removal');
  }, 240_000);
});

/** `service create` as a client would run it, without blocking the test's event loop. */
async function create(n: TestNode, name: string): Promise<{ code: number; stderr: string }> {
  const r = await runCommand(
    [SWARMCTL, '-H', `unix://${n.socket}`, 'service', 'create', '-d', '--name', name, 'swarmctl-test/web:v1'],
    { allowFailure: true, timeoutMs: 60_000 },
  );
  return { code: r.code, stderr: r.stderr };
}

describe('the leader killed under a stream of creates', () => {
  it('keeps every acknowledged service, answers again within 5 s, duplicates no task', async () => {
    const managers = [0, 1, 2].map((i) => nodes.node(i));
    // Whatever the first test left: make all three managers again, all up.
    for (const n of managers)
      if (info(n) === undefined)
        ok(n.cli('daemon', '-d', '--state-dir', n.dir, '--control-socket', n.socket));
    const anyManager = managers.find((n) => info(n)?.node.role === 'manager')!;
    for (const [i, n] of managers.entries())
      if (info(n)?.node.role !== 'manager') ok(anyManager.cli('node', 'promote', ids[i]!));
    await waitFor(
      () => {
        const roles = managers.map((n) => info(n)?.node.role);
        const listed = info(anyManager)?.cluster?.managers.length ?? 0;
        return roles.every((r) => r === 'manager') && listed === 3
          ? { done: true, value: 0 }
          : { done: false, state: `${roles.join(',')}; ${listed} listed` };
      },
      { timeoutMs: 40_000, intervalMs: 250, what: 'three managers' },
    );
    const leader = await leaderSeenBy(anyManager);
    const victim = managers[ids.indexOf(leader)]!;
    const clients = managers.filter((n) => n !== victim);

    // Two clients, one per surviving manager, each creating a service every ~50 ms.
    const results = new Map<string, { code: number; stderr: string }>();
    let stopAt = Number.POSITIVE_INFINITY;
    let seq = 0;
    const stream = async (n: TestNode, tag: string): Promise<void> => {
      while (Date.now() < stopAt) {
        const name = `st-${tag}-${seq++}`;
        const started = Date.now();
        results.set(name, await create(n, name));
        const wait = 50 - (Date.now() - started);
        // hygiene-ok: paces the client stream (a create every ~50 ms), not a wait for a condition
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
    };
    const streams = [stream(clients[0]!, 'a'), stream(clients[1]!, 'b')];
    await waitFor(
      () =>
        results.size >= 6 ? { done: true, value: 0 } : { done: false, state: `${results.size} creates` },
      { timeoutMs: 30_000, intervalMs: 50, what: 'the create stream under way' },
    );
    const killedAt = Date.now();
    process.kill(nodes.pid(victim)!, 'SIGKILL');
    const backMs = await waitFor(
      () =>
        clients[0]!.cli('service', 'ls').status === 0 && info(clients[0]!)?.cluster?.leader
          ? { done: true, value: Date.now() - killedAt }
          : { done: false, state: 'no answer' },
      { timeoutMs: 15_000, intervalMs: 50, what: 'the API after the kill' },
    );
    stopAt = Date.now() + 3_000;
    await Promise.all(streams);
    const acked = [...results].filter(([, r]) => r.code === 0).map(([name]) => name);
    const failed = [...results].filter(([, r]) => r.code !== 0);
    console.log(
      `leader killed under creates: API back after ${backMs} ms; ${acked.length} creates acknowledged, ${failed.length} failed: ${failed.map(([n, r]) => `${n}: ${r.stderr.trim()}`).join(' | ')}`,
    );
    expect(backMs).toBeLessThan(5_000);

    // Every acknowledged service exists; a failed one may exist, and then whole.
    const names = new Set(
      ok(clients[0]!.cli('service', 'ls', '--format', 'json'))
        .split('\n')
        .filter(Boolean)
        .map((l) => (JSON.parse(l) as { Name: string }).Name),
    );
    for (const name of acked) expect(names, `acknowledged ${name}`).toContain(name);
    for (const [name] of failed) {
      if (!names.has(name)) continue;
      // Whole: it has its spec and, like every service, gets its replica (checked below).
      const s = JSON.parse(ok(clients[0]!.cli('service', 'inspect', name))) as unknown[];
      expect(s.length).toBe(1);
      acked.push(name);
    }
    // A retried create of a name that exists gets "already exists", never a second service.
    const retry = await create(clients[1]!, acked[0]!);
    expect(retry.code).not.toBe(0);
    expect(retry.stderr).toMatch(/already (in use|exists)/);

    // No service runs more tasks than its one replica, once things settle.
    await waitFor(
      () => {
        const perService = new Map<string, number>();
        for (const l of docker(
          'ps',
          '--filter',
          'label=com.docker.swarm.service.name',
          '--format',
          '{{.Label "com.docker.swarm.service.name"}} {{.Label "com.docker.swarm.node.id"}}',
        )
          .split('\n')
          .filter(Boolean)) {
          const [svc, node] = l.split(' ');
          if (svc!.startsWith('st-') && ids.includes(node!))
            perService.set(svc!, (perService.get(svc!) ?? 0) + 1);
        }
        const over = [...perService].filter(([, c]) => c > 1);
        expect(over).toEqual([]);
        const missing = acked.filter((n) => !perService.has(n));
        return missing.length === 0
          ? { done: true, value: 0 }
          : { done: false, state: `${missing.length} not running yet` };
      },
      { timeoutMs: 90_000, intervalMs: 500, what: 'one running task per acknowledged service' },
    );
  }, 300_000);
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../src/common/index.js';
import { docker, nodeInfo, ok, startCluster, stopCluster, waitForReady } from '../harness/cluster-cli.js';
import { SwarmNodes, type TestNode } from '../harness/swarm-nodes.js';

/**
 * A rolling update across a leader failure: three managers on loopback sharing the machine's
 * engine (each manages only the containers labelled with its node ID). The first manager, the
 * leader, is drained so that killing it loses no task: what is tested is that the updater's
 * state is in the store and the new leader finishes the same update, one slot at a time.
 */
let nodes: SwarmNodes;
let ids: string[] = [];

interface Sample {
  /** Running containers per slot, and their images. */
  readonly slots: Map<string, string[]>;
}

/** What the engine runs for this run's `upd` service (containers are `<service>.<slot>.<task>`). */
function sample(): Sample {
  const out = docker(
    'ps',
    '--filter',
    'label=com.docker.swarm.service.name=upd',
    '--format',
    '{{.Names}} {{.Image}} {{.Label "com.docker.swarm.node.id"}}',
  );
  const slots = new Map<string, string[]>();
  for (const line of out.split('\n').filter(Boolean)) {
    const [name, image, node] = line.split(' ');
    if (!ids.includes(node!)) continue;
    const slot = name!.split('.')[1]!;
    slots.set(slot, [...(slots.get(slot) ?? []), image!]);
  }
  return { slots };
}

/** Most containers seen running in one slot, over every sample taken. */
let maxPerSlot = 0;
const samples: string[] = [];

function observe(): Sample {
  const s = sample();
  for (const images of s.slots.values()) maxPerSlot = Math.max(maxPerSlot, images.length);
  samples.push([...s.slots.entries()].map(([k, v]) => `${k}:${v.join('+')}`).join(' '));
  return s;
}

function images(s: Sample): string[] {
  return [...s.slots.values()].flat().sort();
}

function updateState(n: TestNode): string | undefined {
  const r = n.cli('service', 'inspect', 'upd');
  if (r.status !== 0) return undefined;
  const parsed = JSON.parse(r.stdout) as unknown;
  const svc = (Array.isArray(parsed) ? parsed[0] : parsed) as {
    status?: { updateStatus?: { state: string } };
  };
  return svc.status?.updateStatus?.state;
}

beforeAll(() => {
  nodes = new SwarmNodes(25900, 'swarm-updates-');
  ids = startCluster(nodes, ['manager', 'manager']);
}, 120_000);

afterAll(() => stopCluster(nodes, ids));

describe('rolling update across a leader failure', () => {
  it('the new leader finishes the update: 4 replicas on v2, never two running in a slot', async () => {
    const n0 = nodes.node(0);
    await waitForReady(n0, 3);
    const leaderId = nodeInfo(n0)?.cluster?.leader;
    expect(leaderId).toBe(ids[0]);
    ok(n0.cli('node', 'update', '--availability', 'drain', ids[0]!));
    ok(
      n0.cli(
        'service',
        'create',
        '--detach=false',
        '--replicas',
        '4',
        '--name',
        'upd',
        'swarmctl-test/web:v1',
      ),
    );
    expect(images(observe())).toEqual(Array(4).fill('swarmctl-test/web:v1'));

    const started = Date.now();
    ok(
      n0.cli(
        'service',
        'update',
        '--detach',
        '--image',
        'swarmctl-test/web:v2',
        '--update-parallelism',
        '1',
        '--update-delay',
        '1s',
        'upd',
      ),
    );
    // Mid-update: at least one slot on v2, not all.
    await waitFor(
      () => {
        const v2 = images(observe()).filter((i) => i.endsWith(':v2')).length;
        return v2 >= 1 && v2 < 4 ? { done: true, value: v2 } : { done: false, state: `${v2} on v2` };
      },
      { timeoutMs: 30_000, intervalMs: 100, what: 'the update under way' },
    );
    const beforeKill = images(observe()).filter((i) => i.endsWith(':v2')).length;
    const killedAt = Date.now();
    process.kill(nodes.pid(n0)!, 'SIGKILL');
    const survivor = nodes.node(1);
    await waitFor(
      () => {
        const all = images(observe());
        const onV2 = all.length === 4 && all.every((i) => i.endsWith(':v2'));
        // The CLI is slower than `docker ps`: asked only at the end, so the engine is sampled often.
        const state = onV2 ? updateState(survivor) : 'not checked';
        const done = onV2 && state === 'completed';
        return done ? { done: true, value: 0 } : { done: false, state: `${state}; ${all.join(',')}` };
      },
      { timeoutMs: 120_000, intervalMs: 200, what: 'the new leader to complete the update' },
    );
    console.log(
      `update: ${beforeKill}/4 slots on v2 when the leader was killed; completed ${Date.now() - killedAt} ms later (${Date.now() - started} ms in all), ${samples.length} samples`,
    );
    const newLeader = nodeInfo(survivor)?.cluster?.leader;
    expect(newLeader).not.toBe(ids[0]);
    expect(maxPerSlot).toBe(1);
    const final = observe();
    expect([...final.slots.keys()].sort()).toEqual(['1', '2', '3', '4']);
    // The store agrees: one running task per slot, all of the new spec.
    const tasks = ok(survivor.cli('service', 'ps', 'upd', '--format', 'json'))
      .split('\n')
      .filter(Boolean)
      .map(
        (l) => JSON.parse(l) as { Name: string; Image: string; DesiredState: string; CurrentState: string },
      );
    const live = tasks.filter((t) => t.DesiredState === 'Running' && t.CurrentState.startsWith('Running'));
    expect(live).toHaveLength(4);
    expect(new Set(live.map((t) => t.Name.replace(/^\\_ /, '').trim())).size).toBe(4);
    expect(live.every((t) => t.Image.endsWith(':v2'))).toBe(true);
    // The same update went on: one v2 task per slot in all, none redone by the new leader.
    expect(tasks.filter((t) => t.Image.endsWith(':v2'))).toHaveLength(4);
  }, 240_000);
});

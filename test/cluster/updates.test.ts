import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../src/common/index.js';
import { SwarmNodes, type TestNode } from '../harness/swarm-nodes.js';

/**
 * A rolling update across a leader failure: three managers on loopback sharing the machine's
 * engine (each manages only the containers labelled with its node ID). The first manager, the
 * leader, is drained so that killing it loses no task: what is tested is that the updater's
 * state is in the store and the new leader finishes the same update, one slot at a time.
 */
let nodes: SwarmNodes;
let ids: string[] = [];

function ok(r: { status: number; stdout: string; stderr: string }): string {
  if (r.status !== 0) throw new Error(`exit ${r.status}: ${r.stderr}`);
  return r.stdout;
}

function docker(...args: string[]): string {
  return execFileSync('docker', args, { encoding: 'utf8' });
}

function info(n: TestNode): { nodeId: string; leader: string | null } {
  const j = JSON.parse(ok(n.cli('info', '--format', 'json')));
  return { nodeId: j.node.nodeId, leader: j.cluster?.leader ?? null };
}

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
  ok(nodes.init(0));
  const token = ok(nodes.node(0).cli('join-token', 'manager', '-q')).trim();
  ok(nodes.join(1, token, nodes.node(0)));
  ok(nodes.join(2, token, nodes.node(0)));
  ids = [0, 1, 2].map((i) => info(nodes.node(i)).nodeId);
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

describe('rolling update across a leader failure', () => {
  it('the new leader finishes the update: 4 replicas on v2, never two running in a slot', async () => {
    const n0 = nodes.node(0);
    await waitFor(
      () => {
        const ready = ok(n0.cli('node', 'ls'))
          .split('\n')
          .filter((l) => /\bReady\b/.test(l)).length;
        return ready === 3 ? { done: true, value: 0 } : { done: false, state: `${ready} ready` };
      },
      { timeoutMs: 30_000, intervalMs: 200, what: 'three ready managers' },
    );
    const leaderId = info(n0).leader;
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
    execFileSync('kill', ['-KILL', String(nodes.pid(n0))]);
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
    const newLeader = info(survivor).leader;
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

import { describe, expect, it } from 'vitest';
import type { MeshState, NetworkId, NodeId } from '../../api/index.js';
import {
  captureLogger,
  deferred,
  type Logger,
  ManualClock,
  noopLogger,
  waitFor,
} from '../../common/index.js';
import type { CommandRunner } from './command-runner.js';
import { CONVERGE_RETRY_MS, KernelDataPlane } from './data-plane.js';
import type { EngineNetwork, NetworkEngine } from './docker-networks.js';
import type { NetworkPlan } from './plan.js';
import {
  ENGINE_CALL_TIMEOUT_MS,
  resolveEngineCallTimeout,
  TEARDOWN_DEADLINE_MS,
  TEARDOWN_RETRY_MS,
} from './teardown.js';

const ING = 'net-ingress' as NetworkId;
const APP = 'net-app' as NetworkId;
const N1 = 'node1' as NodeId;
const N2 = 'node2' as NodeId;

/** Ingress, and the user overlay `app` while `withApp`: the node takes part in what it has an address on. */
function state(revision: number, withApp: boolean): MeshState {
  const networks = [
    {
      id: ING,
      name: 'ingress',
      vni: 4096,
      subnet: '10.0.0.0/24',
      gateway: '10.0.0.1',
      ingress: true,
      attachable: false,
    },
    {
      id: APP,
      name: 'app',
      vni: 4097,
      subnet: '10.0.1.0/24',
      gateway: '10.0.1.1',
      ingress: false,
      attachable: true,
    },
  ];
  return {
    revision,
    networks,
    nodes: [N1, N2].map((nodeId, i) => ({
      nodeId,
      addr: `192.168.1.${11 + i}`,
      networkAddrs: [
        { networkId: ING, addr: `10.0.0.${2 + i}/24` },
        ...(withApp ? [{ networkId: APP, addr: `10.0.1.${2 + i}/24` }] : []),
      ],
    })),
    services: [],
  };
}

/** The links of one namespace, as `ip` sees them; `failOn` makes one command fail. */
class FakeKernel {
  readonly links = new Set<string>();
  readonly calls: string[] = [];
  failOn: string | undefined;
  readonly run: CommandRunner = async (argv, input) => {
    const line = argv.join(' ');
    this.calls.push(input ? `${line} <<${input}` : line);
    const ok = { code: 0, stdout: '', stderr: '' };
    const err = { code: 1, stdout: '', stderr: 'Cannot find device' };
    if (this.failOn && line.startsWith(this.failOn))
      return { code: 2, stdout: '', stderr: 'RTNETLINK answers: busy' };
    if (argv[0] === 'iptables' && (argv[1] === '-C' || argv[1] === '-D')) return err;
    if (argv[0] === 'ip' && argv[1] === 'rule' && argv[2] === 'del') return err;
    if (argv[0] === 'ip' && argv[1] === 'link' && argv[2] === 'add') this.links.add(argv[3] as string);
    if (argv[0] === 'ip' && argv[1] === 'link' && argv[2] === 'del')
      return this.links.delete(argv[3] as string) ? ok : err;
    if (argv[0] === 'ip' && argv[1] === '-o' && argv[2] === 'link') {
      const vxlanOnly = argv.includes('vxlan');
      const names = [...this.links].filter((n) => !vxlanOnly || n.startsWith('swmv'));
      return { ...ok, stdout: names.map((n, i) => `${i + 7}: ${n}: <BROADCAST,UP> mtu 1450`).join('\n') };
    }
    return ok;
  };
}

/**
 * A unit-test fake of Docker's network API. `refuse(name, n)`: the next n removals fail as
 * Docker's do while an endpoint is active; `hung`: every call from then on never answers.
 */
class FakeEngine implements NetworkEngine {
  hung = false;
  hungCalls = 0;
  private never<T>(): Promise<T> {
    this.hungCalls++;
    return new Promise<T>(() => {});
  }
  readonly nets = new Map<string, EngineNetwork>();
  readonly inUse = new Set<string>();
  private readonly refusals = new Map<string, number>();
  created = deferred<void>();
  gate: Promise<void> | undefined;
  constructor(private readonly kernel: FakeKernel) {}
  refuse(name: string, times: number): void {
    this.refusals.set(name, times);
  }
  async listOurs(): Promise<EngineNetwork[]> {
    if (this.hung) return this.never();
    return [...this.nets.values()];
  }
  async create(p: NetworkPlan): Promise<void> {
    this.nets.set(p.dockerName, {
      id: p.dockerName,
      name: p.dockerName,
      subnet: p.subnet,
      gateway: p.localAddr,
      bridge: p.bridge,
    });
    this.kernel.links.add(p.bridge);
    this.created.resolve();
    await this.gate;
  }
  removing = deferred<void>();
  removeGate: Promise<void> | undefined;
  async remove(name: string, options?: { onlyIfUnused?: boolean }): Promise<void> {
    if (this.hung) return this.never();
    this.removing.resolve();
    await this.removeGate;
    const n = this.nets.get(name);
    if (!n) throw new Error(`network ${name} not found`);
    if (options?.onlyIfUnused && this.inUse.has(name)) return;
    const left = this.refusals.get(name) ?? 0;
    if (left > 0) {
      this.refusals.set(name, left - 1);
      throw new Error(`error while removing network: network ${name} has active endpoints`);
    }
    this.nets.delete(name);
    if (n.bridge) this.kernel.links.delete(n.bridge);
  }
}

function started(options: { removeAll?: boolean; logger?: Logger; engineCallTimeoutMs?: number } = {}) {
  const kernel = new FakeKernel();
  const engine = new FakeEngine(kernel);
  const clock = new ManualClock();
  const dp = new KernelDataPlane({
    nodeId: N1,
    run: kernel.run,
    engine,
    logger: options.logger ?? noopLogger,
    clock,
    keepSourceIp: false,
    ...(options.engineCallTimeoutMs !== undefined && { engineCallTimeoutMs: options.engineCallTimeoutMs }),
    removeAllOnStop: () => options.removeAll ?? true,
  });
  const ac = new AbortController();
  let finished = false;
  const done = dp.run(ac.signal).then(() => {
    finished = true;
  });
  return { kernel, engine, clock, dp, ac, done, isFinished: () => finished };
}

async function applied(dp: KernelDataPlane, revision: number, what: string): Promise<void> {
  await waitFor(
    () =>
      dp.revision === revision ? { done: true, value: 0 } : { done: false, state: `revision ${dp.revision}` },
    { timeoutMs: 2_000, intervalMs: 2, what },
  );
}

/** Advances `clock` a retry step at a time until `finished`; how far it went (ms). */
async function advanceUntil(
  clock: ManualClock,
  finished: () => boolean,
  what: string,
  detail: () => string = () => '',
): Promise<number> {
  let advanced = 0;
  await waitFor(
    () => {
      if (finished()) return { done: true, value: 0 };
      clock.advance(TEARDOWN_RETRY_MS);
      advanced += TEARDOWN_RETRY_MS;
      return { done: false, state: `advanced ${advanced} ms ${detail()}` };
    },
    { timeoutMs: 10_000, intervalMs: 1, what },
  );
  return advanced;
}

describe('KernelDataPlane teardown', () => {
  it('on leave, keeps removing a Docker network that Docker refuses while a container is still exiting', async () => {
    const { kernel, engine, clock, dp, ac, done, isFinished } = started();
    dp.update(state(1, true));
    await applied(dp, 1, 'both overlays up');
    expect(kernel.links).toEqual(new Set(['swmb4096', 'swmv4096', 'swmb4097', 'swmv4097']));
    // A task's container stopped just before the leave: its endpoint goes only once the engine
    // has processed the exit. Two attempts in a row met that window in CI.
    engine.refuse('swarmctl-app', 6);
    ac.abort();
    await waitFor(
      () => {
        if (isFinished()) return { done: true, value: 0 };
        clock.advance(TEARDOWN_RETRY_MS);
        return { done: false, state: `networks ${[...engine.nets.keys()].join(', ')}` };
      },
      { timeoutMs: 5_000, intervalMs: 2, what: 'the teardown' },
    );
    await done;
    expect([...engine.nets.keys()]).toEqual([]);
    expect([...kernel.links]).toEqual([]);
    expect(kernel.calls.some((c) => c.includes('delete table ip swarmctl-mesh'))).toBe(true);
  });

  it('gives up only after its deadline, and the stop still ends', async () => {
    const { engine, clock, dp, ac, done, isFinished } = started();
    dp.update(state(1, true));
    await applied(dp, 1, 'both overlays up');
    engine.refuse('swarmctl-app', Number.MAX_SAFE_INTEGER);
    ac.abort();
    const advanced = await advanceUntil(clock, isFinished, 'the teardown to give up');
    await done;
    expect(advanced).toBeGreaterThanOrEqual(TEARDOWN_DEADLINE_MS);
    expect([...engine.nets.keys()]).toEqual(['swarmctl-app']);
  });

  it('removes the devices of an apply that failed halfway, which the last plan never recorded', async () => {
    const { kernel, engine, dp, ac, done } = started();
    dp.update(state(1, false));
    await applied(dp, 1, 'ingress up');
    // The user overlay's network and VXLAN device are made, then enslaving the device fails.
    kernel.failOn = 'ip link set swmv4097';
    dp.update(state(2, true));
    await waitFor(
      () =>
        kernel.links.has('swmv4097')
          ? { done: true, value: 0 }
          : { done: false, state: [...kernel.links].join(' ') },
      { timeoutMs: 2_000, intervalMs: 2, what: 'the half-made overlay' },
    );
    expect(dp.revision).not.toBe(2);
    ac.abort();
    await done;
    expect([...engine.nets.keys()]).toEqual([]);
    expect([...kernel.links]).toEqual([]);
  });

  it('a stop during an apply wins: the apply stops at its next step and what it made goes', async () => {
    const { kernel, engine, dp, ac, done } = started();
    dp.update(state(1, false));
    await applied(dp, 1, 'ingress up');
    const release = deferred<void>();
    engine.gate = release.promise;
    engine.created = deferred<void>();
    dp.update(state(2, true));
    await engine.created.promise;
    ac.abort();
    const stopAt = kernel.calls.length;
    release.resolve();
    await done;
    // Nothing of the apply after the stop: no VXLAN device for the new overlay, no table.
    expect(kernel.calls.slice(stopAt).filter((c) => c.startsWith('ip link add'))).toEqual([]);
    expect([...engine.nets.keys()]).toEqual([]);
    expect([...kernel.links]).toEqual([]);
    // A state arriving after the stop brings nothing back.
    dp.update(state(3, true));
    expect([...engine.nets.keys()]).toEqual([]);
  });

  it('a plain stop keeps the networks running containers use and removes the rest', async () => {
    const { kernel, engine, dp, ac, done } = started({ removeAll: false });
    dp.update(state(1, true));
    await applied(dp, 1, 'both overlays up');
    engine.inUse.add('swarmctl-app');
    ac.abort();
    await done;
    expect([...engine.nets.keys()]).toEqual(['swarmctl-app']);
    expect([...kernel.links]).toEqual(['swmb4097']);
  });
});

describe('KernelDataPlane teardown with an engine that never answers', () => {
  it('gives each Docker call up after its timeout, names it, and the leave still ends with the rest removed', async () => {
    const { logger, records } = captureLogger('warn');
    const { kernel, engine, clock, dp, ac, done, isFinished } = started({ logger });
    dp.update(state(1, true));
    await applied(dp, 1, 'both overlays up');
    engine.hung = true;
    ac.abort();
    const advanced = await advanceUntil(
      clock,
      isFinished,
      'the teardown to end despite the hung engine',
      () => `${engine.hungCalls} calls hung`,
    );
    await done;
    // The networks' retries until their deadline, then one more bounded call for the links step.
    expect(advanced).toBeLessThanOrEqual(TEARDOWN_DEADLINE_MS + 2 * ENGINE_CALL_TIMEOUT_MS);
    expect(engine.hungCalls).toBeGreaterThanOrEqual(2);
    const errors = records.filter((r) => r.level === 'error').map((r) => JSON.stringify(r.fields));
    expect(errors.some((e) => e.includes('docker engine call list networks did not answer'))).toBe(true);
    // What the kernel holds went anyway: the table and the VXLAN devices (bridges are Docker's).
    expect(kernel.calls.some((c) => c.includes('delete table ip swarmctl-mesh'))).toBe(true);
    expect([...kernel.links].filter((l) => l.startsWith('swmv'))).toEqual([]);
  });

  it('gives up a Docker call of a convergence that never answers, so a leave meeting it still tears down', async () => {
    const { logger, records } = captureLogger('warn');
    const { kernel, engine, clock, dp, ac, done, isFinished } = started({ logger });
    // The first network's creation never answers (a CI failure: a leave waited on it for good).
    engine.gate = new Promise<void>(() => {});
    dp.update(state(1, true));
    await engine.created.promise;
    ac.abort();
    const advanced = await advanceUntil(clock, isFinished, 'the leave to end despite the hung create');
    await done;
    expect(advanced).toBeLessThanOrEqual(TEARDOWN_DEADLINE_MS + 2 * ENGINE_CALL_TIMEOUT_MS);
    expect(kernel.calls.some((c) => c.includes('delete table ip swarmctl-mesh'))).toBe(true);
    // The network the hung call had made is found by its label and removed.
    expect([...engine.nets.keys()]).toEqual([]);
    expect(records.filter((r) => r.level === 'error').map((r) => r.msg)).not.toContain(
      'mesh teardown left something of ours',
    );
  });

  it('rejects an engine call timeout that is not a positive whole number of ms, naming the field', () => {
    expect(resolveEngineCallTimeout(undefined)).toBe(ENGINE_CALL_TIMEOUT_MS);
    expect(resolveEngineCallTimeout(250)).toBe(250);
    for (const bad of [0, -1, 1.5, Number.NaN, 10_000_000])
      expect(() => started({ engineCallTimeoutMs: bad }), String(bad)).toThrow(
        expect.objectContaining({
          code: 'INVALID_ARGUMENT',
          details: expect.objectContaining({ field: 'engineCallTimeoutMs' }),
        }),
      );
  });
});

describe('KernelDataPlane, a network no longer needed', () => {
  it('is removed again on the retry timer while Docker refuses, instead of being forgotten, without holding the revision back', async () => {
    const { kernel, engine, clock, dp, ac, done } = started();
    dp.update(state(1, true));
    await applied(dp, 1, 'both overlays up');
    // The node's last task on `app` ended: the leader drops its address there.
    engine.refuse('swarmctl-app', 2);
    dp.update(state(2, false));
    // The rest of the state counts as applied meanwhile (the dispatcher waits for that revision).
    await applied(dp, 2, 'revision 2 applied with the network still refused');
    expect(engine.nets.has('swarmctl-app')).toBe(true);
    await waitFor(
      () => {
        if (!engine.nets.has('swarmctl-app')) return { done: true, value: 0 };
        clock.advance(CONVERGE_RETRY_MS);
        return { done: false, state: `networks ${[...engine.nets.keys()].join(', ')}` };
      },
      { timeoutMs: 5_000, intervalMs: 5, what: 'the user overlay removed' },
    );
    expect([...kernel.links].sort()).toEqual(['swmb4096', 'swmv4096']);
    ac.abort();
    await done;
  });

  it('is no longer offered to a container while it is being removed', async () => {
    const { engine, dp, ac, done } = started();
    dp.update(state(1, true));
    await applied(dp, 1, 'both overlays up');
    expect(await dp.networkNames([APP], 0)).toEqual(new Map([[APP, 'swarmctl-app']]));
    const release = deferred<void>();
    engine.removeGate = release.promise;
    dp.update(state(2, false));
    await engine.removing.promise;
    await expect(dp.networkNames([APP], 0)).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    release.resolve();
    await applied(dp, 2, 'the user overlay removed');
    ac.abort();
    await done;
  });
});

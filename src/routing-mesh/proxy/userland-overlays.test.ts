import { afterEach, describe, expect, it, vi } from 'vitest';
import type { MeshState, NetworkId, NodeId, ServiceId } from '../../api/index.js';
import { ManualClock, noopLogger } from '../../common/index.js';
import type { CommandRunner } from '../data-plane/command-runner.js';
import type { EngineNetwork, NetworkEngine } from '../data-plane/docker-networks.js';
import { UserlandOverlays } from './userland-overlays.js';

const APP = 'net-app' as NetworkId;
const INGRESS = 'net-ingress' as NetworkId;
const N1 = 'node-1' as NodeId;

function state(revision: number, opts: { onApp: boolean; vips: string[] }): MeshState {
  return {
    revision,
    networks: [
      {
        id: INGRESS,
        name: 'ingress',
        vni: 4096,
        subnet: '10.255.0.0/16',
        gateway: '10.255.0.1',
        ingress: true,
        attachable: false,
      },
      {
        id: APP,
        name: 'appnet',
        vni: 4097,
        subnet: '10.0.1.0/24',
        gateway: '10.0.1.1',
        ingress: false,
        attachable: false,
      },
    ],
    nodes: [
      {
        nodeId: N1,
        addr: '192.0.2.1',
        networkAddrs: [
          { networkId: INGRESS, addr: '10.255.0.3/16' },
          ...(opts.onApp ? [{ networkId: APP, addr: '10.0.1.3/24' }] : []),
        ],
      },
    ],
    services: opts.vips.map((vip, i) => ({
      id: `svc-${i}` as ServiceId,
      name: `s${i}`,
      endpointMode: 'vip' as const,
      vips: [{ networkId: APP, addr: vip }],
      ports: [],
      backends: [],
    })),
  };
}

/** A fake engine and `ip`: networks by name, each bridge's /32 addresses. */
function fakes() {
  const networks = new Map<string, EngineNetwork>();
  const addrs = new Map<string, Set<string>>();
  const removed: { name: string; onlyIfUnused: boolean }[] = [];
  const engine: NetworkEngine = {
    listOurs: async () => [...networks.values()],
    create: async (p) => {
      networks.set(p.dockerName, {
        id: p.dockerName,
        name: p.dockerName,
        subnet: p.subnet,
        gateway: p.localAddr,
        bridge: p.bridge,
      });
      addrs.set(p.bridge, new Set());
    },
    remove: async (name, o) => {
      removed.push({ name, onlyIfUnused: o?.onlyIfUnused ?? false });
      const n = networks.get(name);
      networks.delete(name);
      if (n?.bridge) addrs.delete(n.bridge);
    },
  };
  const run: CommandRunner = async (argv) => {
    const dev = argv.at(-1) ?? '';
    const set = addrs.get(dev);
    if (!set) return { code: 1, stdout: '', stderr: `Cannot find device "${dev}"` };
    if (argv[1] === '-o')
      return {
        code: 0,
        stdout: [...set].map((a) => `5: ${dev} inet ${a}/32 scope global ${dev}`).join('\n'),
        stderr: '',
      };
    const a = String(argv[3]).replace('/32', '');
    if (argv[2] === 'add') set.add(a);
    else set.delete(a);
    return { code: 0, stdout: '', stderr: '' };
  };
  return { networks, addrs, removed, engine, run };
}

describe('UserlandOverlays', () => {
  const stops: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const s of stops.splice(0)) await s();
  });

  function start(f: ReturnType<typeof fakes>, leaving: () => boolean, engine: NetworkEngine = f.engine) {
    const clock = new ManualClock();
    const o = new UserlandOverlays({
      nodeId: N1,
      engine,
      run: f.run,
      logger: noopLogger,
      clock,
      removeAllOnStop: leaving,
      engineCallTimeoutMs: 5_000,
    });
    const abort = new AbortController();
    const running = o.run(abort.signal);
    const stop = async () => {
      abort.abort();
      await running;
    };
    stops.push(stop);
    return { o, stop, clock };
  }

  it('makes a bridge per user overlay with the node address as gateway, and holds exactly the VIPs', async () => {
    const f = fakes();
    const { o, clock } = start(f, () => false);
    const names = o.networkNames([APP], 5_000);
    await o.update(state(1, { onApp: true, vips: ['10.0.1.10', '10.0.1.11'] }));
    expect(await names).toEqual(new Map([[APP, 'swarmctl-appnet']]));
    expect([...f.networks.values()]).toEqual([
      {
        id: 'swarmctl-appnet',
        name: 'swarmctl-appnet',
        subnet: '10.0.1.0/24',
        gateway: '10.0.1.3',
        bridge: 'swmb4097',
      },
    ]);
    expect(o.resolverFor([INGRESS, APP])).toBe('10.0.1.3');
    expect([...o.vips()].sort()).toEqual(['10.0.1.10', '10.0.1.11']);
    await o.update(state(2, { onApp: true, vips: ['10.0.1.11'] }));
    expect([...(f.addrs.get('swmb4097') ?? [])]).toEqual(['10.0.1.11']);
    expect([...o.vips()]).toEqual(['10.0.1.11']);
    // The node no longer takes part in the network: its bridge goes, containers disconnected.
    await o.update(state(3, { onApp: false, vips: [] }));
    expect(f.networks.size).toBe(0);
    expect(f.removed).toEqual([{ name: 'swarmctl-appnet', onlyIfUnused: false }]);
    const gone = o.networkNames([APP], 10);
    clock.advance(10);
    await expect(gone).rejects.toMatchObject({ code: 'DEADLINE_EXCEEDED' });
  });

  it('at stop removes only unused networks; when leaving, every one', async () => {
    for (const leaving of [false, true]) {
      const f = fakes();
      const { o, stop } = start(f, () => leaving);
      await o.update(state(1, { onApp: true, vips: [] }));
      await stop();
      expect(f.removed).toEqual([{ name: 'swarmctl-appnet', onlyIfUnused: !leaving }]);
    }
  });

  it('at stop gives up on an engine call that never answers after its bound, so leave cannot hang', async () => {
    const f = fakes();
    let hang = false;
    let hung = 0;
    const engine: NetworkEngine = {
      ...f.engine,
      remove: (name, o) => {
        if (!hang) return f.engine.remove(name, o);
        hung++;
        return new Promise<void>(() => {});
      },
    };
    const { o, stop, clock } = start(f, () => true, engine);
    await o.update(state(1, { onApp: true, vips: [] }));
    hang = true;
    let stopped = false;
    const stopping = stop().then(() => {
      stopped = true;
    });
    await vi.waitFor(() => expect(hung).toBe(1));
    clock.advance(4_999);
    await Promise.resolve();
    expect(stopped).toBe(false);
    clock.advance(1);
    await stopping;
    expect(stopped).toBe(true);
    expect(f.networks.has('swarmctl-appnet')).toBe(true);
  });
});

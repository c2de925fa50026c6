import { describe, expect, it } from 'vitest';
import type { MeshState, NetworkId, NodeId, ServiceId, TaskId } from '../../api/index.js';
import { planMesh } from './plan.js';

const APP = 'net-app' as NetworkId;
const N1 = 'node1' as NodeId;
const N2 = 'node2' as NodeId;

function state(backends: string[], endpointMode: 'vip' | 'dnsrr' = 'vip'): MeshState {
  return {
    revision: 1,
    networks: [
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
    nodes: [N1, N2].map((n, i) => ({
      nodeId: n,
      addr: `192.168.1.${11 + i}`,
      networkAddrs: [{ networkId: APP, addr: `10.0.1.${2 + i}/24` }],
    })),
    services: [
      {
        id: 'svc1' as ServiceId,
        name: 'b',
        endpointMode,
        vips: endpointMode === 'vip' ? [{ networkId: APP, addr: '10.0.1.100/24' }] : [],
        ports: [],
        backends: backends.map((addr, i) => ({
          taskId: `t${i}` as TaskId,
          taskName: `b.${i + 1}.t${i}`,
          nodeId: i % 2 === 0 ? N1 : N2,
          addrs: [{ networkId: APP, addr: `${addr}/24` }],
        })),
      },
    ],
  };
}

describe('planMesh: service VIPs on a user overlay', () => {
  it('puts the VIP on the bridge and DNATs it over the tasks, SNATed to the node on the way out', () => {
    const p = planMesh(N1, state(['10.0.1.11', '10.0.1.12']));
    expect(p.networks[0]?.vips).toEqual(['10.0.1.100']);
    const chains = p.rules?.chains;
    expect(chains?.get('published')).toEqual([
      'ip daddr 10.0.1.100 ct mark set ct mark | 0x10000000 dnat to numgen random mod 2 map { 0 : 10.0.1.11, 1 : 10.0.1.12 }',
      'ip daddr 10.0.1.100 drop',
    ]);
    expect(chains?.get('to-overlay')).toEqual([
      'ct mark & 0x10000000 == 0x10000000 oifname "swmb4097" snat to 10.0.1.2',
    ]);
  });

  it('drops connections to a VIP without tasks; dnsrr services have no VIP and no rule', () => {
    expect(planMesh(N1, state([])).rules?.chains.get('published')).toEqual(['ip daddr 10.0.1.100 drop']);
    const dnsrr = planMesh(N1, state(['10.0.1.11'], 'dnsrr'));
    expect(dnsrr.networks[0]?.vips).toEqual([]);
    expect(dnsrr.rules).toBeUndefined();
  });
});

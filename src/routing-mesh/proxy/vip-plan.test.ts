import { describe, expect, it } from 'vitest';
import type { MeshState, NetworkId, NodeId, ServiceId, TaskId } from '../../api/index.js';
import { planVipPorts } from './vip-plan.js';

const APP = 'net-app' as NetworkId;
const N1 = 'node-1' as NodeId;
const N2 = 'node-2' as NodeId;

function state(mode: 'vip' | 'dnsrr', publishMode: 'ingress' | 'host'): MeshState {
  const backend = (taskId: string, nodeId: NodeId, addr: string) => ({
    taskId: taskId as TaskId,
    taskName: `api.1.${taskId}`,
    nodeId,
    addrs: [{ networkId: APP, addr }],
  });
  return {
    revision: 1,
    networks: [],
    nodes: [
      { nodeId: N1, addr: '10.0.0.1', networkAddrs: [] },
      { nodeId: N2, addr: '10.0.0.2', networkAddrs: [] },
    ],
    services: [
      {
        id: 'svc-api' as ServiceId,
        name: 'api',
        endpointMode: mode,
        vips: mode === 'vip' ? [{ networkId: APP, addr: '10.9.0.2' }] : [],
        ports: [{ protocol: 'tcp', targetPort: 80, publishedPort: 8085, publishMode }],
        backends: [
          backend('t1', N1, '10.9.0.5'),
          backend('t2', N2, '10.9.0.6'),
          backend('t3', N1, '10.9.0.7'),
        ],
      },
    ],
  };
}

describe('planVipPorts', () => {
  it('listens on <vip>:<target>: local tasks at their overlay address, remote ones relayed through their node', () => {
    const plan = planVipPorts(state('vip', 'ingress'), N1, {
      remote: 'via-node',
      withdrawn: new Set(['t3' as TaskId]),
      vips: new Set(['10.9.0.2']),
    });
    expect([...plan.entries()]).toEqual([
      [
        'tcp/10.9.0.2:80',
        {
          protocol: 'tcp',
          port: 80,
          host: '10.9.0.2',
          backends: [
            { host: '10.9.0.5', port: 80, local: true },
            { host: '10.0.0.2', port: 8085, local: false, source: '10.0.0.1' },
          ],
        },
      ],
    ]);
  });

  it('nothing for a VIP not held here or a dnsrr service; no relay without an ingress port', () => {
    expect(planVipPorts(state('vip', 'ingress'), N1, { remote: 'via-node', vips: new Set() }).size).toBe(0);
    expect(
      planVipPorts(state('dnsrr', 'ingress'), N1, { remote: 'via-node', vips: new Set(['10.9.0.2']) }).size,
    ).toBe(0);
    const host = planVipPorts(state('vip', 'host'), N1, { remote: 'via-node', vips: new Set(['10.9.0.2']) });
    expect(host.get('tcp/10.9.0.2:80')?.backends.map((b) => b.host)).toEqual(['10.9.0.5', '10.9.0.7']);
  });
});

import { describe, expect, it } from 'vitest';
import type { Node, PortConfig } from '../../api/index.js';
import { clientAddressInfo } from './client-address.js';
import { node, service } from './fixtures.test-helpers.js';
import { formatServicePretty } from './service-pretty.js';

function withPlane(n: Node, dataPlane: 'nftables+vxlan' | 'userland' | undefined): Node {
  const d = n.description;
  if (!d) return n;
  return { ...n, description: { ...d, ...(dataPlane && { dataPlane }) } };
}

const ingress: PortConfig = { protocol: 'tcp', targetPort: 80, publishedPort: 8080, publishMode: 'ingress' };
const web = service('s1', { name: 'web', endpointSpec: { mode: 'vip', ports: [ingress] } });

describe('service inspect: whether tasks see the client address', () => {
  it('not kept when every node runs the userland proxy; partly when some do, naming them', () => {
    const all = [withPlane(node('n1', 'h1'), 'userland'), withPlane(node('n2', 'h2'), 'userland')];
    expect(clientAddressInfo(web, all)).toMatchObject({ kept: 'no', userlandNodes: ['h1', 'h2'] });
    const mixed = [withPlane(node('n1', 'h1'), 'userland'), withPlane(node('n2', 'h2'), 'nftables+vxlan')];
    const info = clientAddressInfo(web, mixed);
    expect(info?.kept).toBe('partly');
    expect(info?.detail).toMatch(/^not kept through the userland proxy of h1 /);
  });

  it('kept but for node clients with the kernel data plane; unknown when no node says', () => {
    const kernel = [withPlane(node('n1', 'h1'), 'nftables+vxlan')];
    expect(clientAddressInfo(web, kernel)?.detail).toMatch(/itself a swarm node/);
    expect(clientAddressInfo(web, [withPlane(node('n1', 'h1'), undefined)])?.kept).toBe('unknown');
  });

  it('says nothing for a service without ingress ports, and a down node does not count', () => {
    const hostMode = service('s2', {
      name: 'h',
      endpointSpec: { mode: 'vip', ports: [{ ...ingress, publishMode: 'host' }] },
    });
    expect(clientAddressInfo(hostMode, [withPlane(node('n1', 'h1'), 'userland')])).toBeUndefined();
    const down = { ...withPlane(node('n2', 'h2'), 'userland'), status: { state: 'down' as const } };
    expect(clientAddressInfo(web, [withPlane(node('n1', 'h1'), 'nftables+vxlan'), down])?.kept).toBe(
      'partly',
    );
    expect(clientAddressInfo(web, [withPlane(node('n1', 'h1'), 'nftables+vxlan'), down])?.userlandNodes).toBe(
      undefined,
    );
  });

  it('--pretty shows it after the ports', () => {
    const info = clientAddressInfo(web, [withPlane(node('n1', 'h1'), 'userland')]);
    const text = formatServicePretty(web, { now: 0, ...(info && { clientAddress: info }) });
    expect(text).toContain(
      'PublishMode = ingress \nClient Address:\tnot kept: every node runs the userland proxy',
    );
  });
});

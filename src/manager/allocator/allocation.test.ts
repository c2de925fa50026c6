import { describe, expect, it } from 'vitest';
import {
  DEFAULT_CLUSTER_SPEC,
  type Network,
  type NetworkId,
  type PortConfig,
  type Service,
  type ServiceId,
  type ServiceSpec,
  validateNetworkSpec,
} from '../../api/index.js';
import { isSwarmError } from '../../common/index.js';
import { allocateNetworkStatus, FIRST_VNI } from './network-allocation.js';
import { DYNAMIC_PORT_FIRST, resolvePorts } from './ports.js';
import { SubnetPool } from './subnet-pool.js';

function errorOf(fn: () => unknown): { code: string; field?: string; message: string } {
  try {
    fn();
  } catch (e) {
    if (!isSwarmError(e)) throw e;
    return { code: e.code, field: (e as { field?: string }).field, message: e.message };
  }
  throw new Error('expected an error');
}

const pool = DEFAULT_CLUSTER_SPEC.defaultAddrPool;

function network(name: string, subnet: string, vni: number): Network {
  return {
    id: `net${name}`.padEnd(25, '0') as NetworkId,
    meta: { version: 1, createdAt: 0, updatedAt: 0 },
    spec: { name, driver: { name: 'overlay' } },
    status: { vni, ipam: { configs: [{ subnet, gateway: subnet.replace(/0\/\d+$/, '1') }] } },
  };
}

describe('SubnetPool', () => {
  it('hands out host addresses only, never the network, gateway or broadcast address', () => {
    const p = new SubnetPool('10.0.5.0/29', '10.0.5.1');
    const got = [p.allocate(), p.allocate(), p.allocate(), p.allocate(), p.allocate(), p.allocate()];
    expect(got).toEqual(['10.0.5.2', '10.0.5.3', '10.0.5.4', '10.0.5.5', '10.0.5.6', undefined]);
  });

  it('does not reuse a released address at once, but reuses it once the others are taken', () => {
    const p = new SubnetPool('10.0.5.0/29', '10.0.5.1');
    const a = p.allocate()!;
    p.release(a);
    expect(p.allocate()).not.toBe(a);
    for (let i = 0; i < 3; i++) p.allocate();
    expect(p.allocate()).toBe(a);
    expect(p.allocate()).toBeUndefined();
  });

  it('refuses to reserve an address twice or outside the subnet', () => {
    const p = new SubnetPool('10.0.5.0/24', '10.0.5.1');
    expect(p.reserve('10.0.5.9')).toBe(true);
    expect(p.reserve('10.0.5.9')).toBe(false);
    expect(p.reserve('10.0.5.1')).toBe(false);
    expect(p.reserve('10.0.6.9')).toBe(false);
    expect(p.withPrefix('10.0.5.9')).toBe('10.0.5.9/24');
  });
});

describe('allocateNetworkStatus', () => {
  it('carves the first free block of the default pool and the lowest free VNI', () => {
    const existing = [
      network('ingress', '10.0.0.0/24', FIRST_VNI),
      network('a', '10.0.1.0/24', FIRST_VNI + 2),
    ];
    const s = allocateNetworkStatus({ name: 'b', driver: { name: 'overlay' } }, existing, pool);
    expect(s).toEqual({
      vni: FIRST_VNI + 1,
      ipam: { configs: [{ subnet: '10.0.2.0/24', gateway: '10.0.2.1' }] },
    });
  });

  it('carves from a cluster pool with its own mask length, skipping blocks that overlap', () => {
    const own = { subnets: ['10.20.0.0/16', '10.30.0.0/16'], maskLength: 17 };
    const existing = [network('x', '10.20.128.0/24', FIRST_VNI)];
    const s = allocateNetworkStatus({ name: 'b', driver: { name: 'overlay' } }, existing, own);
    expect(s.ipam?.configs[0]?.subnet).toBe('10.20.0.0/17');
    const s2 = allocateNetworkStatus(
      { name: 'c', driver: { name: 'overlay' } },
      [...existing, network('b', '10.20.0.0/17', FIRST_VNI + 1)],
      own,
    );
    expect(s2.ipam?.configs[0]?.subnet).toBe('10.30.0.0/17');
  });

  it('refuses an exhausted pool with FAILED_PRECONDITION', () => {
    const tiny = { subnets: ['10.9.0.0/24'], maskLength: 24 };
    const e = errorOf(() =>
      allocateNetworkStatus(
        { name: 'b', driver: { name: 'overlay' } },
        [network('a', '10.9.0.0/24', FIRST_VNI)],
        tiny,
      ),
    );
    expect(e.code).toBe('FAILED_PRECONDITION');
    expect(e.message).toContain('10.9.0.0/24/24');
  });

  it('refuses a subnet overlapping another network, naming both', () => {
    const e = errorOf(() =>
      allocateNetworkStatus(
        { name: 'b', driver: { name: 'overlay' }, ipam: { configs: [{ subnet: '10.0.1.128/25' }] } },
        [network('a', '10.0.1.0/24', FIRST_VNI)],
        pool,
      ),
    );
    expect(e).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'subnet' });
    expect(e.message).toContain('10.0.1.128/25 overlaps 10.0.1.0/24 of network a');
  });

  it('takes the given gateway, and refuses the network or broadcast address as one', () => {
    const spec = (gateway: string) => ({
      name: 'b',
      driver: { name: 'overlay' },
      ipam: { configs: [{ subnet: '10.7.0.0/24', gateway }] },
    });
    expect(allocateNetworkStatus(spec('10.7.0.254'), [], pool).ipam?.configs[0]?.gateway).toBe('10.7.0.254');
    expect(errorOf(() => allocateNetworkStatus(spec('10.7.0.255'), [], pool))).toMatchObject({
      field: 'gateway',
    });
  });
});

describe('validateNetworkSpec', () => {
  it('refuses other drivers and a gateway outside the subnet, naming the field and value', () => {
    expect(errorOf(() => validateNetworkSpec({ name: 'n', driver: { name: 'bridge' } }))).toMatchObject({
      field: 'driver.name',
    });
    const e = errorOf(() =>
      validateNetworkSpec({
        name: 'n',
        driver: { name: 'overlay' },
        ipam: { configs: [{ subnet: '10.7.0.0/24', gateway: '10.8.0.1' }] },
      }),
    );
    expect(e.field).toBe('ipam.configs[0].gateway');
    expect(e.message).toContain('10.8.0.1');
  });
});

describe('resolvePorts', () => {
  const ingress = (publishedPort: number, targetPort = 80): PortConfig => ({
    protocol: 'tcp',
    targetPort,
    publishedPort,
    publishMode: 'ingress',
  });
  const spec = (...ports: PortConfig[]): ServiceSpec => ({
    name: 's',
    mode: { type: 'replicated', replicas: 1 },
    taskTemplate: { container: { image: 'x' } },
    endpointSpec: { mode: 'vip', ports },
  });
  const service = (id: string, name: string, ports: PortConfig[]): Service => ({
    id: id.padEnd(25, '0') as ServiceId,
    meta: { version: 1, createdAt: 0, updatedAt: 0 },
    spec: { ...spec(...ports), name },
    specVersion: 1,
    status: { endpoint: { spec: { mode: 'vip', ports }, ports, virtualIps: [] } },
  });

  it('refuses a published port another service holds, naming that service', () => {
    const web = service('web', 'web', [ingress(8080)]);
    const e = errorOf(() => resolvePorts(spec(ingress(8080, 81)), undefined, [web]));
    expect(e).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'publish' });
    expect(e.message).toBe(`port '8080' is already in use by service 'web' (${web.id}) as an ingress port`);
  });

  it('lets the same number be used for another protocol or in host mode', () => {
    const web = service('web', 'web', [ingress(8080)]);
    const udp = { ...ingress(8080), protocol: 'udp' as const };
    const host = { ...ingress(8080), publishMode: 'host' as const };
    expect(resolvePorts(spec(udp, host), undefined, [web])).toEqual([udp, host]);
  });

  it('picks free ports from 30000 up, and keeps them across an update', () => {
    const first = service('a', 'a', [ingress(DYNAMIC_PORT_FIRST)]);
    const ports = resolvePorts(spec(ingress(0), ingress(0, 443)), undefined, [first]);
    expect(ports.map((p) => p.publishedPort)).toEqual([DYNAMIC_PORT_FIRST + 1, DYNAMIC_PORT_FIRST + 2]);
    const self = service('b', 'b', ports);
    const again = resolvePorts(spec(ingress(0, 443)), self, [first, self]);
    expect(again.map((p) => p.publishedPort)).toEqual([DYNAMIC_PORT_FIRST + 2]);
  });
});

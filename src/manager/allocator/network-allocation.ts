import type { DefaultAddressPool, Network, NetworkSpec, NetworkStatus } from '../../api/index.js';
import { FailedPreconditionError, InvalidArgumentError } from '../../common/index.js';
import { type Cidr, contains, formatCidr, intToIp, ipToInt, overlaps, parseCidr, sizeOf } from './ipv4.js';

/** Docker's first overlay VNI; below it are reserved. */
export const FIRST_VNI = 4096;
/** 24-bit VXLAN identifiers. */
export const MAX_VNI = 0xffffff;
/** The ingress network's subnet when none is given, as docker's. */
export const INGRESS_SUBNET = '10.0.0.0/24';
export const INGRESS_NAME = 'ingress';

/** The subnet a network holds: its status once allocated, else what its spec asks for. */
export function subnetOf(n: Network): string | undefined {
  return n.status.ipam?.configs[0]?.subnet ?? n.spec.ipam?.configs?.[0]?.subnet;
}

/**
 * Subnet, gateway and VNI for a new network, given the networks that exist: the spec's subnet
 * (refused if it overlaps one of theirs) or the first free block of the default pool, the
 * gateway given or the subnet's first host, and the lowest free VNI from 4096. Pure, so the
 * control API (inside its transaction) and the allocator (for the ingress network) share it.
 */
export function allocateNetworkStatus(
  spec: NetworkSpec,
  existing: readonly Network[],
  pool: DefaultAddressPool,
): NetworkStatus {
  const taken = existing.flatMap((n) => {
    const s = subnetOf(n);
    return s ? [{ name: n.spec.name, cidr: parseCidr(s) }] : [];
  });
  const config = spec.ipam?.configs?.[0];
  let subnet: Cidr;
  if (config) {
    subnet = parseCidr(config.subnet);
    if (subnet.bits > 30)
      throw new InvalidArgumentError(
        'subnet',
        `invalid subnet ${config.subnet}: a /30 or larger block is needed`,
      );
    const clash = taken.find((t) => overlaps(t.cidr, subnet));
    if (clash) {
      throw new InvalidArgumentError(
        'subnet',
        `invalid pool request: Pool overlaps with other one on this address space (${config.subnet} overlaps ${formatCidr(clash.cidr)} of network ${clash.name})`,
      );
    }
  } else {
    subnet = carve(
      pool,
      taken.map((t) => t.cidr),
    );
  }
  let gateway: string;
  if (config?.gateway !== undefined) {
    const gw = ipToInt(config.gateway);
    if (!contains(subnet, gw) || gw === subnet.base || gw === subnet.base + sizeOf(subnet) - 1) {
      throw new InvalidArgumentError(
        'gateway',
        `invalid gateway ${config.gateway}: not a host address of subnet ${formatCidr(subnet)}`,
      );
    }
    gateway = config.gateway;
  } else {
    gateway = intToIp(subnet.base + 1);
  }
  return { vni: freeVni(existing), ipam: { configs: [{ subnet: formatCidr(subnet), gateway }] } };
}

function freeVni(existing: readonly Network[]): number {
  const used = new Set(existing.flatMap((n) => (n.status.vni === undefined ? [] : [n.status.vni])));
  for (let v = FIRST_VNI; v <= MAX_VNI; v++) if (!used.has(v)) return v;
  throw new FailedPreconditionError('no VXLAN network identifier left');
}

/** The first block of `maskLength` bits in the pool's subnets that overlaps no taken subnet. */
function carve(pool: DefaultAddressPool, taken: readonly Cidr[]): Cidr {
  const step = 2 ** (32 - pool.maskLength);
  for (const s of pool.subnets) {
    const p = parseCidr(s);
    if (p.bits > pool.maskLength) continue;
    const end = p.base + sizeOf(p);
    for (let base = p.base; base < end; base += step) {
      const c = { base, bits: pool.maskLength };
      if (!taken.some((t) => overlaps(t, c))) return c;
    }
  }
  throw new FailedPreconditionError(
    `could not find an available, non-overlapping IPv4 address pool among the defaults (${pool.subnets.join(', ')}/${pool.maskLength}) to assign to the network`,
  );
}

/** IPv4 arithmetic on 32-bit unsigned numbers: enough for subnets, gateways and host addresses. */

export interface Cidr {
  /** Network address (host bits cleared). */
  readonly base: number;
  readonly bits: number;
}

export function ipToInt(ip: string): number {
  const parts = ip.split('.').map(Number);
  return (((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0) as number;
}

export function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

function maskOf(bits: number): number {
  return bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
}

/** Parses `a.b.c.d/n` (already validated); host bits are cleared. */
export function parseCidr(cidr: string): Cidr {
  const [ip, bits] = cidr.split('/');
  const b = Number(bits);
  return { base: (ipToInt(ip!) & maskOf(b)) >>> 0, bits: b };
}

export function formatCidr(c: Cidr): string {
  return `${intToIp(c.base)}/${c.bits}`;
}

/** Addresses in the block, network and broadcast included. */
export function sizeOf(c: Cidr): number {
  return 2 ** (32 - c.bits);
}

export function contains(c: Cidr, ip: number): boolean {
  return (ip & maskOf(c.bits)) >>> 0 === c.base;
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  const bits = Math.min(a.bits, b.bits);
  return (a.base & maskOf(bits)) >>> 0 === (b.base & maskOf(bits)) >>> 0;
}

/** `10.0.1.5/24` → `10.0.1.5`. */
export function addrOf(cidrAddr: string): string {
  return cidrAddr.split('/')[0]!;
}

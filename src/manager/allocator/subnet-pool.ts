import { type Cidr, contains, intToIp, ipToInt, parseCidr, sizeOf } from './ipv4.js';

/**
 * The host addresses of one network's subnet: a bitmap with the network, broadcast and gateway
 * addresses reserved. Allocation takes the next free address after the last one handed out, so
 * an address just released is not reused at once (a stale DNS answer or conntrack entry would
 * reach the wrong task), as docker's IPAM does.
 */
export class SubnetPool {
  readonly cidr: Cidr;
  private readonly used: Uint8Array;
  private next = 0;

  constructor(subnet: string, gateway: string) {
    this.cidr = parseCidr(subnet);
    this.used = new Uint8Array(sizeOf(this.cidr));
    this.used[0] = 1;
    if (this.used.length > 2) this.used[this.used.length - 1] = 1;
    this.reserve(gateway);
  }

  /** Marks an address taken; false if it lies outside the subnet or was taken already. */
  reserve(addr: string): boolean {
    const ip = ipToInt(addr);
    if (!contains(this.cidr, ip)) return false;
    const i = ip - this.cidr.base;
    if (this.used[i]) return false;
    this.used[i] = 1;
    return true;
  }

  /** The next free address, or undefined when the subnet is full. */
  allocate(): string | undefined {
    const n = this.used.length;
    for (let k = 0; k < n; k++) {
      const i = (this.next + k) % n;
      if (!this.used[i]) {
        this.used[i] = 1;
        this.next = (i + 1) % n;
        return intToIp(this.cidr.base + i);
      }
    }
    return undefined;
  }

  release(addr: string): void {
    const ip = ipToInt(addr);
    if (!contains(this.cidr, ip)) return;
    const i = ip - this.cidr.base;
    if (i === 0 || i === this.used.length - 1) return;
    this.used[i] = 0;
  }

  isUsed(addr: string): boolean {
    const ip = ipToInt(addr);
    return contains(this.cidr, ip) && this.used[ip - this.cidr.base] === 1;
  }

  /** With `/bits`, as tasks' attachments carry them. */
  withPrefix(addr: string): string {
    return `${addr}/${this.cidr.bits}`;
  }
}

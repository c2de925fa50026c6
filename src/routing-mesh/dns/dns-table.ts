import type { MeshService, MeshState, NetworkId } from '../../api/index.js';

/**
 * The names one network's containers can resolve, computed once per MeshState so a query is a
 * map lookup. Keys are lower-case names without the trailing dot.
 */
export type DnsEntry =
  /** `<service>` (vip: the VIP; dnsrr: every healthy task) and `tasks.<service>`. */
  | { readonly kind: 'addresses'; readonly addrs: readonly string[] }
  /** `_<port>._<proto>.<service>`. */
  | { readonly kind: 'srv'; readonly targets: readonly SrvTarget[] }
  /** `d.c.b.a.in-addr.arpa` of a VIP or a task address. */
  | { readonly kind: 'ptr'; readonly target: string };

export interface SrvTarget {
  readonly priority: number;
  readonly port: number;
  /** A name this table resolves (`<service>` or a task name). */
  readonly target: string;
}

export interface NetworkDnsTable {
  readonly entries: ReadonlyMap<string, DnsEntry>;
  /** Reverse zone prefixes (`1.0.10.in-addr.arpa`) of the network's subnet: answered here. */
  readonly reverseZones: readonly string[];
}

export interface DnsTable {
  readonly revision: number;
  readonly networks: ReadonlyMap<NetworkId, NetworkDnsTable>;
  /** Every service name of the cluster (lower case): never forwarded, on any network. */
  readonly serviceNames: ReadonlySet<string>;
}

export const EMPTY_DNS_TABLE: DnsTable = { revision: -1, networks: new Map(), serviceNames: new Set() };

/** SRV priority of the VIP target (preferred) and of the task targets in vip mode. */
const VIP_PRIORITY = 0;
const TASK_PRIORITY_BEHIND_VIP = 10;

export function buildDnsTable(mesh: MeshState): DnsTable {
  const networks = new Map<NetworkId, NetworkDnsTable>();
  for (const net of mesh.networks) {
    const entries = new Map<string, DnsEntry>();
    for (const svc of mesh.services) addService(entries, svc, net.id);
    networks.set(net.id, { entries, reverseZones: reverseZonesOf(net.subnet) });
  }
  const serviceNames = new Set(mesh.services.map((s) => s.name.toLowerCase()));
  return { revision: mesh.revision, networks, serviceNames };
}

function addService(entries: Map<string, DnsEntry>, svc: MeshService, networkId: NetworkId): void {
  const name = svc.name.toLowerCase();
  const vip = svc.vips.find((v) => v.networkId === networkId)?.addr;
  const tasks: { name: string; addr: string }[] = [];
  for (const b of svc.backends) {
    const addr = b.addrs.find((a) => a.networkId === networkId)?.addr;
    if (addr !== undefined) tasks.push({ name: b.taskName.toLowerCase(), addr });
  }
  const onNetwork = svc.endpointMode === 'vip' ? vip !== undefined : tasks.length > 0;
  if (!onNetwork) return;
  const taskAddrs = tasks.map((t) => t.addr);
  entries.set(name, { kind: 'addresses', addrs: svc.endpointMode === 'vip' && vip ? [vip] : taskAddrs });
  entries.set(`tasks.${name}`, { kind: 'addresses', addrs: taskAddrs });
  for (const t of tasks) {
    entries.set(t.name, { kind: 'addresses', addrs: [t.addr] });
    entries.set(reverseName(t.addr), { kind: 'ptr', target: t.name });
  }
  if (svc.endpointMode === 'vip' && vip) entries.set(reverseName(vip), { kind: 'ptr', target: name });
  for (const port of svc.ports) {
    const targets: SrvTarget[] = [];
    const taskPriority = svc.endpointMode === 'vip' ? TASK_PRIORITY_BEHIND_VIP : VIP_PRIORITY;
    if (svc.endpointMode === 'vip')
      targets.push({ priority: VIP_PRIORITY, port: port.targetPort, target: name });
    for (const t of tasks) targets.push({ priority: taskPriority, port: port.targetPort, target: t.name });
    const entry: DnsEntry = { kind: 'srv', targets };
    const labels = new Set([String(port.publishedPort), String(port.targetPort)]);
    if (port.name) labels.add(port.name.toLowerCase());
    for (const label of labels) {
      const key = `_${label}._${port.protocol}.${name}`;
      // A name label wins over a number that happens to collide with another port's number.
      if (!entries.has(key) || label === port.name?.toLowerCase()) entries.set(key, entry);
    }
  }
}

/** `10.0.1.7` → `7.1.0.10.in-addr.arpa`. */
export function reverseName(addr: string): string {
  return `${addr.split('.').reverse().join('.')}.in-addr.arpa`;
}

/** The in-addr.arpa zones covering a subnet, on octet boundaries (a /20 gives 16 /24 zones). */
export function reverseZonesOf(subnet: string): string[] {
  const [base, lenText] = subnet.split('/');
  const len = Number(lenText);
  const octets = (base ?? '').split('.').map(Number);
  if (octets.length !== 4 || octets.some((o) => !Number.isInteger(o) || o < 0 || o > 255)) return [];
  if (!Number.isInteger(len) || len < 8 || len > 32) return [];
  const whole = Math.floor(len / 8);
  const rest = len % 8;
  const prefix = octets.slice(0, whole);
  const zoneOctets = rest === 0 ? [prefix] : [];
  if (rest !== 0) {
    const span = 2 ** (8 - rest);
    const first = octets[whole]! & ~(span - 1) & 0xff;
    for (let i = 0; i < span; i++) zoneOctets.push([...prefix, first + i]);
  }
  return zoneOctets.map((o) => `${[...o].reverse().join('.')}.in-addr.arpa`);
}

import type { MeshService, MeshState, NetworkId, NodeId } from '../../api/index.js';

/** Everything of ours carries these names, so that cleanup finds it without a record. */
export const NFT_TABLE = 'swarmctl-mesh';
export const IPTABLES_COMMENT = 'swarmctl-mesh';
/** Conntrack mark bit of connections the mesh DNATed: accepted in FORWARD, masqueraded to the overlay. */
export const MESH_CT_MARK = 0x10000000;
export const DOCKER_LABEL_MESH = 'swarmctl.mesh';
export const DOCKER_LABEL_NETWORK_ID = 'swarmctl.network.id';
export const VXLAN_PORT = 4789;
/** 1500 minus VXLAN's 50 bytes of outer headers. */
export const OVERLAY_MTU = 1450;
const BRIDGE_PREFIX = 'swmb';
const VXLAN_PREFIX = 'swmv';

/** One overlay as this node programs it. */
export interface NetworkPlan {
  readonly id: NetworkId;
  readonly name: string;
  readonly vni: number;
  readonly subnet: string;
  /** This node's own address on the network: its bridge's address and its containers' gateway. */
  readonly localAddr: string;
  readonly bridge: string;
  readonly vxlan: string;
  readonly dockerName: string;
  /** Underlay addresses of the other nodes on this network (head-end replication targets). */
  readonly peers: readonly string[];
  readonly ingress: boolean;
  /** This node's bridge MAC, derived from its address so that the other nodes know it. */
  readonly mac: string;
  /** VIPs of vip-mode services on this (non-ingress) network: local addresses of the bridge, DNATed. */
  readonly vips: readonly string[];
}

/**
 * Where replies of a connection another node DNATed to a backend here go back: through that
 * node (next hop its bridge address), selected by a firewall mark restored from the connection.
 */
export interface ReturnRoute {
  /** Low 16 bits of the conntrack mark, and the routing table (RETURN_TABLE_BASE + mark). */
  readonly mark: number;
  readonly via: string;
  /** The bridge MAC new connections from that node arrive with. */
  readonly mac: string;
  readonly dev: string;
}

export const RETURN_TABLE_BASE = 10_000;
export const RETURN_RULE_PREF = 10_900;

/** The nftables chains of our table that change with the state (the hook chains are fixed). */
export interface RulesPlan {
  /** Chain name → its rules, in order; `published` dispatches, `to-overlay` is jumped to from postrouting. */
  readonly chains: ReadonlyMap<string, readonly string[]>;
}

export interface MeshPlan {
  /** Underlay address of this node (VXLAN source). */
  readonly localAddr: string | undefined;
  readonly networks: readonly NetworkPlan[];
  /** Undefined when no service publishes through the ingress on this node (no table at all). */
  readonly rules: RulesPlan | undefined;
  /** Empty unless the client's address is kept for remote backends (bridged traffic is tracked). */
  readonly returnRoutes: readonly ReturnRoute[];
}

export function bridgeName(vni: number): string {
  return `${BRIDGE_PREFIX}${vni}`;
}
export function vxlanName(vni: number): string {
  return `${VXLAN_PREFIX}${vni}`;
}
export function dockerNetworkName(networkName: string): string {
  return `swarmctl-${networkName}`;
}
export function isOurLink(name: string): boolean {
  return name.startsWith(BRIDGE_PREFIX) || name.startsWith(VXLAN_PREFIX);
}

/**
 * What this node's kernel should hold for `state`: a pure function, so that unit tests check the
 * data plane's decisions without root. The node takes part in the networks on which the leader
 * gave it an address.
 */
export function planMesh(
  nodeId: NodeId,
  state: MeshState,
  options: { keepSourceIp?: boolean } = {},
): MeshPlan {
  const self = state.nodes.find((n) => n.nodeId === nodeId);
  if (!self) return { localAddr: undefined, networks: [], rules: undefined, returnRoutes: [] };
  const returnRoutes: ReturnRoute[] = [];
  const networks: NetworkPlan[] = [];
  for (const n of [...state.networks].sort((a, b) => a.vni - b.vni)) {
    const mine = self.networkAddrs.find((a) => a.networkId === n.id);
    if (!mine) continue;
    const peers = state.nodes
      .filter((o) => o.nodeId !== nodeId && o.networkAddrs.some((a) => a.networkId === n.id))
      .map((o) => o.addr)
      .filter((a) => a !== self.addr);
    networks.push({
      id: n.id,
      name: n.name,
      vni: n.vni,
      subnet: n.subnet,
      localAddr: stripPrefix(mine.addr),
      bridge: bridgeName(n.vni),
      vxlan: vxlanName(n.vni),
      dockerName: dockerNetworkName(n.name),
      peers: [...new Set(peers)].sort(),
      ingress: n.ingress,
      mac: macOf(stripPrefix(mine.addr)),
      vips: n.ingress ? [] : vipsOn(n.id, state.services),
    });
    if (n.ingress && options.keepSourceIp) {
      for (const o of state.nodes) {
        const a = o.networkAddrs.find((x) => x.networkId === n.id);
        if (o.nodeId === nodeId || !a) continue;
        const via = stripPrefix(a.addr);
        returnRoutes.push({ mark: markOf(via), via, mac: macOf(via), dev: bridgeName(n.vni) });
      }
    }
  }
  const ingress = networks.find((n) => n.ingress);
  returnRoutes.sort((a, b) => a.mark - b.mark);
  return {
    localAddr: self.addr,
    networks,
    rules: planRules(
      nodeId,
      ingress,
      networks,
      state.services,
      options.keepSourceIp ? returnRoutes : undefined,
      state.nodes.map((n) => n.addr),
      clientPortRange(
        nodeId,
        state.nodes.map((n) => n.nodeId),
      ),
    ),
    returnRoutes: ingress ? returnRoutes : [],
  };
}

function planRules(
  nodeId: NodeId,
  ingress: NetworkPlan | undefined,
  networks: readonly NetworkPlan[],
  services: readonly MeshService[],
  returnRoutes: readonly ReturnRoute[] | undefined,
  nodeAddrs: readonly string[],
  ports: PortRange,
): RulesPlan | undefined {
  const chains = new Map<string, string[]>();
  // VIPs first: a VIP is a local address, and a published port's rule would match it too.
  const dispatch: string[] = vipRules(networks, services);
  const overlays = networks
    .filter((n) => n.vips.length > 0)
    .map((n) => `${MARK_MATCH} oifname "${n.bridge}" snat to ${n.localAddr}`);
  if (!ingress) {
    if (dispatch.length === 0) return undefined;
    chains.set('published', dispatch);
    chains.set('to-overlay', overlays);
    chains.set('return-mark', []);
    return { chains };
  }
  const local = new Set<string>();
  for (const s of [...services].sort((a, b) => a.id.localeCompare(b.id))) {
    const ports = s.ports.filter((p) => p.publishMode === 'ingress' && p.publishedPort > 0);
    if (ports.length === 0) continue;
    const backends: string[] = [];
    for (const b of s.backends) {
      const a = b.addrs.find((x) => x.networkId === ingress.id);
      if (!a) continue;
      const addr = stripPrefix(a.addr);
      backends.push(addr);
      if (b.nodeId === nodeId) local.add(addr);
    }
    backends.sort(compareAddr);
    const chain = `svc-${s.id}`;
    const rules: string[] = [];
    for (const p of ports) {
      dispatch.push(`${p.protocol} dport ${p.publishedPort} jump ${chain}`);
      rules.push(serviceRule(p.protocol, p.publishedPort, p.targetPort, backends));
      if (backends.length > 0) rules.push(`${p.protocol} dport ${p.publishedPort} ${FALLTHROUGH}`);
    }
    chains.set(chain, rules);
  }
  if (dispatch.length === 0) return undefined;
  chains.set('published', dispatch);
  const mark = MARK_MATCH;
  // The client's address is kept, so a backend sees the client's own port: a client reusing a
  // port towards another node (other TCP timestamps: Linux bases them per address pair) would
  // meet that backend's TIME_WAIT of the same 4-tuple and be refused (PAWS) until its SYN is
  // retransmitted. Each node maps client ports into a range of its own, keeping the address.
  // Only connections this node DNATed: `return-mark` gives those bridged in from another node the
  // mesh bit too, and mapping them again into this node's range let connections through different
  // nodes (other timestamps) share the backend's ports: PAWS refused SYNs (1 s, or a timeout).
  // UDP too: the backend's node keeps a flow's entry (and the mark naming the node its replies go
  // back through) for 30-120 s, so a client port reused through another node met the old entry,
  // and its replies returned through the old node, from the wrong address.
  const portMap = `${mark} ct status dnat oifname "${ingress.bridge}" meta l4proto { tcp, udp } snat to ip saddr : ${ports.first}-${ports.last}`;
  if (returnRoutes) {
    // The client's address is kept: a backend's node sends replies back through the node that
    // DNATed them (it knows that node by the bridge MAC the connection arrived with).
    // A client that is itself a node would get the backend's reply delivered locally by its own
    // node (the address is its own): those connections are still masqueraded.
    const nodes = [...new Set(nodeAddrs)].sort(compareAddr).join(', ');
    chains.set('to-overlay', [
      `${mark} oifname "${ingress.bridge}"${notLocalOf(local)} ip saddr { ${nodes} } masquerade`,
      portMap,
      ...overlays,
    ]);
    const back: string[] = [];
    if (returnRoutes.length > 0) {
      const map = returnRoutes.map((r) => `${r.mac} : ${hex(MESH_CT_MARK | r.mark)}`).join(', ');
      back.push(`iifname "${ingress.bridge}" ct state new ct mark set ether saddr map { ${map} }`);
    }
    back.push('ct direction reply ct mark & 0x0000ffff != 0 meta mark set ct mark & 0x0000ffff');
    chains.set('return-mark', back);
  } else {
    // Towards a backend on another node the reply must come back here: masquerade to our bridge
    // address. A local backend answers through this node anyway and sees the client's address.
    chains.set('to-overlay', [
      `${mark} oifname "${ingress.bridge}"${notLocalOf(local)} masquerade`,
      portMap,
      ...overlays,
    ]);
    chains.set('return-mark', []);
  }
  return { chains };
}

export interface PortRange {
  readonly first: number;
  readonly last: number;
}

/** Client ports the nodes map mesh connections into: above the well-known ones. */
const CLIENT_PORTS = { first: 1024, last: 65535 } as const;

/**
 * This node's share of the client ports: the nodes, sorted by id, split CLIENT_PORTS evenly, so
 * that two nodes never hand a backend the same client address and port. Every node computes it
 * from the same MeshState; a node joining or leaving shifts the shares, which only matters for a
 * port reused within TIME_WAIT across that change.
 */
export function clientPortRange(nodeId: NodeId, nodeIds: readonly NodeId[]): PortRange {
  const sorted = [...new Set(nodeIds)].sort();
  const i = Math.max(0, sorted.indexOf(nodeId));
  const size = Math.floor((CLIENT_PORTS.last - CLIENT_PORTS.first + 1) / Math.max(1, sorted.length));
  const first = CLIENT_PORTS.first + i * size;
  return { first, last: first + size - 1 };
}

const MARK_MATCH = `ct mark & ${hex(MESH_CT_MARK)} == ${hex(MESH_CT_MARK)}`;

/**
 * After a DNAT rule: a packet it did not DNAT must not reach the node's own stack, which has no
 * listener there and would refuse the connection. The soak saw this twice in 70 updates, each
 * time as that chain was being rewritten (cause not proven); dropped, the client's retransmitted
 * SYN meets the new rule about a second later instead of failing.
 */
const FALLTHROUGH = 'drop';

function vipsOn(networkId: NetworkId, services: readonly MeshService[]): string[] {
  return services
    .filter((s) => s.endpointMode === 'vip')
    .flatMap((s) => s.vips.filter((v) => v.networkId === networkId).map((v) => stripPrefix(v.addr)))
    .sort(compareAddr);
}

/**
 * A container's connection to a VIP (any port, as docker's) goes to the bridge, where the VIP is
 * a local address: DNATed to a healthy task on that network, and SNATed to this node's bridge
 * address on the way out so that the reply comes back through here to be un-NATed.
 */
function vipRules(networks: readonly NetworkPlan[], services: readonly MeshService[]): string[] {
  const rules: string[] = [];
  for (const n of networks) {
    if (n.vips.length === 0) continue;
    for (const s of [...services].sort((a, b) => a.id.localeCompare(b.id))) {
      if (s.endpointMode !== 'vip') continue;
      const vip = s.vips.find((v) => v.networkId === n.id);
      if (!vip) continue;
      const backends = s.backends
        .map((b) => b.addrs.find((x) => x.networkId === n.id))
        .filter((a) => a !== undefined)
        .map((a) => stripPrefix(a.addr))
        .sort(compareAddr);
      const match = `ip daddr ${stripPrefix(vip.addr)}`;
      if (backends.length === 0) {
        rules.push(`${match} drop`);
        continue;
      }
      const map = backends.map((b, i) => `${i} : ${b}`).join(', ');
      rules.push(
        `${match} ct mark set ct mark | ${hex(MESH_CT_MARK)} dnat to numgen random mod ${backends.length} map { ${map} }`,
        `${match} ${FALLTHROUGH}`,
      );
    }
  }
  return rules;
}

function serviceRule(
  protocol: 'tcp' | 'udp',
  published: number,
  target: number,
  backends: readonly string[],
): string {
  const match = `${protocol} dport ${published}`;
  if (backends.length === 0) return `${match} ${protocol === 'tcp' ? 'reject with tcp reset' : 'reject'}`;
  // An anonymous map inline: nft 1.0.6 takes numgen into it where a typed named map fails.
  const map = backends.map((b, i) => `${i} : ${b}`).join(', ');
  return `${match} ct mark set ct mark | ${hex(MESH_CT_MARK)} dnat to numgen random mod ${backends.length} map { ${map} } : ${target}`;
}

export function stripPrefix(addr: string): string {
  const slash = addr.indexOf('/');
  return slash < 0 ? addr : addr.slice(0, slash);
}

function hex(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}

function compareAddr(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < 4; i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

function notLocalOf(local: ReadonlySet<string>): string {
  return local.size > 0 ? ` ip daddr != { ${[...local].sort(compareAddr).join(', ')} }` : '';
}

/** `02:53:` and the address's four bytes: unique per node address, locally administered. */
export function macOf(addr: string): string {
  return `02:53:${addr
    .split('.')
    .map((b) => Number(b).toString(16).padStart(2, '0'))
    .join(':')}`;
}

/** The low 16 bits of the address: unique among the nodes of an ingress network up to a /16. */
function markOf(addr: string): number {
  const [, , c, d] = addr.split('.').map(Number);
  return ((c ?? 0) << 8) | (d ?? 0) || 0xffff;
}

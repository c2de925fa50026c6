import type { NetworkId, NodeId } from '../ids.js';
import type { Driver, Labels, Meta } from './meta.js';

export interface IpamConfig {
  /** CIDR, e.g. `10.0.1.0/24`. */
  readonly subnet: string;
  readonly gateway?: string;
  readonly range?: string;
}

export interface NetworkSpec {
  /** Unique among networks (case-insensitive). */
  readonly name: string;
  readonly labels?: Labels;
  /** @default { name: 'overlay' } */
  readonly driver: Driver;
  readonly ipam?: { readonly driver?: Driver; readonly configs?: readonly IpamConfig[] };
  /** Standalone containers may attach. */
  readonly attachable?: boolean;
  /** The routing mesh's network; at most one exists. */
  readonly ingress?: boolean;
}

/** Filled by the allocator. */
export interface NetworkStatus {
  /** VXLAN network identifier, once allocated. */
  readonly vni?: number;
  readonly ipam?: { readonly configs: readonly IpamConfig[] };
  /** Each node's own address on the network (its bridge's), without prefix length. */
  readonly nodeAddrs?: readonly { readonly nodeId: NodeId; readonly addr: string }[];
}

export interface Network {
  readonly id: NetworkId;
  readonly meta: Meta;
  readonly spec: NetworkSpec;
  readonly status: NetworkStatus;
}

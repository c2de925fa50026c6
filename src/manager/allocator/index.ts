export { Allocator, type AllocatorDeps } from './allocator.js';
export { MeshFeed, type MeshSource } from './mesh-feed.js';
export { computeMeshState } from './mesh-state.js';
export {
  allocateNetworkStatus,
  FIRST_VNI,
  INGRESS_NAME,
  INGRESS_SUBNET,
  subnetOf,
} from './network-allocation.js';
export { DYNAMIC_PORT_FIRST, DYNAMIC_PORT_LAST, publishesIngress, resolvePorts } from './ports.js';

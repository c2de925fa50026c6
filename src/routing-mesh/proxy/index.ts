export { dockerTaskAddress } from './docker-task-address.js';
export {
  PortProxy,
  type PortProxyDeps,
  type PortProxyLimits,
  type ProxyBackend,
} from './port-proxy.js';
export {
  type ResolvedUserlandMeshOptions,
  resolveUserlandMeshOptions,
  type UserlandMeshOptions,
} from './proxy-options.js';
export {
  type TaskAddressLookup,
  USERLAND_COVERS,
  USERLAND_COVERS_PORTS_ONLY,
  UserlandDataPlane,
  type UserlandDataPlaneDeps,
} from './userland-data-plane.js';
export {
  createUserlandMesh,
  type PlannedPort,
  type PlanOptions,
  type PublishedPortStatus,
  planPublishedPorts,
  UserlandMesh,
  type UserlandMeshDeps,
} from './userland-mesh.js';
export { UserlandOverlays, type UserlandOverlaysDeps } from './userland-overlays.js';
export { planVipPorts } from './vip-plan.js';

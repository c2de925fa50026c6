export { type CommandResult, type CommandRunner, systemCommandRunner } from './data-plane/command-runner.js';
export { containerDefaultRoute, preferIngressSource } from './data-plane/container-source.js';
export { type CreateDataPlaneOptions, createDataPlane } from './data-plane/create.js';
export {
  type DataPlaneDeps,
  KernelDataPlane,
  type MeshDataPlane,
} from './data-plane/data-plane.js';
export { type DataPlaneKind, type Detection, detectDataPlane } from './data-plane/detect.js';
export { dockerNetworkEngine, type EngineNetwork, type NetworkEngine } from './data-plane/docker-networks.js';
export {
  DOCKER_LABEL_MESH,
  DOCKER_LABEL_NETWORK_ID,
  type MeshPlan,
  type NetworkPlan,
  NFT_TABLE,
  planMesh,
} from './data-plane/plan.js';
export {
  type DnsBinding,
  type DnsBindingStatus,
  DnsServer,
  type DnsServerDeps,
  type DnsServerOptions,
  meshDnsBindings,
  resolvConfUpstreams,
  type Upstream,
  type UpstreamSource,
} from './dns/index.js';
export {
  type ConntrackPurger,
  type ConntrackReader,
  type ConntrackTcpEntry,
  conntrackCliPurger,
  DRAIN_LIMIT_MS,
  type DrainResult,
  drainConnections,
  firstAvailablePurger,
  netlinkPurger,
  type PurgeResult,
  parseConntrack,
  procConntrackReader,
  resolveDrainLimit,
} from './drain/index.js';
export {
  createUserlandMesh,
  PortProxy,
  type ProxyBackend,
  type PublishedPortStatus,
  UserlandMesh,
  type UserlandMeshDeps,
  type UserlandMeshOptions,
} from './proxy/index.js';

export { type Audience, authorizer, everyMethod, MANAGER_ROLE, WORKER_ROLE } from './authz.js';
export { caHandlers } from './ca/ca-server.js';
export {
  CLUSTER_NAME,
  parseCaState,
  publicCaFields,
  readCluster,
  StoreCaState,
} from './ca/store-ca-state.js';
export { controlHandlers, resolveNode } from './control/control-server.js';
export { type ClusterSeed, Manager, type ManagerDeps, type ManagerOptions } from './manager.js';
export { LearnerPromoter, membershipHandlers } from './membership.js';
export {
  GlobalOrchestrator,
  isTaskDirty,
  JobsOrchestrator,
  type OrchestratorDeps,
  type OrchestratorOptions,
  ReplicatedOrchestrator,
  RestartSupervisor,
  resolveOrchestratorOptions,
  TaskReaper,
} from './orchestrator/index.js';
export * from './scheduler/index.js';
export * from './store/index.js';

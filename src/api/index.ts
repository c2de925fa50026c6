export * from './defaults.js';
export * from './ids.js';
export type * from './objects/cluster.js';
export type * from './objects/config.js';
export * from './objects/kinds.js';
export type * from './objects/mesh.js';
export type * from './objects/meta.js';
export type * from './objects/network.js';
export type * from './objects/node.js';
export type * from './objects/secret.js';
export type * from './objects/service.js';
export type * from './objects/task.js';
export type * from './objects/task-spec.js';
export * from './services/index.js';
export * from './store-events.js';
export * from './task-state.js';
export { validateClusterSpec } from './validation/cluster.js';
export { validateNetworkSpec } from './validation/network.js';
export { validateNodeSpec } from './validation/node.js';
export {
  MAX_CONFIG_BYTES,
  MAX_SECRET_BYTES,
  validateConfigSpec,
  validateSecretSpec,
} from './validation/payload.js';
export { MAX_NAME_LENGTH } from './validation/rules.js';
export { validateServiceSpec, validateUpdateConfig } from './validation/service.js';
export { validateConstraint, validateTaskSpec } from './validation/task-spec.js';

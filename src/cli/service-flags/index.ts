export { type CreateContext, parseMode, parseServiceCreate } from './create.js';
export { displayFlag, flagConflict, flagError } from './errors.js';
export {
  COMMON_SERVICE_FLAGS,
  CREATE_FLAGS,
  type FlagDef,
  NODE_UPDATE_FLAGS,
  UPDATE_FLAGS,
} from './flag-table.js';
export { parseMount } from './mount.js';
export type { NodeUpdateFlagValues, ServiceFlagValues } from './options.js';
export { parsePublish } from './publish.js';
export {
  registerNodeUpdateFlags,
  registerServiceCreateFlags,
  registerServiceRollbackFlags,
  registerServiceScaleFlags,
  registerServiceUpdateFlags,
} from './register.js';
export { applyNodeUpdate, parseScaleArgs, type ScaleRequest, scaleMode } from './scale.js';
export { applyServiceUpdate, wantsRollback } from './update.js';
export {
  type KnownNetwork,
  type ParseEnvironment,
  parseMemoryBytes,
  parseNanoCpus,
  splitShellWords,
} from './values.js';
export { resolveWaitMode, type WaitMode } from './wait-mode.js';

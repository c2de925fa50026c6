export { DockerExecutor, type DockerExecutorOptions, dockerOptions } from './docker-executor.js';
export { ExitLog } from './exit-log.js';
export {
  LABEL_NODE_ID,
  LABEL_SERVICE_ID,
  LABEL_SERVICE_NAME,
  LABEL_TASK,
  LABEL_TASK_ID,
  LABEL_TASK_NAME,
  taskName,
} from './labels.js';
export { attachNetworks, OVERLAY_WAIT_MS, type OverlayNetworks } from './networks.js';

export {
  Dispatcher,
  type DispatcherDeps,
  HEARTBEAT_GRACE_PERIODS,
  MESH_STOP_TIMEOUT_MS,
} from './dispatcher.js';

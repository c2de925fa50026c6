export {
  Dispatcher,
  type DispatcherDeps,
  HEARTBEAT_GRACE_PERIODS,
  MESH_STOP_GRACE_MS,
} from './dispatcher.js';

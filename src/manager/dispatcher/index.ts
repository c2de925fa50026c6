export { Dispatcher, type DispatcherDeps, HEARTBEAT_GRACE_PERIODS } from './dispatcher.js';

export {
  type DaemonConfig,
  type DaemonFlags,
  DEFAULT_CONTROL_SOCKET,
  DEFAULT_PORT,
  DEFAULT_STATE_DIR,
  parseHostPort,
  resolveDaemonConfig,
} from './config.js';
export { Daemon, type DaemonDeps, type DaemonStart } from './daemon.js';
export { runDaemon } from './main.js';
export { type NodeRecord, StateDir } from './state-dir.js';

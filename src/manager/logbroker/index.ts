export { BoundedQueue } from './bounded-queue.js';
export { type LogControlDeps, logControlHandlers } from './control-logs.js';
export { type BrokerMessage, LogBroker, type LogBrokerDeps, type LogBrokerOptions } from './log-broker.js';

export { Agent, type AgentDeps, RECONNECT_DELAY_MS, REPORT_BATCH_MS } from './agent.js';

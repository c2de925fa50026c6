export type { InjectedBug } from './cluster.js';
export { driverNodeFactory } from './driver-node.js';
export { deriveSeed, EventQueue } from './event-queue.js';
export { InvariantChecker, type NodeView, type Violation, type ViolationKind } from './invariants.js';
export { applyKv, describeKv, type KvInput, type KvOutput, kvModel } from './kv-model.js';
export { KvStateMachine } from './kv-state-machine.js';
export {
  type CheckOptions,
  type CheckResult,
  checkLinearizable,
  formatFailure,
  type Model,
  type Operation,
  type PartitionFailure,
  type Verdict,
} from './linearizability.js';
export { CALM_NETWORK, type NetworkConfig, type PartitionKind, SimNetwork } from './network.js';
export { failed, formatBatch, formatFailureDetail, formatRun, type RunSummary, summarize } from './report.js';
export { runSimulation, type SimulationOptions, type SimulationResult } from './simulator.js';

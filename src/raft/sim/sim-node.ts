/**
 * What the simulator needs from one Raft node incarnation, and what it gives it. The adapter that
 * builds a node from the real core and driver implements `SimNodeHandle`; the simulator never
 * reaches into either.
 */
import type { Clock, Random } from '../../common/index.js';
import type { ConfChange, ConfState, NodeId, RaftStorage, Transport } from '../types.js';
import type { NodeView } from './invariants.js';
import type { KvInput, KvOutput } from './kv-model.js';
import type { KvStateMachine } from './kv-state-machine.js';

export interface SimNodeDeps {
  readonly id: NodeId;
  readonly incarnation: number;
  /** Timers of this incarnation only: they stop when it dies and wait while it is paused. */
  readonly clock: Clock;
  /** Election jitter. */
  readonly random: Random;
  readonly storage: RaftStorage;
  readonly transport: Transport;
  readonly stateMachine: KvStateMachine;
  /** The initial voters, for a node that finds an empty disk at the cluster's creation. */
  readonly bootstrap: ConfState | null;
  readonly tickMs: number;
  readonly electionTicks: number;
  /** A fatal error: the process must die. 'recovery' if it failed before the node was running. */
  readonly onFatal: (error: unknown, phase: 'recovery' | 'running') => void;
}

export interface SimNodeHandle {
  /** Loads durable state through the real recovery path and starts ticking. */
  start(): Promise<void>;
  /** The process dies: nothing it does afterwards may have any effect. */
  kill(): void;
  /** Proposes a write; resolves with its result once applied here. */
  propose(input: KvInput, session: { clientId: string; seq: number }): Promise<KvOutput>;
  /** A linearizable read (ReadIndex) of one key. */
  read(key: string): Promise<string | null>;
  changeMembership(change: ConfChange): Promise<void>;
  transferLeadership(to: NodeId): void;
  view(): NodeView;
  leaderHint(): NodeId | null;
  conf(): ConfState;
  applied(): number;
}

export type SimNodeFactory = (deps: SimNodeDeps) => SimNodeHandle;

import type { ConfState, Entry, HardState, Message, NodeId, Snapshot } from '../types.js';

export type Role = 'follower' | 'pre-candidate' | 'candidate' | 'leader';

/** Volatile state the application may want to observe; not persisted. */
export interface SoftState {
  readonly role: Role;
  readonly leader: NodeId | null;
  readonly term: number;
}

/** A confirmed linearizable read: serve it once the state machine has applied `index`. */
export interface ReadState {
  readonly ctx: string;
  readonly index: number;
}

/** What the driver hands back to `RaftCore.persisted` once a Ready's writes are durable. */
export interface PersistAck {
  readonly term: number;
  readonly vote: NodeId | null;
  /** Last entry written by this Ready (0 if none). */
  readonly lastIndex: number;
  readonly lastTerm: number;
  /** Index of the snapshot written by this Ready (0 if none). */
  readonly snapshotIndex: number;
}

/**
 * Everything the core wants done, in this order:
 * 1. send `messages` now (they do not depend on this Ready's writes: the leader's appends go out
 *    while its own fsync runs, thesis §10.2.1);
 * 2. persist `hardState`, `entries` and `snapshot` in one durable step (fsync iff `mustSync`);
 * 3. call `persisted(persist)`, then send `persistedMessages` (votes, acks: they promise the
 *    writes are durable);
 * 4. if `snapshot` is set, restore the state machine from it; then apply `committedEntries` in
 *    order; serve `readStates` once applied ≥ their index.
 */
export interface Ready {
  readonly softState: SoftState | null;
  readonly hardState: HardState | null;
  readonly entries: readonly Entry[];
  readonly snapshot: Snapshot | null;
  readonly mustSync: boolean;
  readonly messages: readonly Message[];
  readonly persistedMessages: readonly Message[];
  readonly committedEntries: readonly Entry[];
  /** The configuration after the conf changes in `committedEntries` (or the snapshot), if it changed. */
  readonly conf: ConfState | null;
  readonly readStates: readonly ReadState[];
  /** ReadIndex requests that failed (leadership lost, leader unknown or refused). */
  readonly readFailures: readonly string[];
  readonly persist: PersistAck;
}

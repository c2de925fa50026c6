/**
 * The Raft vocabulary shared by the deterministic core, the WAL/snapshot storage, the driver,
 * the transport and the simulator. Plain data only: no classes, no I/O.
 */

export type NodeId = string;

export type EntryType = 'normal' | 'conf-change';

export interface Entry {
  readonly term: number;
  readonly index: number;
  readonly type: EntryType;
  /** Opaque to Raft: the state machine's command, or an encoded ConfChange. Empty for no-ops. */
  readonly data: Uint8Array;
}

/** What must be durable before any message that depends on it is sent. */
export interface HardState {
  readonly term: number;
  readonly vote: NodeId | null;
  readonly commit: number;
}

/** The membership a log position or snapshot stands for. */
export interface ConfState {
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
}

export interface SnapshotMeta {
  readonly index: number;
  readonly term: number;
  readonly conf: ConfState;
}

export interface Snapshot {
  readonly meta: SnapshotMeta;
  /** The state machine's serialised state at `meta.index`. */
  readonly data: Uint8Array;
}

export const EMPTY_HARD_STATE: HardState = { term: 0, vote: null, commit: 0 };

/** What the driver hands to storage in one durable step (one fdatasync). */
export interface PersistBatch {
  readonly hardState?: HardState;
  /**
   * Entries to append. `entries[0].index` may be at or below the last stored index: the stored
   * suffix from that index on is replaced (a follower truncating a conflicting tail).
   */
  readonly entries: readonly Entry[];
  /** A snapshot received from the leader: stored before the WAL points at it. */
  readonly snapshot?: Snapshot;
}

export interface LoadedState {
  readonly hardState: HardState;
  /** The newest durable snapshot, or null if none was ever taken or received. */
  readonly snapshot: Snapshot | null;
  /** Entries after the snapshot's index, in order, with no gaps. */
  readonly entries: readonly Entry[];
}

/**
 * Durable Raft state: implemented by the segmented WAL + snapshot files in production and by
 * the same code over a simulated disk in the simulator. Every method resolves only once its
 * effects are durable; an fsync failure rejects with an IO error and the node must stop.
 */
export interface RaftStorage {
  load(): Promise<LoadedState>;
  save(batch: PersistBatch): Promise<void>;
  /** Stores a snapshot of our own state machine and lets the log drop entries before `keepFrom`. */
  saveSnapshot(snapshot: Snapshot, keepFrom: number): Promise<void>;
  close(): Promise<void>;
}

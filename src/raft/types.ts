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

// ---------------------------------------------------------------------------------------------
// Messages exchanged between Raft nodes. The core emits and consumes these; the transport only
// moves them (and may split `snapshot` messages into chunks on its bulk channel).
// ---------------------------------------------------------------------------------------------

interface MessageBase {
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: number;
}

/** AppendEntries. An empty `entries` still carries `commit` and probes the follower's log. */
export interface AppendMessage extends MessageBase {
  readonly type: 'append';
  readonly prevIndex: number;
  readonly prevTerm: number;
  readonly entries: readonly Entry[];
  readonly commit: number;
}

/**
 * Reply to `append` or `snapshot`. On success `index` is the last index now known to match the
 * leader. On rejection `index` is the rejected prevIndex and (`hintIndex`, `hintTerm`) is the
 * follower's last entry at or below it whose term is ≤ the leader's prevTerm: the leader skips a
 * whole conflicting term per round trip instead of one entry.
 */
export interface AppendResponse extends MessageBase {
  readonly type: 'append-resp';
  readonly index: number;
  readonly reject: boolean;
  readonly hintIndex: number;
  readonly hintTerm: number;
}

/** Leader liveness. `readRound` > 0 asks the follower to confirm leadership for ReadIndex. */
export interface HeartbeatMessage extends MessageBase {
  readonly type: 'heartbeat';
  readonly commit: number;
  readonly readRound: number;
}

export interface HeartbeatResponse extends MessageBase {
  readonly type: 'heartbeat-resp';
  readonly readRound: number;
}

/** RequestVote, or the pre-vote probe (`term` is then the term the sender would campaign in). */
export interface VoteRequest extends MessageBase {
  readonly type: 'vote' | 'pre-vote';
  readonly lastIndex: number;
  readonly lastTerm: number;
  /** Set when campaigning because of TimeoutNow: voters ignore their leader lease. */
  readonly transfer: boolean;
}

export interface VoteResponse extends MessageBase {
  readonly type: 'vote-resp' | 'pre-vote-resp';
  readonly reject: boolean;
}

/**
 * Where a chunk of a snapshot's data sits. The core always emits a whole snapshot (no chunk);
 * a transport may split `snapshot.data` into chunks and must reassemble them before delivery.
 */
export interface SnapshotChunk {
  readonly offset: number;
  readonly totalBytes: number;
  readonly last: boolean;
}

/** InstallSnapshot. Goes on the transport's bulk channel so it never delays heartbeats. */
export interface SnapshotMessage extends MessageBase {
  readonly type: 'snapshot';
  readonly snapshot: Snapshot;
  readonly chunk?: SnapshotChunk;
}

/** Leadership transfer: the target campaigns at once, skipping pre-vote. */
export interface TimeoutNowMessage extends MessageBase {
  readonly type: 'timeout-now';
}

/** A follower asking the leader for a read index on behalf of its caller. */
export interface ReadIndexRequest extends MessageBase {
  readonly type: 'read-index';
  readonly ctx: string;
}

export interface ReadIndexResponse extends MessageBase {
  readonly type: 'read-index-resp';
  readonly ctx: string;
  readonly index: number;
  readonly reject: boolean;
}

/** A proposal as it travels before it has an index: forwarded from a follower to the leader. */
export interface ProposedEntry {
  readonly type: EntryType;
  readonly data: Uint8Array;
}

export interface ProposeMessage extends MessageBase {
  readonly type: 'propose';
  readonly entries: readonly ProposedEntry[];
}

export type Message =
  | AppendMessage
  | AppendResponse
  | HeartbeatMessage
  | HeartbeatResponse
  | VoteRequest
  | VoteResponse
  | SnapshotMessage
  | TimeoutNowMessage
  | ReadIndexRequest
  | ReadIndexResponse
  | ProposeMessage;

export type MessageType = Message['type'];

// ---------------------------------------------------------------------------------------------
// Membership changes (one server at a time) and client sessions.
// ---------------------------------------------------------------------------------------------

/**
 * One membership step. `bootstrap` is only written as entry 1 of a new cluster, so that every
 * node, including ones that join later and replay the log, learns the initial configuration.
 */
export type ConfChange =
  | { readonly type: 'add-learner'; readonly node: NodeId }
  | { readonly type: 'promote'; readonly node: NodeId }
  | { readonly type: 'add-voter'; readonly node: NodeId }
  | { readonly type: 'remove'; readonly node: NodeId }
  | { readonly type: 'bootstrap'; readonly conf: ConfState };

/** Client identity for de-duplication of retried commands (paper §8). */
export interface ClientSession {
  readonly clientId: string;
  /** Increases by one per new command of this client; a retry reuses its number. */
  readonly seq: number;
}

/** A committed command handed to the state machine, in log order. */
export interface Command {
  readonly index: number;
  readonly term: number;
  /** The payload given to `propose`, without the driver's envelope. */
  readonly data: Uint8Array;
  readonly session?: ClientSession;
}

/**
 * The replicated application. The driver calls it strictly in log order and never concurrently.
 * `apply` returns one result per command; the proposer of a command receives its result.
 */
export interface StateMachine<R = unknown> {
  apply(commands: readonly Command[]): readonly R[] | Promise<readonly R[]>;
  /**
   * The state after the last applied command, captured when this is called: a returned promise
   * may finish encoding later while the driver applies further commands, but resolves to the
   * state as of the call.
   */
  snapshot(): Uint8Array | Promise<Uint8Array>;
  /** Replaces the whole state with a snapshot's data. */
  restore(data: Uint8Array): void | Promise<void>;
}

/** Feedback from the transport that the core uses for flow control. */
export type TransportReport =
  | { readonly kind: 'unreachable'; readonly peer: NodeId }
  | { readonly kind: 'snapshot'; readonly peer: NodeId; readonly ok: boolean };

export interface TransportSubscription {
  dispose(): void;
}

/**
 * Moves messages between nodes. `send` must not block: it queues, and drops on overload or
 * unreachable peers (Raft retries). Snapshot messages belong on a separate bulk channel.
 */
export interface Transport {
  send(messages: readonly Message[]): void;
  onMessage(handler: (message: Message) => void): TransportSubscription;
  onReport?(handler: (report: TransportReport) => void): TransportSubscription;
}

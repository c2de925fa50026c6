import { InvalidArgumentError } from '../../common/index.js';

export type ReadOnlyMode = 'safe' | 'lease';

/** Raft tunables. Every field is optional; `resolveRaftOptions` fills in the defaults. */
export interface RaftOptions {
  /** Milliseconds per tick; used by the driver only. @default 100 */
  tickMs?: number;
  /** Ticks between leader heartbeats. @default 1 */
  heartbeatTicks?: number;
  /** Base election timeout in ticks; each node draws its timeout from [T, 2T). @default 10 */
  electionTicks?: number;
  /** Ask "would you vote for me?" before bumping the term. @default true */
  preVote?: boolean;
  /** Leader steps down without a quorum for an election timeout; voters honour a leader lease. @default true */
  checkQuorum?: boolean;
  /** 'safe' = ReadIndex with a heartbeat round; 'lease' trusts the clock (requires checkQuorum). @default 'safe' */
  readOnly?: ReadOnlyMode;
  /** Followers forward proposals to the leader instead of rejecting with NOT_LEADER. @default true */
  proposalForwarding?: boolean;
  /** Upper bound of entry bytes in one append message (at least one entry is always sent). @default 1 MiB */
  maxMsgBytes?: number;
  /** Append messages in flight to one follower in replicate state. @default 256 */
  maxInflightMsgs?: number;
  /** Entry bytes in flight to one follower; 0 = no byte limit. @default 16 MiB */
  maxInflightBytes?: number;
  /** A leader rejects proposals once its uncommitted entries exceed this many bytes. @default 64 MiB */
  maxUncommittedBytes?: number;
  /** Committed entry bytes handed out for apply per Ready (at least one entry). @default 4 MiB */
  maxApplyBytes?: number;
  /** Take a state-machine snapshot after this many applied entries. @default 10000 */
  snapshotEveryEntries?: number;
  /** Entries kept before a snapshot's index so briefly lagging followers get entries, not a snapshot. @default 500 */
  keepEntriesAfterSnapshot?: number;
}

export type ResolvedRaftOptions = Required<RaftOptions>;

export const DEFAULT_RAFT_OPTIONS: ResolvedRaftOptions = {
  tickMs: 100,
  heartbeatTicks: 1,
  electionTicks: 10,
  preVote: true,
  checkQuorum: true,
  readOnly: 'safe',
  proposalForwarding: true,
  maxMsgBytes: 1024 * 1024,
  maxInflightMsgs: 256,
  maxInflightBytes: 16 * 1024 * 1024,
  maxUncommittedBytes: 64 * 1024 * 1024,
  maxApplyBytes: 4 * 1024 * 1024,
  snapshotEveryEntries: 10_000,
  keepEntriesAfterSnapshot: 500,
};

type IntField = {
  [K in keyof ResolvedRaftOptions]: ResolvedRaftOptions[K] extends number ? K : never;
}[keyof ResolvedRaftOptions];

const MIN: Readonly<Record<IntField, number>> = {
  tickMs: 1,
  heartbeatTicks: 1,
  electionTicks: 2,
  maxMsgBytes: 1,
  maxInflightMsgs: 1,
  maxInflightBytes: 0,
  maxUncommittedBytes: 1,
  maxApplyBytes: 1,
  snapshotEveryEntries: 1,
  keepEntriesAfterSnapshot: 0,
};

/** Fills defaults and validates; a bad value throws InvalidArgumentError naming the field. */
export function resolveRaftOptions(options: RaftOptions = {}): ResolvedRaftOptions {
  const r: ResolvedRaftOptions = { ...DEFAULT_RAFT_OPTIONS };
  for (const [key, value] of Object.entries(options)) {
    if (value === undefined) continue;
    if (!(key in DEFAULT_RAFT_OPTIONS)) throw new InvalidArgumentError(key, `unknown raft option ${key}`);
    Object.assign(r, { [key]: value });
  }
  for (const field of Object.keys(MIN) as IntField[]) {
    const v = r[field];
    if (!Number.isSafeInteger(v) || v < MIN[field]) {
      throw new InvalidArgumentError(field, `${field} must be an integer ≥ ${MIN[field]}, got ${String(v)}`);
    }
  }
  for (const field of ['preVote', 'checkQuorum', 'proposalForwarding'] as const) {
    if (typeof r[field] !== 'boolean') {
      throw new InvalidArgumentError(field, `${field} must be a boolean, got ${String(r[field])}`);
    }
  }
  if (r.readOnly !== 'safe' && r.readOnly !== 'lease') {
    throw new InvalidArgumentError(
      'readOnly',
      `readOnly must be 'safe' or 'lease', got ${String(r.readOnly)}`,
    );
  }
  if (r.electionTicks <= r.heartbeatTicks) {
    throw new InvalidArgumentError(
      'electionTicks',
      `electionTicks (${r.electionTicks}) must be greater than heartbeatTicks (${r.heartbeatTicks})`,
    );
  }
  if (r.readOnly === 'lease' && !r.checkQuorum) {
    throw new InvalidArgumentError('readOnly', "readOnly 'lease' requires checkQuorum: true");
  }
  return r;
}

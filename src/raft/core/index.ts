export {
  LostLeadershipError,
  NoQuorumError,
  NotLeaderError,
  ProposalBackpressureError,
  ProposalTimeoutError,
} from './errors.js';
export { Membership } from './membership.js';
export { type MessageChannel, messageChannel, mustFollowPersist } from './messages.js';
export {
  DEFAULT_RAFT_OPTIONS,
  type RaftOptions,
  type ReadOnlyMode,
  type ResolvedRaftOptions,
  resolveRaftOptions,
} from './options.js';
export type { ProgressState } from './progress.js';
export {
  bootstrapState,
  type ProgressStatus,
  type ProposeResult,
  RaftCore,
  type RaftCoreDeps,
  type RaftStatus,
} from './raft.js';
export type { PersistAck, ReadState, Ready, Role, SoftState } from './ready.js';

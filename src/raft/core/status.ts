import type { ConfState, NodeId } from '../types.js';
import type { Progress } from './progress.js';
import type { RaftCore } from './raft.js';
import type { SoftState } from './ready.js';

export interface ProgressStatus {
  readonly match: number;
  readonly next: number;
  readonly state: Progress['state'];
  readonly learner: boolean;
  readonly inflight: number;
}

export interface RaftStatus extends SoftState {
  readonly id: NodeId;
  readonly vote: NodeId | null;
  readonly commit: number;
  readonly applying: number;
  readonly persisted: number;
  readonly lastIndex: number;
  readonly firstIndex: number;
  readonly conf: ConfState;
  readonly progress: ReadonlyMap<NodeId, ProgressStatus>;
  readonly leadTransferee: NodeId | null;
  readonly uncommittedBytes: number;
}

export function statusOf(r: RaftCore): RaftStatus {
  const progress = new Map<NodeId, ProgressStatus>();
  for (const [id, pr] of [...r.progress].sort(([a], [b]) => (a < b ? -1 : 1))) {
    progress.set(id, {
      match: pr.match,
      next: pr.next,
      state: pr.state,
      learner: pr.isLearner,
      inflight: pr.inflights.count,
    });
  }
  return {
    ...r.softState(),
    id: r.id,
    vote: r.vote,
    commit: r.log.committed,
    applying: r.log.applying,
    persisted: r.log.persisted,
    lastIndex: r.log.lastIndex(),
    firstIndex: r.log.firstIndex(),
    conf: r.conf.toConfState(),
    progress,
    leadTransferee: r.leadTransferee,
    uncommittedBytes: r.uncommittedBytes,
  };
}

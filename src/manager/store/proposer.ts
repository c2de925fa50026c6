import type { SwarmError } from '../../common/index.js';
import type { ChangeSet } from './change-set.js';

/** The outcome of applying one committed change set: the same on every manager. */
export type ApplyResult =
  | { readonly ok: true; readonly version: number }
  | { readonly ok: false; readonly error: SwarmError };

/** The store's apply side, as the Raft applier (or LocalProposer) sees it. */
export interface ChangeSetApplier {
  applyCommitted(changes: ChangeSet): ApplyResult;
}

/**
 * Replication of write transactions. `propose` resolves once the change set is committed and
 * applied to this manager's store, and rejects with the apply error (VERSION_CONFLICT,
 * NAME_CONFLICT…) if the change set lost a race; or with NOT_LEADER / LOST_LEADERSHIP from Raft.
 * Like swarmkit it has no timeout of its own: the caller's signal bounds the wait.
 */
export interface Proposer {
  propose(changes: ChangeSet, signal?: AbortSignal): Promise<void>;
}

/**
 * Applies change sets at once, in call order, without replication: for a single manager with no
 * Raft and for unit tests. Never use it on a manager that has peers: writes would not reach them.
 */
export class LocalProposer implements Proposer {
  constructor(private readonly applier: ChangeSetApplier) {}

  async propose(changes: ChangeSet, signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    const result = this.applier.applyCommitted(changes);
    if (!result.ok) throw result.error;
  }
}

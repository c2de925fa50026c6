import { FailedPreconditionError, UnavailableError } from '../../common/index.js';
import type { ConfChange, ProposedEntry } from '../types.js';
import { ProposalBackpressureError } from './errors.js';
import type { ProposeResult, RaftCore } from './raft.js';

/** The leader's admission control for proposals and membership changes. */

export function appendProposals(r: RaftCore, entries: readonly ProposedEntry[]): ProposeResult {
  if (r.leadTransferee !== null) {
    throw new UnavailableError(`leadership is being transferred to ${r.leadTransferee}`, {
      details: { leaderId: r.leadTransferee },
    });
  }
  const bytes = entries.reduce((n, e) => n + e.data.length, 0);
  if (r.uncommittedBytes > 0 && r.uncommittedBytes + bytes > r.opts.maxUncommittedBytes) {
    throw new ProposalBackpressureError(r.uncommittedBytes, r.opts.maxUncommittedBytes);
  }
  const first = r.log.lastIndex() + 1;
  r.appendEntries(entries.map((e, i) => ({ term: r.term, index: first + i, type: e.type, data: e.data })));
  return { kind: 'appended', index: first + entries.length - 1, term: r.term };
}

export function checkConfChange(r: RaftCore, change: ConfChange): void {
  if (r.pendingConfIndex > r.log.applying) {
    throw new FailedPreconditionError('a membership change is already pending', { retryable: true });
  }
  if (!r.committedInTerm()) {
    throw new FailedPreconditionError('a new leader must commit an entry of its term first', {
      retryable: true,
    });
  }
  r.conf.validate(change);
  if (change.type === 'promote') {
    const pr = r.progress.get(change.node);
    if (!pr || pr.match < r.log.committed) {
      throw new FailedPreconditionError(
        `learner ${change.node} has not caught up (match ${pr?.match ?? 0}, commit ${r.log.committed})`,
        { retryable: true },
      );
    }
  }
}

import { SwarmError, type SwarmErrorOptions } from '../../common/index.js';
import type { NodeId } from '../types.js';

/** This node cannot take the request; `leaderId` is the leader it knows of, if any. */
export class NotLeaderError extends SwarmError {
  readonly leaderId: NodeId | null;
  constructor(leaderId: NodeId | null, reason = 'not the leader') {
    super('NOT_LEADER', leaderId ? `${reason}; leader is ${leaderId}` : `${reason}; no leader known`, {
      retryable: true,
      details: { leaderId: leaderId ?? undefined },
    });
    this.leaderId = leaderId;
  }
}

/**
 * Leadership changed while the request was in flight. The outcome of a proposal is unknown: it
 * may still commit under the next leader, so a client must retry with the same session.
 */
export class LostLeadershipError extends SwarmError {
  constructor(message = 'leadership changed before the request completed', options: SwarmErrorOptions = {}) {
    super('LOST_LEADERSHIP', message, { retryable: true, ...options });
  }
}

/** The leader could not confirm it still has a quorum (e.g. a ReadIndex round failed). */
export class NoQuorumError extends SwarmError {
  constructor(message = 'no quorum reachable', options: SwarmErrorOptions = {}) {
    super('NO_QUORUM', message, { retryable: true, ...options });
  }
}

/** Back-pressure: too many uncommitted bytes (quorum lost or followers slow). */
export class ProposalBackpressureError extends SwarmError {
  constructor(uncommittedBytes: number, limit: number) {
    super(
      'RESOURCE_EXHAUSTED',
      `uncommitted log is ${uncommittedBytes} bytes (limit ${limit}); retry later`,
      {
        retryable: true,
        details: { uncommittedBytes, limit, field: 'maxUncommittedBytes' },
      },
    );
  }
}

/**
 * A proposal was not applied in time (the leader may have dropped it, or it is still in flight).
 * Its outcome is unknown: retry with the same session so that it applies at most once.
 */
export class ProposalTimeoutError extends SwarmError {
  constructor(timeoutMs: number) {
    super('DEADLINE_EXCEEDED', `proposal not applied within ${timeoutMs} ms; outcome unknown, retry`, {
      retryable: true,
      details: { timeoutMs },
    });
  }
}

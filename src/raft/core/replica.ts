import type { AppendMessage, HeartbeatMessage, Message, SnapshotMessage, VoteRequest } from '../types.js';
import { Membership } from './membership.js';
import type { RaftCore } from './raft.js';

/** Follower and candidate handlers of RaftCore. */

export function handleVoteRequest(r: RaftCore, m: VoteRequest): void {
  const pre = m.type === 'pre-vote';
  const canVote =
    r.vote === m.from ||
    (r.vote === null && r.lead === null) ||
    // A pre-vote for a future term: we would be free to vote in that term.
    (pre && m.term > r.term);
  // A node outside our configuration cannot disrupt us (thesis §4.2.3). Learners do answer: the
  // candidate may know a newer configuration in which they vote.
  const member = r.conf.isMember(m.from);
  if (canVote && member && r.log.isUpToDate(m.lastIndex, m.lastTerm)) {
    r.respond({ type: pre ? 'pre-vote-resp' : 'vote-resp', to: m.from, term: m.term, reject: false });
    if (!pre) {
      r.electionElapsed = 0;
      r.vote = m.from;
    }
  } else {
    r.respond({ type: pre ? 'pre-vote-resp' : 'vote-resp', to: m.from, reject: true });
  }
}

export function stepCandidate(r: RaftCore, m: Message): void {
  switch (m.type) {
    case 'append':
    case 'heartbeat':
    case 'snapshot':
      // A leader exists for our term (or a later one): fall back (§5.2).
      r.becomeFollower(m.term, m.from);
      stepFollower(r, m);
      return;
    case 'vote-resp':
      if (r.role === 'candidate') r.poll(m.from, !m.reject);
      return;
    case 'pre-vote-resp':
      if (r.role === 'pre-candidate') r.poll(m.from, !m.reject);
      return;
    case 'read-index':
      r.send({ type: 'read-index-resp', to: m.from, ctx: m.ctx, index: 0, reject: true });
      return;
    default:
      return;
  }
}

export function stepFollower(r: RaftCore, m: Message): void {
  switch (m.type) {
    case 'append':
      heardFromLeader(r, m.from);
      handleAppend(r, m);
      return;
    case 'heartbeat':
      heardFromLeader(r, m.from);
      handleHeartbeat(r, m);
      return;
    case 'snapshot':
      heardFromLeader(r, m.from);
      handleSnapshot(r, m);
      return;
    case 'timeout-now':
      // Leadership transfer: campaign at once, skipping pre-vote and the voters' lease.
      r.logger.info('campaigning on timeout-now', { 'peer.id': m.from });
      r.hup(true);
      return;
    case 'read-index-resp':
      if (m.reject) r.readFailures.push(m.ctx);
      else r.readStates.push({ ctx: m.ctx, index: m.index });
      return;
    case 'read-index':
      // Not the leader (any more): tell the asker to fail fast.
      r.send({ type: 'read-index-resp', to: m.from, ctx: m.ctx, index: 0, reject: true });
      return;
    default:
      // Forwarded proposals that reach a non-leader are dropped, never forwarded again (no loops).
      return;
  }
}

function heardFromLeader(r: RaftCore, from: string): void {
  r.electionElapsed = 0;
  r.lead = from;
}

function handleAppend(r: RaftCore, m: AppendMessage): void {
  if (m.prevIndex < r.log.committed) {
    // Everything up to our commit index already matches the leader's log.
    r.respond({
      type: 'append-resp',
      to: m.from,
      index: r.log.committed,
      reject: false,
      hintIndex: 0,
      hintTerm: 0,
    });
    return;
  }
  const lastNew = r.log.maybeAppend(m.prevIndex, m.prevTerm, m.commit, m.entries);
  if (lastNew !== undefined) {
    r.respond({ type: 'append-resp', to: m.from, index: lastNew, reject: false, hintIndex: 0, hintTerm: 0 });
    return;
  }
  const hint = r.log.findConflictByTerm(Math.min(m.prevIndex, r.log.lastIndex()), m.prevTerm);
  r.respond({
    type: 'append-resp',
    to: m.from,
    index: m.prevIndex,
    reject: true,
    hintIndex: hint.index,
    hintTerm: hint.term,
  });
}

function handleHeartbeat(r: RaftCore, m: HeartbeatMessage): void {
  // The leader sends min(match, commit), so every index up to it is known to match.
  r.log.commitTo(Math.min(m.commit, r.log.lastIndex()));
  r.respond({ type: 'heartbeat-resp', to: m.from, readRound: m.readRound });
}

function handleSnapshot(r: RaftCore, m: SnapshotMessage): void {
  const meta = m.snapshot.meta;
  if (meta.index <= r.log.committed) {
    // Older than what we have committed: ignore it, tell the leader where we are.
    r.respond({
      type: 'append-resp',
      to: m.from,
      index: r.log.committed,
      reject: false,
      hintIndex: 0,
      hintTerm: 0,
    });
    return;
  }
  if (r.log.matchTerm(meta.index, meta.term)) {
    // We already have the entry: just commit up to it; the log after it stays.
    r.log.commitTo(meta.index);
    r.respond({
      type: 'append-resp',
      to: m.from,
      index: meta.index,
      reject: false,
      hintIndex: 0,
      hintTerm: 0,
    });
    return;
  }
  r.logger.info('restoring leader snapshot', { index: meta.index, term: meta.term });
  r.log.restore(m.snapshot);
  r.conf = new Membership(meta.conf);
  r.markConfChanged();
  r.respond({ type: 'append-resp', to: m.from, index: meta.index, reject: false, hintIndex: 0, hintTerm: 0 });
}

import { FailedPreconditionError } from '../../common/index.js';
import { decodeConfChange } from '../codec/index.js';
import type { AppendResponse, Message, NodeId, ProposedEntry } from '../types.js';
import { entryBytes } from './log.js';
import { Progress } from './progress.js';
import type { RaftCore } from './raft.js';
import type { PendingRead } from './read-only.js';

/** Leader-side handlers of RaftCore: replication, commit, heartbeats, reads, transfer. */

export function initLeader(r: RaftCore): void {
  syncProgress(r);
  r.uncommittedBytes = 0;
  // No membership change until everything before this term is applied and a new-term entry commits.
  r.pendingConfIndex = r.log.lastIndex();
  // The start-of-term no-op: commits the previous terms' entries and enables reads (§5.4.2, §8).
  r.appendEntries([{ term: r.term, index: r.log.lastIndex() + 1, type: 'normal', data: new Uint8Array(0) }]);
  r.logger.info('became leader', { term: r.term });
}

/** Creates/removes progress to match the configuration (every member but us). */
export function syncProgress(r: RaftCore): void {
  for (const id of r.conf.members()) {
    if (id === r.id) continue;
    const pr = r.progress.get(id);
    const learner = r.conf.learners.has(id);
    if (pr) pr.isLearner = learner;
    else
      r.progress.set(
        id,
        new Progress(r.log.lastIndex() + 1, r.opts.maxInflightMsgs, r.opts.maxInflightBytes, learner),
      );
  }
  for (const id of [...r.progress.keys()]) if (!r.conf.isMember(id)) r.progress.delete(id);
}

export function dropLeaderState(r: RaftCore): void {
  for (const read of [...r.reads.clear(), ...r.deferredReads]) failRead(r, read);
  r.deferredReads = [];
  r.bcastEntries = false;
  r.bcastCommit = false;
  r.uncommittedBytes = 0;
}

function failRead(r: RaftCore, read: PendingRead): void {
  if (read.from === r.id) r.readFailures.push(read.ctx);
  else r.send({ type: 'read-index-resp', to: read.from, ctx: read.ctx, index: 0, reject: true });
}

/** Without a transport report, a snapshot send is presumed lost after this many election timeouts. */
const SNAPSHOT_TIMEOUT_ELECTIONS = 10;

export function tickLeader(r: RaftCore): void {
  r.heartbeatElapsed++;
  for (const [id, pr] of r.progress) {
    if (pr.state === 'snapshot' && ++pr.snapshotTicks >= SNAPSHOT_TIMEOUT_ELECTIONS * r.opts.electionTicks) {
      r.logger.warn('snapshot send not reported; probing again', { 'peer.id': id });
      pr.becomeProbe();
    }
  }
  if (r.electionElapsed >= r.opts.electionTicks) {
    r.electionElapsed = 0;
    if (r.opts.checkQuorum && !quorumActive(r)) {
      r.logger.warn('stepping down: no quorum heard from within an election timeout', { term: r.term });
      r.becomeFollower(r.term, null);
      return;
    }
    if (r.leadTransferee !== null) {
      r.logger.warn('leadership transfer timed out', { 'peer.id': r.leadTransferee });
      r.leadTransferee = null;
    }
  }
  if (r.heartbeatElapsed >= r.opts.heartbeatTicks) {
    r.heartbeatElapsed = 0;
    broadcastHeartbeat(r, 0);
  }
}

function quorumActive(r: RaftCore): boolean {
  const active = new Map<NodeId, boolean>();
  for (const v of r.conf.voters) {
    const pr = r.progress.get(v);
    active.set(v, v === r.id || pr?.recentActive === true);
  }
  for (const pr of r.progress.values()) pr.recentActive = false;
  return r.conf.voteResult(active) === 'won';
}

function broadcastHeartbeat(r: RaftCore, readRound: number): void {
  for (const [id, pr] of r.progress) {
    r.send({ type: 'heartbeat', to: id, commit: Math.min(pr.match, r.log.committed), readRound });
  }
}

/** Called from `ready()`: one append per follower for everything proposed since the last Ready. */
export function flush(r: RaftCore): void {
  if (r.bcastEntries || r.bcastCommit) {
    for (const id of r.progress.keys()) sendAppends(r, id, r.bcastCommit);
    r.bcastEntries = false;
    r.bcastCommit = false;
  }
  const round = r.reads.startRound(r.id);
  if (round > 0) broadcastHeartbeat(r, round);
}

/** Sends appends to `to` while its window allows; at least an empty one if `sendIfEmpty`. */
export function sendAppends(r: RaftCore, to: NodeId, sendIfEmpty: boolean): void {
  let first = true;
  while (sendAppend(r, to, first && sendIfEmpty)) first = false;
}

function sendAppend(r: RaftCore, to: NodeId, sendIfEmpty: boolean): boolean {
  const pr = r.progress.get(to);
  if (!pr || pr.isPaused()) return false;
  const prevIndex = pr.next - 1;
  const prevTerm = r.log.term(prevIndex);
  if (prevTerm === undefined) {
    // The entries it needs were compacted away: send the snapshot instead.
    const snap = r.log.snapshot;
    if (!snap) return false;
    pr.becomeSnapshot(snap.meta.index);
    r.send({ type: 'snapshot', to, snapshot: snap });
    return false;
  }
  const entries = r.log.slice(pr.next, r.log.lastIndex(), r.opts.maxMsgBytes);
  if (entries.length === 0 && !sendIfEmpty) return false;
  r.send({ type: 'append', to, prevIndex, prevTerm, entries, commit: r.log.committed });
  const bytes = entries.reduce((n, e) => n + entryBytes(e), 0);
  pr.sentEntries(prevIndex + entries.length, entries.length, bytes);
  // Keep pipelining only in replicate state and only while there is more to send.
  return pr.state === 'replicate' && entries.length > 0 && pr.next <= r.log.lastIndex();
}

/** Advances the commit index from the voters' match indexes; ours is what storage confirmed. */
export function maybeCommit(r: RaftCore): boolean {
  const before = r.log.committed;
  const hadCommittedInTerm = r.committedInTerm();
  const index = r.conf.committedIndex((id) =>
    id === r.id ? r.log.persisted : (r.progress.get(id)?.match ?? 0),
  );
  // Figure 8: only an entry of the current term is committed by counting replicas.
  if (index <= before || r.log.term(index) !== r.term) return false;
  r.log.commitTo(index);
  for (let i = before + 1; i <= index; i++) {
    const e = r.log.entry(i);
    if (e && e.term === r.term) r.uncommittedBytes = Math.max(0, r.uncommittedBytes - entryBytes(e));
  }
  r.bcastCommit = true;
  if (!hadCommittedInTerm) {
    const deferred = r.deferredReads;
    r.deferredReads = [];
    for (const read of deferred) handleRead(r, read);
  }
  return true;
}

export function handleRead(r: RaftCore, read: PendingRead): void {
  if (!r.committedInTerm()) {
    r.deferredReads.push(read);
    return;
  }
  const pending = { ...read, index: r.log.committed };
  if (r.opts.readOnly === 'lease' || (r.conf.voters.size === 1 && r.conf.voters.has(r.id))) {
    releaseRead(r, pending);
    return;
  }
  r.reads.add(pending);
}

function releaseRead(r: RaftCore, read: PendingRead): void {
  if (read.from === r.id) r.readStates.push({ ctx: read.ctx, index: read.index });
  else r.send({ type: 'read-index-resp', to: read.from, ctx: read.ctx, index: read.index, reject: false });
}

export function transferLeadership(r: RaftCore, to: NodeId): void {
  if (to === r.id) return;
  if (!r.conf.voters.has(to))
    throw new FailedPreconditionError(`cannot transfer leadership to ${to}: not a voter`);
  if (r.leadTransferee === to) return;
  r.leadTransferee = to;
  // The transfer is abandoned once an election timeout passes.
  r.electionElapsed = 0;
  const pr = r.progress.get(to)!;
  if (pr.match === r.log.lastIndex()) r.send({ type: 'timeout-now', to });
  else sendAppends(r, to, true);
}

/** Membership changed while we lead: progress, quorum and transfer follow. */
export function onConfChange(r: RaftCore): void {
  if (!r.conf.isMember(r.id) || !r.conf.voters.has(r.id)) {
    // Step down on self-removal (or demotion): a removed leader must stop heartbeating.
    r.logger.info('stepping down: removed from the voters', { term: r.term });
    r.becomeFollower(r.term, null);
    return;
  }
  syncProgress(r);
  if (r.leadTransferee !== null && !r.conf.voters.has(r.leadTransferee)) r.leadTransferee = null;
  // A smaller quorum may commit entries that were waiting.
  maybeCommit(r);
  r.bcastEntries = true;
}

export function stepLeader(r: RaftCore, m: Message): void {
  switch (m.type) {
    case 'append-resp':
      handleAppendResp(r, m);
      return;
    case 'heartbeat-resp': {
      const pr = r.progress.get(m.from);
      if (!pr) return;
      pr.recentActive = true;
      pr.probeSent = false;
      // Acks may have been lost: free a slot so replication cannot stall on a full window.
      if (pr.state === 'replicate' && pr.inflights.full()) pr.inflights.freeTo(pr.inflights.firstIndex());
      if (pr.match < r.log.lastIndex()) sendAppends(r, m.from, true);
      for (const read of r.reads.ack(m.from, m.readRound, r.id, r.conf)) releaseRead(r, read);
      return;
    }
    case 'read-index':
      if (!r.conf.isMember(m.from)) return;
      handleRead(r, { ctx: m.ctx, from: m.from, index: 0 });
      return;
    case 'propose':
      acceptForwarded(r, m.from, m.entries);
      return;
    default:
      return;
  }
}

function acceptForwarded(r: RaftCore, from: NodeId, entries: readonly ProposedEntry[]): void {
  try {
    for (const e of entries) if (e.type === 'conf-change') r.checkConfChange(decodeConfChange(e.data).change);
    r.proposeEntries(entries);
  } catch (e) {
    // Dropped: the proposer's driver times out or sees the leadership change and retries.
    r.logger.debug('dropped forwarded proposal', {
      'peer.id': from,
      error: e instanceof Error ? e.message : '',
    });
  }
}

function handleAppendResp(r: RaftCore, m: AppendResponse): void {
  const pr = r.progress.get(m.from);
  if (!pr) return;
  pr.recentActive = true;
  if (m.reject) {
    let hint = m.hintIndex;
    // Skip every leader entry whose term is above the follower's term at the hint (one round trip per term).
    if (m.hintTerm > 0) hint = r.log.findConflictByTerm(m.hintIndex, m.hintTerm).index;
    if (pr.maybeDecrTo(m.index, hint)) {
      if (pr.state === 'replicate') pr.becomeProbe();
      sendAppends(r, m.from, true);
    }
    return;
  }
  const wasPaused = pr.isPaused();
  if (!pr.maybeUpdate(m.index)) {
    if (wasPaused && !pr.isPaused()) sendAppends(r, m.from, false);
    return;
  }
  if (pr.state === 'probe') {
    pr.becomeReplicate();
  } else if (
    pr.state === 'snapshot' &&
    (pr.match >= pr.pendingSnapshot || pr.match + 1 >= r.log.firstIndex())
  ) {
    // Installed, or the follower already has what our log can still provide.
    pr.becomeProbe();
    pr.becomeReplicate();
  } else if (pr.state === 'replicate') {
    pr.inflights.freeTo(m.index);
  }
  if (!maybeCommit(r)) sendAppends(r, m.from, false);
  if (m.from === r.leadTransferee && pr.match === r.log.lastIndex()) {
    r.logger.info('sending timeout-now to transfer leadership', { 'peer.id': m.from });
    r.send({ type: 'timeout-now', to: m.from });
  }
}

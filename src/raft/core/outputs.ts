import type { HardState } from '../types.js';
import * as leader from './leader.js';
import type { RaftCore } from './raft.js';
import type { Ready, SoftState } from './ready.js';

/** What the previous Ready reported, to emit only changes. */
export class ReadyTracker {
  confChanged = false;
  constructor(
    public prevHard: HardState,
    public prevSoft: SoftState,
  ) {}
}

function sameHard(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

export function hasReady(r: RaftCore): boolean {
  const t = r.tracker;
  const hs = r.hardState();
  const ss = r.softState();
  return (
    r.msgs.length > 0 ||
    r.persistedMsgs.length > 0 ||
    r.readStates.length > 0 ||
    r.readFailures.length > 0 ||
    r.log.pendingSnapshot !== null ||
    r.log.unstableFrom <= r.log.lastIndex() ||
    r.log.hasNextCommitted() ||
    r.bcastEntries ||
    r.bcastCommit ||
    r.reads.hasUnsent() ||
    !sameHard(hs, t.prevHard) ||
    ss.role !== t.prevSoft.role ||
    ss.leader !== t.prevSoft.leader ||
    ss.term !== t.prevSoft.term
  );
}

/** Collects a Ready and resets the output buffers. */
export function buildReady(r: RaftCore): Ready {
  const t = r.tracker;
  // Flush first: if a committed conf change removes this leader, followers still learn the commit.
  if (r.role === 'leader') leader.flush(r);
  const committedEntries = r.log.nextCommitted(r.opts.maxApplyBytes);
  for (const e of committedEntries) {
    r.log.applying = e.index;
    if (e.type === 'conf-change') r.applyConfChange(e);
  }
  if (r.role === 'leader') leader.flush(r);
  const snapshot = r.log.pendingSnapshot;
  r.log.pendingSnapshot = null;
  const entries = r.log.unstableEntries();
  r.log.unstableFrom = r.log.lastIndex() + 1;
  const hs = r.hardState();
  const hardChanged = !sameHard(hs, t.prevHard);
  const mustSync =
    entries.length > 0 || snapshot !== null || hs.term !== t.prevHard.term || hs.vote !== t.prevHard.vote;
  t.prevHard = hs;
  const ss = r.softState();
  const softChanged =
    ss.role !== t.prevSoft.role || ss.leader !== t.prevSoft.leader || ss.term !== t.prevSoft.term;
  t.prevSoft = ss;
  const last = entries[entries.length - 1];
  const rd: Ready = {
    softState: softChanged ? ss : null,
    hardState: hardChanged ? hs : null,
    entries,
    snapshot,
    mustSync,
    messages: r.msgs,
    persistedMessages: r.persistedMsgs,
    committedEntries,
    conf: t.confChanged ? r.conf.toConfState() : null,
    readStates: r.readStates,
    readFailures: r.readFailures,
    persist: {
      term: hs.term,
      vote: hs.vote,
      lastIndex: last?.index ?? 0,
      lastTerm: last?.term ?? 0,
      snapshotIndex: snapshot?.meta.index ?? 0,
    },
  };
  r.msgs = [];
  r.persistedMsgs = [];
  r.readStates = [];
  r.readFailures = [];
  t.confChanged = false;
  return rd;
}

import { CorruptionError } from '../../common/index.js';
import type { ClientSession, ConfChange, NodeId } from '../types.js';
import { ByteReader, ByteWriter } from './bytes.js';

/**
 * What the driver stores in an entry's `data`. A normal entry carries the proposer's request id
 * (so the proposing node can resolve its promise when the entry is applied, on any node), the
 * client session (so the state machine can drop retried commands) and the payload. A conf-change
 * entry carries the request id and the change. The core reads only conf-change entries.
 */
export interface ProposalEnvelope {
  readonly requestId: string;
  readonly session?: ClientSession;
  readonly payload: Uint8Array;
}

export interface ConfChangeEnvelope {
  readonly requestId: string;
  readonly change: ConfChange;
}

const PROPOSAL_V1 = 0x50; // 'P'
const CONF_V1 = 0x43; // 'C'

export function encodeProposal(p: ProposalEnvelope): Uint8Array {
  const w = new ByteWriter().u8(PROPOSAL_V1).str(p.requestId);
  if (p.session) w.u8(1).str(p.session.clientId).num(p.session.seq);
  else w.u8(0);
  return w.bytes(p.payload).finish();
}

export function decodeProposal(data: Uint8Array): ProposalEnvelope {
  const r = new ByteReader(data, 'proposal entry');
  if (r.u8() !== PROPOSAL_V1) throw new CorruptionError('proposal entry: unknown format');
  const requestId = r.str();
  const hasSession = r.u8() === 1;
  const session = hasSession ? { clientId: r.str(), seq: r.num() } : undefined;
  const payload = r.bytes();
  r.expectEnd();
  return session ? { requestId, session, payload } : { requestId, payload };
}

const CHANGE_KINDS = ['add-learner', 'promote', 'add-voter', 'remove', 'bootstrap'] as const;

export function encodeConfChange(c: ConfChangeEnvelope): Uint8Array {
  const w = new ByteWriter().u8(CONF_V1).str(c.requestId);
  const change = c.change;
  w.u8(CHANGE_KINDS.indexOf(change.type));
  if (change.type === 'bootstrap') {
    writeIds(w, change.conf.voters);
    writeIds(w, change.conf.learners);
  } else {
    w.str(change.node);
  }
  return w.finish();
}

export function decodeConfChange(data: Uint8Array): ConfChangeEnvelope {
  const r = new ByteReader(data, 'conf-change entry');
  if (r.u8() !== CONF_V1) throw new CorruptionError('conf-change entry: unknown format');
  const requestId = r.str();
  const kind = CHANGE_KINDS[r.u8()];
  let change: ConfChange;
  if (kind === undefined) throw new CorruptionError('conf-change entry: unknown change type');
  if (kind === 'bootstrap') {
    const voters = readIds(r);
    const learners = readIds(r);
    change = { type: 'bootstrap', conf: { voters, learners } };
  } else {
    change = { type: kind, node: r.str() };
  }
  r.expectEnd();
  return { requestId, change };
}

function writeIds(w: ByteWriter, ids: readonly NodeId[]): void {
  w.u32(ids.length);
  for (const id of ids) w.str(id);
}

function readIds(r: ByteReader): NodeId[] {
  const n = r.u32();
  const out: NodeId[] = [];
  for (let i = 0; i < n; i++) out.push(r.str());
  return out;
}

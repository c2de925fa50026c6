import { BinaryReader, BinaryWriter, CorruptionError } from '../../common/index.js';
import type { ClientSession, ConfChange, NodeId } from '../types.js';

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
  const w = new BinaryWriter(32 + p.payload.length).uint(PROPOSAL_V1).string(p.requestId);
  if (p.session) w.bool(true).string(p.session.clientId).uint(p.session.seq);
  else w.bool(false);
  // Copy out: log entries must not pin the writer's larger buffer.
  return new Uint8Array(w.bytes(p.payload).finish());
}

export function decodeProposal(data: Uint8Array): ProposalEnvelope {
  const r = new BinaryReader(data);
  if (r.uint() !== PROPOSAL_V1) throw new CorruptionError('proposal entry: unknown format');
  const requestId = r.string();
  const session = r.bool() ? { clientId: r.string(), seq: r.uint() } : undefined;
  const payload = r.bytes();
  expectEnd(r, 'proposal entry');
  return session ? { requestId, session, payload } : { requestId, payload };
}

const CHANGE_KINDS = ['add-learner', 'promote', 'add-voter', 'remove', 'bootstrap'] as const;

export function encodeConfChange(c: ConfChangeEnvelope): Uint8Array {
  const w = new BinaryWriter(64).uint(CONF_V1).string(c.requestId);
  const change = c.change;
  w.uint(CHANGE_KINDS.indexOf(change.type));
  if (change.type === 'bootstrap') {
    writeIds(w, change.conf.voters);
    writeIds(w, change.conf.learners);
  } else {
    w.string(change.node);
  }
  return new Uint8Array(w.finish());
}

export function decodeConfChange(data: Uint8Array): ConfChangeEnvelope {
  const r = new BinaryReader(data);
  if (r.uint() !== CONF_V1) throw new CorruptionError('conf-change entry: unknown format');
  const requestId = r.string();
  const kind = CHANGE_KINDS[r.uint()];
  let change: ConfChange;
  if (kind === undefined) throw new CorruptionError('conf-change entry: unknown change type');
  if (kind === 'bootstrap') {
    const voters = readIds(r);
    const learners = readIds(r);
    change = { type: 'bootstrap', conf: { voters, learners } };
  } else {
    change = { type: kind, node: r.string() };
  }
  expectEnd(r, 'conf-change entry');
  return { requestId, change };
}

function writeIds(w: BinaryWriter, ids: readonly NodeId[]): void {
  w.uint(ids.length);
  for (const id of ids) w.string(id);
}

function readIds(r: BinaryReader): NodeId[] {
  const n = r.uint();
  const out: NodeId[] = [];
  for (let i = 0; i < n; i++) out.push(r.string());
  return out;
}

function expectEnd(r: BinaryReader, what: string): void {
  if (!r.done) throw new CorruptionError(`${what}: trailing bytes`);
}

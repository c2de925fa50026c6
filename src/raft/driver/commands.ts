import { InvalidArgumentError } from '../../common/index.js';
import { decodeConfChange, decodeProposal } from '../codec/index.js';
import type { Command, Entry } from '../types.js';

/** Committed entries unpacked for the state machine and for the proposers waiting on them. */
export interface CommittedBatch {
  readonly commands: Command[];
  /** The request id of each command, by position. */
  readonly ids: string[];
  /** Membership changes (and their request ids): applied by the core, resolved with no result. */
  readonly done: { id: string; index: number }[];
}

export function unpackCommitted(entries: readonly Entry[]): CommittedBatch {
  const batch: CommittedBatch = { commands: [], ids: [], done: [] };
  for (const e of entries) {
    if (e.data.length === 0) continue;
    if (e.type === 'conf-change') {
      const { requestId } = decodeConfChange(e.data);
      if (requestId) batch.done.push({ id: requestId, index: e.index });
      continue;
    }
    const env = decodeProposal(e.data);
    batch.commands.push(
      env.session
        ? { index: e.index, term: e.term, data: env.payload, session: env.session }
        : { index: e.index, term: e.term, data: env.payload },
    );
    batch.ids.push(env.requestId);
  }
  return batch;
}

export function positiveTicks(field: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new InvalidArgumentError(field, `${field} must be an integer ≥ 1, got ${String(value)}`);
  }
  return value;
}

import type { Applied, ProposeOptions } from '../raft/index.js';
import { type ApplyResult, type ChangeSet, encodeChangeSet, type Proposer } from './store/index.js';

/** Store writes through Raft: resolves once committed and applied here, with the apply verdict. */
export class RaftProposer implements Proposer {
  constructor(
    private readonly raft: { propose(data: Uint8Array, o?: ProposeOptions): Promise<Applied<ApplyResult>> },
  ) {}

  async propose(changes: ChangeSet, signal?: AbortSignal): Promise<void> {
    const applied = await this.raft.propose(encodeChangeSet(changes), signal ? { signal } : {});
    const verdict = applied.result;
    if (verdict && !verdict.ok) throw verdict.error;
  }
}

import { decodeChangeSet } from './change-set.js';
import type { MemoryStore } from './memory-store.js';
import type { ApplyResult } from './proposer.js';

/** A committed Raft entry's payload, as the Raft driver hands it to the state machine. */
export interface CommittedCommand {
  readonly data: Uint8Array;
}

/**
 * The store as a Raft state machine (structurally Raft's `StateMachine<ApplyResult>`): entries
 * carry encoded change sets; each result goes back to that entry's proposer, which rejects with
 * `result.error` when `ok` is false. A payload that cannot be decoded throws CorruptionError:
 * managers must stop rather than diverge.
 */
export function storeStateMachine(store: MemoryStore): {
  apply(commands: readonly CommittedCommand[]): ApplyResult[];
  snapshot(): Promise<Uint8Array>;
  restore(data: Uint8Array): void;
} {
  return {
    apply: (commands) => commands.map((c) => store.applyCommitted(decodeChangeSet(c.data))),
    // Captured now, encoded over later turns: the Raft driver applies on meanwhile.
    snapshot: () => store.encodeSnapshotSliced(),
    restore: (data) => store.restoreEncoded(data),
  };
}

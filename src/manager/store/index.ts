export { by, type IndexName, type Selector } from './by.js';
export {
  type Change,
  type ChangeOf,
  type ChangeSet,
  decodeChangeSet,
  encodeChangeSet,
} from './change-set.js';
export {
  AlreadyExistsError,
  NameConflictError,
  VersionConflictError,
  WatchClosedError,
  type WatchCloseReason,
} from './errors.js';
export {
  DEFAULT_WATCH_BUFFER_SIZE,
  MemoryStore,
  type MemoryStoreDeps,
  type MemoryStoreOptions,
  type StoreWatch,
  type UpdateOptions,
  type WatchOptions,
} from './memory-store.js';
export { type ApplyResult, type ChangeSetApplier, LocalProposer, type Proposer } from './proposer.js';
export { decodeStoreSnapshot, encodeStoreSnapshot, type StoreSnapshot } from './snapshot.js';
export { type CommittedCommand, storeStateMachine } from './state-machine.js';
export type { CreateInput, ReadTx, WriteTx } from './transaction.js';

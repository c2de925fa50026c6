export { type DedupLookup, type SessionRecord, SessionTable } from './dedup.js';
export {
  type Applied,
  type ProposeOptions,
  type RaftCoreView,
  RaftDriver,
  type RaftDriverDeps,
  type RaftDriverOptions,
  type RaftLogView,
} from './driver.js';

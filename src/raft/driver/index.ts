export { type DedupLookup, type SessionRecord, SessionTable } from './dedup.js';
export {
  type Applied,
  type ProposeOptions,
  RaftDriver,
  type RaftDriverDeps,
  type RaftDriverOptions,
} from './driver.js';

/** Encodings of the WAL's record payloads (before sealing) and of the segment header. */
import { BinaryReader, BinaryWriter, CorruptionError } from '../../common/index.js';
import type { Entry, EntryType, HardState } from '../types.js';

const SEGMENT_MAGIC = 'swarmctl-wal';
const SEGMENT_VERSION = 1;

export interface SegmentHeader {
  readonly seq: number;
  readonly firstIndex: number;
}

export interface SnapshotMarker {
  readonly index: number;
  readonly term: number;
}

export function encodeSegmentHeader(h: SegmentHeader): Uint8Array {
  return new BinaryWriter(32)
    .string(SEGMENT_MAGIC)
    .uint(SEGMENT_VERSION)
    .uint(h.seq)
    .uint(h.firstIndex)
    .finish();
}

export function decodeSegmentHeader(payload: Uint8Array): SegmentHeader {
  const r = new BinaryReader(payload);
  const magic = r.string();
  const version = r.uint();
  if (magic !== SEGMENT_MAGIC)
    throw new CorruptionError(`not a WAL segment (magic ${JSON.stringify(magic)})`);
  if (version !== SEGMENT_VERSION) throw new CorruptionError(`unsupported WAL segment version ${version}`);
  return { seq: r.uint(), firstIndex: r.uint() };
}

const ENTRY_TYPES: readonly EntryType[] = ['normal', 'conf-change'];

/** Consecutive entries in one record: one checksum and one seal per batch, not per entry. */
export function encodeEntries(entries: readonly Entry[]): Uint8Array {
  let size = 8;
  for (const e of entries) size += e.data.length + 24;
  const w = new BinaryWriter(size).uint(entries.length);
  for (const e of entries) w.uint(e.term).uint(e.index).uint(ENTRY_TYPES.indexOf(e.type)).bytes(e.data);
  return w.finish();
}

export function decodeEntries(payload: Uint8Array): Entry[] {
  const r = new BinaryReader(payload);
  const count = r.uint();
  const out: Entry[] = [];
  for (let i = 0; i < count; i++) {
    const term = r.uint();
    const index = r.uint();
    const code = r.uint();
    const type = ENTRY_TYPES[code];
    if (type === undefined) throw new CorruptionError(`unknown entry type ${code}`);
    // Copy: the payload is a view into a whole segment buffer that should not stay alive.
    out.push({ term, index, type, data: Uint8Array.from(r.bytes()) });
  }
  return out;
}

export function encodeHardState(h: HardState): Uint8Array {
  return new BinaryWriter(32).uint(h.term).optString(h.vote).uint(h.commit).finish();
}

export function decodeHardState(payload: Uint8Array): HardState {
  const r = new BinaryReader(payload);
  return { term: r.uint(), vote: r.optString(), commit: r.uint() };
}

export function encodeMarker(m: SnapshotMarker): Uint8Array {
  return new BinaryWriter(16).uint(m.index).uint(m.term).finish();
}

export function decodeMarker(payload: Uint8Array): SnapshotMarker {
  const r = new BinaryReader(payload);
  return { index: r.uint(), term: r.uint() };
}

/**
 * WAL record framing. A record is
 *
 *   length u32 | type u8 | flags u8 | reserved u16 | crc32 u32 | payload | zero padding to 8 bytes
 *
 * all little-endian; the CRC (CRC-32/IEEE, node:zlib) covers the first 8 header bytes and the
 * payload, so each record validates on its own. Records are grouped in batches (one per save):
 * a batch ends with a `commit` record carrying the batch's byte length and a CRC over all of its
 * bytes, padding included. Only batches whose commit verifies count; a batch without one was
 * never acknowledged (its fdatasync did not return).
 */
import { crc32 } from 'node:zlib';
import type { Cipher } from './cipher.js';

export const RECORD_HEADER_BYTES = 12;
const FLAG_SEALED = 1;
/** A sanity bound, so garbage lengths are rejected before any allocation. */
const MAX_PAYLOAD_BYTES = 1 << 30;

export const RecordType = {
  /** First record of every segment: magic, version, sequence, first index. Never sealed. */
  header: 1,
  /** One or more consecutive log entries. */
  entries: 2,
  hardState: 3,
  /** A snapshot marker: the snapshot file (index, term) is durable and may be loaded. */
  snapshot: 4,
  /** Ends a batch: batch length and CRC. Never sealed. */
  commit: 5,
} as const;
export type RecordType = (typeof RecordType)[keyof typeof RecordType];

const KNOWN_TYPES: ReadonlySet<number> = new Set(Object.values(RecordType));

export function align8(n: number): number {
  return (n + 7) & ~7;
}

/** Additional authenticated data: the record's segment and offset and its type. */
export function recordAad(segmentSeq: number, offset: number, type: RecordType): Uint8Array {
  const aad = Buffer.alloc(17);
  aad.writeDoubleLE(segmentSeq, 0);
  aad.writeDoubleLE(offset, 8);
  aad.writeUInt8(type, 16);
  return aad;
}

/** Builds one batch for a segment, sealing payloads with the cipher when there is one. */
export class BatchBuilder {
  private readonly parts: Buffer[] = [];
  private length = 0;

  constructor(
    private readonly segmentSeq: number,
    private readonly baseOffset: number,
    private readonly cipher: Cipher | undefined,
  ) {}

  add(type: RecordType, plain: Uint8Array): this {
    const offset = this.baseOffset + this.length;
    const sealed = this.cipher !== undefined && type !== RecordType.header && type !== RecordType.commit;
    const payload = sealed ? this.cipher!.encrypt(plain, recordAad(this.segmentSeq, offset, type)) : plain;
    this.push(frame(type, sealed ? FLAG_SEALED : 0, payload));
    return this;
  }

  get isEmpty(): boolean {
    return this.length === 0;
  }

  /** Appends the commit record and returns the batch's bytes. */
  finish(): Buffer {
    const body = Buffer.concat(this.parts, this.length);
    const commit = Buffer.alloc(8);
    commit.writeUInt32LE(body.length, 0);
    commit.writeUInt32LE(crc32(body), 4);
    this.push(frame(RecordType.commit, 0, commit));
    return Buffer.concat(this.parts, this.length);
  }

  private push(part: Buffer): void {
    this.parts.push(part);
    this.length += part.length;
  }
}

function frame(type: RecordType, flags: number, payload: Uint8Array): Buffer {
  const out = Buffer.alloc(align8(RECORD_HEADER_BYTES + payload.length));
  out.writeUInt32LE(payload.length, 0);
  out.writeUInt8(type, 4);
  out.writeUInt8(flags, 5);
  out.writeUInt32LE(crc32(payload, crc32(out.subarray(0, 8))), 8);
  out.set(payload, RECORD_HEADER_BYTES);
  return out;
}

export interface RawRecord {
  readonly offset: number;
  readonly type: RecordType;
  readonly sealed: boolean;
  readonly payload: Uint8Array;
}

type ReadResult = { ok: true; record: RawRecord; end: number } | { ok: false; reason: string };

function readRecord(buf: Buffer, offset: number): ReadResult {
  if (offset + RECORD_HEADER_BYTES > buf.length) return { ok: false, reason: 'incomplete record header' };
  const length = buf.readUInt32LE(offset);
  const type = buf.readUInt8(offset + 4);
  const flags = buf.readUInt8(offset + 5);
  if (!KNOWN_TYPES.has(type)) return { ok: false, reason: `unknown record type ${type}` };
  if ((flags & ~FLAG_SEALED) !== 0 || buf.readUInt16LE(offset + 6) !== 0) {
    return { ok: false, reason: 'bad record flags' };
  }
  if (length > MAX_PAYLOAD_BYTES) return { ok: false, reason: `implausible record length ${length}` };
  const end = offset + align8(RECORD_HEADER_BYTES + length);
  if (end > buf.length) return { ok: false, reason: 'incomplete record' };
  const payload = buf.subarray(offset + RECORD_HEADER_BYTES, offset + RECORD_HEADER_BYTES + length);
  if (crc32(payload, crc32(buf.subarray(offset, offset + 8))) !== buf.readUInt32LE(offset + 8)) {
    return { ok: false, reason: 'record checksum mismatch' };
  }
  return {
    ok: true,
    record: { offset, type: type as RecordType, sealed: flags === FLAG_SEALED, payload },
    end,
  };
}

export interface ScannedBatch {
  readonly start: number;
  readonly end: number;
  /** The batch's records, without its commit record. */
  readonly records: readonly RawRecord[];
}

export interface SegmentScan {
  readonly batches: readonly ScannedBatch[];
  /** End of the last verified batch: where a torn tail is cut off. */
  readonly validEnd: number;
  /** The first problem after `validEnd`, or null if the segment ends cleanly there. */
  readonly damage: { readonly offset: number; readonly reason: string } | null;
}

/** Reads verified batches from the start of a segment until the end or the first problem. */
export function scanSegment(buf: Buffer): SegmentScan {
  const batches: ScannedBatch[] = [];
  let pending: RawRecord[] = [];
  let start = 0;
  let offset = 0;
  while (offset < buf.length) {
    const r = readRecord(buf, offset);
    if (!r.ok) return { batches, validEnd: start, damage: { offset, reason: r.reason } };
    if (r.record.type === RecordType.commit) {
      if (!commitVerifies(buf, r.record, start)) {
        return { batches, validEnd: start, damage: { offset, reason: 'batch checksum mismatch' } };
      }
      batches.push({ start, end: r.end, records: pending });
      pending = [];
      start = r.end;
    } else {
      pending.push(r.record);
    }
    offset = r.end;
  }
  const damage = pending.length > 0 ? { offset: start, reason: 'batch without commit record' } : null;
  return { batches, validEnd: start, damage };
}

/** Checks a commit record against the bytes before it; `batchStart` null means "anywhere". */
function commitVerifies(buf: Buffer, commit: RawRecord, batchStart: number | null): boolean {
  if (commit.payload.length !== 8) return false;
  const p = Buffer.from(commit.payload.buffer, commit.payload.byteOffset, 8);
  const length = p.readUInt32LE(0);
  const start = commit.offset - length;
  if (batchStart === null ? start < 0 || length === 0 : start !== batchStart) return false;
  return crc32(buf.subarray(start, commit.offset)) === p.readUInt32LE(4);
}

/**
 * Whether a complete, verified batch lies after `offset`. Only one batch is ever unsynced, so
 * whatever a crash leaves of it never verifies: a verified batch after damage means the damage
 * hit data that was already acknowledged.
 */
export function hasVerifiedBatchAfter(buf: Buffer, offset: number): boolean {
  for (let at = align8(offset + 1); at + RECORD_HEADER_BYTES <= buf.length; at += 8) {
    if (buf.readUInt8(at + 4) !== RecordType.commit || buf.readUInt32LE(at) !== 8) continue;
    const r = readRecord(buf, at);
    if (r.ok && commitVerifies(buf, r.record, null)) return true;
  }
  return false;
}

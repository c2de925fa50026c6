/**
 * The segmented write-ahead log: `<seq>-<firstIndex>.wal` files (16 hex digits each) holding
 * batches of records (record.ts). One batch per append, one fdatasync per batch. New segments
 * are written as a temp file with their header batch, synced, renamed into place and the
 * directory fsynced, so a segment under its final name always starts with a valid header.
 *
 * The last segment is zero-filled ahead of its tail (`preallocateBytes` at a time): an fdatasync
 * that only overwrites blocks the file already has need not commit the file system's journal for
 * a new size and new blocks, and three members' syncs on one disk no longer queue behind each
 * other's journal commits. Zeros after the last verified batch of the last segment are that
 * space, not damage. A segment is trimmed to its data before the next one starts, so a sealed
 * segment never ends in zeros.
 */
import { posix } from 'node:path';
import type { Logger, SwarmError } from '../../common/index.js';
import {
  CorruptionError,
  FailedPreconditionError,
  isSwarmError,
  noopLogger,
  StoppedError,
} from '../../common/index.js';
import type { Entry, HardState } from '../types.js';
import type { Cipher } from './cipher.js';
import { io, toStorageError } from './errors.js';
import type { StorageFile, StorageFs } from './fs.js';
import type { SnapshotMarker } from './payloads.js';
import {
  decodeEntries,
  decodeHardState,
  decodeMarker,
  decodeSegmentHeader,
  encodeEntries,
  encodeHardState,
  encodeMarker,
  encodeSegmentHeader,
} from './payloads.js';
import type { RawRecord } from './record.js';
import { BatchBuilder, hasVerifiedBatchAfter, RecordType, recordAad, scanSegment } from './record.js';
import { LogReplay } from './replay.js';
import { hex16, TMP_SUFFIX } from './snapshots.js';

const SEGMENT_RE = /^([0-9a-f]{16})-([0-9a-f]{16})\.wal$/;

interface Segment {
  readonly seq: number;
  readonly firstIndex: number;
  readonly path: string;
  /** Highest entry index written into the segment, superseded or not; 0 if none. */
  maxIndex: number;
}

export interface WalAppend {
  readonly marker?: SnapshotMarker;
  readonly entries: readonly Entry[];
  readonly hardState?: HardState;
}

export interface WalDeps {
  readonly fs: StorageFs;
  readonly cipher?: Cipher;
  readonly logger?: Logger;
}

/** Callers serialise calls (wal-storage.ts does); the WAL itself assumes one at a time. */
export class Wal {
  private readonly fs: StorageFs;
  private readonly cipher: Cipher | undefined;
  private readonly logger: Logger;
  private segments: Segment[] = [];
  private tail: StorageFile | null = null;
  private tailSize = 0;
  /** Bytes the tail file has (zeros beyond `tailSize`). */
  private allocated = 0;
  private lastIndex = 0;
  private hardState: HardState | null = null;
  private marker: SnapshotMarker | null = null;
  private failure: SwarmError | null = null;
  private closed = false;

  constructor(
    readonly dir: string,
    deps: WalDeps,
    private readonly segmentBytes: number,
    private readonly preallocateBytes: number,
  ) {
    this.fs = deps.fs;
    this.cipher = deps.cipher;
    this.logger = (deps.logger ?? noopLogger).child({ module: 'raft/storage', 'wal.dir': dir });
  }

  /** Reads every segment, cuts off a torn tail, and opens the last segment for appending. */
  async open(): Promise<LogReplay> {
    const replay = new LogReplay();
    await io('mkdir', this.dir, () => this.fs.mkdir(this.dir));
    const names = await io('readdir', this.dir, () => this.fs.readdir(this.dir));
    const stale = names.filter((n) => n.endsWith(TMP_SUFFIX));
    for (const name of stale) await io('unlink', name, () => this.fs.unlink(this.path(name)));
    if (stale.length > 0) await io('fsync', this.dir, () => this.fs.syncDir(this.dir));
    this.segments = listSegments(names, (n) => this.path(n));
    for (const [i, seg] of this.segments.entries()) {
      await this.replaySegment(seg, i === this.segments.length - 1, replay);
    }
    this.hardState = this.segments.length > 0 ? replay.hardState : null;
    this.marker = replay.markers.at(-1) ?? null;
    this.lastIndex = Math.max(replay.lastIndex, this.marker?.index ?? 0);
    const last = this.segments.at(-1);
    if (last === undefined) await this.cut();
    else this.tail = await io('open', last.path, () => this.fs.open(last.path, 'existing'));
    return replay;
  }

  /** Writes one batch and fdatasyncs it. Any failure is fatal for this WAL. */
  async append(batch: WalAppend): Promise<void> {
    this.usable();
    try {
      if (this.tailSize >= this.segmentBytes) await this.cut();
      const seg = this.segments.at(-1)!;
      const b = new BatchBuilder(seg.seq, this.tailSize, this.cipher);
      if (batch.marker) b.add(RecordType.snapshot, encodeMarker(batch.marker));
      if (batch.entries.length > 0) b.add(RecordType.entries, encodeEntries(batch.entries));
      if (batch.hardState) b.add(RecordType.hardState, encodeHardState(batch.hardState));
      if (b.isEmpty) return;
      const bytes = b.finish();
      const end = this.tailSize + bytes.length;
      if (end > this.allocated) await this.preallocate(seg.path, end);
      await io('write', seg.path, () => this.tail!.write(bytes, this.tailSize));
      await io('fdatasync', seg.path, () => this.tail!.datasync());
      this.tailSize += bytes.length;
      if (batch.marker) {
        this.marker = batch.marker;
        this.lastIndex = Math.max(this.lastIndex, batch.marker.index);
      }
      const lastEntry = batch.entries.at(-1);
      if (lastEntry) {
        this.lastIndex = lastEntry.index;
        seg.maxIndex = Math.max(seg.maxIndex, lastEntry.index);
      }
      if (batch.hardState) this.hardState = batch.hardState;
    } catch (e) {
      throw this.fail(e);
    }
  }

  /** Deletes whole segments, oldest first, whose entries all lie below `keepFrom`. */
  async compact(keepFrom: number): Promise<void> {
    this.usable();
    try {
      while (this.segments.length > 1 && this.segments[0]!.maxIndex < keepFrom) {
        const seg = this.segments[0]!;
        await io('unlink', seg.path, () => this.fs.unlink(seg.path));
        // One directory fsync per segment keeps the surviving segments a contiguous suffix.
        await io('fsync', this.dir, () => this.fs.syncDir(this.dir));
        this.segments.shift();
        this.logger.debug('wal segment deleted', { 'wal.segment': seg.path, 'wal.keep_from': keepFrom });
      }
    } catch (e) {
      throw this.fail(e);
    }
  }

  /** Segment file names, oldest first (for tests and diagnostics). */
  segmentPaths(): string[] {
    return this.segments.map((s) => s.path);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.tail?.close().catch(() => {});
    this.tail = null;
  }

  private usable(): void {
    if (this.failure) throw this.failure;
    if (this.closed) throw new StoppedError('raft WAL');
  }

  private fail(e: unknown): SwarmError {
    this.failure ??= toStorageError(e, 'append', this.dir);
    this.logger.error('wal failed; refusing further writes', { error: this.failure.message });
    return this.failure;
  }

  /**
   * Zero-fills the tail file from `end` to `preallocateBytes` past the tail (not past the segment
   * size); the batch about to be written covers the bytes before `end`. Synced with that batch.
   */
  private async preallocate(path: string, end: number): Promise<void> {
    const to = Math.max(end, Math.min(this.tailSize + this.preallocateBytes, this.segmentBytes));
    if (to > end) {
      const zeros = Buffer.alloc(to - end);
      await io('write', path, () => this.tail!.write(zeros, end));
    }
    this.allocated = to;
  }

  /** Starts a new segment whose header batch repeats the latest hard state and snapshot marker. */
  private async cut(): Promise<void> {
    const prev = this.segments.at(-1);
    if (prev && this.tail && this.allocated > this.tailSize) {
      // Trimmed (and synced) first: only the last segment may end in preallocated zeros.
      await io('truncate', prev.path, () => this.tail!.truncate(this.tailSize));
      await io('fdatasync', prev.path, () => this.tail!.datasync());
    }
    const seq = prev ? prev.seq + 1 : 1;
    const firstIndex = this.lastIndex + 1;
    const path = this.path(`${hex16(seq)}-${hex16(firstIndex)}.wal`);
    const b = new BatchBuilder(seq, 0, this.cipher).add(
      RecordType.header,
      encodeSegmentHeader({ seq, firstIndex }),
    );
    if (this.marker) b.add(RecordType.snapshot, encodeMarker(this.marker));
    if (this.hardState) b.add(RecordType.hardState, encodeHardState(this.hardState));
    const bytes = b.finish();
    const tmp = path + TMP_SUFFIX;
    const file = await io('create', tmp, () => this.fs.open(tmp, 'create'));
    try {
      await io('write', tmp, () => file.write(bytes, 0));
      await io('fdatasync', tmp, () => file.datasync());
    } finally {
      await file.close().catch(() => {});
    }
    await io('rename', tmp, () => this.fs.rename(tmp, path));
    await io('fsync', this.dir, () => this.fs.syncDir(this.dir));
    const tail = await io('open', path, () => this.fs.open(path, 'existing'));
    await this.tail?.close().catch(() => {});
    this.tail = tail;
    this.tailSize = bytes.length;
    this.allocated = bytes.length;
    this.segments.push({ seq, firstIndex, path, maxIndex: 0 });
    this.logger.debug('wal segment created', { 'wal.segment': path });
  }

  private async replaySegment(seg: Segment, isLast: boolean, replay: LogReplay): Promise<void> {
    const buf = Buffer.from(await io('read', seg.path, () => this.fs.readFile(seg.path)));
    const scan = scanSegment(buf);
    const corrupt = (offset: number, why: string, cause?: unknown): CorruptionError =>
      new CorruptionError(
        `WAL segment ${seg.path} is corrupt at offset ${offset}: ${why}; ` +
          'remove this manager and re-add it so that it re-syncs from its peers',
        { cause, details: { path: seg.path, offset } },
      );
    const header = scan.batches[0]?.records[0];
    if (header?.type !== RecordType.header) throw corrupt(0, 'no valid segment header');
    let h: { seq: number; firstIndex: number };
    try {
      h = decodeSegmentHeader(header.payload);
    } catch (e) {
      throw corrupt(0, 'unreadable segment header', e);
    }
    if (h.seq !== seg.seq || h.firstIndex !== seg.firstIndex) {
      throw corrupt(0, `header says segment ${h.seq} from index ${h.firstIndex}`);
    }
    for (const batch of scan.batches) {
      for (const r of batch.records) {
        try {
          this.replayRecord(seg, r, r === header, replay);
        } catch (e) {
          if (isSwarmError(e, 'FAILED_PRECONDITION')) throw e;
          throw corrupt(r.offset, `undecodable ${recordName(r.type)} record`, e);
        }
      }
    }
    this.tailSize = scan.validEnd;
    this.allocated = buf.length;
    if (scan.damage === null) return;
    const { offset, reason } = scan.damage;
    if (!isLast) throw corrupt(offset, reason);
    if (isZero(buf, scan.validEnd)) return; // preallocated space
    if (hasVerifiedBatchAfter(buf, offset)) throw corrupt(offset, `${reason}, followed by valid data`);
    // A torn tail: the batch being written when the process stopped; it was never acknowledged.
    this.logger.warn('wal torn tail truncated', { 'wal.segment': seg.path, offset: scan.validEnd, reason });
    const file = await io('open', seg.path, () => this.fs.open(seg.path, 'existing'));
    try {
      await io('truncate', seg.path, () => file.truncate(scan.validEnd));
      await io('fdatasync', seg.path, () => file.datasync());
    } finally {
      await file.close().catch(() => {});
    }
    this.allocated = scan.validEnd;
  }

  private replayRecord(seg: Segment, r: RawRecord, isHeader: boolean, replay: LogReplay): void {
    if (isHeader) return;
    let payload = r.payload;
    if (r.sealed) {
      if (!this.cipher)
        throw new FailedPreconditionError(`WAL segment ${seg.path} is encrypted and no key is configured`);
      payload = this.cipher.decrypt(payload, recordAad(seg.seq, r.offset, r.type));
    }
    switch (r.type) {
      case RecordType.entries:
        for (const e of decodeEntries(payload)) {
          replay.entry(e, `WAL segment ${seg.path} offset ${r.offset}`);
          seg.maxIndex = Math.max(seg.maxIndex, e.index);
        }
        return;
      case RecordType.hardState:
        replay.hardState = decodeHardState(payload);
        return;
      case RecordType.snapshot:
        replay.marker(decodeMarker(payload));
        return;
      default:
        throw new CorruptionError(`unexpected ${recordName(r.type)} record`);
    }
  }

  private path(name: string): string {
    return posix.join(this.dir, name);
  }
}

function isZero(buf: Buffer, from: number): boolean {
  for (let i = from; i < buf.length; i++) if (buf[i] !== 0) return false;
  return true;
}

function recordName(type: RecordType): string {
  return Object.entries(RecordType).find(([, v]) => v === type)?.[0] ?? String(type);
}

function listSegments(names: readonly string[], path: (name: string) => string): Segment[] {
  const segments: Segment[] = [];
  for (const name of names) {
    const m = SEGMENT_RE.exec(name);
    if (m) {
      segments.push({
        seq: Number.parseInt(m[1]!, 16),
        firstIndex: Number.parseInt(m[2]!, 16),
        path: path(name),
        maxIndex: 0,
      });
    }
  }
  segments.sort((a, b) => a.seq - b.seq);
  for (let i = 1; i < segments.length; i++) {
    const [prev, seg] = [segments[i - 1]!, segments[i]!];
    if (seg.seq !== prev.seq + 1) {
      throw new CorruptionError(
        `WAL segment ${prev.seq + 1} is missing: ${prev.path} is followed by ${seg.path}`,
        {
          details: { path: seg.path },
        },
      );
    }
  }
  return segments;
}

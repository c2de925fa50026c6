/**
 * The KV state machine's entries, kept as their snapshot encoding in large chunks instead of as
 * strings on the JavaScript heap. Each entry is a record `[1][key: varint length, UTF-8][value:
 * varint length, bytes]`, and a numbered slot (a small integer, so a map holding it allocates
 * nothing) points at it. A freed record's first byte becomes 0, and the sparsest chunks are
 * compacted away a step at a time. A snapshot is then the live records copied in runs, a few
 * large copies and a byte-level walk, not an encoding per entry: 130,000 entries took ~70 ms to
 * encode one by one, every 10,000 writes on every member.
 */
import { BinaryReader, BinaryWriter, BugError } from '../../common/index.js';

/** Chunk size; a larger record gets a chunk of its own. */
const CHUNK = 1 << 20;
/** No compaction below this much garbage. */
const MIN_GARBAGE = 4 * CHUNK;
/** Live bytes one compaction step moves before it stops (after the chunk it is at). */
const STEP_BYTES = 256 * 1024;
const LIVE = 1;
const FREED = 0;

/** Where the records stood when a snapshot began: later ones are not part of it. */
export interface ArenaMark {
  readonly chunks: number;
  /** Bytes used in each of those chunks then (0: none, or no chunk). */
  readonly used: readonly number[];
}

export class KvArena {
  /** null: evacuated, its index free for a new chunk. */
  private chunks: (Buffer | null)[] = [];
  /** Per chunk: bytes used, bytes of live records, and the slots ever placed in it. */
  private used: number[] = [];
  private chunkLive: number[] = [];
  private chunkSlots: number[][] = [];
  private freeChunks: number[] = [];
  /** The shared chunk small records are appended to (-1: none yet). */
  private current = -1;
  private slotChunk: Int32Array<ArrayBuffer> = new Int32Array(1024);
  private slotOff: Int32Array<ArrayBuffer> = new Int32Array(1024);
  /** Record length including its first byte; -1: the slot is free. */
  private slotLen: Int32Array<ArrayBuffer> = new Int32Array(1024).fill(-1);
  private slotsUsed = 0;
  private freeSlots: number[] = [];
  /** Bytes of live records, and bytes in chunks no live record holds (not the current chunk's room). */
  private liveBytes = 0;
  private garbageBytes = 0;

  /** Stores an entry given in its encoding, `entry[start, end)`: key, then value. */
  put(entry: Uint8Array, start = 0, end = entry.length): number {
    const len = end - start + 1;
    const slot = this.newSlot();
    const chunk = this.place(slot, len);
    const buf = this.chunks[chunk]!;
    const off = this.slotOff[slot]!;
    buf[off] = LIVE;
    buf.set(start === 0 && end === entry.length ? entry : entry.subarray(start, end), off + 1);
    this.liveBytes += len;
    return slot;
  }

  putString(key: string, value: string): number {
    return this.put(
      new BinaryWriter(16 + 3 * (key.length + value.length)).string(key).string(value).finish(),
    );
  }

  free(slot: number): void {
    const len = this.recordLength(slot);
    const chunk = this.slotChunk[slot]!;
    this.chunks[chunk]![this.slotOff[slot]!] = FREED;
    this.chunkLive[chunk]! -= len;
    this.slotLen[slot] = -1;
    this.freeSlots.push(slot);
    this.liveBytes -= len;
    this.garbageBytes += len;
  }

  value(slot: number): string {
    const r = new BinaryReader(this.entry(slot));
    r.bytes();
    return r.string();
  }

  /** The entry's encoding (key, value) as a view (records never change; a moved one is copied). */
  entry(slot: number): Uint8Array {
    const off = this.slotOff[slot]!;
    return this.chunks[this.slotChunk[slot]!]!.subarray(off + 1, off + this.recordLength(slot));
  }

  /** Bytes of live records: what `writeLive` copies. */
  get live(): number {
    return this.liveBytes;
  }

  mark(): ArenaMark {
    return { chunks: this.chunks.length, used: [...this.used] };
  }

  /**
   * Copies the live records that existed at `mark` into `w`, pausing (yield) after each chunk;
   * returns how many it copied. None of them may be freed, nor the arena compacted, until done.
   */
  *writeLive(mark: ArenaMark, w: BinaryWriter): Generator<void, number> {
    let count = 0;
    for (let c = 0; c < mark.chunks; c++) {
      const buf = this.chunks[c];
      const end = mark.used[c]!;
      if (!buf || end === 0) continue;
      let run = 0;
      let pos = 0;
      while (pos < end) {
        const live = buf[pos] === LIVE;
        if (!live && run < pos) w.raw(buf.subarray(run, pos));
        pos = skipString(buf, skipString(buf, pos + 1));
        if (live) count++;
        else run = pos;
      }
      if (run < end) w.raw(buf.subarray(run, end));
      yield;
    }
    return count;
  }

  /** Bytes held by live records, bytes no record uses, bytes allocated in all, and chunks. */
  stats(): { live: number; garbage: number; allocated: number; chunks: number } {
    let allocated = 0;
    let chunks = 0;
    for (const c of this.chunks) {
      if (!c) continue;
      allocated += c.length;
      chunks++;
    }
    return { live: this.liveBytes, garbage: this.garbageBytes, allocated, chunks };
  }

  /**
   * Once garbage outweighs the live records, moves the live records of the sparsest chunks into
   * the current one and releases those chunks, about STEP_BYTES per call, keeping every slot's
   * number. In steps, because all members free the same records at about the same index: one
   * pass over a 35 MB state stalled each of them ~30 ms at once. Returns whether it released any.
   */
  compactStep(): boolean {
    let moved = 0;
    let released = false;
    while (moved < STEP_BYTES && this.garbageBytes >= MIN_GARBAGE && this.garbageBytes >= this.liveBytes) {
      const c = this.sparsest();
      if (c < 0) break;
      moved += this.evacuate(c);
      released = true;
    }
    return released;
  }

  /** The chunk, other than the current one, with the smallest share of live bytes (-1: none). */
  private sparsest(): number {
    let best = -1;
    let bestShare = 1;
    for (let c = 0; c < this.chunks.length; c++) {
      const buf = this.chunks[c];
      if (!buf || c === this.current) continue;
      const share = this.chunkLive[c]! / buf.length;
      if (best < 0 || share < bestShare) {
        best = c;
        bestShare = share;
      }
    }
    return best;
  }

  /** Moves chunk `c`'s live records to the current chunk and releases it; returns the bytes moved. */
  private evacuate(c: number): number {
    const from = this.chunks[c]!;
    let moved = 0;
    for (const slot of this.chunkSlots[c]!) {
      // A slot freed and reused since may sit elsewhere now, or already have been moved.
      const len = this.slotLen[slot]!;
      if (len < 0 || this.slotChunk[slot] !== c) continue;
      const off = this.slotOff[slot]!;
      const to = this.place(slot, len);
      this.chunks[to]!.set(from.subarray(off, off + len), this.slotOff[slot]!);
      moved += len;
    }
    this.garbageBytes -= from.length - this.chunkLive[c]!;
    this.chunks[c] = null;
    this.used[c] = 0;
    this.chunkLive[c] = 0;
    this.chunkSlots[c] = [];
    this.freeChunks.push(c);
    return moved;
  }

  private recordLength(slot: number): number {
    const len = this.slotLen[slot];
    if (len === undefined || len < 0) throw new BugError(`kv arena: slot ${slot} is not in use`);
    return len;
  }

  private newSlot(): number {
    const reused = this.freeSlots.pop();
    if (reused !== undefined) return reused;
    if (this.slotsUsed === this.slotLen.length) {
      const n = this.slotLen.length * 2;
      this.slotChunk = grow(this.slotChunk, n, 0);
      this.slotOff = grow(this.slotOff, n, 0);
      this.slotLen = grow(this.slotLen, n, -1);
    }
    return this.slotsUsed++;
  }

  /** Reserves `len` bytes for `slot`'s record at the end of a chunk's used part; returns the chunk. */
  private place(slot: number, len: number): number {
    let chunk: number;
    if (len > CHUNK / 4) {
      // A large record gets a chunk of its own, so it leaves no unused tail in the shared one.
      chunk = this.newChunk(len);
    } else {
      if (this.current < 0 || this.used[this.current]! + len > CHUNK) {
        if (this.current >= 0) this.garbageBytes += CHUNK - this.used[this.current]!;
        this.current = this.newChunk(CHUNK);
      }
      chunk = this.current;
    }
    this.slotChunk[slot] = chunk;
    this.slotOff[slot] = this.used[chunk]!;
    this.slotLen[slot] = len;
    this.used[chunk]! += len;
    this.chunkLive[chunk]! += len;
    this.chunkSlots[chunk]!.push(slot);
    return chunk;
  }

  private newChunk(size: number): number {
    const c = this.freeChunks.pop() ?? this.chunks.length;
    this.chunks[c] = Buffer.allocUnsafeSlow(size);
    this.used[c] = 0;
    this.chunkLive[c] = 0;
    this.chunkSlots[c] = [];
    return c;
  }
}

/** The position after a length-prefixed string or bytes at `pos`. */
function skipString(buf: Uint8Array, pos: number): number {
  let len = 0;
  let scale = 1;
  let p = pos;
  for (;;) {
    const b = buf[p++]!;
    len += (b & 0x7f) * scale;
    if (b < 0x80) return p + len;
    scale *= 0x80;
  }
}

function grow(a: Int32Array, n: number, fill: number): Int32Array<ArrayBuffer> {
  const b = new Int32Array(n).fill(fill);
  b.set(a);
  return b;
}

/**
 * The simulation's replicated application: a string KV store that drops retried commands by client
 * session (a retry of the command last applied for a client gets the first result back, never a
 * second effect), and reports every applied command so invariants can compare nodes.
 */
import { BinaryReader, BinaryWriter, CorruptionError } from '../../common/index.js';
import type { Command, StateMachine } from '../types.js';
import type { KvInput, KvOutput } from './kv-model.js';
import { applyKv } from './kv-model.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeKvCommand(input: KvInput): Uint8Array {
  return encoder.encode(JSON.stringify(input));
}

export function decodeKvCommand(data: Uint8Array): KvInput {
  const v: unknown = JSON.parse(decoder.decode(data));
  if (!isKvInput(v)) throw new CorruptionError('kv command: not a KvInput');
  return v;
}

function isKvInput(v: unknown): v is KvInput {
  if (typeof v !== 'object' || v === null || !('kind' in v) || !('key' in v)) return false;
  return typeof v.key === 'string' && ['put', 'get', 'cas', 'delete'].includes(String(v.kind));
}

/** What a node applied at an index: compared across nodes for state-machine safety. */
export interface AppliedRecord {
  readonly index: number;
  readonly term: number;
  /** A stable digest of the command (session + payload). */
  readonly digest: string;
}

interface SessionState {
  seq: number;
  output: KvOutput;
}

/** Snapshot format tag (binary: counts and length-prefixed strings, in the maps' order). */
const SNAPSHOT_V1 = 1;

/** Entries encoded between two turns of a sliced snapshot. */
const SNAPSHOT_SLICE = 2048;

/**
 * Encodes a snapshot in two passes over `data`, pausing (yield) after every SNAPSHOT_SLICE
 * entries: one sizes the buffer exactly, one fills it. `data` must not change until it is done.
 */
function* snapshotWriter(
  data: ReadonlyMap<string, string>,
  sessions: ReadonlyMap<string, SessionState>,
): Generator<void, Uint8Array> {
  // Each string is its UTF-8 bytes after a length varint of at most 5 bytes.
  let size = 32;
  let n = 0;
  for (const [k, v] of data) {
    size += Buffer.byteLength(k) + Buffer.byteLength(v) + 10;
    if (++n % SNAPSHOT_SLICE === 0) yield;
  }
  const rows = [...sessions].map(([id, st]) => [id, st.seq, JSON.stringify(st.output)] as const);
  for (const [id, , output] of rows) size += Buffer.byteLength(id) + Buffer.byteLength(output) + 20;
  const w = new BinaryWriter(size).uint(SNAPSHOT_V1).uint(data.size);
  for (const [k, v] of data) {
    w.string(k).string(v);
    if (++n % SNAPSHOT_SLICE === 0) yield;
  }
  w.uint(rows.length);
  for (const [id, seq, output] of rows) w.string(id).uint(seq).string(output);
  return w.finish();
}

function byKey<T>([a]: [string, T], [b]: [string, T]): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export class KvStateMachine implements StateMachine<KvOutput | null> {
  private data = new Map<string, string>();
  /**
   * While a sliced snapshot encodes `data`, applies go here instead (undefined: deleted), and
   * are folded into `data` when it is done.
   */
  private delta: Map<string, string | undefined> | null = null;
  private sessions = new Map<string, SessionState>();
  /** Commands that were retries of an already applied command. */
  duplicatesDropped = 0;

  /**
   * @param snapshotTurn given (real processes), a snapshot copies the maps and encodes the copy
   * in slices, awaiting this between them, so that the event loop and applies go on meanwhile
   * (encoding 35 MB took ~100 ms, copying it ~17 ms). Without it (the simulator) a snapshot is
   * encoded at once.
   */
  constructor(
    private readonly onApplied?: (record: AppliedRecord) => void,
    private readonly onRestored?: () => void,
    private readonly snapshotTurn?: () => Promise<void>,
  ) {}

  apply(commands: readonly Command[]): readonly (KvOutput | null)[] {
    return commands.map((c) => this.applyOne(c));
  }

  private applyOne(c: Command): KvOutput | null {
    this.onApplied?.({
      index: c.index,
      term: c.term,
      digest: `${c.session ? `${c.session.clientId}#${c.session.seq}:` : ''}${decoder.decode(c.data)}`,
    });
    if (c.data.length === 0) return null;
    const input = decodeKvCommand(c.data);
    const s = c.session;
    if (s) {
      const last = this.sessions.get(s.clientId);
      if (last && s.seq <= last.seq) {
        this.duplicatesDropped++;
        // The client only ever retries its latest command, so an older seq is a stale duplicate.
        return s.seq === last.seq ? last.output : null;
      }
    }
    const r = applyKv(this.read(input.key), input);
    if (this.delta) this.delta.set(input.key, r.next ?? undefined);
    else if (r.next === null) this.data.delete(input.key);
    else this.data.set(input.key, r.next);
    if (s) this.sessions.set(s.clientId, { seq: s.seq, output: r.output });
    return r.output;
  }

  /** A local read, for ReadIndex: only valid once the node has applied up to the read index. */
  read(key: string): string | null {
    if (this.delta?.has(key)) return this.delta.get(key) ?? null;
    return this.data.get(key) ?? null;
  }

  /**
   * Unsorted and binary: taken on the apply path every N entries, so it must be cheap. With a
   * turn function the state as of the call is encoded in slices while applies go to `delta`: a
   * copy of the map (~50 ms for 250,000 keys) or a buffer sized for the worst case (3x, ~200 MB
   * of external memory, which set off a full GC) stalled every member for 100–250 ms at each
   * snapshot, all at about the same index.
   */
  snapshot(): Uint8Array | Promise<Uint8Array> {
    // Session states are replaced, never changed, and few: a shallow copy is theirs as of now.
    const sessions = new Map(this.sessions);
    const turn = this.snapshotTurn;
    if (!turn || this.delta) {
      // At once (the simulator; or a second snapshot while one is under way, over a merged copy).
      const g = snapshotWriter(this.merged(), sessions);
      let r = g.next();
      while (!r.done) r = g.next();
      return r.value;
    }
    const data = this.data;
    const delta = new Map<string, string | undefined>();
    this.delta = delta;
    const g = snapshotWriter(data, sessions);
    return (async () => {
      try {
        let r = g.next();
        while (!r.done) {
          await turn();
          r = g.next();
        }
        return r.value;
      } finally {
        // A restore meanwhile replaced both: nothing to fold in then.
        if (this.delta === delta) {
          for (const [k, v] of delta) {
            if (v === undefined) data.delete(k);
            else data.set(k, v);
          }
          this.delta = null;
        }
      }
    })();
  }

  /** `data` with `delta` applied (a new map only while there is a delta). */
  private merged(): ReadonlyMap<string, string> {
    if (!this.delta) return this.data;
    const m = new Map(this.data);
    for (const [k, v] of this.delta) {
      if (v === undefined) m.delete(k);
      else m.set(k, v);
    }
    return m;
  }

  restore(bytes: Uint8Array): void {
    this.onRestored?.();
    this.delta = null;
    this.data = new Map();
    this.sessions = new Map();
    if (bytes.length === 0) return;
    const r = new BinaryReader(bytes);
    if (r.uint() !== SNAPSHOT_V1) throw new CorruptionError('kv snapshot: unknown format');
    for (let n = r.uint(); n > 0; n--) this.data.set(r.string(), r.string());
    for (let n = r.uint(); n > 0; n--) {
      const id = r.string();
      const seq = r.uint();
      this.sessions.set(id, { seq, output: JSON.parse(r.string()) as KvOutput });
    }
  }

  /** A canonical dump of the state, to compare replicas at the end of a run. */
  fingerprint(): string {
    return JSON.stringify({
      data: [...this.merged().entries()].sort(byKey),
      sessions: [...this.sessions.entries()].sort(byKey),
    });
  }
}

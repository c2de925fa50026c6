/**
 * The simulation's replicated application, also the raft-kv members' (multi-process test,
 * bench:raft): a string KV store that drops retried commands by client session (a retry of the
 * command last applied for a client gets the first result back, never a second effect), and
 * reports every applied command so invariants can compare nodes. Entries live in a `KvArena`.
 */
import { BinaryReader, BinaryWriter, BugError, CorruptionError } from '../../common/index.js';
import type { Command, StateMachine } from '../types.js';
import { type ArenaMark, KvArena } from './kv-arena.js';
import type { KvInput, KvOutput } from './kv-model.js';
import { applyKv } from './kv-model.js';

/** Command kinds on the wire (binary: kind, key, then the kind's fields). */
const KIND_CODE = { put: 1, get: 2, cas: 3, delete: 4 } as const;

/**
 * Binary, so that a put's value reaches the state machine's arena as bytes, without a string or
 * a JSON parse on every member. Strings are UTF-8 (a lone surrogate becomes U+FFFD).
 */
export function encodeKvCommand(input: KvInput): Uint8Array {
  const w = new BinaryWriter(16 + 3 * input.key.length).uint(KIND_CODE[input.kind]).string(input.key);
  if (input.kind === 'put') w.string(input.value);
  else if (input.kind === 'cas') w.optString(input.expected).string(input.value);
  return w.finish();
}

/**
 * A decoded command. A put's key and value stay where they are: `data[entryStart, end)` is the
 * entry's encoding, which the arena stores as it is.
 */
type DecodedKv =
  | { readonly kind: 'put'; readonly key: string; readonly entryStart: number }
  | Exclude<KvInput, { kind: 'put' }>;

function decodeCommand(data: Uint8Array): DecodedKv {
  const r = new BinaryReader(data);
  const code = r.uint();
  const entryStart = data.length - r.remaining;
  const key = r.string();
  switch (code) {
    case KIND_CODE.put:
      r.bytes();
      // The arena keeps the rest of the command as the entry: nothing may follow the value.
      if (!r.done) throw new CorruptionError("kv command: bytes after a put's value");
      return { kind: 'put', key, entryStart };
    case KIND_CODE.get:
      return { kind: 'get', key };
    case KIND_CODE.cas: {
      const expected = r.optString();
      return { kind: 'cas', key, expected, value: r.string() };
    }
    case KIND_CODE.delete:
      return { kind: 'delete', key };
    default:
      throw new CorruptionError(`kv command: unknown kind ${code}`);
  }
}

const PUT_OUTPUT: KvOutput = { kind: 'put' };

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

/**
 * Snapshot format tags. Both: a count, the entries, then the client sessions. V1 entries are a
 * key and a value (length-prefixed); V2 entries have a byte 1 before them, as the arena keeps them.
 */
const SNAPSHOT_V1 = 1;
const SNAPSHOT_V2 = 2;

type SessionRow = readonly [id: string, seq: number, output: string];

function sessionRows(sessions: ReadonlyMap<string, SessionState>): { rows: SessionRow[]; bytes: number } {
  const rows = [...sessions].map(([id, st]): SessionRow => [id, st.seq, JSON.stringify(st.output)]);
  let bytes = 0;
  for (const [id, , output] of rows) bytes += Buffer.byteLength(id) + Buffer.byteLength(output) + 20;
  return { rows, bytes };
}

function writeSessions(w: BinaryWriter, rows: readonly SessionRow[]): Uint8Array {
  w.uint(rows.length);
  for (const [id, seq, output] of rows) w.string(id).uint(seq).string(output);
  return w.finish();
}

/**
 * A snapshot of `count` entries that are exactly the arena's live records as of `mark`: their
 * bytes copied in runs, a chunk per turn (yield).
 */
function* arenaSnapshot(
  arena: KvArena,
  mark: ArenaMark,
  count: number,
  liveBytes: number,
  sessions: ReadonlyMap<string, SessionState>,
): Generator<void, Uint8Array> {
  const { rows, bytes } = sessionRows(sessions);
  const w = new BinaryWriter(32 + liveBytes + bytes).uint(SNAPSHOT_V2).uint(count);
  const copied = yield* arena.writeLive(mark, w);
  if (copied !== count) throw new BugError(`kv snapshot: ${copied} live records for ${count} keys`);
  return writeSessions(w, rows);
}

/** A snapshot of `data`, entry by entry (while a sliced snapshot holds older records live). */
function entriesSnapshot(
  data: ReadonlyMap<string, number>,
  arena: KvArena,
  sessions: ReadonlyMap<string, SessionState>,
): Uint8Array {
  const { rows, bytes } = sessionRows(sessions);
  let size = 32 + bytes;
  for (const slot of data.values()) size += arena.entry(slot).length + 1;
  const w = new BinaryWriter(size).uint(SNAPSHOT_V2).uint(data.size);
  for (const slot of data.values()) w.uint(1).raw(arena.entry(slot));
  return writeSessions(w, rows);
}

function byKey<T>([a]: [string, T], [b]: [string, T]): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export class KvStateMachine implements StateMachine<KvOutput | null> {
  /** The entries' records; `data` maps each key to its record's slot there. */
  private values = new KvArena();
  private data = new Map<string, number>();
  /**
   * While a sliced snapshot encodes `data`, applies go here instead (undefined: deleted), and
   * are folded into `data` when it is done; until then no slot `data` holds is freed.
   */
  private delta: Map<string, number | undefined> | null = null;
  private sessions = new Map<string, SessionState>();
  /** Commands that were retries of an already applied command. */
  duplicatesDropped = 0;

  /**
   * @param snapshotTurn given (real processes), a snapshot copies the state as of the call in
   * slices, awaiting this between them, so that the event loop and applies go on meanwhile.
   * Without it (the simulator) a snapshot is taken at once.
   */
  constructor(
    private readonly onApplied?: (record: AppliedRecord) => void,
    private readonly onRestored?: () => void,
    private readonly snapshotTurn?: () => Promise<void>,
  ) {}

  apply(commands: readonly Command[]): readonly (KvOutput | null)[] {
    const out = commands.map((c) => this.applyOne(c));
    if (!this.delta) this.values.compactStep();
    return out;
  }

  private applyOne(c: Command): KvOutput | null {
    this.onApplied?.({
      index: c.index,
      term: c.term,
      digest: `${c.session ? `${c.session.clientId}#${c.session.seq}:` : ''}${Buffer.from(c.data.buffer, c.data.byteOffset, c.data.byteLength).toString('base64')}`,
    });
    if (c.data.length === 0) return null;
    const input = decodeCommand(c.data);
    const s = c.session;
    if (s) {
      const last = this.sessions.get(s.clientId);
      if (last && s.seq <= last.seq) {
        this.duplicatesDropped++;
        // The client only ever retries its latest command, so an older seq is a stale duplicate.
        return s.seq === last.seq ? last.output : null;
      }
    }
    let output: KvOutput;
    if (input.kind === 'put') {
      // The hot path: the entry's bytes go from the command to the arena, the value never a string.
      this.store(input.key, this.values.put(c.data, input.entryStart));
      output = PUT_OUTPUT;
    } else {
      const current = this.read(input.key);
      const r = applyKv(current, input);
      if (r.next !== current)
        this.store(input.key, r.next === null ? undefined : this.values.putString(input.key, r.next));
      output = r.output;
    }
    if (s) this.sessions.set(s.clientId, { seq: s.seq, output });
    return output;
  }

  /** Points `key` at `slot` (undefined: deletes it), freeing the slot it replaces when no snapshot needs it. */
  private store(key: string, slot: number | undefined): void {
    if (this.delta) {
      // The slot in `data` stays until the fold; one set earlier during this snapshot can go.
      const before = this.delta.get(key);
      if (before !== undefined) this.values.free(before);
      this.delta.set(key, slot);
      return;
    }
    const before = this.data.get(key);
    if (before !== undefined) this.values.free(before);
    if (slot === undefined) this.data.delete(key);
    else this.data.set(key, slot);
  }

  private slotOf(key: string): number | undefined {
    return this.delta?.has(key) ? this.delta.get(key) : this.data.get(key);
  }

  /** A local read, for ReadIndex: only valid once the node has applied up to the read index. */
  read(key: string): string | null {
    const slot = this.slotOf(key);
    return slot === undefined ? null : this.values.value(slot);
  }

  /**
   * Unsorted and binary: taken on the apply path every N entries, so it must be cheap. It is the
   * arena's live records copied in runs (~30 ms for 130,000 entries of 256 B; encoding them one
   * by one took ~70 ms). With a turn function it copies one chunk per turn while applies go to
   * `delta`: done at once, it stalled every member at about the same index.
   */
  snapshot(): Uint8Array | Promise<Uint8Array> {
    // Session states are replaced, never changed, and few: a shallow copy is theirs as of now.
    const sessions = new Map(this.sessions);
    // A second snapshot while one is under way: older records are live until it ends.
    if (this.delta) return entriesSnapshot(this.merged(), this.values, sessions);
    const g = arenaSnapshot(this.values, this.values.mark(), this.data.size, this.values.live, sessions);
    const turn = this.snapshotTurn;
    if (!turn) {
      // At once (the simulator).
      let r = g.next();
      while (!r.done) r = g.next();
      return r.value;
    }
    const delta = new Map<string, number | undefined>();
    this.delta = delta;
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
          this.delta = null;
          for (const [k, slot] of delta) this.store(k, slot);
        }
      }
    })();
  }

  /** `data` with `delta` applied (a new map only while there is a delta). */
  private merged(): ReadonlyMap<string, number> {
    if (!this.delta) return this.data;
    const m = new Map(this.data);
    for (const [k, slot] of this.delta) {
      if (slot === undefined) m.delete(k);
      else m.set(k, slot);
    }
    return m;
  }

  restore(bytes: Uint8Array): void {
    this.onRestored?.();
    this.delta = null;
    this.values = new KvArena();
    this.data = new Map();
    this.sessions = new Map();
    if (bytes.length === 0) return;
    const r = new BinaryReader(bytes);
    const format = r.uint();
    if (format !== SNAPSHOT_V1 && format !== SNAPSHOT_V2)
      throw new CorruptionError('kv snapshot: unknown format');
    for (let n = r.uint(); n > 0; n--) {
      if (format === SNAPSHOT_V2 && r.uint() !== 1) throw new CorruptionError('kv snapshot: bad entry mark');
      const start = bytes.length - r.remaining;
      const key = r.string();
      r.bytes();
      this.store(key, this.values.put(bytes, start, bytes.length - r.remaining));
    }
    for (let n = r.uint(); n > 0; n--) {
      const id = r.string();
      const seq = r.uint();
      this.sessions.set(id, { seq, output: JSON.parse(r.string()) as KvOutput });
    }
  }

  /** A canonical dump of the state, to compare replicas at the end of a run. */
  fingerprint(): string {
    return JSON.stringify({
      data: [...this.merged()].map(([k, slot]): [string, string] => [k, this.values.value(slot)]).sort(byKey),
      sessions: [...this.sessions.entries()].sort(byKey),
    });
  }
}

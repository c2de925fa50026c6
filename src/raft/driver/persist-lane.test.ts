import { describe, expect, it } from 'vitest';
import type { PersistAck } from '../core/ready.js';
import type { Entry, HardState, Message } from '../types.js';
import { mergeWrites, type PersistJob, PersistLane } from './persist-lane.js';
import { MemoryStorage, type TraceEvent } from './test-fakes.js';

const hs = (term: number, commit = 0): HardState => ({ term, vote: 'a', commit });
const entries = (from: number, to: number, term: number): Entry[] =>
  Array.from({ length: to - from + 1 }, (_, i) => ({
    index: from + i,
    term,
    type: 'normal' as const,
    data: new Uint8Array([from + i]),
  }));
const ack = (lastIndex: number, lastTerm: number): PersistAck => ({
  term: lastTerm,
  vote: 'a',
  lastIndex,
  lastTerm,
  snapshotIndex: 0,
});
const resp = (index: number): Message => ({
  type: 'append-resp',
  from: 'b',
  to: 'a',
  term: 1,
  index,
  reject: false,
  hintIndex: 0,
  hintTerm: 0,
});
const write = (es: Entry[], term: number, commit = 0): PersistJob => ({
  write: { hardState: hs(term, commit), entries: es, snapshot: null },
  ack: ack(es.at(-1)?.index ?? 0, term),
  messages: [resp(es.at(-1)?.index ?? 0)],
});

describe('mergeWrites', () => {
  it('appends continuing batches, replaces a suffix on truncation, keeps the latest hard state', () => {
    const b = mergeWrites([
      write(entries(1, 3, 1), 1),
      write(entries(4, 5, 1), 1, 2),
      write(entries(3, 4, 2), 2, 2),
    ]);
    expect(b?.entries.map((e) => `${e.index}@${e.term}`)).toEqual(['1@1', '2@1', '3@2', '4@2']);
    expect(b?.hardState).toEqual(hs(2, 2));
  });

  it('has nothing to write for jobs that only carry acknowledgements', () => {
    expect(mergeWrites([{ write: null, ack: ack(0, 0), messages: [resp(1)] }])).toBeNull();
  });
});

describe('PersistLane', () => {
  it('queues jobs behind a save in flight into one save, then releases them in order', async () => {
    const trace: TraceEvent[] = [];
    const storage = new MemoryStorage('b', trace);
    await storage.load();
    const durable: number[] = [];
    let saved = 0;
    const lane = new PersistLane({
      storage,
      onDurable: (j) => durable.push(j.ack.lastIndex),
      onSaved: () => saved++,
      onFatal: (e) => {
        throw e;
      },
      stopped: () => false,
    });
    storage.hold = true;
    lane.push(write(entries(1, 1, 1), 1));
    lane.push(write(entries(2, 3, 1), 1));
    // An ack-only job (a repeated append) still waits for the writes queued before it.
    lane.push({ write: null, ack: ack(0, 0), messages: [resp(3)] });
    lane.push(write(entries(4, 4, 1), 1));
    expect(storage.pendingSaves).toBe(1);
    expect(durable).toEqual([]);
    storage.release();
    await lane.drained();
    expect(storage.saves).toBe(2);
    expect(saved).toBe(2);
    expect(durable).toEqual([1, 3, 0, 4]);
    expect(storage.state.entries.map((e) => e.index)).toEqual([1, 2, 3, 4]);
  });

  it('releases an ack-only job at once when nothing is in flight', () => {
    const storage = new MemoryStorage('b', []);
    const durable: number[] = [];
    const lane = new PersistLane({
      storage,
      onDurable: (j) => durable.push(j.messages.length),
      onSaved: () => {},
      onFatal: () => {},
      stopped: () => false,
    });
    lane.push({ write: null, ack: ack(0, 0), messages: [resp(1)] });
    expect(durable).toEqual([1]);
  });

  it('saves a snapshot job on its own', async () => {
    const storage = new MemoryStorage('b', []);
    await storage.load();
    const fatal: unknown[] = [];
    const lane = new PersistLane({
      storage,
      onDurable: () => {},
      onSaved: () => {},
      onFatal: (e) => fatal.push(e),
      stopped: () => false,
    });
    storage.hold = true;
    lane.push(write(entries(1, 2, 1), 1));
    const snapshot = {
      meta: { index: 10, term: 1, conf: { voters: ['a', 'b'], learners: [] } },
      data: new Uint8Array(),
    };
    lane.push({ write: { hardState: hs(1, 10), entries: [], snapshot }, ack: ack(0, 1), messages: [] });
    lane.push(write(entries(11, 11, 1), 1));
    storage.release();
    await lane.drained();
    expect(storage.saves).toBe(3);
    expect(storage.state.snapshot?.meta.index).toBe(10);
    expect(storage.state.entries.map((e) => e.index)).toEqual([11]);
    expect(fatal).toEqual([]);
  });

  it('reports a failed save as fatal and releases none of its acknowledgements', async () => {
    const storage = new MemoryStorage('b', []);
    storage.save = () => Promise.reject(new Error('fdatasync: EIO'));
    const fatal: unknown[] = [];
    const durable: number[] = [];
    const lane = new PersistLane({
      storage,
      onDurable: (j) => durable.push(j.ack.lastIndex),
      onSaved: () => {},
      onFatal: (e) => fatal.push(e),
      stopped: () => false,
    });
    lane.push(write(entries(1, 1, 1), 1));
    await lane.drained();
    expect(fatal).toHaveLength(1);
    expect(durable).toEqual([]);
  });
});

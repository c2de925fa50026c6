/**
 * SIMULATION STAND-IN for the WAL: a RaftStorage over an in-memory "disk" with the failure
 * semantics that matter to Raft. Writes are volatile until a simulated fsync completes; a crash
 * loses every unsynced write, or (torn mode) keeps a random prefix of them, as a real page cache
 * may have flushed some; an fsync may fail, which rejects with an IO error (the node must stop).
 * The simulator uses the real WAL over SimFs instead when it is available.
 */
import type { Random } from '../../common/index.js';
import { SwarmError } from '../../common/index.js';
import type { Entry, HardState, LoadedState, PersistBatch, RaftStorage, Snapshot } from '../types.js';
import { EMPTY_HARD_STATE } from '../types.js';
import type { EventQueue } from './event-queue.js';

/** The durable image: what `load()` returns after a restart. */
interface DiskImage {
  hardState: HardState;
  snapshot: Snapshot | null;
  /** Contiguous entries; may keep a tail at or below the snapshot's index (for slow followers). */
  entries: Entry[];
}

type Write =
  | { kind: 'batch'; batch: PersistBatch }
  | { kind: 'snapshot'; snapshot: Snapshot; keepFrom: number };

export interface DiskConfig {
  /** Simulated fsync latency, uniform in [min, max). */
  readonly syncMinMs: number;
  readonly syncMaxMs: number;
  /** Probability that one fsync fails. */
  readonly syncFailRate: number;
  /** Probability that a crash keeps a random prefix of the unsynced writes. */
  readonly tornRate: number;
}

export const FAST_DISK: DiskConfig = { syncMinMs: 0.5, syncMaxMs: 2, syncFailRate: 0, tornRate: 0 };

/** One node's disk as the cluster sees it: it outlives the node's incarnations. */
export interface NodeDisk {
  readonly stats: DiskStats;
  /** Storage for a new incarnation of the node. */
  open(): RaftStorage;
  /** Power loss: unsynced writes are lost, or with `torn` partly kept, garbled or reordered. */
  crash(torn: boolean): void;
  setSyncLatency(minMs: number, maxMs: number): void;
  /** The next fsync fails with an IO error. */
  failNextSync(): void;
  /** Injected I/O faults that have actually fired so far (a request may still be pending). */
  faultsFired(): number;
}

export interface DiskStats {
  syncs: number;
  syncFailures: number;
  crashes: number;
  tornCrashes: number;
  lostWrites: number;
}

/** One node's disk; it outlives the storage objects of successive incarnations of the node. */
export class SimDisk implements NodeDisk {
  private image: DiskImage = { hardState: EMPTY_HARD_STATE, snapshot: null, entries: [] };
  private unsynced: { write: Write; done: () => void; fail: (e: unknown) => void }[] = [];
  private syncScheduled = false;
  private generation = 0;
  readonly stats: DiskStats = { syncs: 0, syncFailures: 0, crashes: 0, tornCrashes: 0, lostWrites: 0 };

  constructor(
    private readonly queue: EventQueue,
    private readonly rng: Random,
    private config: DiskConfig,
    readonly node: string,
    /** A deliberately broken disk that reports writes durable before they are (for tests). */
    private readonly lying = false,
  ) {}

  private failNext = false;

  setConfig(config: DiskConfig): void {
    this.config = config;
  }

  setSyncLatency(minMs: number, maxMs: number): void {
    this.config = { ...this.config, syncMinMs: minMs, syncMaxMs: maxMs };
  }

  faultsFired(): number {
    return this.stats.syncFailures;
  }

  failNextSync(): void {
    this.failNext = true;
  }

  /** A fresh storage handle for a new incarnation of the node. */
  open(): RaftStorage {
    const generation = this.generation;
    const dead = (): Promise<never> | undefined =>
      generation === this.generation
        ? undefined
        : Promise.reject(new SwarmError('STOPPED', `storage of ${this.node} was crashed`));
    return {
      load: () => dead() ?? Promise.resolve(this.loaded()),
      save: (batch) => dead() ?? this.write({ kind: 'batch', batch }),
      saveSnapshot: (snapshot, keepFrom) => dead() ?? this.write({ kind: 'snapshot', snapshot, keepFrom }),
      close: async () => {},
    };
  }

  /** The node loses power: unsynced writes vanish, or a prefix of them survives (torn). */
  crash(torn = false): void {
    this.stats.crashes++;
    this.generation++;
    let keep = 0;
    if (this.unsynced.length > 0 && (torn || this.rng.next() < this.config.tornRate)) {
      keep = this.rng.int(0, this.unsynced.length + 1);
      this.stats.tornCrashes++;
    }
    for (const w of this.unsynced.slice(0, keep)) applyWrite(this.image, w.write);
    this.stats.lostWrites += this.unsynced.length - keep;
    // The old incarnation's promises never settle: its process is gone.
    this.unsynced = [];
    this.syncScheduled = false;
  }

  /** The durable image, for invariant checks. */
  durable(): LoadedState {
    return this.loaded();
  }

  private loaded(): LoadedState {
    const after = this.image.snapshot?.meta.index ?? 0;
    return {
      hardState: this.image.hardState,
      snapshot: this.image.snapshot,
      entries: this.image.entries.filter((e) => e.index > after),
    };
  }

  private write(write: Write): Promise<void> {
    const acked = new Promise<void>((done, fail) => {
      this.unsynced.push({ write, done, fail });
      if (this.syncScheduled) return;
      this.syncScheduled = true;
      const generation = this.generation;
      const c = this.config;
      const latency = c.syncMinMs + this.rng.next() * Math.max(0, c.syncMaxMs - c.syncMinMs);
      this.queue.schedule(latency, 'fsync', () => {
        if (generation === this.generation) this.sync();
      });
    });
    if (!this.lying) return acked;
    acked.catch(() => {});
    return Promise.resolve();
  }

  /** One fsync covers every write issued before it (group commit on the disk side too). */
  private sync(): void {
    this.syncScheduled = false;
    const batch = this.unsynced;
    this.unsynced = [];
    this.stats.syncs++;
    if (this.failNext || (this.config.syncFailRate > 0 && this.rng.next() < this.config.syncFailRate)) {
      this.failNext = false;
      this.stats.syncFailures++;
      // After a failed fsync nothing about these writes is known: they count as lost.
      this.stats.lostWrites += batch.length;
      const err = new SwarmError('IO', `simulated fsync failure on ${this.node}`);
      for (const w of batch) w.fail(err);
      return;
    }
    for (const w of batch) applyWrite(this.image, w.write);
    for (const w of batch) w.done();
  }
}

function applyWrite(image: DiskImage, write: Write): void {
  if (write.kind === 'snapshot') {
    const { snapshot, keepFrom } = write;
    if (image.snapshot && image.snapshot.meta.index >= snapshot.meta.index) return;
    image.snapshot = snapshot;
    image.entries = image.entries.filter((e) => e.index >= keepFrom);
    return;
  }
  const { batch } = write;
  if (batch.snapshot) {
    const snap = batch.snapshot;
    const current = image.snapshot?.meta.index ?? 0;
    if (snap.meta.index > current) {
      image.snapshot = snap;
      // A received snapshot replaces the log unless the log already extends it consistently.
      const at = image.entries.find((e) => e.index === snap.meta.index);
      image.entries =
        at && at.term === snap.meta.term ? image.entries.filter((e) => e.index > snap.meta.index) : [];
    }
  }
  if (batch.entries.length > 0) {
    const first = batch.entries[0]!.index;
    image.entries = image.entries.filter((e) => e.index < first);
    const last = image.entries.at(-1)?.index ?? image.snapshot?.meta.index ?? 0;
    // Only a broken node (one that ignored a failed fsync) appends past a gap; like a WAL's
    // replay, the log then ends at the gap.
    if (first === last + 1) image.entries.push(...batch.entries);
  }
  if (batch.hardState) image.hardState = batch.hardState;
}

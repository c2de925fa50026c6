import type { PersistAck } from '../core/ready.js';
import type { Entry, HardState, Message, PersistBatch, RaftStorage, Snapshot } from '../types.js';

/** The durable part of one Ready, and what may happen only once it is durable. */
export interface PersistJob {
  /** Set iff the Ready must be written (entries, snapshot, term or vote changed). */
  readonly write: {
    readonly hardState: HardState;
    readonly entries: readonly Entry[];
    readonly snapshot: Snapshot | null;
  } | null;
  readonly ack: PersistAck;
  /** Votes and acks: they promise that this write, and every earlier one, is durable. */
  readonly messages: readonly Message[];
}

export interface PersistLaneDeps {
  readonly storage: RaftStorage;
  /** Called for each job, in push order, once its writes and all earlier ones are durable. */
  readonly onDurable: (job: PersistJob) => void;
  /** Called after each storage save and its jobs' `onDurable`. */
  readonly onSaved: () => void;
  readonly onFatal: (e: unknown) => void;
  readonly stopped: () => boolean;
}

/**
 * Carries out the Readies' writes in order, one storage save at a time, while the driver goes on
 * building Readies (sending appends, applying what is already durable). Every job that queued up
 * behind a save in flight goes into the next save: one fdatasync for all of them (group commit).
 * A job whose Ready wrote nothing still waits for the saves queued before it, since its acks may
 * vouch for entries those saves carry.
 */
export class PersistLane {
  private readonly queue: PersistJob[] = [];
  private running = false;
  private drainWaiters: (() => void)[] = [];

  constructor(private readonly deps: PersistLaneDeps) {}

  push(job: PersistJob): void {
    if (!this.running && this.queue.length === 0 && job.write === null) {
      this.deps.onDurable(job);
      return;
    }
    this.queue.push(job);
    if (!this.running) this.start();
  }

  /** Resolves once every job pushed so far is durable (or the lane stopped). */
  drained(): Promise<void> {
    if (!this.running && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  private start(): void {
    this.running = true;
    this.loop().then(
      () => this.settle(),
      (e: unknown) => {
        this.settle();
        this.deps.onFatal(e);
      },
    );
  }

  private settle(): void {
    this.running = false;
    for (const w of this.drainWaiters.splice(0)) w();
  }

  private async loop(): Promise<void> {
    while (this.queue.length > 0 && !this.deps.stopped()) {
      const jobs = takeMergeable(this.queue);
      const batch = mergeWrites(jobs);
      if (batch) await this.deps.storage.save(batch);
      if (this.deps.stopped()) return;
      for (const j of jobs) this.deps.onDurable(j);
      this.deps.onSaved();
    }
  }
}

/** The jobs that go into one save: a job with a snapshot is saved on its own. */
function takeMergeable(queue: PersistJob[]): PersistJob[] {
  let n = 0;
  while (n < queue.length) {
    if (queue[n]!.write?.snapshot) {
      if (n === 0) n = 1;
      break;
    }
    n++;
  }
  return queue.splice(0, n);
}

/**
 * One batch equal to writing the jobs' batches one after another: the latest hard state, and the
 * entries with each later batch replacing the suffix from its first index (a follower truncating).
 */
export function mergeWrites(jobs: readonly PersistJob[]): PersistBatch | null {
  let hardState: HardState | undefined;
  let snapshot: Snapshot | null = null;
  const entries: Entry[] = [];
  for (const j of jobs) {
    if (!j.write) continue;
    hardState = j.write.hardState;
    if (j.write.snapshot) snapshot = j.write.snapshot;
    const next = j.write.entries;
    if (next.length === 0) continue;
    const from = next[0]!.index;
    // Usually the next batch just continues the previous one; otherwise it replaces a suffix.
    const first = entries[0];
    if (first && from <= entries[entries.length - 1]!.index) entries.length = Math.max(0, from - first.index);
    for (const e of next) entries.push(e);
  }
  if (hardState === undefined) return null;
  return snapshot ? { hardState, entries, snapshot } : { hardState, entries };
}

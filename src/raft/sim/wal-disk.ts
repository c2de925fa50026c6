/**
 * A node's disk in the simulator as production has it: the real segmented WAL and snapshot files
 * (WalStorage) over the simulated file system (SimFs), whose fsyncs take simulated time and whose
 * crashes lose, tear, garble or reorder unsynced writes. Recovery goes through WalStorage.load.
 */
import type { Random } from '../../common/index.js';
import { SimFs, type UnsyncedWriteFate, WalStorage } from '../storage/index.js';
import type { RaftStorage } from '../types.js';
import type { EventQueue } from './event-queue.js';
import type { DiskStats, NodeDisk } from './sim-memory-storage.js';

/** Small segments, so that runs cross segment boundaries and exercise rollover and cleanup. */
const SEGMENT_BYTES = 64 * 1024;
const TORN_FATES: readonly UnsyncedWriteFate[] = ['torn', 'garbage', 'reorder'];

export class WalSimDisk implements NodeDisk {
  private fs: SimFs;
  private minMs: number;
  private maxMs: number;
  readonly stats: DiskStats = { syncs: 0, syncFailures: 0, crashes: 0, tornCrashes: 0, lostWrites: 0 };

  constructor(
    private readonly queue: EventQueue,
    private readonly rng: Random,
    latency: readonly [number, number],
    readonly node: string,
  ) {
    [this.minMs, this.maxMs] = latency;
    this.fs = new SimFs({
      random: rng,
      // An fsync takes simulated time: it completes as an event of the queue.
      beforeSync: () =>
        new Promise<void>((resolve) => {
          this.stats.syncs++;
          const ms = this.minMs + this.rng.next() * Math.max(0, this.maxMs - this.minMs);
          this.queue.schedule(ms, 'fsync', resolve);
        }),
    });
  }

  open(): RaftStorage {
    return new WalStorage(`/data/${this.node}`, { fs: this.fs }, { segmentBytes: SEGMENT_BYTES });
  }

  crash(torn: boolean): void {
    this.stats.crashes++;
    const writes = torn ? TORN_FATES[this.rng.int(0, TORN_FATES.length)]! : 'lose';
    if (torn) this.stats.tornCrashes++;
    this.fs = this.fs.crash({ writes, someDirChanges: torn });
  }

  setSyncLatency(minMs: number, maxMs: number): void {
    this.minMs = minMs;
    this.maxMs = maxMs;
  }

  faultsFired(): number {
    return this.fs.faultsFired;
  }

  failNextSync(): void {
    this.stats.syncFailures++;
    this.fs.failNext('sync');
  }
}

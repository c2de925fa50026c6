/**
 * RaftStorage over the segmented WAL (`<dir>/wal`) and snapshot files (`<dir>/snap`).
 * Ordering rules: a snapshot file is durable before the WAL marker that points at it; the marker
 * is durable before older snapshot files and WAL segments are deleted; markers only move forward.
 */
import { posix } from 'node:path';
import type { Logger, SwarmError } from '../../common/index.js';
import {
  CorruptionError,
  InvalidArgumentError,
  isSwarmError,
  noopLogger,
  StoppedError,
} from '../../common/index.js';
import type { Entry, LoadedState, PersistBatch, RaftStorage, Snapshot } from '../types.js';
import type { Cipher } from './cipher.js';
import { io } from './errors.js';
import type { StorageFs } from './fs.js';
import { NodeStorageFs } from './fs.js';
import { SnapshotFiles, snapshotFileName } from './snapshots.js';
import { Wal } from './wal.js';

export const DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024;
export const DEFAULT_RETAIN_SNAPSHOTS = 2;
export const DEFAULT_PREALLOCATE_BYTES = 1024 * 1024;
export const DEFAULT_SNAPSHOT_SYNC_BYTES = 1024 * 1024;

export interface WalStorageOptions {
  /** A segment is closed and a new one started once it reaches this size. @default 64 MiB */
  segmentBytes?: number;
  /** Snapshot files kept, newest first. @default 2 */
  retainSnapshots?: number;
  /**
   * The last segment is zero-filled this far ahead of its tail, so that a save's fdatasync only
   * overwrites blocks the file has (wal.ts). 0 turns it off. @default 1 MiB
   */
  preallocateBytes?: number;
  /**
   * A snapshot file is fdatasynced after every this many bytes, not only once at its end: one
   * flush of a whole large snapshot (tens of MB) held the WAL's fdatasyncs on the same disk for
   * up to 30 ms. 0 syncs only at the end. @default 1 MiB
   */
  snapshotSyncBytes?: number;
}

export interface ResolvedWalStorageOptions {
  segmentBytes: number;
  retainSnapshots: number;
  preallocateBytes: number;
  snapshotSyncBytes: number;
}

export function resolveWalStorageOptions(o: WalStorageOptions = {}): ResolvedWalStorageOptions {
  const segmentBytes = o.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
  const retainSnapshots = o.retainSnapshots ?? DEFAULT_RETAIN_SNAPSHOTS;
  const preallocateBytes = o.preallocateBytes ?? DEFAULT_PREALLOCATE_BYTES;
  const snapshotSyncBytes = o.snapshotSyncBytes ?? DEFAULT_SNAPSHOT_SYNC_BYTES;
  if (!Number.isSafeInteger(segmentBytes) || segmentBytes < 64) {
    throw new InvalidArgumentError(
      'segmentBytes',
      `segmentBytes must be an integer ≥ 64, got ${segmentBytes}`,
    );
  }
  if (!Number.isSafeInteger(retainSnapshots) || retainSnapshots < 1) {
    throw new InvalidArgumentError(
      'retainSnapshots',
      `retainSnapshots must be an integer ≥ 1, got ${retainSnapshots}`,
    );
  }
  if (!Number.isSafeInteger(preallocateBytes) || preallocateBytes < 0) {
    throw new InvalidArgumentError(
      'preallocateBytes',
      `preallocateBytes must be an integer ≥ 0, got ${preallocateBytes}`,
    );
  }
  if (!Number.isSafeInteger(snapshotSyncBytes) || snapshotSyncBytes < 0) {
    throw new InvalidArgumentError(
      'snapshotSyncBytes',
      `snapshotSyncBytes must be an integer ≥ 0, got ${snapshotSyncBytes}`,
    );
  }
  return { segmentBytes, retainSnapshots, preallocateBytes, snapshotSyncBytes };
}

export interface WalStorageDeps {
  /** @default the real file system */
  fs?: StorageFs;
  /** Seals record payloads and snapshot bodies; without it data is stored in plaintext. */
  cipher?: Cipher;
  logger?: Logger;
}

export class WalStorage implements RaftStorage {
  private readonly fs: StorageFs;
  private readonly logger: Logger;
  private readonly options: ResolvedWalStorageOptions;
  private readonly wal: Wal;
  private readonly snapshots: SnapshotFiles;
  /** Snapshot files some WAL marker points at: the only ones retention may keep. */
  private readonly referenced = new Set<string>();
  private queue: Promise<unknown> = Promise.resolve();
  /** Index of the newest snapshot marker in the WAL: an older snapshot never gets one after it. */
  private markedIndex = 0;
  /** Our own snapshot files being written beside the saves; close waits for them. */
  private readonly fileWrites = new Set<Promise<unknown>>();
  private state: 'new' | 'loaded' | 'closed' = 'new';
  private failure: SwarmError | null = null;

  constructor(
    readonly dir: string,
    deps: WalStorageDeps = {},
    options: WalStorageOptions = {},
  ) {
    this.fs = deps.fs ?? new NodeStorageFs();
    this.logger = (deps.logger ?? noopLogger).child({ module: 'raft/storage' });
    this.options = resolveWalStorageOptions(options);
    const walDeps = { fs: this.fs, cipher: deps.cipher, logger: deps.logger };
    this.wal = new Wal(
      posix.join(dir, 'wal'),
      walDeps,
      this.options.segmentBytes,
      this.options.preallocateBytes,
    );
    this.snapshots = new SnapshotFiles(
      this.fs,
      posix.join(dir, 'snap'),
      deps.cipher,
      this.options.snapshotSyncBytes,
    );
  }

  load(): Promise<LoadedState> {
    return this.serial(async () => {
      if (this.state !== 'new') throw new StoppedError('raft storage load (already loaded or closed)');
      try {
        return await this.open();
      } catch (e) {
        // A storage that failed to load is never half-used: the node must not start.
        this.state = 'closed';
        await this.wal.close();
        throw e;
      }
    });
  }

  private async open(): Promise<LoadedState> {
    await io('mkdir', this.dir, () => this.fs.mkdir(this.dir));
    await this.snapshots.init();
    const replay = await this.wal.open();
    // The directories themselves must survive a crash too: a lost vote is a safety bug.
    await io('fsync', this.dir, () => this.fs.syncDir(this.dir));
    const parent = posix.dirname(this.dir);
    await io('fsync', parent, () => this.fs.syncDir(parent));
    for (const m of replay.markers) {
      this.referenced.add(snapshotFileName(m.index, m.term));
      this.markedIndex = Math.max(this.markedIndex, m.index);
    }
    const snapshot = await this.newestReferencedSnapshot();
    const after = snapshot?.meta.index ?? 0;
    const entries = replay.entries.filter((e) => e.index > after);
    if (entries.length > 0 && entries[0]!.index !== after + 1) {
      throw new CorruptionError(
        `WAL in ${this.dir} starts at entry ${entries[0]!.index} but the snapshot ends at ${after}`,
        { details: { path: this.dir } },
      );
    }
    this.state = 'loaded';
    return { hardState: replay.hardState, snapshot, entries };
  }

  async save(batch: PersistBatch): Promise<void> {
    checkEntries(batch.entries);
    return this.serial(async () => {
      this.writable();
      const { snapshot } = batch;
      if (snapshot) await this.snapshots.write(snapshot);
      const marker = snapshot ? { index: snapshot.meta.index, term: snapshot.meta.term } : undefined;
      await this.wal.append({ marker, entries: batch.entries, hardState: batch.hardState });
      if (snapshot) {
        this.markedIndex = Math.max(this.markedIndex, snapshot.meta.index);
        await this.afterSnapshot(snapshot, snapshot.meta.index + 1);
      }
    });
  }

  async saveSnapshot(snapshot: Snapshot, keepFrom: number): Promise<void> {
    if (!Number.isSafeInteger(keepFrom) || keepFrom < 1 || keepFrom > snapshot.meta.index + 1) {
      throw new InvalidArgumentError(
        'keepFrom',
        `keepFrom must be between 1 and snapshot index + 1 (${snapshot.meta.index + 1}), got ${keepFrom}`,
      );
    }
    this.writable();
    // The file is written beside the log's saves, not in their queue. Queued behind it (tens of
    // MB for a large state, written and fdatasynced), every save waited as long as the write
    // took, and since all members snapshot at about the same index, commits stopped cluster-wide.
    // Entries saved meanwhile are all after the snapshot's index: only the marker that points at
    // the file, and the clean-up after it, take their turn with the saves.
    const write = this.snapshots.write(snapshot);
    this.fileWrites.add(write);
    try {
      await write;
    } catch (e) {
      if (isSwarmError(e, 'IO')) this.failure ??= e;
      throw e;
    } finally {
      this.fileWrites.delete(write);
    }
    return this.serial(async () => {
      this.writable();
      // A newer snapshot (a leader's) was saved meanwhile: this file stays unreferenced, and
      // the next snapshot's retention removes it.
      if (snapshot.meta.index <= this.markedIndex) return;
      await this.wal.append({
        marker: { index: snapshot.meta.index, term: snapshot.meta.term },
        entries: [],
      });
      this.markedIndex = snapshot.meta.index;
      await this.afterSnapshot(snapshot, keepFrom);
    });
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.fileWrites);
    return this.serial(async () => {
      this.state = 'closed';
      await this.wal.close();
    });
  }

  /** Runs storage operations one at a time, in call order; a write failure is sticky. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(async () => {
      try {
        return await fn();
      } catch (e) {
        if (isSwarmError(e, 'IO')) this.failure ??= e;
        throw e;
      }
    });
    this.queue = run.catch(() => {});
    return run;
  }

  private writable(): void {
    if (this.failure) throw this.failure;
    if (this.state === 'new') throw new StoppedError('raft storage (load() has not been called)');
    if (this.state === 'closed') throw new StoppedError('raft storage');
  }

  /** Once the marker is durable: drop old snapshot files and the WAL segments below `keepFrom`. */
  private async afterSnapshot(snapshot: Snapshot, keepFrom: number): Promise<void> {
    const name = snapshotFileName(snapshot.meta.index, snapshot.meta.term);
    this.referenced.add(name);
    const keep = new Set([name]);
    for (const f of await this.snapshots.list()) {
      if (keep.size >= this.options.retainSnapshots) break;
      if (this.referenced.has(f.name) && f.index <= snapshot.meta.index) keep.add(f.name);
    }
    await this.snapshots.retainOnly(keep);
    await this.wal.compact(keepFrom);
  }

  private async newestReferencedSnapshot(): Promise<Snapshot | null> {
    for (const file of await this.snapshots.list()) {
      if (!this.referenced.has(file.name)) continue;
      try {
        return await this.snapshots.read(file);
      } catch (e) {
        if (!isSwarmError(e, 'CORRUPTION')) throw e;
        // An older snapshot may still be usable if the WAL reaches back to it.
        this.logger.warn('snapshot file unusable; trying an older one', {
          path: file.name,
          error: e.message,
        });
      }
    }
    return null;
  }
}

function checkEntries(entries: readonly Entry[]): void {
  const first = entries[0];
  if (first !== undefined && (!Number.isSafeInteger(first.index) || first.index < 1)) {
    throw new InvalidArgumentError('entries[0].index', `entry indexes start at 1, got ${first.index}`);
  }
  for (let i = 1; i < entries.length; i++) {
    if (entries[i]!.index !== entries[i - 1]!.index + 1) {
      throw new InvalidArgumentError(
        `entries[${i}].index`,
        `entries must have consecutive indexes: ${entries[i - 1]!.index} is followed by ${entries[i]!.index}`,
      );
    }
  }
}

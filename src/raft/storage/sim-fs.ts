/**
 * A simulated disk for the deterministic simulator and crash tests (raft.md §3.2). Each file has
 * a durable image and a list of unsynced operations; each directory has durable entries and a
 * list of unsynced changes. `crash()` keeps only what was synced, optionally tearing or garbling
 * the unsynced tail. Everything random comes from the injected `Random`, so a seed replays.
 */
import { posix } from 'node:path';
import type { Random } from '../../common/index.js';
import { StorageIoError } from './errors.js';
import type { OpenMode, StorageFile, StorageFs } from './fs.js';
import { GrowableBytes } from './growable-bytes.js';

/** What survives of unsynced file writes on a crash. */
export type UnsyncedWriteFate =
  /** All lost. */
  | 'lose'
  /** A random number of them survive in order, then a random prefix of the next one. */
  | 'torn'
  /** Like 'torn', but the rest of the torn write is random garbage instead of absent. */
  | 'garbage'
  /** Each survives independently (ext4 reordered unsynced appends: etcd #6378). */
  | 'reorder';

export interface CrashOptions {
  /** @default 'lose' */
  writes?: UnsyncedWriteFate;
  /** When true each unsynced directory change survives with probability 1/2. @default false */
  someDirChanges?: boolean;
}

export type FaultOp = 'sync' | 'write';

export interface SimFsOptions {
  random: Random;
  /** Called before each file or directory sync, e.g. to spend simulated disk latency. */
  beforeSync?: (path: string) => Promise<void>;
}

type FileOp = { kind: 'write'; position: number; data: Uint8Array } | { kind: 'truncate'; size: number };
type DirOp =
  | { kind: 'link'; name: string; inode: number }
  | { kind: 'unlink'; name: string }
  | { kind: 'rename'; from: string; to: string };

interface Inode {
  current: GrowableBytes;
  durable: GrowableBytes;
  unsynced: FileOp[];
}

interface Dir {
  current: Map<string, number>;
  durable: Map<string, number>;
  unsynced: DirOp[];
}

interface Fault {
  op: FaultOp;
  match: (path: string) => boolean;
}

/** State shared by every incarnation of the disk: it outlives crashes. */
class Disk {
  readonly inodes = new Map<number, Inode>();
  readonly dirs = new Map<string, Dir>();
  nextInode = 1;
  faults: Fault[] = [];
  /** Injected faults that have fired, over the disk's whole life. */
  faultsFired = 0;
  scheduled: { remaining: number; options: CrashOptions } | null = null;

  constructor(readonly options: SimFsOptions) {}

  crash(options: CrashOptions): void {
    const random = this.options.random;
    for (const dir of this.dirs.values()) {
      const entries = new Map(dir.durable);
      for (const op of dir.unsynced)
        if (options.someDirChanges && random.next() < 0.5) applyDirOp(entries, op);
      dir.current = entries;
      dir.durable = new Map(entries);
      dir.unsynced = [];
    }
    const live = new Set<number>();
    for (const dir of this.dirs.values()) for (const id of dir.current.values()) live.add(id);
    for (const [id, inode] of this.inodes) {
      if (!live.has(id)) {
        this.inodes.delete(id);
        continue;
      }
      const image = inode.durable.clone();
      applySurvivors(image, inode.unsynced, options.writes ?? 'lose', random);
      inode.current = image;
      inode.durable = image.clone();
      inode.unsynced = [];
    }
    this.faults = [];
    this.scheduled = null;
  }
}

function applyDirOp(entries: Map<string, number>, op: DirOp): void {
  if (op.kind === 'link') entries.set(op.name, op.inode);
  else if (op.kind === 'unlink') entries.delete(op.name);
  else {
    const id = entries.get(op.from);
    if (id === undefined) return;
    entries.delete(op.from);
    entries.set(op.to, id);
  }
}

function applyFileOp(bytes: GrowableBytes, op: FileOp): void {
  if (op.kind === 'write') bytes.write(op.position, op.data);
  else bytes.truncate(op.size);
}

function applySurvivors(
  image: GrowableBytes,
  ops: readonly FileOp[],
  fate: UnsyncedWriteFate,
  random: Random,
): void {
  if (fate === 'lose' || ops.length === 0) return;
  if (fate === 'reorder') {
    for (const op of ops) if (random.next() < 0.5) applyFileOp(image, op);
    return;
  }
  const whole = random.int(0, ops.length + 1);
  for (const op of ops.slice(0, whole)) applyFileOp(image, op);
  const torn = ops[whole];
  if (torn?.kind !== 'write') return;
  const keep = random.int(0, torn.data.length);
  const data = torn.data.slice(0, fate === 'garbage' ? torn.data.length : keep);
  if (fate === 'garbage') for (let i = keep; i < data.length; i++) data[i] = random.int(0, 256);
  image.write(torn.position, data);
}

/**
 * One incarnation ("boot") of a simulated disk. After a crash, every call on it rejects, as the
 * process that used it is gone; `crash()` returns the next incarnation over the surviving data.
 */
export class SimFs implements StorageFs {
  private disk: Disk;
  private dead = false;
  private ops = 0;

  constructor(options: SimFsOptions) {
    this.disk = new Disk(options);
  }

  private static boot(disk: Disk): SimFs {
    const fs = new SimFs(disk.options);
    fs.disk = disk;
    return fs;
  }

  /** Whether this incarnation has crashed (now, or by `scheduleCrash`). */
  get crashed(): boolean {
    return this.dead;
  }

  /** Mutating operations (writes, syncs, truncates, creates, renames, unlinks) done so far. */
  get opCount(): number {
    return this.ops;
  }

  /** Crashes now (unless a scheduled crash already happened) and boots the surviving disk. */
  crash(options: CrashOptions = {}): SimFs {
    if (!this.dead) {
      this.dead = true;
      this.disk.crash(options);
    }
    return SimFs.boot(this.disk);
  }

  /** Crashes instead of performing the mutating operation number `afterOps` from now (0-based). */
  scheduleCrash(afterOps: number, options: CrashOptions = {}): void {
    this.disk.scheduled = { remaining: afterOps, options };
  }

  /** How many injected faults have fired on this disk, across crashes. */
  get faultsFired(): number {
    return this.disk.faultsFired;
  }

  /** Makes the next matching sync or write fail with an IO error. */
  failNext(op: FaultOp, match: (path: string) => boolean = () => true): void {
    this.disk.faults.push({ op, match });
  }

  private alive(): void {
    if (this.dead) throw new StorageIoError('simulated disk has crashed');
  }

  /** Counts a mutating operation; crashes instead of it when one is scheduled. */
  private mutate(): void {
    this.alive();
    const s = this.disk.scheduled;
    if (s !== null && s.remaining-- <= 0) {
      this.dead = true;
      this.disk.crash(s.options);
      throw new StorageIoError('simulated disk crashed');
    }
    this.ops++;
  }

  private takeFault(op: FaultOp, path: string): boolean {
    const i = this.disk.faults.findIndex((f) => f.op === op && f.match(path));
    if (i < 0) return false;
    this.disk.faults.splice(i, 1);
    this.disk.faultsFired++;
    return true;
  }

  private dir(path: string): Dir {
    const dir = this.disk.dirs.get(posix.normalize(path));
    if (!dir) throw new StorageIoError(`ENOENT: no such directory ${path}`);
    return dir;
  }

  private lookup(path: string): { dir: Dir; name: string; inode: number | undefined } {
    const dir = this.dir(posix.dirname(path));
    const name = posix.basename(path);
    return { dir, name, inode: dir.current.get(name) };
  }

  private inode(path: string): Inode {
    const { inode } = this.lookup(path);
    const node = inode === undefined ? undefined : this.disk.inodes.get(inode);
    if (!node) throw new StorageIoError(`ENOENT: no such file ${path}`);
    return node;
  }

  async mkdir(dir: string): Promise<void> {
    this.alive();
    // Directories are durable at once: the WAL creates them only at initialisation.
    let path = posix.normalize(dir);
    while (!this.disk.dirs.has(path)) {
      this.disk.dirs.set(path, { current: new Map(), durable: new Map(), unsynced: [] });
      path = posix.dirname(path);
    }
  }

  async readdir(dir: string): Promise<string[]> {
    this.alive();
    const self = posix.normalize(dir);
    const names = [...this.dir(self).current.keys()];
    for (const path of this.disk.dirs.keys()) {
      if (path !== self && posix.dirname(path) === self) names.push(posix.basename(path));
    }
    return names.sort();
  }

  async open(path: string, mode: OpenMode): Promise<StorageFile> {
    if (mode === 'existing') {
      this.alive();
      const { inode } = this.lookup(path);
      this.inode(path);
      return new SimFile(this, path, inode!);
    }
    this.mutate();
    const { dir, name, inode } = this.lookup(path);
    if (inode !== undefined) {
      this.truncateInode(this.disk.inodes.get(inode)!, 0);
      return new SimFile(this, path, inode);
    }
    const id = this.disk.nextInode++;
    this.disk.inodes.set(id, { current: new GrowableBytes(), durable: new GrowableBytes(), unsynced: [] });
    dir.current.set(name, id);
    dir.unsynced.push({ kind: 'link', name, inode: id });
    return new SimFile(this, path, id);
  }

  async readFile(path: string): Promise<Uint8Array> {
    this.alive();
    return this.inode(path).current.view().slice();
  }

  async readRange(path: string, position: number, length: number): Promise<Uint8Array> {
    this.alive();
    return this.inode(path)
      .current.view()
      .slice(position, position + length);
  }

  async size(path: string): Promise<number> {
    this.alive();
    return this.inode(path).current.size;
  }

  async rename(from: string, to: string): Promise<void> {
    this.mutate();
    if (posix.dirname(from) !== posix.dirname(to)) throw new StorageIoError(`EXDEV: rename ${from} to ${to}`);
    const { dir, name, inode } = this.lookup(from);
    if (inode === undefined) throw new StorageIoError(`ENOENT: rename ${from}`);
    const target = posix.basename(to);
    dir.current.delete(name);
    dir.current.set(target, inode);
    dir.unsynced.push({ kind: 'rename', from: name, to: target });
  }

  async unlink(path: string): Promise<void> {
    this.mutate();
    const { dir, name, inode } = this.lookup(path);
    if (inode === undefined) throw new StorageIoError(`ENOENT: unlink ${path}`);
    dir.current.delete(name);
    dir.unsynced.push({ kind: 'unlink', name });
  }

  async syncDir(path: string): Promise<void> {
    this.mutate();
    await this.disk.options.beforeSync?.(path);
    this.alive();
    const dir = this.dir(path);
    if (this.takeFault('sync', path)) {
      dir.unsynced = [];
      throw new StorageIoError(`EIO: fsync ${path}`);
    }
    dir.durable = new Map(dir.current);
    dir.unsynced = [];
  }

  /** @internal */
  writeInode(path: string, id: number, data: Uint8Array, position: number): void {
    this.mutate();
    const node = this.liveInode(path, id);
    if (this.takeFault('write', path)) throw new StorageIoError(`EIO: write ${path}`);
    const copy = data.slice();
    node.current.write(position, copy);
    node.unsynced.push({ kind: 'write', position, data: copy });
  }

  /** @internal */
  truncateInode(node: Inode, size: number): void {
    node.current.truncate(size);
    node.unsynced.push({ kind: 'truncate', size });
  }

  /** @internal */
  async syncInode(path: string, id: number): Promise<void> {
    this.mutate();
    await this.disk.options.beforeSync?.(path);
    this.alive();
    const node = this.liveInode(path, id);
    if (this.takeFault('sync', path)) {
      // Like Linux after a failed fsync: the pages count as clean, but never reached the disk.
      node.unsynced = [];
      throw new StorageIoError(`EIO: fdatasync ${path}`);
    }
    for (const op of node.unsynced) applyFileOp(node.durable, op);
    node.unsynced = [];
  }

  /** @internal */
  liveInode(path: string, id: number): Inode {
    this.alive();
    const node = this.disk.inodes.get(id);
    if (!node) throw new StorageIoError(`EBADF: ${path}`);
    return node;
  }

  /** @internal */
  mutateTruncate(path: string, id: number, size: number): void {
    this.mutate();
    this.truncateInode(this.liveInode(path, id), size);
  }
}

class SimFile implements StorageFile {
  constructor(
    private readonly fs: SimFs,
    readonly path: string,
    private readonly id: number,
  ) {}

  async write(data: Uint8Array, position: number): Promise<void> {
    this.fs.writeInode(this.path, this.id, data, position);
  }

  datasync(): Promise<void> {
    return this.fs.syncInode(this.path, this.id);
  }

  async truncate(size: number): Promise<void> {
    this.fs.mutateTruncate(this.path, this.id, size);
  }

  async close(): Promise<void> {
    // Nothing to release; closing never syncs (as on Linux).
  }
}

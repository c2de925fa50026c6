/**
 * Snapshot files: `<term>-<index>.snap` (16 hex digits each) in their own directory, written as
 * a temp file, fdatasynced, renamed into place and the directory fsynced. Only after that does
 * the WAL record a marker pointing at the file (wal-storage.ts), so a crash in between leaves an
 * unreferenced file, never a marker pointing at nothing.
 *
 * Layout: magic (8) | flags u32 (bit 0: sealed) | reserved u32 | index f64 | term f64 | body |
 * crc32 u32 over everything before it. The body (membership + data) is sealed with the cipher,
 * if any, using the 32 header bytes as additional authenticated data.
 */
import { posix } from 'node:path';
import { crc32 } from 'node:zlib';
import { BinaryReader, BinaryWriter, CorruptionError, FailedPreconditionError } from '../../common/index.js';
import type { ConfState, Snapshot } from '../types.js';
import type { Cipher } from './cipher.js';
import { io } from './errors.js';
import type { StorageFs } from './fs.js';

const MAGIC = Buffer.from('SWSNAP01');
const HEADER_BYTES = 32;
const FLAG_SEALED = 1;
const SNAP_RE = /^([0-9a-f]{16})-([0-9a-f]{16})\.snap$/;
export const TMP_SUFFIX = '.tmp';

export interface SnapshotFile {
  readonly name: string;
  readonly index: number;
  readonly term: number;
}

export function snapshotFileName(index: number, term: number): string {
  return `${hex16(term)}-${hex16(index)}.snap`;
}

export function hex16(n: number): string {
  return n.toString(16).padStart(16, '0');
}

export class SnapshotFiles {
  constructor(
    private readonly fs: StorageFs,
    readonly dir: string,
    private readonly cipher: Cipher | undefined,
    /** fdatasync after every this many bytes (0: only at the end); see WalStorageOptions. */
    private readonly syncBytes = 0,
  ) {}

  /** Creates the directory and removes temp files of writes that a crash interrupted. */
  async init(): Promise<void> {
    await io('mkdir', this.dir, () => this.fs.mkdir(this.dir));
    const names = await io('readdir', this.dir, () => this.fs.readdir(this.dir));
    const stale = names.filter((n) => n.endsWith(TMP_SUFFIX));
    for (const name of stale) await io('unlink', name, () => this.fs.unlink(this.path(name)));
    if (stale.length > 0) await io('fsync', this.dir, () => this.fs.syncDir(this.dir));
  }

  /** Snapshot files on disk, newest first. */
  async list(): Promise<SnapshotFile[]> {
    const names = await io('readdir', this.dir, () => this.fs.readdir(this.dir));
    const files: SnapshotFile[] = [];
    for (const name of names) {
      const m = SNAP_RE.exec(name);
      if (m) files.push({ name, term: Number.parseInt(m[1]!, 16), index: Number.parseInt(m[2]!, 16) });
    }
    return files.sort((a, b) => b.index - a.index || b.term - a.term);
  }

  async write(snapshot: Snapshot): Promise<SnapshotFile> {
    const { index, term } = snapshot.meta;
    const name = snapshotFileName(index, term);
    const tmp = this.path(name + TMP_SUFFIX);
    const file = await io('create', tmp, () => this.fs.open(tmp, 'create'));
    try {
      // Written, checksummed and synced a part at a time: the checksum of a whole large state
      // held the event loop for ~8 ms, and one flush of all of it held the WAL's fdatasyncs.
      let at = 0;
      let synced = 0;
      let crc = 0;
      const put = async (part: Uint8Array): Promise<void> => {
        await io('write', tmp, () => file.write(part, at));
        at += part.length;
        if (this.syncBytes > 0 && at - synced >= this.syncBytes) {
          await io('fdatasync', tmp, () => file.datasync());
          synced = at;
        }
      };
      for (const piece of this.encode(snapshot)) {
        for (let from = 0; from < piece.length; ) {
          const room = this.syncBytes > 0 ? synced + this.syncBytes - at : piece.length - from;
          const part = piece.subarray(from, from + room);
          crc = crc32(part, crc);
          await put(part);
          from += part.length;
        }
      }
      const trailer = Buffer.alloc(4);
      trailer.writeUInt32LE(crc, 0);
      await put(trailer);
      if (at > synced) await io('fdatasync', tmp, () => file.datasync());
    } finally {
      await file.close().catch(() => {});
    }
    await io('rename', tmp, () => this.fs.rename(tmp, this.path(name)));
    await io('fsync', this.dir, () => this.fs.syncDir(this.dir));
    return { name, index, term };
  }

  /** Reads and verifies one file; a CorruptionError names the file. */
  async read(file: SnapshotFile): Promise<Snapshot> {
    const path = this.path(file.name);
    const buf = Buffer.from(await io('read', path, () => this.fs.readFile(path)));
    const fail = (why: string, cause?: unknown): CorruptionError =>
      new CorruptionError(`snapshot ${path}: ${why}`, { cause, details: { path } });
    if (buf.length < HEADER_BYTES + 4 || !buf.subarray(0, 8).equals(MAGIC)) throw fail('not a snapshot file');
    const end = buf.length - 4;
    if (crc32(buf.subarray(0, end)) !== buf.readUInt32LE(end)) throw fail('checksum mismatch');
    const header = buf.subarray(0, HEADER_BYTES);
    const sealed = (header.readUInt32LE(8) & FLAG_SEALED) !== 0;
    const index = header.readDoubleLE(16);
    const term = header.readDoubleLE(24);
    if (index !== file.index || term !== file.term) throw fail(`header says index ${index} term ${term}`);
    let body: Uint8Array = buf.subarray(HEADER_BYTES, end);
    if (sealed) {
      if (!this.cipher)
        throw new FailedPreconditionError(`snapshot ${path} is encrypted and no key is configured`);
      try {
        body = this.cipher.decrypt(body, header);
      } catch (e) {
        throw fail('cannot be decrypted', e);
      }
    }
    try {
      const r = new BinaryReader(body);
      const conf: ConfState = { voters: readStrings(r), learners: readStrings(r) };
      return { meta: { index, term, conf }, data: Uint8Array.from(r.bytes()) };
    } catch (e) {
      throw fail('malformed body', e);
    }
  }

  /** Deletes every snapshot file except `keep`, then fsyncs the directory. */
  async retainOnly(keep: ReadonlySet<string>): Promise<void> {
    const doomed = (await this.list()).filter((f) => !keep.has(f.name));
    for (const f of doomed) await io('unlink', f.name, () => this.fs.unlink(this.path(f.name)));
    if (doomed.length > 0) await io('fsync', this.dir, () => this.fs.syncDir(this.dir));
  }

  /**
   * The file's bytes before its checksum, in consecutive pieces. Unsealed, the state machine's
   * data is written as it is, not copied into one buffer: for a large state (tens of MB) the
   * copies and their zero-fill held every member's event loop for ~40 ms at each snapshot.
   */
  private encode(snapshot: Snapshot): Uint8Array[] {
    const header = Buffer.alloc(HEADER_BYTES);
    MAGIC.copy(header, 0);
    header.writeUInt32LE(this.cipher ? FLAG_SEALED : 0, 8);
    header.writeDoubleLE(snapshot.meta.index, 16);
    header.writeDoubleLE(snapshot.meta.term, 24);
    const w = new BinaryWriter(64);
    writeStrings(w, snapshot.meta.conf.voters);
    writeStrings(w, snapshot.meta.conf.learners);
    if (this.cipher) return [header, this.cipher.encrypt(w.bytes(snapshot.data).finish(), header)];
    // The same bytes as `bytes(data)` writes (its length, then the data), in two pieces.
    return [Buffer.concat([header, w.uint(snapshot.data.length).finish()]), snapshot.data];
  }

  private path(name: string): string {
    return posix.join(this.dir, name);
  }
}

function writeStrings(w: BinaryWriter, values: readonly string[]): void {
  w.uint(values.length);
  for (const v of values) w.string(v);
}

function readStrings(r: BinaryReader): string[] {
  const n = r.uint();
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(r.string());
  return out;
}

/**
 * Rebuilds the log from WAL records in write order. Later records win: an entry at or below
 * the last one replaces the stored suffix from its index (a follower truncating a conflicting
 * tail), and a snapshot marker that the log does not match discards the log (paper §7).
 */
import { CorruptionError } from '../../common/index.js';
import type { Entry, HardState } from '../types.js';
import { EMPTY_HARD_STATE } from '../types.js';
import type { SnapshotMarker } from './payloads.js';

export class LogReplay {
  hardState: HardState = EMPTY_HARD_STATE;
  readonly markers: SnapshotMarker[] = [];
  /** Contiguous; may start at or below the snapshot index (the tail kept for slow followers). */
  entries: Entry[] = [];

  get lastIndex(): number {
    return this.entries.at(-1)?.index ?? 0;
  }

  /** `where` names the file and offset for the error if the entry leaves a gap. */
  entry(e: Entry, where: string): void {
    const first = this.entries[0]?.index;
    if (first === undefined || e.index < first) {
      this.entries = [e];
      return;
    }
    const last = this.lastIndex;
    if (e.index <= last) {
      this.entries.length = e.index - first;
    } else if (e.index > last + 1) {
      const marker = this.markers.at(-1);
      if (marker === undefined || marker.index < e.index - 1) {
        throw new CorruptionError(`${where}: entry ${e.index} follows entry ${last}: the log has a gap`);
      }
      this.entries = [];
    }
    this.entries.push(e);
  }

  marker(m: SnapshotMarker): void {
    this.markers.push(m);
    const first = this.entries[0]?.index;
    if (first === undefined || m.index < first) return;
    const at = this.entries[m.index - first];
    if (at === undefined || at.term !== m.term) this.entries = [];
  }
}

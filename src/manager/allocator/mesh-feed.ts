import { isObjectEvent, type MeshState } from '../../api/index.js';
import {
  type Clock,
  type Component,
  DisposableStore,
  Emitter,
  type Event,
  type Logger,
} from '../../common/index.js';
import { jsonEqual } from '../orchestrator/index.js';
import type { MemoryStore } from '../store/index.js';
import { computeMeshState, isBackend } from './mesh-state.js';

/** What the dispatcher's sessions read: the leader's current MeshState and its changes. */
export interface MeshSource {
  /** Up to date with every committed change (recomputed now if needed); undefined while not leading. */
  current(): MeshState | undefined;
  readonly onDidChange: Event<MeshState>;
}

export interface MeshFeedDeps {
  readonly store: MemoryStore;
  readonly clock: Clock;
  readonly logger: Logger;
}

/** Quiet time after a commit before a new state is pushed; removals skip it. */
export const MESH_DEBOUNCE_MS = 50;

const sameContent = (a: MeshState, b: MeshState): boolean =>
  jsonEqual({ ...a, revision: 0 }, { ...b, revision: 0 });

/**
 * Leader-only: recomputes the MeshState after changes (debounced) and announces it. A task that
 * leaves the backends makes the push immediate, so every session is told before anything else
 * happens to that task. The revision is the store version the state was computed at: it only
 * grows, on this leader and the next.
 */
export class MeshFeed implements Component, MeshSource {
  readonly name = 'mesh-feed';
  private readonly emitter = new Emitter<MeshState>();
  readonly onDidChange = this.emitter.event;
  private last: MeshState | undefined;
  private dirty = false;
  private active = false;

  constructor(private readonly deps: MeshFeedDeps) {}

  current(): MeshState | undefined {
    if (!this.active) return undefined;
    this.flush();
    return this.last;
  }

  private flush(): void {
    if (!this.dirty && this.last) return;
    this.dirty = false;
    const next = this.deps.store.view((tx) => computeMeshState(tx, this.deps.store.version));
    if (this.last && sameContent(this.last, next)) return;
    this.last = next;
    this.emitter.fire(next);
  }

  async run(signal: AbortSignal): Promise<void> {
    const disposables = new DisposableStore();
    const { watch } = this.deps.store.viewAndWatch(
      () => {
        this.active = true;
        this.dirty = true;
      },
      { kinds: ['network', 'node', 'service', 'task'] },
      signal,
    );
    disposables.add(watch);
    let cancelTimer: (() => void) | undefined;
    disposables.defer(() => cancelTimer?.());
    let urgent = false;
    try {
      this.flush();
      for await (const e of watch) {
        if (isObjectEvent(e)) {
          this.dirty = true;
          if (e.kind === 'task' && e.old && isBackend(e.old) && !(e.new && isBackend(e.new))) urgent = true;
          continue;
        }
        if (urgent) {
          urgent = false;
          cancelTimer?.();
          cancelTimer = undefined;
          this.flush();
        } else if (!cancelTimer) {
          cancelTimer = this.deps.clock.setTimer(MESH_DEBOUNCE_MS, () => {
            cancelTimer = undefined;
            this.flush();
          });
        }
      }
    } finally {
      this.active = false;
      this.last = undefined;
      disposables.dispose();
    }
  }
}

import { isObjectEvent, type RandomBytes } from '../../api/index.js';
import {
  type Clock,
  type Component,
  DisposableStore,
  errorMessage,
  type Logger,
} from '../../common/index.js';
import type { MemoryStore } from '../store/index.js';
import { allocatePass } from './allocate-pass.js';
import { AllocatorState } from './allocator-state.js';

export interface AllocatorDeps {
  readonly store: MemoryStore;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly randomBytes: RandomBytes;
}

const RESYNC_DELAY_MS = 100;

/** Task, service and node writes per allocation transaction. */
const MAX_CHANGES_PER_PASS = 200;

/**
 * Leader-only: gives networks, services and tasks their addresses (docs/allocator.md). Its
 * bitmaps are rebuilt from the store whenever it starts and after any failed write; it watches
 * the store and runs one allocation pass per burst of commits, one pass at a time.
 */
export class Allocator implements Component {
  readonly name = 'allocator';
  private readonly log: Logger;

  constructor(private readonly deps: AllocatorDeps) {
    this.log = deps.logger.child({ module: 'allocator' });
  }

  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      const failed = await this.round(signal).then(
        () => false,
        (e: unknown) => {
          if (!signal.aborted)
            this.log.warn('allocation failed; resyncing from the store', { error: errorMessage(e) });
          return true;
        },
      );
      // A conflict is normal (another writer won): resync soon, but never spin.
      if (failed) await pause(this.deps.clock, RESYNC_DELAY_MS, signal);
    }
  }

  /** One rebuild-and-watch cycle; returns (for a resync) when a pass fails or the watch closes. */
  private async round(outer: AbortSignal): Promise<void> {
    const disposables = new DisposableStore();
    const stop = new AbortController();
    const onAbort = (): void => stop.abort();
    outer.addEventListener('abort', onAbort, { once: true });
    disposables.defer(() => outer.removeEventListener('abort', onAbort));
    const state = new AllocatorState(this.log);
    const { watch } = this.deps.store.viewAndWatch(
      (tx) => state.rebuild(tx),
      { kinds: ['cluster', 'network', 'service', 'task', 'node'] },
      stop.signal,
    );
    disposables.add(watch);
    let running: Promise<void> | undefined;
    let again = false;
    let failure: unknown;
    const kick = (): void => {
      if (running) {
        again = true;
        return;
      }
      // The flag is cleared in the same synchronous step as the last check of `again`: a kick
      // arriving while the last pass is committing is never lost.
      running = (async () => {
        try {
          do {
            again = false;
            const r = await this.deps.store.update(
              (tx) =>
                allocatePass(tx, {
                  state,
                  randomBytes: this.deps.randomBytes,
                  now: this.deps.clock.now(),
                  maxChanges: MAX_CHANGES_PER_PASS,
                }),
              { signal: stop.signal },
            );
            if (r.more) again = true;
          } while (again && !stop.signal.aborted);
        } catch (e) {
          failure = e;
          stop.abort();
        } finally {
          running = undefined;
        }
      })();
    };
    try {
      kick();
      for await (const e of watch) {
        if (isObjectEvent(e)) state.observe(e);
        else kick();
      }
    } finally {
      stop.abort();
      await running;
      disposables.dispose();
    }
    if (failure !== undefined) throw failure;
  }
}

function pause(clock: Clock, ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const cancel = clock.setTimer(ms, done);
    signal.addEventListener('abort', done, { once: true });
    function done(): void {
      cancel();
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}

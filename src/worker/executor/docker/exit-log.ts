import type { TaskId } from '../../../api/index.js';
import type { Disposable, Event } from '../../../common/index.js';
import type { ContainerEvent, ContainerState, ManagedContainer } from '../executor.js';

const UP: readonly ContainerState[] = ['running', 'paused', 'restarting'];
/** Exits remembered; a handover asks about tasks that stopped a moment ago. */
const REMEMBERED = 1024;

/**
 * Which tasks' containers have stopped on this engine, from the engine's own events: the
 * stop-first handover (Task.startAfter) starts a prepared replacement the moment its
 * predecessor's stop call finished, without the round trip through the manager. Not at `die`:
 * the engine still lists the container as running while it tears its network down (0.1–0.6 s
 * here), and `docker ps` would show two containers of the slot running. A container that exits
 * by itself (no `stop`) is left to the manager's promotion.
 */
export class ExitLog implements Disposable {
  private readonly exited = new Set<TaskId>();
  private readonly listeners = new Set<() => void>();
  private resyncs = 0;
  private readonly sub: Disposable;

  constructor(
    events: Event<ContainerEvent>,
    private readonly list: (signal: AbortSignal) => Promise<readonly ManagedContainer[]>,
  ) {
    this.sub = events((e) => {
      if (e.kind === 'resync') this.resyncs++;
      else if (e.kind === 'stop' || e.kind === 'destroy') this.record(e.taskId);
      else return;
      for (const l of [...this.listeners]) l();
    });
  }

  /**
   * True once every task of `taskIds` has had its container exit on this engine; false at once
   * when one of them has no container here (it ran elsewhere, or is gone, which cannot be told
   * apart), or when `signal` aborts.
   */
  async waitExited(taskIds: readonly TaskId[], signal: AbortSignal): Promise<boolean> {
    const waiting = new Set(taskIds.filter((id) => !this.exited.has(id)));
    let wake: (() => void) | undefined;
    const listener = (): void => wake?.();
    this.listeners.add(listener);
    signal.addEventListener('abort', listener, { once: true });
    try {
      let listedAt = -1;
      while (!signal.aborted) {
        for (const id of [...waiting]) if (this.exited.has(id)) waiting.delete(id);
        if (waiting.size === 0) return true;
        if (listedAt !== this.resyncs) {
          // Events may have been lost before this stream (re)connected: ask the engine.
          listedAt = this.resyncs;
          const present = new Map<TaskId, ContainerState>();
          for (const c of await this.list(signal)) present.set(c.taskId, c.state);
          for (const id of [...waiting]) {
            const state = present.get(id);
            if (state === undefined && !this.exited.has(id)) return false;
            if (state !== undefined && !UP.includes(state)) waiting.delete(id);
          }
          continue;
        }
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
        wake = undefined;
      }
      return false;
    } finally {
      this.listeners.delete(listener);
      signal.removeEventListener('abort', listener);
    }
  }

  dispose(): void {
    this.sub.dispose();
    this.listeners.clear();
  }

  private record(id: TaskId): void {
    this.exited.delete(id);
    this.exited.add(id);
    if (this.exited.size > REMEMBERED) this.exited.delete(this.exited.values().next().value as TaskId);
  }
}

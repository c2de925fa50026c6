import { type CaState, completeCaRotation, type RandomBytes } from '../../ca/index.js';
import { type Clock, type Component, errorMessage, type Logger } from '../../common/index.js';
import { by, type MemoryStore } from '../store/index.js';
import type { StoreCaState } from './store-ca-state.js';

export interface RootRotationReconcilerDeps {
  store: MemoryStore;
  caState: StoreCaState;
  clock: Clock;
  randomBytes: RandomBytes;
  logger: Logger;
  /** @default 1000 */
  intervalMs?: number;
}

/** Nodes of the store that do not yet hold a certificate signed with the rotation's new key. */
export function nodesAwaitingRotation(state: CaState, nodeIds: readonly string[]): string[] {
  const done = new Set(state.rotatedNodeIds ?? []);
  return nodeIds.filter((id) => !done.has(id) && !state.removedNodeIds.includes(id));
}

/**
 * Leader-only: completes a root rotation once every node of the store holds a certificate issued
 * under the new root (the CA records each one as it signs). Completion makes the new root the only
 * root and regenerates the join tokens. Nodes are told to renew by their status poll, not by us.
 */
export class RootRotationReconciler implements Component {
  readonly name = 'ca/root-rotation-reconciler';

  constructor(private readonly deps: RootRotationReconcilerDeps) {}

  async run(signal: AbortSignal): Promise<void> {
    const log = this.deps.logger.child({ module: 'ca/rotation' });
    const interval = this.deps.intervalMs ?? 1000;
    while (!signal.aborted) {
      try {
        await this.reconcile(log);
      } catch (e) {
        // Lost leadership or a write conflict: the next round sees the committed state.
        log.warn('root rotation check failed', { error: errorMessage(e) });
      }
      await new Promise<void>((resolve) => {
        const cancel = this.deps.clock.setTimer(interval, done);
        function done(): void {
          cancel();
          signal.removeEventListener('abort', done);
          resolve();
        }
        signal.addEventListener('abort', done, { once: true });
      });
    }
  }

  /** One pass; exported behaviour for the run loop. Returns whether a rotation was completed. */
  async reconcile(log: Logger = this.deps.logger): Promise<boolean> {
    const state = await this.deps.caState.load();
    const rotation = state?.roots.rotation;
    if (!state || !rotation) return false;
    const nodeIds = this.deps.store.view((tx) => tx.find('node', by.all()).map((n) => n.id));
    const waiting = nodesAwaitingRotation(state, nodeIds);
    if (waiting.length > 0) return false;
    const target = rotation.newRoot.certPem;
    let completed = false;
    await this.deps.caState.update((c) => {
      // Only the rotation we checked: a restarted one starts its count again.
      if (c.roots.rotation?.newRoot.certPem !== target) return c;
      if (nodesAwaitingRotation(c, nodeIds).length > 0) return c;
      completed = true;
      return completeCaRotation(c, this.deps.randomBytes);
    });
    if (completed) log.info('root rotation completed', { nodes: nodeIds.length });
    return completed;
  }
}

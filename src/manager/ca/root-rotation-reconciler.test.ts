import { describe, expect, it } from 'vitest';
import { type ClusterId, DEFAULT_CLUSTER_SPEC, type NodeId } from '../../api/index.js';
import { beginCaRotation, initialCaState, markNodeRotated } from '../../ca/index.js';
import { createLogger, ManualClock } from '../../common/index.js';
import { idSource, localStore } from '../store/test-fixtures.js';
import { nodesAwaitingRotation, RootRotationReconciler } from './root-rotation-reconciler.js';
import { publicCaFields, StoreCaState } from './store-ca-state.js';

const clock = new ManualClock(Date.UTC(2030, 3, 1));
const logger = createLogger(() => {}, { level: 'error' });
const nextId = idSource(3);
const clusterId = nextId<NodeId>() as string as ClusterId;
const [nodeA, nodeB] = [nextId<NodeId>(), nextId<NodeId>()];

async function cluster() {
  const store = localStore(clock);
  const ca = await initialCaState({ clock }, { clusterId });
  await store.update((tx) => {
    tx.create('cluster', { id: clusterId, spec: DEFAULT_CLUSTER_SPEC, status: {}, ...publicCaFields(ca) });
    for (const id of [nodeA, nodeB])
      tx.create('node', {
        id,
        spec: { desiredRole: 'worker', availability: 'active' },
        role: 'worker',
        status: { state: 'ready' },
      });
  });
  const caState = new StoreCaState(store);
  const reconciler = new RootRotationReconciler({
    store,
    caState,
    clock,
    randomBytes: (n) => new Uint8Array(n).fill(7),
    logger,
  });
  return { store, caState, reconciler };
}

describe('RootRotationReconciler', () => {
  it('completes a rotation only once every node renewed under the new root, changing the tokens', async () => {
    const { caState, reconciler } = await cluster();
    expect(await reconciler.reconcile()).toBe(false);
    const started = await caState.update((c) => beginCaRotation(c, { clock }));
    const newRoot = started.roots.rotation!.newRoot.certPem;
    expect(nodesAwaitingRotation(started, [nodeA, nodeB])).toEqual([nodeA, nodeB]);
    await caState.update((c) => markNodeRotated(c, nodeA, newRoot));
    expect(await reconciler.reconcile()).toBe(false);
    expect((await caState.load())!.roots.rotation).toBeDefined();
    await caState.update((c) => markNodeRotated(c, nodeB, newRoot));
    expect(await reconciler.reconcile()).toBe(true);
    const done = (await caState.load())!;
    expect(done.roots.rotation).toBeUndefined();
    expect(done.roots.current.certPem).toBe(newRoot);
    expect(done.joinTokens.worker).not.toBe(started.joinTokens.worker);
    expect(done.joinTokens.manager).not.toBe(started.joinTokens.manager);
  });

  it('does not count removed nodes', async () => {
    const { caState, reconciler } = await cluster();
    const started = await caState.update((c) => beginCaRotation(c, { clock }));
    const newRoot = started.roots.rotation!.newRoot.certPem;
    await caState.update((c) => ({ ...markNodeRotated(c, nodeA, newRoot), removedNodeIds: [nodeB] }));
    expect(await reconciler.reconcile()).toBe(true);
  });
});

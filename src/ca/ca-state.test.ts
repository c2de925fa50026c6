import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InvalidArgumentError, ManualClock, nextEvent } from '../common/index.js';
import {
  beginCaRotation,
  type CaState,
  completeCaRotation,
  initialCaState,
  isNodeRemoved,
  markNodeRemoved,
  markNodeRotated,
  rotateClusterUnlockKey,
  rotateJoinToken,
  setAutolock,
  setCertExpiry,
} from './ca-state.js';
import { FileCaStateStore } from './file-ca-state-store.js';
import { parseJoinToken, roleForJoinToken, rootCaDigest, verifyRootAgainstToken } from './join-token.js';
import { generateDek } from './key-store.js';
import { servedRootPem } from './rotation.js';
import { parseUnlockKey } from './unlock-key.js';

const clock = new ManualClock(Date.UTC(2030, 3, 1));
let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ca-state-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('CA state operations', () => {
  it('initialise a cluster CA: root, tokens pinning it, 90-day expiry', async () => {
    const s = await initialCaState({ clock }, { clusterId: 'cluster1' });
    expect(s.version).toBe(1);
    expect(s.certExpiryMs).toBe(90 * 24 * 3_600_000);
    expect(s.autolock).toBeUndefined();
    expect(() => verifyRootAgainstToken(s.roots.current.certPem, s.joinTokens.worker)).not.toThrow();
    expect(() => verifyRootAgainstToken(s.roots.current.certPem, s.joinTokens.manager)).not.toThrow();
    expect(roleForJoinToken(s.joinTokens, s.joinTokens.manager)).toBe('manager');
  });

  it('validate inputs, naming the field', async () => {
    await expect(initialCaState({ clock }, { clusterId: 'bad id' })).rejects.toMatchObject({
      field: 'clusterId',
    });
    await expect(
      initialCaState({ clock }, { clusterId: 'c', certExpiryMs: 1_800_000 }),
    ).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      field: 'certExpiry',
    });
    const s = await initialCaState({ clock }, { clusterId: 'c' });
    expect(() => setCertExpiry(s, 59 * 60_000, 'cert-expiry')).toThrow(
      expect.objectContaining({ field: 'cert-expiry' }),
    );
    expect(setCertExpiry(s, 2 * 3_600_000).certExpiryMs).toBe(2 * 3_600_000);
  });

  it('rotate one join token at a time, keeping the digest', async () => {
    const s = await initialCaState({ clock }, { clusterId: 'c' });
    const r = rotateJoinToken(s, 'worker');
    expect(r.joinTokens.manager).toBe(s.joinTokens.manager);
    expect(r.joinTokens.worker).not.toBe(s.joinTokens.worker);
    expect(parseJoinToken(r.joinTokens.worker).rootDigest).toBe(rootCaDigest(s.roots.current.certPem));
    expect(() => roleForJoinToken(r.joinTokens, s.joinTokens.worker)).toThrow(
      expect.objectContaining({ code: 'UNAUTHENTICATED' }),
    );
  });

  it('track removed nodes once each', async () => {
    let s = await initialCaState({ clock }, { clusterId: 'c' });
    s = markNodeRemoved(markNodeRemoved(markNodeRemoved(s, 'n2'), 'n1'), 'n2');
    expect(s.removedNodeIds).toEqual(['n1', 'n2']);
    expect(isNodeRemoved(s, 'n1')).toBe(true);
    expect(isNodeRemoved(s, 'n3')).toBe(false);
  });

  it('change both join tokens when a root rotation completes, not before', async () => {
    const s = await initialCaState({ clock }, { clusterId: 'c' });
    const during = await beginCaRotation(s, { clock });
    expect(during.joinTokens).toEqual(s.joinTokens);
    expect(servedRootPem(during.roots)).toBe(s.roots.current.certPem);
    const after = completeCaRotation(during);
    expect(after.roots.current).toEqual(during.roots.rotation!.newRoot);
    for (const role of ['worker', 'manager'] as const) {
      expect(() => verifyRootAgainstToken(after.roots.current.certPem, after.joinTokens[role])).not.toThrow();
      expect(() => verifyRootAgainstToken(after.roots.current.certPem, s.joinTokens[role])).toThrow(
        expect.objectContaining({ name: 'RootCaMismatchError' }),
      );
      expect(() => roleForJoinToken(after.joinTokens, s.joinTokens[role])).toThrow(
        expect.objectContaining({ code: 'UNAUTHENTICATED' }),
      );
    }
  });

  it('turn autolock on with a parsable unlock key, rotate it with a new version, and turn it off', async () => {
    const s = await initialCaState({ clock }, { clusterId: 'c', autolock: true });
    expect(s.autolock?.kekVersion).toBe(1);
    expect(parseUnlockKey(s.autolock!.unlockKey)).toHaveLength(32);
    expect(setAutolock(s, true)).toBe(s);
    const r = rotateClusterUnlockKey(s);
    expect(r.autolock?.kekVersion).toBe(2);
    expect(r.autolock?.unlockKey).not.toBe(s.autolock?.unlockKey);
    expect(setAutolock(r, false).autolock).toBeUndefined();
  });
});

describe('FileCaStateStore', () => {
  async function fresh(): Promise<{ store: FileCaStateStore; state: CaState; dataKey: Uint8Array }> {
    const dataKey = generateDek();
    const store = new FileCaStateStore(join(dir, 'ca-state.json'), { dataKey });
    const state = await store.create(await initialCaState({ clock }, { clusterId: 'cluster1' }));
    return { store, state, dataKey };
  }

  it('stores the state sealed in a 0600 file: no root key or token in clear', async () => {
    const { store, state } = await fresh();
    expect(statSync(store.path).mode & 0o777).toBe(0o600);
    const raw = readFileSync(store.path, 'utf8');
    expect(raw).not.toContain(state.roots.current.keyPem.split('\n')[1]!);
    expect(raw).not.toContain(state.joinTokens.worker.split('-')[3]!);
    expect(raw).not.toContain('cluster1');
    expect(await store.load()).toEqual(state);
  });

  it('updates atomically with a version bump and announces each change', async () => {
    const { store, state } = await fresh();
    const changed = nextEvent(store.onDidChange);
    const next = await store.update((s) => markNodeRemoved(s, 'gone'));
    expect(next.version).toBe(state.version + 1);
    expect(await changed).toEqual(next);
    expect((await store.load())?.removedNodeIds).toEqual(['gone']);
  });

  it('serialises concurrent updates so none is lost', async () => {
    const { store } = await fresh();
    const ids = Array.from({ length: 12 }, (_, i) => `node${String(i).padStart(2, '0')}`);
    await Promise.all(ids.map((id) => store.update((s) => markNodeRemoved(s, id))));
    const s = await store.load();
    expect(s?.removedNodeIds).toEqual(ids);
    expect(s?.version).toBe(13);
  });

  it('refuses a second create, an update before create, and a foreign data key', async () => {
    const { store, state, dataKey } = await fresh();
    await expect(store.create(state)).rejects.toMatchObject({ code: 'ALREADY_EXISTS' });
    const empty = new FileCaStateStore(join(dir, 'other.json'), { dataKey });
    expect(await empty.load()).toBeUndefined();
    await expect(empty.update((s) => s)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    const stranger = new FileCaStateStore(store.path, { dataKey: generateDek() });
    await expect(stranger.load()).rejects.toMatchObject({ code: 'CORRUPTION' });
    expect(() => new FileCaStateStore(store.path, { dataKey: new Uint8Array(8) })).toThrow(
      expect.objectContaining({ field: 'dataKey' }),
    );
  });

  it('keeps the last good state when an update fails', async () => {
    const { store, state } = await fresh();
    await expect(
      store.update(() => {
        throw new Error('mutator failed');
      }),
    ).rejects.toThrow('mutator failed');
    expect(await store.load()).toEqual(state);
    expect((await store.update((s) => s)).version).toBe(state.version + 1);
  });
});

describe('root rotation progress', () => {
  it('records nodes renewed under the running rotation only, and forgets them on completion', async () => {
    const s0 = await initialCaState({ clock }, { clusterId: 'cluster1' });
    const s1 = await beginCaRotation(s0, { clock });
    expect(s1.rotatedNodeIds).toEqual([]);
    const newRoot = s1.roots.rotation!.newRoot.certPem;
    const s2 = markNodeRotated(markNodeRotated(s1, 'nodeb', newRoot), 'nodea', newRoot);
    expect(s2.rotatedNodeIds).toEqual(['nodea', 'nodeb']);
    expect(markNodeRotated(s2, 'nodea', newRoot)).toBe(s2);
    // Signed under another root (a rotation since replaced): not progress of this one.
    expect(markNodeRotated(s2, 'nodec', s0.roots.current.certPem)).toBe(s2);
    const restarted = await beginCaRotation(s2, { clock });
    expect(restarted.rotatedNodeIds).toEqual([]);
    const done = completeCaRotation(s2);
    expect(done.rotatedNodeIds).toBeUndefined();
    expect(markNodeRotated(done, 'nodec', newRoot)).toBe(done);
  });

  it('accepts a certificate life below one hour only under the testing limit', async () => {
    const s = await initialCaState({ clock }, { clusterId: 'cluster1' });
    expect(() => setCertExpiry(s, 20_000)).toThrow(InvalidArgumentError);
    expect(setCertExpiry(s, 20_000, 'cert-expiry', { minCertExpiryMs: 5_000 }).certExpiryMs).toBe(20_000);
    await expect(initialCaState({ clock }, { clusterId: 'cluster1', certExpiryMs: 20_000 })).rejects.toThrow(
      InvalidArgumentError,
    );
    const short = await initialCaState(
      { clock },
      { clusterId: 'cluster1', certExpiryMs: 20_000, limits: { minCertExpiryMs: 5_000 } },
    );
    expect(short.certExpiryMs).toBe(20_000);
  });
});

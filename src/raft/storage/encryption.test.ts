import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isSwarmError } from '../../common/index.js';
import type { Cipher, CipherKey } from './cipher.js';
import { AesGcmCipher } from './cipher.js';
import type { TempDir } from './test-support.js';
import { entry, labels, snapshot, tempDir } from './test-support.js';
import { WalStorage } from './wal-storage.js';

const SECRET = 'TOP-SECRET-7f3a9c-do-not-leak';
const K1: CipherKey = { id: 'k1', key: new Uint8Array(32).fill(1) };
const K2: CipherKey = { id: 'k2', key: new Uint8Array(32).fill(2) };

let tmp: TempDir;
beforeEach(async () => {
  tmp = await tempDir();
});
afterEach(async () => {
  await tmp.remove();
});

async function rawFiles(): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (const sub of ['wal', 'snap']) {
    for (const name of await readdir(join(tmp.path, sub)))
      parts.push(await readFile(join(tmp.path, sub, name)));
  }
  return Buffer.concat(parts);
}

async function writeSecrets(cipher?: Cipher): Promise<void> {
  const storage = new WalStorage(tmp.path, { cipher });
  await storage.load();
  const secret = new TextEncoder().encode(SECRET);
  await storage.save({
    entries: [entry(1, 1, secret), entry(2, 1)],
    hardState: { term: 1, vote: 'n1', commit: 2 },
  });
  await storage.saveSnapshot(snapshot(2, 1, secret), 1);
  await storage.close();
}

async function load(cipher?: Cipher): Promise<ReturnType<WalStorage['load']>> {
  const storage = new WalStorage(tmp.path, { cipher });
  try {
    return await storage.load();
  } finally {
    await storage.close();
  }
}

async function loadError(cipher?: Cipher): Promise<unknown> {
  return load(cipher).then(
    () => new Error('expected load to fail'),
    (e: unknown) => e,
  );
}

describe('WalStorage encryption at rest', () => {
  it('stores entries and snapshots in plaintext without a key', async () => {
    await writeSecrets();
    const raw = await rawFiles();
    // Once in the entry record, once in the snapshot file.
    expect(raw.toString('latin1').split(SECRET)).toHaveLength(3);
  });

  it('never writes the plaintext when a cipher is set, and reads it back with the key', async () => {
    const cipher = new AesGcmCipher({ keys: [K1], activeKeyId: 'k1' });
    await writeSecrets(cipher);
    expect((await rawFiles()).includes(SECRET)).toBe(false);
    const state = await load(cipher);
    expect(new TextDecoder().decode(state.snapshot!.data)).toBe(SECRET);
    expect(state.hardState).toEqual({ term: 1, vote: 'n1', commit: 2 });
    expect(labels(state.entries)).toEqual([]);
  });

  it('refuses to start without the key, or with the wrong key under the same id', async () => {
    await writeSecrets(new AesGcmCipher({ keys: [K1], activeKeyId: 'k1' }));
    expect(isSwarmError(await loadError(), 'FAILED_PRECONDITION')).toBe(true);
    const wrong = new AesGcmCipher({
      keys: [{ id: 'k1', key: new Uint8Array(32).fill(9) }],
      activeKeyId: 'k1',
    });
    expect(isSwarmError(await loadError(wrong), 'CORRUPTION')).toBe(true);
  });

  it('reads data sealed with a retired key after the active key was rotated', async () => {
    await writeSecrets(new AesGcmCipher({ keys: [K1], activeKeyId: 'k1' }));
    const rotated = new AesGcmCipher({ keys: [K1, K2], activeKeyId: 'k2' });
    const storage = new WalStorage(tmp.path, { cipher: rotated });
    await storage.load();
    await storage.save({ entries: [entry(3, 2)], hardState: { term: 2, vote: null, commit: 3 } });
    await storage.close();
    const state = await load(rotated);
    expect(labels(state.entries)).toEqual(['3/2']);
    expect(state.hardState.term).toBe(2);
    expect(
      isSwarmError(
        await loadError(new AesGcmCipher({ keys: [K2], activeKeyId: 'k2' })),
        'FAILED_PRECONDITION',
      ),
    ).toBe(true);
  });

  it('opens a plaintext store with a key and seals what it writes from then on', async () => {
    await writeSecrets();
    const cipher = new AesGcmCipher({ keys: [K1], activeKeyId: 'k1' });
    const storage = new WalStorage(tmp.path, { cipher });
    expect(new TextDecoder().decode((await storage.load()).snapshot!.data)).toBe(SECRET);
    await storage.save({ entries: [entry(3, 1, new TextEncoder().encode(`${SECRET}-new`))] });
    await storage.close();
    expect((await rawFiles()).includes(`${SECRET}-new`)).toBe(false);
    expect(labels((await load(cipher)).entries)).toEqual(['3/1']);
  });

  it('detects sealed records moved to another position even when every checksum still matches', async () => {
    const cipher = new AesGcmCipher({ keys: [K1], activeKeyId: 'k1' });
    // Exact file layout: no zero-filled space after the tail.
    const storage = new WalStorage(tmp.path, { cipher }, { preallocateBytes: 0 });
    await storage.load();
    const [file] = (await readdir(join(tmp.path, 'wal'))).map((n) => join(tmp.path, 'wal', n));
    const start = (await stat(file!)).size;
    await storage.save({ entries: [entry(1, 1)] });
    const middle = (await stat(file!)).size;
    await storage.save({ entries: [entry(2, 1)] });
    await storage.close();
    const bytes = await readFile(file!);
    expect(bytes.length - middle).toBe(middle - start);
    // Swap the two batches: each keeps valid record and batch checksums, only the position moved.
    const swapped = Buffer.concat([
      bytes.subarray(0, start),
      bytes.subarray(middle),
      bytes.subarray(start, middle),
    ]);
    await writeFile(file!, swapped);
    const e = await loadError(cipher);
    expect(isSwarmError(e, 'CORRUPTION')).toBe(true);
    expect((e as Error).message).toContain(`offset ${start}`);
  });
});

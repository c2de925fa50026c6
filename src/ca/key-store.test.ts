import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeFileAtomic } from './atomic-file.js';
import { generateDek, NodeKeyStore, type NodeSecrets } from './key-store.js';
import { generateNodeKeyAndCsr } from './node-identity.js';
import { formatUnlockKey, generateUnlockKey, parseUnlockKey } from './unlock-key.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ca-keys-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const CERT = '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n';

async function secrets(): Promise<NodeSecrets> {
  return { tlsKeyPem: (await generateNodeKeyAndCsr()).keyPem, dek: generateDek() };
}

function mode(path: string): number {
  return statSync(path).mode & 0o777;
}

describe('writeFileAtomic', () => {
  it('writes 0600, replaces a looser file, and leaves no temporary file behind', async () => {
    const p = join(dir, 'f');
    writeFileSync(p, 'old', { mode: 0o644 });
    expect(mode(p)).toBe(0o644);
    await writeFileAtomic(p, 'new');
    expect(readFileSync(p, 'utf8')).toBe('new');
    expect(mode(p)).toBe(0o600);
    expect(readdirSync(dir)).toEqual(['f']);
  });

  it('fails with an IO error naming the path and cleans up', async () => {
    const p = join(dir, 'missing-dir', 'f');
    await expect(writeFileAtomic(p, 'x')).rejects.toMatchObject({ code: 'IO', details: { path: p } });
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe('unlock keys', () => {
  it('use docker format SWMKEY-1-<43 base64 characters> and round-trip', () => {
    const key = generateUnlockKey();
    const text = formatUnlockKey(key);
    expect(text).toMatch(/^SWMKEY-1-[A-Za-z0-9+/]{43}$/);
    expect(Buffer.from(parseUnlockKey(text)).equals(Buffer.from(key))).toBe(true);
    // The example from docker's `swarm unlock-key` documentation.
    expect(parseUnlockKey('SWMKEY-1-7c37Cc8654o6p38HnroywCi19pllOnGtbdZEgtKxZu8')).toHaveLength(32);
  });

  it.each([
    ['', /must start with SWMKEY-1-/],
    ['SWMKEY-2-7c37Cc8654o6p38HnroywCi19pllOnGtbdZEgtKxZu8', /must start with SWMKEY-1-/],
    ['SWMKEY-1-short', /expected 43 base64 characters/],
    ['SWMKEY-1-7c37Cc8654o6p38HnroywCi19pllOnGtbdZEgtKxZu8=', /expected 43/],
    ['SWMKEY-1-7c37Cc8654o6p38HnroywCi19pllOnGtbdZEgtKxZu9', /not a 32-byte key/],
  ])('refuses %j with InvalidArgument naming the field', (text, why) => {
    expect(() => parseUnlockKey(text, 'unlock-key')).toThrow(why);
    expect(() => parseUnlockKey(text, 'unlock-key')).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT', field: 'unlock-key' }),
    );
  });
});

describe('NodeKeyStore', () => {
  it('writes the key file 0600 and reads back what it wrote', async () => {
    const store = new NodeKeyStore(join(dir, 'swarm-node.key'));
    expect(await store.exists()).toBe(false);
    const s = await secrets();
    await store.write({ certChainPem: CERT, secrets: s });
    expect(mode(store.path)).toBe(0o600);
    expect(await store.isLocked()).toBe(false);
    expect(await store.read()).toEqual({ certChainPem: CERT, secrets: s, kekVersion: 0 });
    expect(s.dek).toHaveLength(32);
  });

  it('with autolock keeps the TLS key and DEK out of the file and opens only with the right unlock key', async () => {
    const store = new NodeKeyStore(join(dir, 'swarm-node.key'));
    const s = await secrets();
    const key = generateUnlockKey();
    await store.write({ certChainPem: CERT, secrets: s }, { unlockKey: key, kekVersion: 3 });
    expect(mode(store.path)).toBe(0o600);

    const raw = readFileSync(store.path, 'utf8');
    const keyBody = s.tlsKeyPem.split('\n')[1]!;
    expect(raw).not.toContain(keyBody);
    expect(raw).not.toContain(Buffer.from(s.dek!).toString('base64'));
    expect(raw).not.toContain(Buffer.from(s.dek!).toString('hex'));
    expect(await store.isLocked()).toBe(true);

    await expect(store.read()).rejects.toMatchObject({ code: 'LOCKED', name: 'NodeLockedError' });
    await expect(store.read(generateUnlockKey())).rejects.toMatchObject({
      code: 'LOCKED',
      name: 'InvalidUnlockKeyError',
    });
    expect(await store.read(parseUnlockKey(formatUnlockKey(key)))).toEqual({
      certChainPem: CERT,
      secrets: s,
      kekVersion: 3,
    });
  });

  it('refuses a sealed file whose clear-text certificate was swapped', async () => {
    const store = new NodeKeyStore(join(dir, 'swarm-node.key'));
    const key = generateUnlockKey();
    await store.write({ certChainPem: CERT, secrets: await secrets() }, { unlockKey: key, kekVersion: 1 });
    const disk = JSON.parse(readFileSync(store.path, 'utf8')) as { certChainPem: string };
    disk.certChainPem = CERT.replace('AAAA', 'BBBB');
    writeFileSync(store.path, JSON.stringify(disk));
    await expect(store.read(key)).rejects.toMatchObject({ code: 'LOCKED' });
  });

  it('rotates the unlock key in one write: the old key stops working, the new one opens it', async () => {
    const store = new NodeKeyStore(join(dir, 'swarm-node.key'));
    const s = await secrets();
    await store.write({ certChainPem: CERT, secrets: s });

    const k1 = generateUnlockKey();
    await store.rotateUnlockKey(undefined, { unlockKey: k1, kekVersion: 1 }); // autolock on
    expect(await store.isLocked()).toBe(true);

    const k2 = generateUnlockKey();
    await expect(store.rotateUnlockKey(k2, { unlockKey: k2, kekVersion: 2 })).rejects.toMatchObject({
      code: 'LOCKED',
    });
    await store.rotateUnlockKey(k1, { unlockKey: k2, kekVersion: 2 });
    await expect(store.read(k1)).rejects.toMatchObject({ name: 'InvalidUnlockKeyError' });
    expect((await store.read(k2)).secrets).toEqual(s);
    expect((await store.read(k2)).kekVersion).toBe(2);
    expect(readdirSync(dir)).toEqual(['swarm-node.key']);

    await store.rotateUnlockKey(k2, undefined); // autolock off
    expect(await store.isLocked()).toBe(false);
    expect((await store.read()).secrets).toEqual(s);
    expect(mode(store.path)).toBe(0o600);
  });

  it('reports a damaged or foreign file as corruption, and a missing one as not found', async () => {
    const store = new NodeKeyStore(join(dir, 'swarm-node.key'));
    await expect(store.read()).rejects.toMatchObject({ code: 'NOT_FOUND' });
    writeFileSync(store.path, '{"format":"something-else"}');
    await expect(store.read()).rejects.toMatchObject({ code: 'CORRUPTION' });
    writeFileSync(store.path, 'not json');
    await expect(store.isLocked()).rejects.toMatchObject({ code: 'CORRUPTION' });
  });

  it('validates kekVersion', async () => {
    const store = new NodeKeyStore(join(dir, 'swarm-node.key'));
    await expect(
      store.write(
        { certChainPem: CERT, secrets: await secrets() },
        { unlockKey: generateUnlockKey(), kekVersion: 0 },
      ),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', field: 'kekVersion' });
  });
});

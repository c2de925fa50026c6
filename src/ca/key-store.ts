import { randomBytes as cryptoRandomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { CorruptionError, errorMessage, InvalidArgumentError, SwarmError } from '../common/index.js';
import { writeFileAtomic } from './atomic-file.js';
import { InvalidUnlockKeyError, NodeLockedError } from './errors.js';
import { isSealedBox, open, type SealedBox, seal } from './sealed-box.js';
import type { RandomBytes } from './types.js';
import type { UnlockKey } from './unlock-key.js';

/** Raft data-encryption keys are AES-256-GCM keys. */
export const DEK_BYTES = 32;
const FORMAT = 'swarmctl-node-key/1';
const SEAL_INFO = 'swarmctl node key file v1';

/** The secrets in a node's key file. */
export interface NodeSecrets {
  /** The node's TLS private key, PKCS#8 PEM. */
  tlsKeyPem: string;
  /** The raft data-encryption key (managers only). */
  dek?: Uint8Array;
  /** A DEK being rotated in: new raft writes use it until a snapshot lets it replace `dek`. */
  pendingDek?: Uint8Array;
}

/** What a node keeps on disk for its identity, all in one file written atomically. */
export interface NodeKeyFile {
  /** The certificate chain matching `secrets.tlsKeyPem`; public, so stored in the clear. */
  certChainPem: string;
  secrets: NodeSecrets;
  /** Which unlock key (cluster KEK version) sealed the file; 0 when not sealed. */
  kekVersion: number;
}

interface FileSecrets {
  tlsKeyPem: string;
  dek?: string;
  pendingDek?: string;
}

interface OnDisk {
  format: typeof FORMAT;
  certChainPem: string;
  kekVersion: number;
  secrets?: FileSecrets;
  sealed?: SealedBox;
}

export function generateDek(randomBytes: RandomBytes = cryptoRandomBytes): Uint8Array {
  const dek = Uint8Array.from(randomBytes(DEK_BYTES));
  if (dek.length !== DEK_BYTES)
    throw new InvalidArgumentError('randomBytes', `need ${DEK_BYTES} random bytes`);
  return dek;
}

function toFileSecrets(s: NodeSecrets): FileSecrets {
  const out: FileSecrets = { tlsKeyPem: s.tlsKeyPem };
  if (s.dek) out.dek = Buffer.from(s.dek).toString('base64');
  if (s.pendingDek) out.pendingDek = Buffer.from(s.pendingDek).toString('base64');
  return out;
}

function fromFileSecrets(value: unknown, path: string): NodeSecrets {
  const v = value as Partial<FileSecrets> | null;
  if (typeof v !== 'object' || v === null || typeof v.tlsKeyPem !== 'string') {
    throw new CorruptionError(`key file ${path} has malformed secrets`, { details: { path } });
  }
  const out: NodeSecrets = { tlsKeyPem: v.tlsKeyPem };
  for (const k of ['dek', 'pendingDek'] as const) {
    const b64 = v[k];
    if (b64 === undefined) continue;
    const bytes = typeof b64 === 'string' ? Buffer.from(b64, 'base64') : undefined;
    if (!bytes || bytes.length !== DEK_BYTES) {
      throw new CorruptionError(`key file ${path} has a malformed ${k}`, { details: { path } });
    }
    out[k] = Uint8Array.from(bytes);
  }
  return out;
}

/** The clear-text fields are bound to the sealed secrets, so a certificate cannot be swapped in. */
function aad(certChainPem: string, kekVersion: number): string {
  return JSON.stringify([FORMAT, certChainPem, kekVersion]);
}

export interface NodeKeyStoreDeps {
  /** @default crypto.randomBytes */
  randomBytes?: RandomBytes;
}

/**
 * A node's key file (mode 0600, atomic replace). Without autolock the secrets are stored in the
 * clear; with it they are sealed under a key derived from the cluster's unlock key, and reading
 * fails with LOCKED until the right key is supplied.
 */
export class NodeKeyStore {
  private readonly randomBytes: RandomBytes;

  constructor(
    readonly path: string,
    deps: NodeKeyStoreDeps = {},
  ) {
    this.randomBytes = deps.randomBytes ?? cryptoRandomBytes;
  }

  /** Whether the file exists. */
  async exists(): Promise<boolean> {
    return (await this.load()) !== undefined;
  }

  /** Whether the file is sealed by an unlock key (the node starts locked). */
  async isLocked(): Promise<boolean> {
    const disk = await this.load();
    return disk?.sealed !== undefined;
  }

  /**
   * Reads the key file. A sealed file needs `unlockKey`: without one it fails with
   * NodeLockedError, with a wrong one with InvalidUnlockKeyError (both code LOCKED).
   */
  async read(unlockKey?: UnlockKey): Promise<NodeKeyFile> {
    const disk = await this.load();
    if (!disk)
      throw new SwarmError('NOT_FOUND', `key file ${this.path} does not exist`, {
        details: { path: this.path },
      });
    if (disk.secrets) {
      return {
        certChainPem: disk.certChainPem,
        secrets: fromFileSecrets(disk.secrets, this.path),
        kekVersion: 0,
      };
    }
    const sealed = disk.sealed!;
    if (!unlockKey) throw new NodeLockedError(this.path);
    const plain = open(unlockKey, sealed, { info: SEAL_INFO, aad: aad(disk.certChainPem, disk.kekVersion) });
    if (!plain) throw new InvalidUnlockKeyError(this.path);
    let parsed: unknown;
    try {
      parsed = JSON.parse(plain.toString('utf8'));
    } catch (e) {
      throw new CorruptionError(`key file ${this.path}: sealed secrets are not JSON`, { cause: e });
    }
    return {
      certChainPem: disk.certChainPem,
      secrets: fromFileSecrets(parsed, this.path),
      kekVersion: disk.kekVersion,
    };
  }

  /**
   * Replaces the key file. With `unlockKey` the secrets are sealed (autolock) and `kekVersion`
   * records which cluster KEK was used; without, they are written in the clear.
   */
  async write(
    file: { certChainPem: string; secrets: NodeSecrets },
    lock?: { unlockKey: UnlockKey; kekVersion: number },
  ): Promise<void> {
    const secrets = toFileSecrets(file.secrets);
    let disk: OnDisk;
    if (lock) {
      if (!Number.isSafeInteger(lock.kekVersion) || lock.kekVersion < 1) {
        throw new InvalidArgumentError(
          'kekVersion',
          `invalid kekVersion ${lock.kekVersion}: must be an integer >= 1`,
        );
      }
      const plain = Buffer.from(JSON.stringify(secrets), 'utf8');
      disk = {
        format: FORMAT,
        certChainPem: file.certChainPem,
        kekVersion: lock.kekVersion,
        sealed: seal(
          lock.unlockKey,
          plain,
          { info: SEAL_INFO, aad: aad(file.certChainPem, lock.kekVersion) },
          this.randomBytes,
        ),
      };
      plain.fill(0);
    } else {
      disk = { format: FORMAT, certChainPem: file.certChainPem, kekVersion: 0, secrets };
    }
    await writeFileAtomic(this.path, `${JSON.stringify(disk, null, 2)}\n`);
  }

  /**
   * Re-seals the file in one atomic write: from `current` (undefined when not locked) to `next`
   * (undefined to turn autolock off). Fails with LOCKED if `current` does not open it.
   */
  async rotateUnlockKey(
    current: UnlockKey | undefined,
    next: { unlockKey: UnlockKey; kekVersion: number } | undefined,
  ): Promise<void> {
    const file = await this.read(current);
    await this.write(file, next);
  }

  private async load(): Promise<OnDisk | undefined> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new SwarmError('IO', `cannot read ${this.path}: ${errorMessage(e)}`, { cause: e });
    }
    let v: Partial<OnDisk>;
    try {
      v = JSON.parse(text) as Partial<OnDisk>;
    } catch (e) {
      throw new CorruptionError(`key file ${this.path} is not valid JSON`, {
        cause: e,
        details: { path: this.path },
      });
    }
    if (
      v?.format !== FORMAT ||
      typeof v.certChainPem !== 'string' ||
      typeof v.kekVersion !== 'number' ||
      (v.secrets === undefined) === (v.sealed === undefined) ||
      (v.sealed !== undefined && !isSealedBox(v.sealed))
    ) {
      throw new CorruptionError(`key file ${this.path} is not a ${FORMAT} file`, {
        details: { path: this.path },
      });
    }
    return v as OnDisk;
  }
}

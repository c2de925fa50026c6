/**
 * Encryption at rest for WAL record payloads and snapshot bodies. The WAL binds each sealed
 * payload to its position and type through the additional authenticated data, so records
 * cannot be moved, swapped or replayed between files without failing authentication.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { CorruptionError, FailedPreconditionError, InvalidArgumentError } from '../../common/index.js';

export interface Cipher {
  encrypt(plain: Uint8Array, aad: Uint8Array): Uint8Array;
  /** Rejects tampered or misplaced data with a CorruptionError. */
  decrypt(sealed: Uint8Array, aad: Uint8Array): Uint8Array;
}

export interface CipherKey {
  /** Written in every sealed payload, so old data stays readable after a rotation. */
  readonly id: string;
  /** 32 bytes (AES-256). */
  readonly key: Uint8Array;
}

export interface AesGcmCipherOptions {
  /** Every key that may have sealed stored data; the active one seals new data. */
  readonly keys: readonly CipherKey[];
  readonly activeKeyId: string;
}

const FORMAT_VERSION = 1;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

/**
 * AES-256-GCM with a fresh random 12-byte nonce per payload. Nonces come from the OS CSPRNG on
 * purpose, not from the injected seeded Random: a repeated nonce under one key breaks GCM.
 * Sealed layout: version (1) | key id length (1) | key id | nonce (12) | ciphertext | tag (16).
 */
export class AesGcmCipher implements Cipher {
  private readonly keys = new Map<string, Uint8Array>();
  private readonly active: { id: Buffer; key: Uint8Array };

  constructor(options: AesGcmCipherOptions) {
    options.keys.forEach((k, i) => {
      const idBytes = Buffer.byteLength(k.id);
      if (idBytes === 0 || idBytes > 255) {
        throw new InvalidArgumentError(
          `keys[${i}].id`,
          `key id must be 1 to 255 bytes, got ${JSON.stringify(k.id)}`,
        );
      }
      if (k.key.length !== 32) {
        throw new InvalidArgumentError(`keys[${i}].key`, `key ${k.id} must be 32 bytes, got ${k.key.length}`);
      }
      this.keys.set(k.id, k.key);
    });
    const key = this.keys.get(options.activeKeyId);
    if (!key) {
      throw new InvalidArgumentError('activeKeyId', `no key with id ${JSON.stringify(options.activeKeyId)}`);
    }
    this.active = { id: Buffer.from(options.activeKeyId), key };
  }

  encrypt(plain: Uint8Array, aad: Uint8Array): Uint8Array {
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.active.key, nonce);
    cipher.setAAD(aad);
    const body = cipher.update(plain);
    const final = cipher.final();
    return Buffer.concat([
      Buffer.from([FORMAT_VERSION, this.active.id.length]),
      this.active.id,
      nonce,
      body,
      final,
      cipher.getAuthTag(),
    ]);
  }

  decrypt(sealed: Uint8Array, aad: Uint8Array): Uint8Array {
    const buf = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength);
    if (buf.length < 2 || buf[0] !== FORMAT_VERSION) {
      throw new CorruptionError(`sealed payload has unknown format version ${buf[0]}`);
    }
    const idEnd = 2 + buf[1]!;
    if (buf.length < idEnd + NONCE_BYTES + TAG_BYTES)
      throw new CorruptionError('sealed payload is truncated');
    const id = buf.subarray(2, idEnd).toString('utf8');
    const key = this.keys.get(id);
    if (!key)
      throw new FailedPreconditionError(
        `data is sealed with key ${JSON.stringify(id)}, which is not configured`,
      );
    const nonce = buf.subarray(idEnd, idEnd + NONCE_BYTES);
    const decipher = createDecipheriv('aes-256-gcm', key, nonce);
    decipher.setAAD(aad);
    decipher.setAuthTag(buf.subarray(buf.length - TAG_BYTES));
    try {
      return Buffer.concat([
        decipher.update(buf.subarray(idEnd + NONCE_BYTES, buf.length - TAG_BYTES)),
        decipher.final(),
      ]);
    } catch (e) {
      throw new CorruptionError(`sealed payload failed authentication with key ${JSON.stringify(id)}`, {
        cause: e,
      });
    }
  }
}

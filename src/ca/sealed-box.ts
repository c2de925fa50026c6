import { createCipheriv, createDecipheriv, hkdfSync } from 'node:crypto';
import { InvalidArgumentError } from '../common/index.js';
import type { RandomBytes } from './types.js';

/**
 * Authenticated encryption of a small secret under a 32-byte key: HKDF-SHA256 (fresh salt per
 * seal, a purpose string as info) derives an AES-256-GCM key; the associated data binds the
 * clear-text fields stored beside the box so they cannot be swapped.
 */
export interface SealedBox {
  alg: 'HKDF-SHA256+A256GCM';
  salt: string;
  iv: string;
  ciphertext: string;
  tag: string;
}

export const SEAL_KEY_BYTES = 32;

export interface SealContext {
  /** Separates uses of one key (key file vs CA state). */
  info: string;
  aad: string;
}

function deriveKey(key: Uint8Array, salt: Uint8Array, info: string): Buffer {
  if (key.length !== SEAL_KEY_BYTES) {
    throw new InvalidArgumentError('key', `sealing key must be ${SEAL_KEY_BYTES} bytes, got ${key.length}`);
  }
  return Buffer.from(hkdfSync('sha256', key, salt, info, 32));
}

export function seal(
  key: Uint8Array,
  plaintext: Uint8Array,
  ctx: SealContext,
  randomBytes: RandomBytes,
): SealedBox {
  const salt = randomBytes(16);
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', deriveKey(key, salt, ctx.info), iv);
  cipher.setAAD(Buffer.from(ctx.aad, 'utf8'));
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return {
    alg: 'HKDF-SHA256+A256GCM',
    salt: Buffer.from(salt).toString('base64'),
    iv: Buffer.from(iv).toString('base64'),
    ciphertext: ciphertext.toString('base64'),
    tag: cipher.getAuthTag().toString('base64'),
  };
}

/** The plaintext, or undefined when the key is wrong or anything sealed (or bound) was altered. */
export function open(key: Uint8Array, box: SealedBox, ctx: SealContext): Buffer | undefined {
  if (box.alg !== 'HKDF-SHA256+A256GCM') return undefined;
  const decipher = createDecipheriv(
    'aes-256-gcm',
    deriveKey(key, Buffer.from(box.salt, 'base64'), ctx.info),
    Buffer.from(box.iv, 'base64'),
  );
  decipher.setAAD(Buffer.from(ctx.aad, 'utf8'));
  const tag = Buffer.from(box.tag, 'base64');
  if (tag.length !== 16) return undefined;
  decipher.setAuthTag(tag);
  try {
    return Buffer.concat([decipher.update(Buffer.from(box.ciphertext, 'base64')), decipher.final()]);
  } catch {
    return undefined;
  }
}

export function isSealedBox(value: unknown): value is SealedBox {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    v.alg === 'HKDF-SHA256+A256GCM' &&
    typeof v.salt === 'string' &&
    typeof v.iv === 'string' &&
    typeof v.ciphertext === 'string' &&
    typeof v.tag === 'string'
  );
}

import { randomBytes as cryptoRandomBytes } from 'node:crypto';
import { InvalidArgumentError } from '../common/index.js';
import { SEAL_KEY_BYTES } from './sealed-box.js';
import type { RandomBytes } from './types.js';

/**
 * docker's human-readable unlock key: `SWMKEY-1-` followed by the 32 key bytes in standard
 * base64 without padding (43 characters).
 */
const PREFIX = 'SWMKEY-1-';
const BODY_RE = /^[A-Za-z0-9+/]{43}$/;

declare const unlockKeyBrand: unique symbol;
/** 32 random bytes: the cluster's key-encryption key under autolock. */
export type UnlockKey = Uint8Array & { readonly [unlockKeyBrand]: true };

export function generateUnlockKey(randomBytes: RandomBytes = cryptoRandomBytes): UnlockKey {
  const key = Uint8Array.from(randomBytes(SEAL_KEY_BYTES));
  if (key.length !== SEAL_KEY_BYTES) {
    throw new InvalidArgumentError(
      'randomBytes',
      `randomBytes returned ${key.length} bytes, need ${SEAL_KEY_BYTES}`,
    );
  }
  return key as UnlockKey;
}

export function formatUnlockKey(key: UnlockKey): string {
  return PREFIX + Buffer.from(key).toString('base64').replace(/=+$/, '');
}

/** Parses `SWMKEY-1-…`; `field` names the flag or input in errors. The key is never echoed. */
export function parseUnlockKey(text: string, field = 'unlockKey'): UnlockKey {
  const trimmed = text.trim();
  if (!trimmed.startsWith(PREFIX)) {
    throw new InvalidArgumentError(field, `invalid unlock key in ${field}: must start with ${PREFIX}`);
  }
  const body = trimmed.slice(PREFIX.length);
  if (!BODY_RE.test(body)) {
    throw new InvalidArgumentError(
      field,
      `invalid unlock key in ${field}: expected 43 base64 characters after ${PREFIX}, got ${body.length}`,
    );
  }
  const key = Buffer.from(body, 'base64');
  // 43 characters carry 258 bits; the last two must be zero for a canonical 32-byte encoding.
  if (key.length !== SEAL_KEY_BYTES || formatUnlockKey(Uint8Array.from(key) as UnlockKey) !== trimmed) {
    throw new InvalidArgumentError(field, `invalid unlock key in ${field}: not a 32-byte key`);
  }
  return Uint8Array.from(key) as UnlockKey;
}

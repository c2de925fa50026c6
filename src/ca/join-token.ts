import { createHash, randomBytes as cryptoRandomBytes, timingSafeEqual } from 'node:crypto';
import { InvalidArgumentError } from '../common/index.js';
import { InvalidJoinTokenError, RootCaMismatchError } from './errors.js';
import type { NodeRole, RandomBytes } from './types.js';

/*
 * docker's v1 join token: `SWMTKN-1-<digest>-<secret>`, where <digest> is the SHA-256 of the root
 * CA bundle (its PEM bytes, exactly as served) written in base 36 and zero-padded to 50
 * characters, and <secret> is 16 random bytes in base 36 zero-padded to 25 characters.
 */
const PREFIX = 'SWMTKN';
const VERSION = '1';
const DIGEST_LEN = 50; // ceil(log36(2^256))
const SECRET_LEN = 25; // ceil(log36(2^128))
const SECRET_BYTES = 16;
const BASE36_RE = /^[0-9a-z]+$/;

export interface ParsedJoinToken {
  /** Hex SHA-256 of the root CA bundle the token was made for. */
  rootDigest: string;
  /** The base-36 secret part. */
  secret: string;
}

export interface JoinTokens {
  worker: string;
  manager: string;
}

/** Hex SHA-256 of the root CA bundle's PEM bytes: what a join token pins. */
export function rootCaDigest(rootBundlePem: string): string {
  return createHash('sha256').update(rootBundlePem, 'utf8').digest('hex');
}

function bytesToBigInt(bytes: Uint8Array): bigint {
  let n = 0n;
  for (const b of bytes) n = (n << 8n) | BigInt(b);
  return n;
}

function base36ToBigInt(text: string): bigint {
  let n = 0n;
  for (const ch of text) n = n * 36n + BigInt(Number.parseInt(ch, 36));
  return n;
}

/** A fresh token for the root bundle `rootBundlePem`, with 128 random bits of secret. */
export function generateJoinToken(
  rootBundlePem: string,
  randomBytes: RandomBytes = cryptoRandomBytes,
): string {
  const secretBytes = randomBytes(SECRET_BYTES);
  if (secretBytes.length !== SECRET_BYTES) {
    throw new InvalidArgumentError(
      'randomBytes',
      `randomBytes returned ${secretBytes.length} bytes, need 16`,
    );
  }
  const digest = BigInt(`0x${rootCaDigest(rootBundlePem)}`)
    .toString(36)
    .padStart(DIGEST_LEN, '0');
  const secret = bytesToBigInt(secretBytes).toString(36).padStart(SECRET_LEN, '0');
  return `${PREFIX}-${VERSION}-${digest}-${secret}`;
}

/** New worker and manager tokens: same digest, independent secrets. */
export function generateJoinTokens(
  rootBundlePem: string,
  randomBytes: RandomBytes = cryptoRandomBytes,
): JoinTokens {
  return {
    worker: generateJoinToken(rootBundlePem, randomBytes),
    manager: generateJoinToken(rootBundlePem, randomBytes),
  };
}

/** Splits and checks a token. `field` names the flag or request field in errors. */
export function parseJoinToken(token: string, field = 'token'): ParsedJoinToken {
  const fail = (why: string): never => {
    // Never echo the token: it is a secret.
    throw new InvalidArgumentError(field, `invalid join token in ${field}: ${why}`);
  };
  const parts = token.trim().split('-');
  if (parts[0] !== PREFIX) fail(`must start with ${PREFIX}-${VERSION}-`);
  if (parts.length === 5 && parts[1] === '2') fail('version 2 (FIPS) tokens are not supported');
  if (parts.length !== 4 || parts[1] !== VERSION) fail(`expected ${PREFIX}-${VERSION}-<digest>-<secret>`);
  const [, , digest, secret] = parts as [string, string, string, string];
  if (digest.length !== DIGEST_LEN || !BASE36_RE.test(digest)) {
    fail(`digest part must be ${DIGEST_LEN} lowercase base-36 characters, got ${digest.length}`);
  }
  if (secret.length !== SECRET_LEN || !BASE36_RE.test(secret)) {
    fail(`secret part must be ${SECRET_LEN} lowercase base-36 characters, got ${secret.length}`);
  }
  const digestValue = base36ToBigInt(digest);
  if (digestValue >= 1n << 256n) fail('digest part is larger than a SHA-256 value');
  if (base36ToBigInt(secret) >= 1n << 128n) fail('secret part is larger than 128 bits');
  return { rootDigest: digestValue.toString(16).padStart(64, '0'), secret };
}

/**
 * Joining side, before anything secret is sent: the root bundle fetched from a manager (over an
 * unverified connection) must hash to the digest in the token. Throws RootCaMismatchError.
 */
export function verifyRootAgainstToken(rootBundlePem: string, token: string): void {
  const { rootDigest } = parseJoinToken(token);
  const actual = rootCaDigest(rootBundlePem);
  if (actual !== rootDigest) throw new RootCaMismatchError(`sha256:${rootDigest}`, `sha256:${actual}`);
}

function sameSecret(a: string, b: string): boolean {
  // Hash first so the comparison has a fixed length; timingSafeEqual then hides where they differ.
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}

/**
 * Manager side: which role a presented token grants. Both tokens are always compared, in
 * constant time, so timing reveals neither which one matched nor how much of it.
 */
export function roleForJoinToken(tokens: JoinTokens, presented: string): NodeRole {
  parseJoinToken(presented);
  const token = presented.trim();
  const isWorker = sameSecret(tokens.worker, token);
  const isManager = sameSecret(tokens.manager, token);
  if (isManager) return 'manager';
  if (isWorker) return 'worker';
  throw new InvalidJoinTokenError();
}

import { InvalidArgumentError } from '../common/index.js';

/**
 * Object identifiers. Branded so that a NodeId cannot be passed where a TaskId is expected; at
 * runtime they are plain strings in docker's format: 25 lowercase base36 characters encoding 128
 * random bits (36^25 > 2^128, so every 16-byte value fits).
 */
declare const brand: unique symbol;
type Brand<T, B extends string> = T & { readonly [brand]: B };

export type NodeId = Brand<string, 'NodeId'>;
export type ServiceId = Brand<string, 'ServiceId'>;
export type TaskId = Brand<string, 'TaskId'>;
export type NetworkId = Brand<string, 'NetworkId'>;
export type SecretId = Brand<string, 'SecretId'>;
export type ConfigId = Brand<string, 'ConfigId'>;
export type ClusterId = Brand<string, 'ClusterId'>;

export type AnyId = NodeId | ServiceId | TaskId | NetworkId | SecretId | ConfigId | ClusterId;

/** Randomness is injected: `crypto.randomBytes` in production, a seeded source in tests. */
export type RandomBytes = (n: number) => Uint8Array;

export const ID_LENGTH = 25;
const ID_BYTES = 16;
const ID_RE = /^[0-9a-z]{25}$/;

/** A fresh id from 128 random bits. The type parameter picks the brand: `generateId<TaskId>(rb)`. */
export function generateId<I extends AnyId>(randomBytes: RandomBytes): I {
  const bytes = randomBytes(ID_BYTES);
  if (bytes.length < ID_BYTES) {
    throw new InvalidArgumentError(
      'randomBytes',
      `randomBytes returned ${bytes.length} bytes, need ${ID_BYTES}`,
    );
  }
  let n = 0n;
  for (let i = 0; i < ID_BYTES; i++) n = (n << 8n) | BigInt(bytes[i]!);
  return n.toString(36).padStart(ID_LENGTH, '0') as I;
}

export function isValidId(value: unknown): value is AnyId {
  return typeof value === 'string' && ID_RE.test(value);
}

/** Checks the format and brands the value; `field` names the input in the error. */
export function parseId<I extends AnyId>(value: string, field: string): I {
  if (!ID_RE.test(value)) {
    throw new InvalidArgumentError(
      field,
      `invalid ${field} ${JSON.stringify(value)}: must be ${ID_LENGTH} lowercase letters or digits`,
    );
  }
  return value as I;
}

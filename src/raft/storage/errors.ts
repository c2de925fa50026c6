import type { SwarmErrorOptions } from '../../common/index.js';
import { isSwarmError, SwarmError } from '../../common/index.js';

/**
 * A failed write, fsync or file operation. Fatal: after a failed fsync the kernel may have
 * dropped the dirty pages and a later fsync can report success (PostgreSQL's "fsyncgate"), so
 * storage refuses every later write and the node must restart and recover from disk.
 */
export class StorageIoError extends SwarmError {
  constructor(message: string, options: SwarmErrorOptions = {}) {
    super('IO', message, options);
  }
}

/** Wraps a foreign file-system error at the storage boundary; our own errors pass through. */
export function toStorageError(e: unknown, op: string, path: string): SwarmError {
  if (isSwarmError(e)) return e;
  const reason = e instanceof Error ? e.message : String(e);
  return new StorageIoError(`${op} ${path} failed: ${reason}`, { cause: e, details: { op, path } });
}

/** Runs one file operation, turning a foreign failure into an IO-coded SwarmError. */
export async function io<T>(op: string, path: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw toStorageError(e, op, path);
  }
}

import type { ObjectKind } from '../../api/index.js';
import { type ErrorCode, SwarmError } from '../../common/index.js';

/** The object changed since the caller read it: re-read and retry. */
export class VersionConflictError extends SwarmError {
  constructor(
    readonly kind: ObjectKind,
    readonly id: string,
    readonly expectedVersion: number,
    readonly actualVersion: number,
  ) {
    super(
      'VERSION_CONFLICT',
      `${kind} ${id} was changed concurrently: expected version ${expectedVersion}, found ${actualVersion}`,
      { retryable: true, details: { kind, id, expectedVersion, actualVersion } },
    );
  }
}

/** Another object of the kind already has the name (names are compared case-insensitively). */
export class NameConflictError extends SwarmError {
  constructor(
    readonly kind: ObjectKind,
    readonly objectName: string,
    readonly existingId: string,
  ) {
    super('NAME_CONFLICT', `${kind} name ${JSON.stringify(objectName)} is already in use by ${existingId}`, {
      details: { kind, name: objectName, existingId },
    });
  }
}

export class AlreadyExistsError extends SwarmError {
  constructor(
    readonly kind: ObjectKind,
    readonly id: string,
  ) {
    super('ALREADY_EXISTS', `${kind} ${id} already exists`, { details: { kind, id } });
  }
}

export type WatchCloseReason = 'overflow' | 'restored' | 'store-closed';

const WATCH_CLOSE: Readonly<Record<WatchCloseReason, { code: ErrorCode; message: string }>> = {
  overflow: { code: 'RESOURCE_EXHAUSTED', message: 'store watch fell behind and was closed; resync' },
  restored: { code: 'UNAVAILABLE', message: 'store was restored from a snapshot; resync' },
  'store-closed': { code: 'STOPPED', message: 'store is closed' },
};

/**
 * Ends a watch that can no longer be trusted to be gap-free. Watchers resync by re-reading
 * (viewAndWatch) rather than by replaying: the store keeps no event history.
 */
export class WatchClosedError extends SwarmError {
  constructor(readonly reason: WatchCloseReason) {
    super(WATCH_CLOSE[reason].code, WATCH_CLOSE[reason].message, {
      retryable: reason !== 'store-closed',
      details: { reason },
    });
  }
}

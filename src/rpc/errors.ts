import { Metadata, type ServiceError, status } from '@grpc/grpc-js';
import { type ErrorCode, isAbortError, isErrorCode, isSwarmError, SwarmError } from '../common/index.js';

/**
 * The one place where our error codes meet gRPC status codes, both directions. Errors travel as
 * a status plus `x-swarm-error-code` and `x-swarm-error-details` metadata and are rebuilt as typed
 * errors on the client; nothing matches on message text.
 */
const TO_STATUS: Readonly<Record<ErrorCode, status>> = {
  INVALID_ARGUMENT: status.INVALID_ARGUMENT,
  NOT_FOUND: status.NOT_FOUND,
  ALREADY_EXISTS: status.ALREADY_EXISTS,
  NAME_CONFLICT: status.ALREADY_EXISTS,
  VERSION_CONFLICT: status.ABORTED,
  FAILED_PRECONDITION: status.FAILED_PRECONDITION,
  PERMISSION_DENIED: status.PERMISSION_DENIED,
  UNAUTHENTICATED: status.UNAUTHENTICATED,
  NOT_LEADER: status.UNAVAILABLE,
  LOST_LEADERSHIP: status.UNAVAILABLE,
  NO_QUORUM: status.UNAVAILABLE,
  STOPPED: status.UNAVAILABLE,
  UNAVAILABLE: status.UNAVAILABLE,
  DEADLINE_EXCEEDED: status.DEADLINE_EXCEEDED,
  RESOURCE_EXHAUSTED: status.RESOURCE_EXHAUSTED,
  CORRUPTION: status.DATA_LOSS,
  IO: status.INTERNAL,
  LOCKED: status.FAILED_PRECONDITION,
  BUG: status.INTERNAL,
};

const FROM_STATUS: Partial<Record<status, ErrorCode>> = {
  [status.INVALID_ARGUMENT]: 'INVALID_ARGUMENT',
  [status.NOT_FOUND]: 'NOT_FOUND',
  [status.ALREADY_EXISTS]: 'ALREADY_EXISTS',
  [status.ABORTED]: 'VERSION_CONFLICT',
  [status.FAILED_PRECONDITION]: 'FAILED_PRECONDITION',
  [status.PERMISSION_DENIED]: 'PERMISSION_DENIED',
  [status.UNAUTHENTICATED]: 'UNAUTHENTICATED',
  [status.UNAVAILABLE]: 'UNAVAILABLE',
  [status.DEADLINE_EXCEEDED]: 'DEADLINE_EXCEEDED',
  [status.CANCELLED]: 'UNAVAILABLE',
  [status.RESOURCE_EXHAUSTED]: 'RESOURCE_EXHAUSTED',
  [status.DATA_LOSS]: 'CORRUPTION',
};

const CODE_KEY = 'x-swarm-error-code';
const DETAILS_KEY = 'x-swarm-error-details';

export interface GrpcErrorShape {
  code: status;
  details: string;
  metadata: Metadata;
}

/** Server side: what a handler's failure becomes on the wire. */
export function toGrpcError(e: unknown): GrpcErrorShape {
  const metadata = new Metadata();
  if (isSwarmError(e)) {
    metadata.set(CODE_KEY, e.code);
    metadata.set(DETAILS_KEY, JSON.stringify({ ...e.details, retryable: e.retryable }));
    return { code: TO_STATUS[e.code], details: e.message, metadata };
  }
  if (isAbortError(e)) return { code: status.CANCELLED, details: 'cancelled', metadata };
  metadata.set(CODE_KEY, 'BUG');
  const message = e instanceof Error ? e.message : String(e);
  return { code: status.INTERNAL, details: `internal error: ${message}`, metadata };
}

type Details = Record<string, string | number | boolean | undefined>;

/** Client side: a failed call as a typed SwarmError. */
export function fromGrpcError(e: unknown): SwarmError {
  if (isSwarmError(e)) return e;
  const err = e as Partial<ServiceError>;
  const code = typeof err.code === 'number' ? (err.code as status) : status.UNKNOWN;
  const sent = err.metadata?.get(CODE_KEY)[0];
  const swarmCode: ErrorCode = isErrorCode(sent) ? sent : (FROM_STATUS[code] ?? 'UNAVAILABLE');
  let details: Details = {};
  const rawDetails = err.metadata?.get(DETAILS_KEY)[0];
  if (typeof rawDetails === 'string') {
    try {
      details = JSON.parse(rawDetails) as Details;
    } catch {
      details = {};
    }
  }
  const { retryable, ...rest } = details;
  const transportFailure = sent === undefined && (code === status.UNAVAILABLE || code === status.CANCELLED);
  return new SwarmError(swarmCode, err.details || err.message || 'call failed', {
    cause: e,
    retryable: typeof retryable === 'boolean' ? retryable : transportFailure,
    details: rest,
  });
}

/**
 * The one error vocabulary of swarmctl. Every error we raise on purpose is a SwarmError with a
 * code from this fixed set; callers branch on `code`, never on message text.
 */
export const ERROR_CODES = [
  'INVALID_ARGUMENT',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'NAME_CONFLICT',
  'VERSION_CONFLICT',
  'FAILED_PRECONDITION',
  'PERMISSION_DENIED',
  'UNAUTHENTICATED',
  'NOT_LEADER',
  'LOST_LEADERSHIP',
  'NO_QUORUM',
  'STOPPED',
  'UNAVAILABLE',
  'DEADLINE_EXCEEDED',
  'RESOURCE_EXHAUSTED',
  'CORRUPTION',
  'IO',
  'LOCKED',
  'BUG',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && (ERROR_CODES as readonly string[]).includes(value);
}

export interface SwarmErrorOptions {
  cause?: unknown;
  /** Whether retrying the same call later may succeed (swarmkit's "temporary"). */
  retryable?: boolean;
  /** Structured context: field, kind, id, leaderAddr… Values must be JSON-serialisable. */
  details?: Readonly<Record<string, string | number | boolean | undefined>>;
}

export class SwarmError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly details: Readonly<Record<string, string | number | boolean | undefined>>;

  constructor(code: ErrorCode, message: string, options: SwarmErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retryable = options.retryable ?? false;
    this.details = options.details ?? {};
  }
}

/** Bad input. The message names the field and the value, as users need to fix it. */
export class InvalidArgumentError extends SwarmError {
  readonly field: string;
  constructor(field: string, message: string, options: SwarmErrorOptions = {}) {
    super('INVALID_ARGUMENT', message, { ...options, details: { ...options.details, field } });
    this.field = field;
  }
}

export class NotFoundError extends SwarmError {
  constructor(kind: string, id: string, options: SwarmErrorOptions = {}) {
    super('NOT_FOUND', `${kind} ${id} not found`, { ...options, details: { kind, id } });
  }
}

export class FailedPreconditionError extends SwarmError {
  constructor(message: string, options: SwarmErrorOptions = {}) {
    super('FAILED_PRECONDITION', message, options);
  }
}

export class CorruptionError extends SwarmError {
  constructor(message: string, options: SwarmErrorOptions = {}) {
    super('CORRUPTION', message, options);
  }
}

export class UnavailableError extends SwarmError {
  constructor(message: string, options: SwarmErrorOptions = {}) {
    super('UNAVAILABLE', message, { retryable: true, ...options });
  }
}

export class StoppedError extends SwarmError {
  constructor(what: string) {
    super('STOPPED', `${what} is stopped`);
  }
}

/** A broken invariant: a bug in swarmctl, never a user or environment problem. */
export class BugError extends SwarmError {
  constructor(message: string, options: SwarmErrorOptions = {}) {
    super('BUG', message, options);
  }
}

export function isSwarmError(e: unknown, code?: ErrorCode): e is SwarmError {
  return e instanceof SwarmError && (code === undefined || e.code === code);
}

/** Cancellation is not a failure: central sinks ignore it. */
export function isAbortError(e: unknown): boolean {
  return e instanceof Error && (e.name === 'AbortError' || e.name === 'TimeoutError');
}

export function toError(e: unknown): Error {
  return e instanceof Error ? e : new Error(String(e));
}

export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

import {
  type Clock,
  errorMessage,
  isAbortError,
  SwarmError,
  UnavailableError,
} from '../../../common/index.js';

/**
 * The one place where Docker API errors become ours (a protocol edge, style §8.5).
 *
 * An HTTP answer from the engine is an `EngineReply` the caller interprets (404 for an image is a
 * task failure, 404 for a container being removed is success). Anything else (socket missing,
 * connection refused or reset, timeout) means the engine is unreachable: UNAVAILABLE.
 */
export interface EngineReply {
  readonly statusCode: number;
  /** The engine's own message ("No such image: x"), without dockerode's "(HTTP code …)" prefix. */
  readonly message: string;
}

function field(e: unknown, name: string): unknown {
  return typeof e === 'object' && e !== null ? (e as Record<string, unknown>)[name] : undefined;
}

/** The engine's HTTP answer carried by a dockerode error, if it is one. */
export function engineReply(e: unknown): EngineReply | undefined {
  const statusCode = field(e, 'statusCode');
  if (typeof statusCode !== 'number') return undefined;
  const json = field(e, 'json');
  const fromJson = field(json, 'message');
  const message =
    typeof fromJson === 'string' ? fromJson : typeof json === 'string' && json ? json : errorMessage(e);
  return { statusCode, message: message.trim() };
}

/**
 * Runs one engine call: resolves with its result or with the engine's error reply; rethrows
 * aborts as they are and turns transport failures into UNAVAILABLE.
 */
export async function callEngine<T>(
  what: string,
  fn: () => Promise<T>,
): Promise<{ ok: true; value: T } | { ok: false; reply: EngineReply }> {
  try {
    return { ok: true, value: await fn() };
  } catch (e) {
    if (isAbortError(e)) throw e;
    const reply = engineReply(e);
    if (reply) return { ok: false, reply };
    throw unavailable(what, e);
  }
}

/** Like `callEngine`, for calls where any error reply is an infrastructure failure too. */
export async function mustCallEngine<T>(what: string, fn: () => Promise<T>): Promise<T> {
  const r = await callEngine(what, fn);
  if (r.ok) return r.value;
  throw new UnavailableError(`docker engine: ${what}: ${r.reply.message}`, {
    details: { statusCode: r.reply.statusCode },
  });
}

export function unavailable(what: string, cause: unknown): UnavailableError {
  const code = field(cause, 'code');
  return new UnavailableError(`docker engine unreachable (${what}): ${errorMessage(cause)}`, {
    cause,
    details: typeof code === 'string' ? { errno: code } : {},
  });
}

/**
 * Like `callEngine`, bounded: the call gets a signal that aborts after `ms` (dockerode then drops
 * the request), and if it has not settled by then it fails with DEADLINE_EXCEEDED naming the
 * call (details.call), whether or not the call heeds the abort. For the calls of a stop, kill or
 * removal: a hung engine must not hold a leave or a task's removal forever. The caller's own
 * abort still comes through as an abort.
 */
export async function callEngineWithin<T>(
  what: string,
  ms: number,
  clock: Clock,
  signal: AbortSignal | undefined,
  fn: (signal: AbortSignal) => Promise<T>,
): Promise<{ ok: true; value: T } | { ok: false; reply: EngineReply }> {
  signal?.throwIfAborted();
  const timer = new AbortController();
  const both = signal ? AbortSignal.any([signal, timer.signal]) : timer.signal;
  let cancel: () => void = () => {};
  const deadline = new Promise<never>((_, reject) => {
    cancel = clock.setTimer(ms, () => {
      const e = new SwarmError('DEADLINE_EXCEEDED', `docker engine: ${what} did not answer within ${ms} ms`, {
        retryable: true,
        details: { call: what, timeoutMs: ms },
      });
      reject(e);
      timer.abort(e);
    });
  });
  try {
    return await Promise.race([callEngine(what, () => fn(both)), deadline]);
  } finally {
    cancel();
  }
}

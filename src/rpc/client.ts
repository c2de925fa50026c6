import {
  type CallOptions,
  type ChannelCredentials,
  type ChannelOptions,
  Client,
  Metadata,
} from '@grpc/grpc-js';
import { SwarmError } from '../common/index.js';
import { fromGrpcError } from './errors.js';
import { type MethodDef, type MethodMap, methodPath, type ServiceDef } from './service.js';

export interface CallOpts {
  signal?: AbortSignal;
  /** Deadline for the whole call, in ms from now. */
  timeoutMs?: number;
  metadata?: Readonly<Record<string, string>>;
}

/** A bidirectional stream with back-pressure on writes. */
export interface BidiCall<Req, Res> extends AsyncIterable<Res> {
  /** Resolves when the message is buffered below the high-water mark. */
  write(message: Req): Promise<void>;
  end(): void;
  cancel(): void;
}

export interface ClientStreamCall<Req, Res> {
  write(message: Req): Promise<void>;
  /** Settles when the call is over, whichever way (never rejects). */
  readonly closed: Promise<void>;
  /** Ends the request stream and resolves with the response. */
  end(): Promise<Res>;
  cancel(): void;
}

export type ClientMethod<D> =
  D extends MethodDef<infer Req, infer Res, infer K>
    ? K extends 'unary'
      ? (request: Req, opts?: CallOpts) => Promise<Res>
      : K extends 'server-stream'
        ? (request: Req, opts?: CallOpts) => AsyncIterable<Res>
        : K extends 'client-stream'
          ? (opts?: CallOpts) => ClientStreamCall<Req, Res>
          : (opts?: CallOpts) => BidiCall<Req, Res>
    : never;

export type TypedClient<M extends MethodMap> = { readonly [K in keyof M]: ClientMethod<M[K]> };

export interface RpcClient<M extends MethodMap> {
  readonly call: TypedClient<M>;
  /** Resolves once the channel is connected, or rejects after `timeoutMs`. */
  waitForReady(timeoutMs: number): Promise<void>;
  close(): void;
}

function toMetadata(opts: CallOpts | undefined): Metadata {
  const md = new Metadata();
  for (const [k, v] of Object.entries(opts?.metadata ?? {})) md.set(k, v);
  return md;
}

function toCallOptions(opts: CallOpts | undefined): CallOptions {
  return opts?.timeoutMs === undefined ? {} : { deadline: Date.now() + opts.timeoutMs };
}

/** Cancels `call` when `signal` aborts; returns the unlink function. */
function linkAbort(signal: AbortSignal | undefined, cancel: () => void): () => void {
  if (!signal) return () => {};
  if (signal.aborted) {
    cancel();
    return () => {};
  }
  signal.addEventListener('abort', cancel, { once: true });
  return () => signal.removeEventListener('abort', cancel);
}

async function* mapErrors<T>(source: AsyncIterable<unknown>, unlink: () => void): AsyncIterable<T> {
  try {
    for await (const item of source) yield item as T;
  } catch (e) {
    throw fromGrpcError(e);
  } finally {
    unlink();
  }
}

/**
 * Writes with back-pressure: resolves once the message is below the high-water mark, and
 * rejects instead of waiting forever when the call has ended underneath (`ended`).
 */
function writeWithBackpressure(
  stream: NodeJS.EventEmitter,
  message: unknown,
  ended: Promise<unknown>,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = stream as NodeJS.EventEmitter & { write(m: unknown, cb: (e?: Error | null) => void): boolean };
    const gone = (): void => reject(new SwarmError('UNAVAILABLE', 'stream closed', { retryable: true }));
    const ok = s.write(message, (e) => (e ? reject(fromGrpcError(e)) : undefined));
    if (ok) {
      resolve();
      return;
    }
    s.once('drain', () => resolve());
    ended.then(gone, gone);
  });
}

/** A typed client for `def` at `target` (`host:port` or `unix:///path`). */
export function createClient<M extends MethodMap>(
  def: ServiceDef<M>,
  target: string,
  credentials: ChannelCredentials,
  channelOptions: ChannelOptions = {},
): RpcClient<M> {
  const max = 16 * 1024 * 1024;
  const client = new Client(target, credentials, {
    'grpc.max_receive_message_length': max,
    'grpc.max_send_message_length': max,
    // Channelz: per-call bookkeeping nothing reads, a visible share of a busy member's CPU.
    'grpc.enable_channelz': 0,
    ...channelOptions,
  });
  const call: Record<string, unknown> = {};
  for (const [name, m] of Object.entries(def.methods)) {
    const path = methodPath(def.name, name);
    const ser = (v: unknown): Buffer => m.request.encode(v);
    const de = (b: Buffer): unknown => m.response.decode(b);
    switch (m.kind) {
      case 'unary':
        call[name] = (request: unknown, opts?: CallOpts) =>
          new Promise((resolve, reject) => {
            let unlink = (): void => {};
            const c = client.makeUnaryRequest(
              path,
              ser,
              de,
              request,
              toMetadata(opts),
              toCallOptions(opts),
              (err, res) => {
                unlink();
                if (err) reject(fromGrpcError(err));
                else resolve(res);
              },
            );
            unlink = linkAbort(opts?.signal, () => c.cancel());
          });
        break;
      case 'server-stream':
        call[name] = (request: unknown, opts?: CallOpts) => {
          const c = client.makeServerStreamRequest(
            path,
            ser,
            de,
            request,
            toMetadata(opts),
            toCallOptions(opts),
          );
          return mapErrors(
            c,
            linkAbort(opts?.signal, () => c.cancel()),
          );
        };
        break;
      case 'client-stream':
        call[name] = (opts?: CallOpts) => {
          let settle: { resolve(v: unknown): void; reject(e: unknown): void } | undefined;
          const result = new Promise((resolve, reject) => {
            settle = { resolve, reject };
          });
          const c = client.makeClientStreamRequest(
            path,
            ser,
            de,
            toMetadata(opts),
            toCallOptions(opts),
            (err, res) => (err ? settle?.reject(fromGrpcError(err)) : settle?.resolve(res)),
          );
          const unlink = linkAbort(opts?.signal, () => c.cancel());
          // Failure is reported through end() and closed; never as an unhandled rejection.
          const closed = result.then(
            () => unlink(),
            () => unlink(),
          );
          return {
            write: (message: unknown) => writeWithBackpressure(c, message, closed),
            closed,
            end: () => {
              c.end();
              return result;
            },
            cancel: () => c.cancel(),
          };
        };
        break;
      case 'bidi':
        call[name] = (opts?: CallOpts) => {
          const c = client.makeBidiStreamRequest(path, ser, de, toMetadata(opts), toCallOptions(opts));
          const unlink = linkAbort(opts?.signal, () => c.cancel());
          const responses = mapErrors<unknown>(c, unlink);
          const ended = new Promise((resolve) => c.once('close', resolve));
          return {
            write: (message: unknown) => writeWithBackpressure(c, message, ended),
            end: () => c.end(),
            cancel: () => c.cancel(),
            [Symbol.asyncIterator]: () => responses[Symbol.asyncIterator](),
          };
        };
        break;
    }
  }
  return {
    call: call as TypedClient<M>,
    waitForReady: (timeoutMs) =>
      new Promise((resolve, reject) =>
        client.waitForReady(Date.now() + timeoutMs, (err) =>
          err
            ? reject(
                new SwarmError('UNAVAILABLE', `could not connect to ${target}: ${err.message}`, {
                  retryable: true,
                }),
              )
            : resolve(),
        ),
      ),
    close: () => client.close(),
  };
}

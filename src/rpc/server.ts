import {
  type Metadata,
  Server,
  type ServerCredentials,
  type ServerDuplexStream,
  type ServerReadableStream,
  type ServerUnaryCall,
  type ServerWritableStream,
  type sendUnaryData,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import { type Component, errorMessage, isAbortError, type Logger, SwarmError } from '../common/index.js';
import { type PeerIdentity, peerIdentity } from './credentials.js';
import { toGrpcError } from './errors.js';
import type { AnyMethodDef, MethodDef, MethodMap, ServiceDef } from './service.js';

export interface CallContext {
  readonly service: string;
  readonly method: string;
  /** The caller's verified certificate identity; null on a unix socket or without a valid certificate. */
  readonly peer: PeerIdentity | null;
  readonly metadata: Metadata;
  /** Aborted when the caller cancels or the server stops. */
  readonly signal: AbortSignal;
}

export type Handler<D> =
  D extends MethodDef<infer Req, infer Res, infer K>
    ? K extends 'unary'
      ? (request: Req, ctx: CallContext) => Promise<Res>
      : K extends 'server-stream'
        ? (request: Req, ctx: CallContext) => AsyncIterable<Res>
        : K extends 'client-stream'
          ? (requests: AsyncIterable<Req>, ctx: CallContext) => Promise<Res>
          : (requests: AsyncIterable<Req>, ctx: CallContext) => AsyncIterable<Res>
    : never;

export type Handlers<M extends MethodMap> = { readonly [K in keyof M]: Handler<M[K]> };

/** Decides whether a call may proceed; throws (e.g. PERMISSION_DENIED) to refuse it. */
export type Authorizer = (ctx: CallContext) => void;

export interface RpcServerOptions {
  /** How long in-flight calls may finish after stop before they are cut. @default 2000 */
  shutdownGraceMs?: number;
  /** Largest message accepted, in bytes. @default 16 MiB */
  maxMessageBytes?: number;
}

type AnyCall =
  | ServerUnaryCall<unknown, unknown>
  | ServerReadableStream<unknown, unknown>
  | ServerWritableStream<unknown, unknown>
  | ServerDuplexStream<unknown, unknown>;

// Abort reasons are shared: grpc-js reports 'cancelled' on many calls, and building an error with
// a stack trace for each cost 2–3% of a busy manager's CPU.
const SERVER_STOPPING = new SwarmError('STOPPED', 'server is stopping');
const CLIENT_CANCELLED = new SwarmError('UNAVAILABLE', 'call cancelled by the client');

/** A gRPC server as a Component: bind first, then `run` serves until the signal fires. */
export class RpcServer implements Component {
  readonly name = 'rpc-server';
  private readonly server: Server;
  private readonly stopping = new AbortController();
  /** Calls whose handler asked for their signal and still run: aborted when the server stops. */
  private readonly live = new Set<AbortController>();

  constructor(
    private readonly deps: { logger: Logger },
    private readonly options: RpcServerOptions = {},
  ) {
    const max = options.maxMessageBytes ?? 16 * 1024 * 1024;
    // Channelz stays on: without it grpc-js (1.14) does not track sessions, and forceShutdown
    // would then leave connections open.
    this.server = new Server({ 'grpc.max_receive_message_length': max, 'grpc.max_send_message_length': max });
  }

  addService<M extends MethodMap>(def: ServiceDef<M>, handlers: Handlers<M>, authorize: Authorizer): this {
    const impl: UntypedServiceImplementation = {};
    for (const [method, m] of Object.entries(def.methods)) {
      const handler = handlers[method as keyof M] as unknown as (...args: unknown[]) => unknown;
      impl[method] = this.wrap(def.name, method, m, handler, authorize);
    }
    this.server.addService(def.grpc, impl);
    return this;
  }

  /** Binds `address` (`host:port`, `unix:///path`); returns the bound port (0 for unix sockets). */
  bind(address: string, credentials: ServerCredentials): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.bindAsync(address, credentials, (err, port) => (err ? reject(err) : resolve(port)));
    });
  }

  async run(signal: AbortSignal): Promise<void> {
    if (!signal.aborted)
      await new Promise<void>((r) => signal.addEventListener('abort', () => r(), { once: true }));
    this.stopping.abort(signal.reason);
    for (const ctl of this.live) ctl.abort(SERVER_STOPPING);
    const grace = this.options.shutdownGraceMs ?? 2000;
    await new Promise<void>((resolve) => {
      const force = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, grace);
      this.server.tryShutdown(() => {
        clearTimeout(force);
        resolve();
      });
    });
  }

  private context(service: string, method: string, call: AnyCall): { ctx: CallContext; done: () => void } {
    const ctx = new LazyCallContext(service, method, call, this.stopping.signal, this.live);
    return { ctx, done: () => ctx.dispose() };
  }

  private wrap(
    service: string,
    method: string,
    def: AnyMethodDef,
    handler: (...args: unknown[]) => unknown,
    authorize: Authorizer,
  ) {
    const log = this.deps.logger;
    const fail = (e: unknown): ReturnType<typeof toGrpcError> => {
      if (!(e instanceof SwarmError) && !isAbortError(e))
        log.error('rpc handler failed', { method: `${service}/${method}`, error: errorMessage(e) });
      return toGrpcError(e);
    };
    switch (def.kind) {
      case 'unary':
        return (call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => {
          const { ctx, done } = this.context(service, method, call);
          // Few promises per call: a busy member serves thousands of unary calls a second.
          let result: Promise<unknown>;
          try {
            authorize(ctx);
            result = handler(call.request, ctx) as Promise<unknown>;
          } catch (e) {
            result = Promise.reject(e);
          }
          result.then(
            (res) => {
              done();
              callback(null, res);
            },
            (e: unknown) => {
              done();
              callback(fail(e));
            },
          );
        };
      case 'client-stream':
        return (call: ServerReadableStream<unknown, unknown>, callback: sendUnaryData<unknown>) => {
          const { ctx, done } = this.context(service, method, call);
          Promise.resolve()
            .then(() => authorize(ctx))
            .then(() => handler(requestsOf(call), ctx) as Promise<unknown>)
            .then(
              (res) => callback(null, res),
              (e: unknown) => callback(fail(e)),
            )
            .finally(done);
        };
      case 'server-stream':
      case 'bidi':
        return (call: ServerWritableStream<unknown, unknown> | ServerDuplexStream<unknown, unknown>) => {
          const { ctx, done } = this.context(service, method, call);
          const input =
            def.kind === 'bidi'
              ? requestsOf(call as ServerDuplexStream<unknown, unknown>)
              : (call as ServerWritableStream<unknown, unknown>).request;
          (async () => {
            authorize(ctx);
            for await (const res of handler(input, ctx) as AsyncIterable<unknown>) {
              if (ctx.signal.aborted) break;
              if (!call.write(res)) await waitDrain(call, ctx.signal);
            }
            call.end();
          })()
            .catch((e: unknown) => {
              if (!ctx.signal.aborted) call.emit('error', fail(e));
              else call.end();
            })
            .finally(done);
        };
    }
  }
}

/**
 * The request stream as an async iterable that does not destroy the call when the loop ends
 * (Node's default would, and a destroyed call can no longer send its response or status).
 */
function requestsOf(
  call: ServerReadableStream<unknown, unknown> | ServerDuplexStream<unknown, unknown>,
): AsyncIterable<unknown> {
  return { [Symbol.asyncIterator]: () => call.iterator({ destroyOnReturn: false }) };
}

/** Back-pressure: resume writing only when the stream drained or the call ended. */
function waitDrain(stream: NodeJS.EventEmitter, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const finish = (): void => {
      stream.off('drain', finish);
      signal.removeEventListener('abort', finish);
      resolve();
    };
    stream.once('drain', finish);
    signal.addEventListener('abort', finish, { once: true });
  });
}

/**
 * What a handler sees of its call. The abort signal and the peer identity are built only when a
 * handler reads them: most unary handlers never do, and an AbortController, a listener on the
 * server's stop signal and a certificate parse per call were a visible share of a busy member's CPU.
 * The peer is read on first access, which is the authorizer's check at the start of the call for
 * every service that needs one (a connection already gone by then reads as no certificate).
 */
class LazyCallContext implements CallContext {
  private ctl: AbortController | undefined;
  private cancelled = false;
  private disposed = false;
  private peerValue: PeerIdentity | null | undefined;

  constructor(
    readonly service: string,
    readonly method: string,
    private readonly call: AnyCall,
    private readonly stopping: AbortSignal,
    private readonly live: Set<AbortController>,
  ) {
    (call as unknown as NodeJS.EventEmitter).once('cancelled', () => {
      this.cancelled = true;
      this.ctl?.abort(CLIENT_CANCELLED);
    });
  }

  get metadata(): Metadata {
    return this.call.metadata;
  }

  get peer(): PeerIdentity | null {
    if (this.peerValue === undefined) this.peerValue = peerIdentity(this.call.getAuthContext());
    return this.peerValue;
  }

  get signal(): AbortSignal {
    if (!this.ctl) {
      const ctl = new AbortController();
      this.ctl = ctl;
      if (this.stopping.aborted) ctl.abort(SERVER_STOPPING);
      else if (this.cancelled) ctl.abort(CLIENT_CANCELLED);
      else if (!this.disposed) this.live.add(ctl);
    }
    return this.ctl.signal;
  }

  dispose(): void {
    this.disposed = true;
    if (this.ctl) this.live.delete(this.ctl);
  }
}

import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { TLSSocket } from 'node:tls';
import { Metadata, status } from '@grpc/grpc-js';
import {
  type Component,
  errorMessage,
  InvalidArgumentError,
  isAbortError,
  type Logger,
  SwarmError,
} from '../common/index.js';
import { type PeerIdentity, peerIdentity, type ServerCredentials } from './credentials.js';
import { type GrpcErrorShape, toGrpcError } from './errors.js';
import { frameMessage, MessageReader, RequestQueue } from './framing.js';
import { type AnyMethodDef, type MethodDef, type MethodMap, methodPath, type ServiceDef } from './service.js';

export interface CallContext {
  readonly service: string;
  readonly method: string;
  /** The caller's verified certificate identity; null on a unix socket or without a valid certificate. */
  readonly peer: PeerIdentity | null;
  readonly metadata: Metadata;
  /** Aborted when the caller cancels, its deadline passes or the server stops. */
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
  /** Largest message accepted or sent, in bytes. @default 16 MiB */
  maxMessageBytes?: number;
}

interface Route {
  readonly service: string;
  readonly method: string;
  readonly def: AnyMethodDef;
  readonly handler: (...args: unknown[]) => unknown;
  readonly authorize: Authorizer;
}

// Abort reasons are shared: building an error with a stack trace for every cancelled call cost
// 2–3% of a busy manager's CPU.
const SERVER_STOPPING = new SwarmError('STOPPED', 'server is stopping');
const CLIENT_CANCELLED = new SwarmError('UNAVAILABLE', 'call cancelled by the client');
const DEADLINE_PASSED = new SwarmError('DEADLINE_EXCEEDED', 'the call deadline passed');

/** For errors that other events already report (a call's or connection's close). */
const ignore = (): void => {};

const RESPONSE_HEADERS = { ':status': 200, 'content-type': 'application/grpc' } as const;
const OK_TRAILERS = { 'grpc-status': '0' } as const;
/** Headers that are transport, not the caller's metadata. */
const NOT_METADATA = [
  'content-type',
  'te',
  'accept-encoding',
  'grpc-timeout',
  'grpc-encoding',
  'grpc-accept-encoding',
];

/**
 * A gRPC server (HTTP/2, the gRPC wire format) as a Component: bind first, then `run` serves
 * until the signal fires. Written on node:http2 rather than grpc-js's Server, which cost a sixth
 * of a busy manager's CPU per call (docs/rpc.md); clients remain grpc-js.
 */
export class RpcServer implements Component {
  readonly name = 'rpc-server';
  private readonly routes = new Map<string, Route>();
  private readonly listeners: { server: http2.Http2Server; unwatch: () => void }[] = [];
  private readonly sessions = new Set<http2.ServerHttp2Session>();
  private readonly stopping = new AbortController();
  /** Calls still running: cancelled when the server stops. */
  private readonly live = new Set<ServerCall>();
  private readonly limits: CallLimits;

  constructor(
    private readonly deps: { logger: Logger },
    private readonly options: RpcServerOptions = {},
  ) {
    this.limits = { maxMessageBytes: options.maxMessageBytes ?? 16 * 1024 * 1024 };
  }

  addService<M extends MethodMap>(def: ServiceDef<M>, handlers: Handlers<M>, authorize: Authorizer): this {
    for (const [method, m] of Object.entries(def.methods)) {
      const handler = handlers[method as keyof M] as unknown as (...args: unknown[]) => unknown;
      this.routes.set(methodPath(def.name, method), {
        service: def.name,
        method,
        def: m,
        handler,
        authorize,
      });
    }
    return this;
  }

  /** Binds `address` (`host:port`, `unix:///path`); returns the bound port (0 for unix sockets). */
  async bind(address: string, credentials: ServerCredentials): Promise<number> {
    const target = parseListenAddress(address);
    const { server, unwatch } = this.createServer(credentials);
    await new Promise<void>((resolve, reject) => {
      const failed = (e: Error): void => {
        unwatch();
        reject(new SwarmError('UNAVAILABLE', `cannot listen on ${address}: ${e.message}`, { cause: e }));
      };
      server.once('error', failed);
      const listening = (): void => {
        server.off('error', failed);
        resolve();
      };
      if ('path' in target) server.listen(target.path, listening);
      else server.listen(target.port, target.host, listening);
    });
    server.on('error', (e) =>
      this.deps.logger.error('rpc listener failed', { address, error: errorMessage(e) }),
    );
    this.listeners.push({ server, unwatch });
    const bound = server.address();
    return typeof bound === 'object' && bound !== null ? (bound as AddressInfo).port : 0;
  }

  async run(signal: AbortSignal): Promise<void> {
    if (!signal.aborted)
      await new Promise<void>((r) => signal.addEventListener('abort', () => r(), { once: true }));
    this.stopping.abort(signal.reason);
    const closed = Promise.all(
      this.listeners.map(
        ({ server, unwatch }) =>
          new Promise<void>((resolve) => {
            unwatch();
            server.close(() => resolve());
          }),
      ),
    );
    // GOAWAY: clients start no new calls here; the ones in flight may still finish.
    for (const s of this.sessions) s.close();
    for (const call of this.live) call.cancel(SERVER_STOPPING);
    const grace = this.options.shutdownGraceMs ?? 2000;
    let force: NodeJS.Timeout | undefined;
    await Promise.race([
      closed,
      new Promise<void>((resolve) => {
        force = setTimeout(resolve, grace);
      }),
    ]);
    clearTimeout(force);
    for (const s of this.sessions) s.destroy();
    await closed;
  }

  private createServer(credentials: ServerCredentials): { server: http2.Http2Server; unwatch: () => void } {
    const common = {
      // grpc-js's choice too: at node's default (10 MB) a burst of large messages refuses streams.
      maxSessionMemory: Number.MAX_SAFE_INTEGER,
      maxSendHeaderBlockLength: Number.MAX_SAFE_INTEGER,
    };
    const tls = credentials.tlsOptions();
    let server: http2.Http2Server;
    let unwatch = (): void => {};
    if (tls) {
      const secure = http2.createSecureServer({
        ...common,
        ...tls,
        // Joining nodes have no certificate yet: `authorize` decides per method.
        requestCert: true,
        rejectUnauthorized: false,
      });
      // A TLS socket's errors are not the server's: without a listener they would crash us.
      secure.on('secureConnection', (socket) => socket.on('error', ignore));
      unwatch = credentials.watch((options) => secure.setSecureContext(options));
      server = secure;
    } else {
      server = http2.createServer(common);
    }
    server.setTimeout(0);
    server.on('session', (session) => {
      this.sessions.add(session);
      session.on('close', () => this.sessions.delete(session));
      session.on('error', ignore);
      if (this.stopping.signal.aborted) session.close();
    });
    server.on('stream', (stream, headers) => this.serve(stream, headers));
    return { server, unwatch };
  }

  private serve(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
    // A reset stream reports an error; the call's close handling covers it.
    stream.on('error', ignore);
    const route = this.routes.get(headers[':path'] ?? '');
    if (!route || this.stopping.signal.aborted || !isGrpc(headers['content-type'])) {
      const shape = !route
        ? rejection(status.UNIMPLEMENTED, `unknown method ${headers[':path']}`)
        : this.stopping.signal.aborted
          ? toGrpcError(SERVER_STOPPING)
          : rejection(status.INTERNAL, `content-type ${headers['content-type']} is not gRPC`);
      respondError(stream, shape);
      return;
    }
    const call = new ServerCall(stream, headers, route, this.limits, this.live, this.deps.logger);
    call.start(headers['grpc-timeout']);
  }
}

interface CallLimits {
  readonly maxMessageBytes: number;
}

/** One call: reads its request messages, runs the handler, writes responses and the status. */
class ServerCall implements CallContext {
  private ctl: AbortController | undefined;
  private reason: SwarmError | undefined;
  private finished = false;
  /** The request side needs no more reading: its one message arrived, or the stream ended. */
  private requestDone = false;
  private deadline: NodeJS.Timeout | undefined;
  private metadataValue: Metadata | undefined;
  private trailers: http2.OutgoingHttpHeaders = OK_TRAILERS;

  constructor(
    private readonly stream: http2.ServerHttp2Stream,
    private readonly headers: http2.IncomingHttpHeaders,
    private readonly route: Route,
    private readonly limits: CallLimits,
    private readonly live: Set<ServerCall>,
    private readonly log: Logger,
  ) {}

  get service(): string {
    return this.route.service;
  }

  get method(): string {
    return this.route.method;
  }

  get peer(): PeerIdentity | null {
    return peerOf(this.stream.session);
  }

  get metadata(): Metadata {
    if (!this.metadataValue) {
      const md = Metadata.fromHttp2Headers(this.headers);
      for (const key of NOT_METADATA) md.remove(key);
      this.metadataValue = md;
    }
    return this.metadataValue;
  }

  get signal(): AbortSignal {
    if (!this.ctl) {
      this.ctl = new AbortController();
      if (this.reason) this.ctl.abort(this.reason);
    }
    return this.ctl.signal;
  }

  /** Stops the handler's work: its signal fires, and nothing more is written but the status. */
  cancel(reason: SwarmError): void {
    if (this.reason) return;
    this.reason = reason;
    this.ctl?.abort(reason);
    if (reason === SERVER_STOPPING || this.finished) return;
    // The client is gone or its deadline passed: the call ends here, whatever the handler does.
    if (reason === DEADLINE_PASSED) this.fail(reason);
    else this.finish();
  }

  start(timeout: string | string[] | undefined): void {
    this.live.add(this);
    this.stream.once('close', () => {
      if (!this.finished) this.cancel(CLIENT_CANCELLED);
      this.finish();
    });
    if (typeof timeout === 'string') {
      const ms = parseTimeout(timeout);
      if (ms === undefined) {
        this.fail(new InvalidArgumentError('grpc-timeout', `grpc-timeout ${timeout} is not a valid timeout`));
        return;
      }
      this.deadline = setTimeout(() => this.cancel(DEADLINE_PASSED), ms);
    }
    const { def } = this.route;
    if (def.kind === 'unary' || def.kind === 'server-stream') this.readOne();
    else this.runStreaming(this.readAll());
  }

  /** Unary and server-stream requests: exactly one message, then the client half-closes. */
  private readOne(): void {
    const reader = new MessageReader(this.limits.maxMessageBytes);
    let request: Buffer | undefined;
    const onData = (chunk: Buffer): void => {
      try {
        reader.push(chunk, (message) => {
          if (request !== undefined)
            throw new InvalidArgumentError(
              'message',
              'more than one request message for a single-request method',
            );
          request = message;
          this.requestDone = true;
          this.stream.off('data', onData);
          this.stream.resume();
          this.runSingle(message);
        });
      } catch (e) {
        this.stream.off('data', onData);
        this.fail(e);
      }
    };
    this.stream.on('data', onData);
    this.stream.once('end', () => {
      if (request === undefined && !this.finished)
        this.fail(rejection(status.INTERNAL, 'no request message'));
    });
  }

  private runSingle(bytes: Buffer): void {
    const { def, handler, authorize } = this.route;
    let request: unknown;
    try {
      request = def.request.decode(bytes);
      authorize(this);
    } catch (e) {
      this.fail(e);
      return;
    }
    if (def.kind === 'unary') {
      // Few promises per call: a busy member serves thousands of unary calls a second.
      let result: Promise<unknown>;
      try {
        result = handler(request, this) as Promise<unknown>;
      } catch (e) {
        result = Promise.reject(e);
      }
      result.then(
        (res) => this.sendOne(res),
        (e: unknown) => this.fail(e),
      );
      return;
    }
    this.pipeResponses(() => handler(request, this) as AsyncIterable<unknown>);
  }

  private readAll(): RequestQueue {
    const queue = new RequestQueue(this.stream, this.route.def.request, this.limits.maxMessageBytes);
    queue.onError = (e) => this.fail(e);
    this.stream.once('end', () => {
      this.requestDone = true;
    });
    return queue;
  }

  private runStreaming(requests: RequestQueue): void {
    const { def, handler, authorize } = this.route;
    try {
      authorize(this);
    } catch (e) {
      this.fail(e);
      return;
    }
    if (def.kind === 'client-stream') {
      Promise.resolve()
        .then(() => handler(requests, this) as Promise<unknown>)
        .then(
          (res) => this.sendOne(res),
          (e: unknown) => this.fail(e),
        );
      return;
    }
    this.pipeResponses(() => handler(requests, this) as AsyncIterable<unknown>);
  }

  private pipeResponses(produce: () => AsyncIterable<unknown>): void {
    (async () => {
      for await (const res of produce()) {
        if (this.reason) break;
        if (!this.write(res)) await this.drained();
      }
      if (this.reason === SERVER_STOPPING || !this.reason) this.end();
    })().catch((e: unknown) => this.fail(e));
  }

  /** A unary response: headers, the message and the status in as few writes as node:http2 allows. */
  private sendOne(response: unknown): void {
    if (this.finished || this.stream.destroyed) return;
    let frame: Buffer;
    try {
      frame = this.frame(response);
    } catch (e) {
      this.fail(e);
      return;
    }
    this.respond();
    this.stream.end(frame);
    this.finish();
  }

  private write(response: unknown): boolean {
    if (this.finished || this.stream.destroyed) return true;
    this.respond();
    return this.stream.write(this.frame(response));
  }

  private frame(response: unknown): Buffer {
    const bytes = this.route.def.response.encode(response);
    if (bytes.length > this.limits.maxMessageBytes) {
      throw new SwarmError(
        'RESOURCE_EXHAUSTED',
        `response of ${bytes.length} bytes is larger than the limit of ${this.limits.maxMessageBytes}`,
      );
    }
    return frameMessage(bytes);
  }

  private drained(): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        this.stream.off('drain', done);
        this.stream.off('close', done);
        resolve();
      };
      this.stream.once('drain', done);
      this.stream.once('close', done);
    });
  }

  private respond(): void {
    if (this.stream.headersSent) return;
    this.stream.respond(RESPONSE_HEADERS, { waitForTrailers: true });
    this.stream.once('wantTrailers', () => this.stream.sendTrailers(this.trailers));
  }

  /** Ends a streaming response with OK. */
  private end(): void {
    if (this.finished || this.stream.destroyed) return;
    this.respond();
    this.stream.end();
    this.finish();
  }

  /** Ends the call with the error's status (as trailers, or a trailers-only response). */
  private fail(e: unknown): void {
    if (this.finished || this.stream.destroyed) {
      this.finish();
      return;
    }
    const shape = isShape(e) ? e : this.toStatus(e);
    if (this.stream.headersSent) {
      this.trailers = statusHeaders(shape);
      this.stream.end();
    } else {
      respondError(this.stream, shape);
    }
    this.finish();
  }

  private toStatus(e: unknown): GrpcErrorShape {
    if (!(e instanceof SwarmError) && !isAbortError(e))
      this.log.error('rpc handler failed', {
        method: `${this.route.service}/${this.route.method}`,
        error: errorMessage(e),
      });
    return toGrpcError(e);
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    clearTimeout(this.deadline);
    this.live.delete(this);
    const s = this.stream;
    if (s.destroyed || this.requestDone || s.readableEnded) return;
    // The client is still sending: discard the rest. It closes its side once it has our status
    // (a reset from here could overtake the trailers).
    s.removeAllListeners('data');
    s.resume();
  }
}

/** A status and message for a failure that has no SwarmError behind it. */
function rejection(code: status, details: string): GrpcErrorShape {
  return { code, details, metadata: new Metadata() };
}

function isShape(e: unknown): e is GrpcErrorShape {
  return (
    typeof e === 'object' && e !== null && 'metadata' in e && e.metadata instanceof Metadata && 'code' in e
  );
}

function statusHeaders(shape: GrpcErrorShape): http2.OutgoingHttpHeaders {
  return {
    ...shape.metadata.toHttp2Headers(),
    'grpc-status': String(shape.code),
    'grpc-message': encodeMessage(shape.details),
  };
}

function respondError(stream: http2.ServerHttp2Stream, shape: GrpcErrorShape): void {
  if (stream.destroyed || stream.headersSent) return;
  stream.respond({ ...RESPONSE_HEADERS, ...statusHeaders(shape) }, { endStream: true });
}

/** grpc-message is percent-encoded; grpc-js clients decode it with decodeURI. */
function encodeMessage(details: string): string {
  try {
    return encodeURI(details);
  } catch {
    return encodeURI(details.replace(/[\uD800-\uDFFF]/g, '\uFFFD'));
  }
}

function isGrpc(contentType: string | undefined): boolean {
  return contentType?.startsWith('application/grpc') === true;
}

const TIMEOUT_UNIT_MS: Readonly<Record<string, number>> = {
  H: 3_600_000,
  M: 60_000,
  S: 1000,
  m: 1,
  u: 1e-3,
  n: 1e-6,
};

/** `grpc-timeout`: up to 8 digits and a unit; in ms, or undefined when malformed. */
export function parseTimeout(value: string): number | undefined {
  const m = /^(\d{1,8})([HMSmun])$/.exec(value);
  if (!m) return undefined;
  return Number(m[1]) * (TIMEOUT_UNIT_MS[m[2] as string] as number);
}

/** The verified peer of a connection, parsed once per connection rather than per call. */
const peers = new WeakMap<http2.Http2Session, PeerIdentity | null>();
function peerOf(session: http2.Http2Session | undefined): PeerIdentity | null {
  if (!session) return null;
  let peer = peers.get(session);
  if (peer === undefined) {
    const socket = session.socket;
    // `authorized`: the certificate chains to a root we trust (rejectUnauthorized is off).
    peer =
      socket instanceof TLSSocket && socket.authorized ? peerIdentity(socket.getPeerCertificate()) : null;
    peers.set(session, peer);
  }
  return peer;
}

type ListenTarget = { path: string } | { host: string; port: number };

/** `host:port`, `[v6]:port` or `unix:///path` (also `unix:path`). */
export function parseListenAddress(address: string): ListenTarget {
  if (address.startsWith('unix:')) {
    const path = address.slice(address.startsWith('unix://') ? 7 : 5);
    if (!path) throw new InvalidArgumentError('address', `listen address ${address} has no socket path`);
    return { path };
  }
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(address);
  const port = m ? Number(m[3]) : Number.NaN;
  if (!m || port > 65535) {
    throw new InvalidArgumentError('address', `listen address ${address} is not host:port or unix:///path`);
  }
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

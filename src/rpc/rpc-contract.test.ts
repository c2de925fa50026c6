// The behaviour RpcServer promises its callers beyond what rpc.test.ts covers: client streams,
// cancellation and deadlines reaching the handler's signal, the stop grace period, metadata,
// message size limits, unknown methods, handler bugs, back-pressure, bidi errors and concurrency.
// Every case runs over plaintext TCP and over mutual TLS, through the public API of src/rpc only,
// so that a server built on something other than grpc-js's Server can be held to the same contract.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTestCa, type TestCa } from '../../test/harness/test-ca.js';
import {
  type Deferred,
  deferred,
  FailedPreconditionError,
  isSwarmError,
  NotFoundError,
  noopLogger,
  type SwarmError,
  waitFor,
} from '../common/index.js';
import {
  bidi,
  ChannelCredentials,
  clientCredentials,
  clientStream,
  createClient,
  defineService,
  type Handlers,
  jsonCodec,
  type MethodMap,
  NodeServerCredentials,
  type RpcClient,
  RpcServer,
  type RpcServerOptions,
  ServerCredentials,
  type ServiceDef,
  serverNameOverride,
  serverStream,
  type TypedClient,
  unary,
} from './index.js';

interface Msg {
  id: number;
  text: string;
}
const msg = jsonCodec<Msg>();
const methods = {
  Echo: unary(msg, msg),
  /** Whatever the test needs of a unary handler that waits (on its signal, or on the test). */
  Wait: unary(msg, msg),
  Blob: unary(jsonCodec<{ data: string; replySize: number }>(), jsonCodec<{ data: string }>()),
  Sum: clientStream(jsonCodec<{ n: number }>(), jsonCodec<{ total: number; count: number }>()),
  Watch: serverStream(msg, msg),
  Flood: serverStream(jsonCodec<{ count: number; size: number }>(), jsonCodec<{ i: number; data: string }>()),
  Chat: bidi(msg, msg),
};
type M = typeof methods;
const Contract = defineService('swarmctl.test.Contract', methods);
/** The same service as a newer client sees it: one method the server does not serve. */
const ContractPlus = defineService('swarmctl.test.Contract', { ...methods, Missing: unary(msg, msg) });

/** Default handlers; each test overrides the ones it is about. */
function handlers(over: Partial<Handlers<M>>): Handlers<M> {
  return {
    Echo: async (req) => ({ id: req.id, text: `echo ${req.text}` }),
    Wait: async (req, ctx) => {
      await untilAborted(ctx.signal);
      return { id: req.id, text: 'aborted' };
    },
    Blob: async (req) => ({ data: 'y'.repeat(req.replySize) }),
    Sum: async (requests) => {
      let total = 0;
      let count = 0;
      for await (const r of requests) {
        total += r.n;
        count++;
      }
      return { total, count };
    },
    Watch: async function* (req) {
      yield req;
    },
    Flood: async function* (req) {
      for (let i = 0; i < req.count; i++) yield { i, data: 'z'.repeat(req.size) };
    },
    Chat: async function* (requests) {
      for await (const r of requests) yield r;
    },
    ...over,
  };
}

// ---- waiting without fixed sleeps -------------------------------------------------------------

const WAIT_MS = 5000;

/** Settles with `promise`, or rejects after `ms` saying what was awaited. */
function within<T>(promise: Promise<T>, what: string, ms = WAIT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Resolves with the abort reason once `signal` aborts (never rejects, never times out). */
function untilAborted(signal: AbortSignal): Promise<unknown> {
  if (signal.aborted) return Promise.resolve(signal.reason);
  return new Promise((resolve) =>
    signal.addEventListener('abort', () => resolve(signal.reason), { once: true }),
  );
}

/** A Wait handler that hands its call's signal to the test, then answers `text` once it aborts. */
function waitOnSignal(text: string): { Wait: Handlers<M>['Wait']; signal: Promise<AbortSignal> } {
  const handlerSignal = deferred<AbortSignal>();
  return {
    Wait: async (req, ctx) => {
      handlerSignal.resolve(ctx.signal);
      await untilAborted(ctx.signal);
      return { id: req.id, text };
    },
    signal: handlerSignal.promise,
  };
}

/** The outcome of a call as a value: the response, or the error it failed with. */
function settle<T>(p: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  return p.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
}

function codeOf(e: unknown): string {
  return isSwarmError(e) ? e.code : `not a SwarmError: ${String(e)}`;
}

// ---- transports -------------------------------------------------------------------------------

let ca: TestCa;
let serverTls: { cert: string; key: string };
let clientTls: { cert: string; key: string };

beforeAll(() => {
  ca = createTestCa('contract-root');
  serverTls = ca.issue({ nodeId: 'mgr1', role: 'swarm-manager', clusterId: 'c1' });
  clientTls = ca.issue({ nodeId: 'mgr2', role: 'swarm-manager', clusterId: 'c1' });
});

afterAll(() => ca.dispose());

interface Transport {
  name: string;
  serverCredentials(): ServerCredentials;
  client<D extends MethodMap>(def: ServiceDef<D>, port: number): RpcClient<D>;
}

const transports: Transport[] = [
  {
    name: 'plaintext',
    serverCredentials: () => ServerCredentials.createInsecure(),
    client: (def, port) => createClient(def, `127.0.0.1:${port}`, ChannelCredentials.createInsecure()),
  },
  {
    name: 'mutual TLS',
    serverCredentials: () => new NodeServerCredentials({ ca: ca.rootPem, ...serverTls }),
    client: (def, port) =>
      createClient(
        def,
        `127.0.0.1:${port}`,
        clientCredentials({ ca: ca.rootPem, ...clientTls }),
        serverNameOverride(),
      ),
  },
];

const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface Served {
  port: number;
  call: TypedClient<M>;
  /** Fires the server's run signal. */
  stop(): void;
  /** run(): settles once the server has stopped. */
  running: Promise<void>;
  /** Another client of the same server, for the given service definition. */
  connect<D extends MethodMap>(def: ServiceDef<D>): TypedClient<D>;
}

describe.each(transports)('rpc contract over $name', (transport) => {
  async function serve(over: Partial<Handlers<M>>, options: RpcServerOptions = {}): Promise<Served> {
    const server = new RpcServer({ logger: noopLogger }, { shutdownGraceMs: 300, ...options }).addService(
      Contract,
      handlers(over),
      () => {},
    );
    const port = await server.bind('127.0.0.1:0', transport.serverCredentials());
    const ctl = new AbortController();
    const running = server.run(ctl.signal);
    cleanups.push(async () => {
      ctl.abort();
      await running;
    });
    const connect = <D extends MethodMap>(def: ServiceDef<D>): TypedClient<D> => {
      const c = transport.client(def, port);
      cleanups.push(() => c.close());
      return c.call;
    };
    return { port, call: connect(Contract), stop: () => ctl.abort(), running, connect };
  }

  describe('client streams', () => {
    it('aggregates the messages the client wrote into the response of end()', async () => {
      const { call } = await serve({});
      const sum = call.Sum();
      for (const n of [1, 2, 3, 4, 5]) await sum.write({ n });
      expect(await within(sum.end(), 'the client-stream response')).toEqual({ total: 15, count: 5 });
    });

    it('rejects end() with the code of the SwarmError the handler threw', async () => {
      const { call } = await serve({
        Sum: async (requests) => {
          for await (const r of requests) if (r.n < 0) throw new NotFoundError('item', String(r.n));
          return { total: 0, count: 0 };
        },
      });
      const sum = call.Sum();
      await sum.write({ n: 1 });
      await sum.write({ n: -7 });
      const e = await within(
        sum.end().then(
          () => 'resolved',
          (x: unknown) => x,
        ),
        'the client-stream failure',
      );
      expect(codeOf(e)).toBe('NOT_FOUND');
      expect((e as SwarmError).details).toMatchObject({ kind: 'item', id: '-7' });
    });
  });

  describe('cancellation by the client', () => {
    it('aborts the signal of a server-stream handler when the client aborts the call', async () => {
      const handlerSignal = deferred<AbortSignal>();
      const { call } = await serve({
        Watch: async function* (req, ctx) {
          yield { id: req.id, text: 'first' };
          handlerSignal.resolve(ctx.signal);
          await untilAborted(ctx.signal);
        },
      });
      const ctl = new AbortController();
      const it = call.Watch({ id: 1, text: '' }, { signal: ctl.signal })[Symbol.asyncIterator]();
      expect((await within(it.next(), 'the first message')).value).toEqual({ id: 1, text: 'first' });
      const signal = await within(handlerSignal.promise, 'the handler to wait on its signal');
      expect(signal.aborted).toBe(false);
      ctl.abort();
      await within(untilAborted(signal), "the handler's signal to abort after the client cancelled");
      const next = await within(settle(it.next()), 'the cancelled stream to end');
      expect(next.ok).toBe(false);
      if (!next.ok) expect(isSwarmError(next.error)).toBe(true);
    });

    it('aborts the signal of a unary handler and rejects the call when the client aborts it', async () => {
      const waiting = waitOnSignal('aborted');
      const { call } = await serve({ Wait: waiting.Wait });
      const ctl = new AbortController();
      const outcome = settle(call.Wait({ id: 2, text: '' }, { signal: ctl.signal }));
      const signal = await within(waiting.signal, 'the handler to wait on its signal');
      expect(signal.aborted).toBe(false);
      ctl.abort();
      const result = await within(outcome, 'the cancelled call to settle');
      expect(result.ok).toBe(false);
      if (!result.ok) expect(isSwarmError(result.error)).toBe(true);
      await within(untilAborted(signal), "the handler's signal to abort after the client cancelled");
    });
  });

  it('fails a call past its deadline with DEADLINE_EXCEEDED and aborts the handler signal', async () => {
    const waiting = waitOnSignal('too late');
    const { call } = await serve({ Wait: waiting.Wait });
    const started = Date.now();
    const result = await within(settle(call.Wait({ id: 3, text: '' }, { timeoutMs: 200 })), 'the deadline');
    expect(Date.now() - started).toBeGreaterThanOrEqual(150);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(codeOf(result.error)).toBe('DEADLINE_EXCEEDED');
    const signal = await within(waiting.signal, 'the handler to have started');
    await within(untilAborted(signal), "the handler's signal to abort after the deadline");
  });

  describe('stopping the server (shutdownGraceMs: 300)', () => {
    it('aborts the signal of running handlers with a STOPPED SwarmError', async () => {
      const waiting = waitOnSignal('stopped');
      const { call, stop, running } = await serve({ Wait: waiting.Wait }, { shutdownGraceMs: 300 });
      const outcome = settle(call.Wait({ id: 4, text: '' }));
      const signal = await within(waiting.signal, 'the handler to wait on its signal');
      expect(signal.aborted).toBe(false);
      stop();
      const reason = await within(untilAborted(signal), "the handler's signal to abort on stop");
      expect(codeOf(reason)).toBe('STOPPED');
      await within(running, 'run() to resolve');
      await within(outcome, 'the call to settle');
    });

    it('cuts a call whose handler outlives the grace period, and run() still resolves', async () => {
      const started = deferred<void>();
      const release: Deferred<Msg> = deferred<Msg>();
      cleanups.push(() => release.resolve({ id: 0, text: 'released after the test' }));
      const { call, stop, running } = await serve(
        {
          // Ignores its signal: answers only when the test ends.
          Wait: async () => {
            started.resolve();
            return release.promise;
          },
        },
        { shutdownGraceMs: 300 },
      );
      const outcome = settle(call.Wait({ id: 5, text: '' }));
      await within(started.promise, 'the handler to start');
      const stopAt = Date.now();
      stop();
      await within(running, 'run() to resolve after the grace period');
      // Not cut before the grace period is over.
      expect(Date.now() - stopAt).toBeGreaterThanOrEqual(250);
      const result = await within(outcome, 'the cut call to fail');
      expect(result.ok).toBe(false);
      if (!result.ok) expect(isSwarmError(result.error)).toBe(true);
    });

    it('delivers the response of a handler that finishes within the grace period', async () => {
      const started = deferred<void>();
      const { call, stop, running } = await serve(
        {
          Wait: async (req, ctx) => {
            const signal = ctx.signal;
            started.resolve();
            await untilAborted(signal);
            // Some work after the stop began, well within the grace period: a few loop turns.
            for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
            return { id: req.id, text: 'finished after stop' };
          },
        },
        { shutdownGraceMs: 300 },
      );
      const outcome = settle(call.Wait({ id: 6, text: '' }));
      await within(started.promise, 'the handler to start');
      stop();
      const result = await within(outcome, 'the response');
      expect(result).toEqual({ ok: true, value: { id: 6, text: 'finished after stop' } });
      await within(running, 'run() to resolve');
    });

    it('fails new calls with a retryable UNAVAILABLE once run() has resolved', async () => {
      const { call, stop, running, connect } = await serve({}, { shutdownGraceMs: 300 });
      expect(await call.Echo({ id: 7, text: 'before' })).toEqual({ id: 7, text: 'echo before' });
      stop();
      await within(running, 'run() to resolve');
      for (const [who, c] of [
        ['the connected client', call],
        ['a new client', connect(Contract)],
      ] as const) {
        const result = await within(settle(c.Echo({ id: 8, text: 'after' }, { timeoutMs: 3000 })), who);
        expect(result.ok, who).toBe(false);
        if (!result.ok) {
          expect(codeOf(result.error), who).toBe('UNAVAILABLE');
          expect((result.error as SwarmError).retryable, who).toBe(true);
        }
      }
    });
  });

  it('hands the call metadata to the handler', async () => {
    let seen: unknown;
    const { call } = await serve({
      Echo: async (req, ctx) => {
        seen = ctx.metadata.get('x-test-key');
        return req;
      },
    });
    await call.Echo({ id: 9, text: '' }, { metadata: { 'x-test-key': 'v1' } });
    expect(seen).toEqual(['v1']);
  });

  describe('maxMessageBytes: 1024', () => {
    it('serves messages under the limit', async () => {
      const { call } = await serve({}, { maxMessageBytes: 1024 });
      const res = await call.Blob({ data: 'x'.repeat(500), replySize: 500 });
      expect(res.data).toHaveLength(500);
    });

    it('refuses a larger request with RESOURCE_EXHAUSTED, before the handler runs', async () => {
      let calls = 0;
      const { call } = await serve(
        {
          Blob: async (req) => {
            calls++;
            return { data: 'y'.repeat(req.replySize) };
          },
        },
        { maxMessageBytes: 1024 },
      );
      const result = await within(settle(call.Blob({ data: 'x'.repeat(4096), replySize: 1 })), 'the refusal');
      expect(result.ok).toBe(false);
      if (!result.ok) expect(codeOf(result.error)).toBe('RESOURCE_EXHAUSTED');
      expect(calls).toBe(0);
    });

    it('fails a call whose response is larger than the limit', async () => {
      const { call } = await serve({}, { maxMessageBytes: 1024 });
      const result = await within(settle(call.Blob({ data: '', replySize: 4096 })), 'the failure');
      expect(result.ok).toBe(false);
      // grpc-js (1.14) answers RESOURCE_EXHAUSTED ("Sent message larger than max"); any failure
      // is acceptable, as long as it is a SwarmError.
      if (!result.ok) expect(isSwarmError(result.error)).toBe(true);
    });
  });

  it('answers a method the server does not serve with a non-retryable UNAVAILABLE', async () => {
    const { connect } = await serve({});
    const plus = connect(ContractPlus);
    // The server is there and serves the rest of the service.
    expect(await plus.Echo({ id: 10, text: 'x' })).toEqual({ id: 10, text: 'echo x' });
    const result = await within(settle(plus.Missing({ id: 11, text: '' })), 'the refusal');
    expect(result.ok).toBe(false);
    if (!result.ok) {
      // UNIMPLEMENTED has no code of its own: fromGrpcError maps it to UNAVAILABLE, and since it
      // is not a transport failure, not retryable.
      expect(codeOf(result.error)).toBe('UNAVAILABLE');
      expect((result.error as SwarmError).retryable).toBe(false);
    }
  });

  it('reports a plain Error thrown by a handler as BUG with its message', async () => {
    const { call } = await serve({
      Echo: async () => {
        throw new Error('boom');
      },
    });
    const result = await within(settle(call.Echo({ id: 12, text: '' })), 'the failure');
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(codeOf(result.error)).toBe('BUG');
      expect((result.error as SwarmError).message).toContain('boom');
    }
  });

  it('stops pulling from a server-stream handler while the client does not read', async () => {
    let yielded = 0;
    let finished = false;
    const { call } = await serve({
      Flood: async function* (req) {
        try {
          for (let i = 0; i < req.count; i++) {
            yielded++;
            yield { i, data: 'z'.repeat(req.size) };
          }
        } finally {
          finished = true;
        }
      },
    });
    const ctl = new AbortController();
    const it = call.Flood({ count: 2000, size: 64 * 1024 }, { signal: ctl.signal })[Symbol.asyncIterator]();
    try {
      expect((await within(it.next(), 'the first message')).value?.i).toBe(0);
      // The client holds the iterator without reading: wait until the handler is held too.
      let last = -1;
      let stable = 0;
      const settled = await waitFor(
        () => {
          const now = yielded;
          stable = now === last ? stable + 1 : 0;
          last = now;
          return stable >= 10 ? { done: true, value: now } : { done: false, state: `yielded ${now}` };
        },
        { timeoutMs: 10_000, intervalMs: 20, what: 'the handler to stop being pulled' },
      );
      expect(settled).toBeLessThan(200);
      expect(finished).toBe(false);
    } finally {
      ctl.abort();
    }
    await waitFor(
      () => (finished ? { done: true, value: true } : { done: false, state: `yielded ${yielded}` }),
      {
        timeoutMs: WAIT_MS,
        intervalMs: 20,
        what: "the handler's finally after the client cancelled",
      },
    );
  });

  it('ends a bidi stream with the SwarmError its handler threw, after the messages before it', async () => {
    const { call } = await serve({
      Chat: async function* (requests) {
        let n = 0;
        for await (const r of requests) {
          yield { id: r.id, text: r.text.toUpperCase() };
          if (++n === 2) throw new FailedPreconditionError('two is enough');
        }
      },
    });
    const chat = call.Chat();
    await chat.write({ id: 1, text: 'a' });
    await chat.write({ id: 2, text: 'b' });
    chat.end();
    const replies: string[] = [];
    const failure = await within(
      (async () => {
        try {
          for await (const r of chat) replies.push(r.text);
          return 'ended without an error';
        } catch (e) {
          return e;
        }
      })(),
      'the bidi stream to end',
    );
    expect(replies).toEqual(['A', 'B']);
    expect(codeOf(failure)).toBe('FAILED_PRECONDITION');
  });

  it('answers 500 concurrent unary calls on one client, each with its own response', async () => {
    const { call } = await serve({
      Echo: async (req) => {
        // Varied handling times (loop turns), so responses complete out of order.
        for (let i = 0; i < req.id % 7; i++) await new Promise((r) => setImmediate(r));
        return { id: req.id, text: `echo ${req.text}` };
      },
    });
    const ids = Array.from({ length: 500 }, (_, i) => i);
    const responses = await within(
      Promise.all(ids.map((id) => call.Echo({ id, text: `r${id}` }))),
      '500 responses',
      10_000,
    );
    expect(responses).toEqual(ids.map((id) => ({ id, text: `echo r${id}` })));
  });
});

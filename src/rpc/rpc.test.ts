import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTestCa, type TestCa } from '../../test/harness/test-ca.js';
import { isSwarmError, NotFoundError, noopLogger, SwarmError } from '../common/index.js';
import { createClient } from './client.js';
import { jsonCodec } from './codec.js';
import { clientCredentials, NodeServerCredentials, serverNameOverride } from './credentials.js';
import { ChannelCredentials, ServerCredentials } from './index.js';
import { type CallContext, RpcServer } from './server.js';
import { bidi, defineService, serverStream, unary } from './service.js';

interface Echo {
  text: string;
}
const echo = jsonCodec<Echo>();
const whoami = jsonCodec<{ nodeId: string | null; role: string | null }>();
const Demo = defineService('swarmctl.test.Demo', {
  Echo: unary(echo, echo),
  WhoAmI: unary(echo, whoami),
  Join: unary(echo, echo),
  Count: serverStream(jsonCodec<{ n: number }>(), jsonCodec<{ i: number }>()),
  Chat: bidi(echo, echo),
});

/** Everything but Join needs a verified cluster certificate; Echo is for managers only. */
function authorize(ctx: CallContext): void {
  if (ctx.method === 'Join') return;
  if (!ctx.peer) throw new SwarmError('UNAUTHENTICATED', 'a cluster certificate is required');
  if (ctx.method === 'Echo' && ctx.peer.role !== 'swarm-manager') {
    throw new SwarmError('PERMISSION_DENIED', `${ctx.peer.role} may not call ${ctx.method}`);
  }
}

let ca: TestCa;
let other: TestCa;
let creds: NodeServerCredentials;
let port = 0;
const stop = new AbortController();
let serving: Promise<void>;

beforeAll(async () => {
  ca = createTestCa('cluster-root');
  other = createTestCa('other-root');
  const server = new RpcServer({ logger: noopLogger }).addService(
    Demo,
    {
      Echo: async (req) => ({ text: `echo ${req.text}` }),
      WhoAmI: async (_req, ctx) => ({ nodeId: ctx.peer?.nodeId ?? null, role: ctx.peer?.role ?? null }),
      Join: async (req) => {
        if (req.text === 'missing') throw new NotFoundError('node', 'n-404');
        return { text: 'welcome' };
      },
      Count: async function* (req) {
        for (let i = 0; i < req.n; i++) yield { i };
      },
      Chat: async function* (requests) {
        for await (const r of requests) yield { text: r.text.toUpperCase() };
      },
    },
    authorize,
  );
  creds = new NodeServerCredentials({
    ca: ca.rootPem,
    ...ca.issue({ nodeId: 'mgr1', role: 'swarm-manager', clusterId: 'c1' }),
  });
  port = await server.bind('127.0.0.1:0', creds);
  serving = server.run(stop.signal);
});

afterAll(async () => {
  stop.abort();
  await serving;
  ca.dispose();
  other.dispose();
});

const clients: { close(): void }[] = [];
afterEach(() => {
  for (const c of clients.splice(0)) c.close();
});

function connect(trust: { ca: string; cert?: string; key?: string }) {
  const c = createClient(Demo, `127.0.0.1:${port}`, clientCredentials(trust), serverNameOverride());
  clients.push(c);
  return c.call;
}

describe('rpc over mutual TLS', () => {
  it('carries unary, server-stream and bidi calls and tells the handler who is calling', async () => {
    const call = connect({
      ca: ca.rootPem,
      ...ca.issue({ nodeId: 'mgr2', role: 'swarm-manager', clusterId: 'c1' }),
    });
    expect(await call.Echo({ text: 'hi' })).toEqual({ text: 'echo hi' });
    expect(await call.WhoAmI({ text: '' })).toEqual({ nodeId: 'mgr2', role: 'swarm-manager' });
    const seen: number[] = [];
    for await (const m of call.Count({ n: 2000 })) seen.push(m.i);
    expect(seen).toHaveLength(2000);
    expect(seen[1999]).toBe(1999);
    const chat = call.Chat();
    await chat.write({ text: 'a' });
    await chat.write({ text: 'b' });
    chat.end();
    const replies: string[] = [];
    for await (const r of chat) replies.push(r.text);
    expect(replies).toEqual(['A', 'B']);
  });

  it('lets a caller without a certificate reach only the join call', async () => {
    const call = connect({ ca: ca.rootPem });
    expect(await call.Join({ text: 'token' })).toEqual({ text: 'welcome' });
    const e = await call.WhoAmI({ text: '' }).catch((x: unknown) => x);
    expect(isSwarmError(e, 'UNAUTHENTICATED')).toBe(true);
  });

  it('treats a certificate from another CA as no identity', async () => {
    const call = connect({
      ca: ca.rootPem,
      ...other.issue({ nodeId: 'evil', role: 'swarm-manager', clusterId: 'c1' }),
    });
    const e = await call.Echo({ text: 'x' }).catch((x: unknown) => x);
    expect(isSwarmError(e, 'UNAUTHENTICATED')).toBe(true);
  });

  it('refuses a worker certificate on a manager-only method with PERMISSION_DENIED', async () => {
    const call = connect({
      ca: ca.rootPem,
      ...ca.issue({ nodeId: 'w1', role: 'swarm-worker', clusterId: 'c1' }),
    });
    expect((await call.WhoAmI({ text: '' })).role).toBe('swarm-worker');
    const e = await call.Echo({ text: 'x' }).catch((x: unknown) => x);
    expect(isSwarmError(e, 'PERMISSION_DENIED')).toBe(true);
  });

  it('rebuilds typed errors with their code and details on the client', async () => {
    const call = connect({ ca: ca.rootPem });
    const e = await call.Join({ text: 'missing' }).catch((x: unknown) => x);
    expect(isSwarmError(e, 'NOT_FOUND')).toBe(true);
    expect((e as SwarmError).details).toMatchObject({ kind: 'node', id: 'n-404' });
  });

  it('refuses a client that does not trust the server certificate', async () => {
    const call = connect({ ca: other.rootPem });
    const e = await call.Join({ text: 'x' }, { timeoutMs: 3000 }).catch((x: unknown) => x);
    expect(isSwarmError(e, 'UNAVAILABLE')).toBe(true);
  });

  it('swaps certificate and trusted roots for new connections without restarting', async () => {
    const next = createTestCa('next-root');
    try {
      creds.update({
        ca: next.rootPem,
        ...next.issue({ nodeId: 'mgr1', role: 'swarm-manager', clusterId: 'c1' }),
      });
      const call = connect({
        ca: next.rootPem,
        ...next.issue({ nodeId: 'mgr3', role: 'swarm-manager', clusterId: 'c1' }),
      });
      expect(await call.WhoAmI({ text: '' })).toEqual({ nodeId: 'mgr3', role: 'swarm-manager' });
    } finally {
      creds.update({
        ca: ca.rootPem,
        ...ca.issue({ nodeId: 'mgr1', role: 'swarm-manager', clusterId: 'c1' }),
      });
      next.dispose();
    }
  });
});

describe('credential update', () => {
  it('refuses unusable material and keeps serving with the old one', async () => {
    const mismatched = {
      ca: ca.rootPem,
      cert: ca.issue({ nodeId: 'mgr1', role: 'swarm-manager', clusterId: 'c1' }).cert,
      key: ca.issue({ nodeId: 'mgr1', role: 'swarm-manager', clusterId: 'c1' }).key,
    };
    let caught: unknown;
    try {
      creds.update(mismatched);
    } catch (e) {
      caught = e;
    }
    expect(isSwarmError(caught) && caught.code).toBe('INVALID_ARGUMENT');
    const call = connect({
      ca: ca.rootPem,
      ...ca.issue({ nodeId: 'mgr4', role: 'swarm-manager', clusterId: 'c1' }),
    });
    expect(await call.WhoAmI({ text: '' })).toEqual({ nodeId: 'mgr4', role: 'swarm-manager' });
  });
});

describe('rpc over a unix socket', () => {
  it('serves the local control path without TLS', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rpc-sock-'));
    const ctl = new AbortController();
    const server = new RpcServer({ logger: noopLogger }).addService(
      Demo,
      {
        Echo: async (r) => r,
        WhoAmI: async (_r, ctx) => ({ nodeId: ctx.peer?.nodeId ?? null, role: null }),
        Join: async (r) => r,
        Count: async function* () {},
        Chat: async function* () {},
      },
      () => {},
    );
    await server.bind(`unix://${join(dir, 'ctl.sock')}`, ServerCredentials.createInsecure());
    const running = server.run(ctl.signal);
    const c = createClient(Demo, `unix://${join(dir, 'ctl.sock')}`, ChannelCredentials.createInsecure());
    try {
      expect(await c.call.Echo({ text: 'local' })).toEqual({ text: 'local' });
      expect(await c.call.WhoAmI({ text: '' })).toEqual({ nodeId: null, role: null });
    } finally {
      c.close();
      ctl.abort();
      await running;
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

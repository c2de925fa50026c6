import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestCa, type TestCa } from '../../../test/harness/test-ca.js';
import {
  type Clock,
  isSwarmError,
  ManualClock,
  noopLogger,
  systemClock,
  waitFor,
} from '../../common/index.js';
import {
  clientCredentials,
  createClient,
  NodeServerCredentials,
  RpcServer,
  serverNameOverride,
} from '../../rpc/index.js';
import type { AppendMessage, Message, TransportReport } from '../types.js';
import { GrpcTransport, type GrpcTransportOptions } from './grpc-transport.js';
import { RaftService } from './service.js';

interface Member {
  id: string;
  transport: GrpcTransport;
  received: Message[];
  reports: TransportReport[];
  port: number;
  stop: AbortController;
  done: Promise<unknown>;
}

let ca: TestCa;
const members: Member[] = [];

function materialOf(id: string) {
  return { ca: ca.rootPem, ...ca.issue({ nodeId: id, role: 'swarm-manager', clusterId: 'c1' }) };
}

async function startMember(id: string, port = 0): Promise<Member> {
  const material = materialOf(id);
  const transport = new GrpcTransport(
    {
      self: id,
      clock: systemClock,
      logger: noopLogger,
      credentials: () => clientCredentials(material),
      channelOptions: serverNameOverride(),
    },
    { snapshotChunkBytes: 64 * 1024, minBackoffMs: 10, maxBackoffMs: 50, pushAfterMs: 200, receive: 'pull' },
  );
  const server = new RpcServer({ logger: noopLogger }, { shutdownGraceMs: 100 }).addService(
    RaftService,
    transport.handlers(),
    (ctx) => {
      if (ctx.peer?.role !== 'swarm-manager') throw new Error('managers only');
    },
  );
  const bound = await server.bind(`127.0.0.1:${port}`, new NodeServerCredentials(material));
  const m: Member = {
    id,
    transport,
    received: [],
    reports: [],
    port: bound,
    stop: new AbortController(),
    done: Promise.resolve(),
  };
  transport.onMessage((msg) => m.received.push(msg));
  transport.onReport((r) => m.reports.push(r));
  m.done = Promise.all([server.run(m.stop.signal), transport.run(m.stop.signal)]);
  return m;
}

function append(from: string, to: string, index: number, size = 8): AppendMessage {
  return {
    type: 'append',
    from,
    to,
    term: 1,
    prevIndex: index - 1,
    prevTerm: 1,
    commit: 0,
    entries: [{ term: 1, index, type: 'normal', data: new Uint8Array(size).fill(index % 251) }],
  };
}

interface PushMember {
  t: GrpcTransport;
  port: number;
  got: Message[];
}

/** A member with the default (push) receive mode, stopped after all tests. */
async function startPushMember(
  id: string,
  clock: Clock = systemClock,
  options: GrpcTransportOptions = {},
): Promise<PushMember> {
  const material = materialOf(id);
  const t = new GrpcTransport(
    {
      self: id,
      clock,
      logger: noopLogger,
      credentials: () => clientCredentials(material),
      channelOptions: serverNameOverride(),
    },
    options,
  );
  const server = new RpcServer({ logger: noopLogger }, { shutdownGraceMs: 100 }).addService(
    RaftService,
    t.handlers(),
    () => {},
  );
  const port = await server.bind('127.0.0.1:0', new NodeServerCredentials(material));
  const got: Message[] = [];
  t.onMessage((m) => got.push(m));
  const stop = new AbortController();
  pushStops.push(stop);
  pushRuns.push(Promise.all([server.run(stop.signal), t.run(stop.signal)]));
  return { t, port, got };
}

function commitOnly(from: string, to: string, commit: number): AppendMessage {
  return { type: 'append', from, to, term: 1, prevIndex: commit, prevTerm: 1, commit, entries: [] };
}

async function gotCount(m: PushMember, n: number, what: string): Promise<void> {
  await waitFor(
    () => (m.got.length >= n ? { done: true, value: 0 } : { done: false, state: `${m.got.length} of ${n}` }),
    { timeoutMs: 10_000, what },
  );
}

beforeAll(async () => {
  ca = createTestCa();
  for (const id of ['a', 'b', 'c']) members.push(await startMember(id));
  for (const m of members)
    for (const p of members) if (p !== m) m.transport.setPeer(p.id, `127.0.0.1:${p.port}`);
});

const pushStops: AbortController[] = [];
const pushRuns: Promise<unknown>[] = [];

afterAll(async () => {
  for (const m of members) m.stop.abort();
  for (const s of pushStops) s.abort();
  await Promise.all([...members.map((m) => m.done), ...pushRuns]);
  ca.dispose();
});

describe('GrpcTransport', () => {
  it('delivers every message to its addressee, in order, over mutual TLS', async () => {
    const [a, b, c] = members as [Member, Member, Member];
    for (let i = 1; i <= 3000; i++) a.transport.send([append('a', i % 2 ? 'b' : 'c', i)]);
    await waitFor(
      () =>
        b.received.length + c.received.length >= 3000
          ? { done: true, value: 0 }
          : { done: false, state: `${b.received.length}+${c.received.length}` },
      { timeoutMs: 20_000, what: 'all appends delivered' },
    );
    const indexes = (m: Member): number[] => m.received.map((x) => (x as AppendMessage).entries[0]!.index);
    expect(indexes(b)).toEqual(Array.from({ length: 1500 }, (_, i) => 2 * i + 1));
    expect(indexes(c)).toEqual(Array.from({ length: 1500 }, (_, i) => 2 * i + 2));
    b.received.length = 0;
    c.received.length = 0;
  });

  it('moves a large snapshot in chunks on the bulk channel and reports success', async () => {
    const [a, b] = members as [Member, Member];
    const data = new Uint8Array(3 * 1024 * 1024 + 17).map((_, i) => i % 253);
    a.transport.send([
      {
        type: 'snapshot',
        from: 'a',
        to: 'b',
        term: 2,
        snapshot: { meta: { index: 500, term: 2, conf: { voters: ['a', 'b', 'c'], learners: [] } }, data },
      },
    ]);
    a.transport.send([{ type: 'heartbeat', from: 'a', to: 'b', term: 2, commit: 500, readRound: 0 }]);
    const snap = await waitFor(
      () => {
        const s = b.received.find((m) => m.type === 'snapshot');
        return s ? { done: true, value: s } : { done: false, state: b.received.map((m) => m.type).join(',') };
      },
      { timeoutMs: 20_000, what: 'snapshot delivered' },
    );
    expect(
      snap.type === 'snapshot' && Buffer.compare(Buffer.from(snap.snapshot.data), Buffer.from(data)),
    ).toBe(0);
    await waitFor(
      () =>
        a.reports.some((r) => r.kind === 'snapshot' && r.peer === 'b' && r.ok)
          ? { done: true, value: 0 }
          : { done: false, state: JSON.stringify(a.reports) },
      { timeoutMs: 5000 },
    );
    b.received.length = 0;
  });

  it('reports an unreachable peer and reconnects once it is back', async () => {
    const a = members[0]!;
    const c = members[2]!;
    c.stop.abort();
    await c.done;
    a.transport.send([append('a', 'c', 1)]);
    await waitFor(
      () =>
        a.reports.some((r) => r.kind === 'unreachable' && r.peer === 'c')
          ? { done: true, value: 0 }
          : { done: false, state: JSON.stringify(a.reports) },
      { timeoutMs: 10_000, what: 'unreachable report' },
    );
    const back = await startMember('c', c.port);
    members[2] = back;
    await waitFor(
      () => {
        a.transport.send([append('a', 'c', 2)]);
        return back.received.length > 0
          ? { done: true, value: 0 }
          : { done: false, state: 'nothing received' };
      },
      { timeoutMs: 10_000, intervalMs: 100, what: 'delivery after restart' },
    );
  });

  it('lets a member pull only its own messages', async () => {
    const [a] = members as [Member];
    const asB = createClient(
      RaftService,
      `127.0.0.1:${a.port}`,
      clientCredentials(materialOf('b')),
      serverNameOverride(),
    );
    try {
      const outcome = await (async () => {
        for await (const batch of asB.call.Pull({ to: 'c' }, { timeoutMs: 5000 }))
          return `batch of ${batch.length}`;
        return 'ended';
      })().catch((e: unknown) => (isSwarmError(e) ? e.code : String(e)));
      expect(outcome).toBe('PERMISSION_DENIED');
    } finally {
      asB.close();
    }
  });

  it('pushes to a peer that does not pull from it yet, then hands over to its pull in order', async () => {
    const a = members[0]!;
    const d = await startMember('d');
    members.push(d);
    // d does not know a: it cannot pull, so after pushAfterMs a falls back to pushing.
    a.transport.setPeer('d', `127.0.0.1:${d.port}`);
    let next = 1;
    const sendSome = (n: number): void => {
      for (let i = 0; i < n; i++, next++) a.transport.send([append('a', 'd', next)]);
    };
    const receivedAll = (what: string) =>
      waitFor(
        () =>
          d.received.length >= next - 1
            ? { done: true, value: 0 }
            : { done: false, state: `${d.received.length} of ${next - 1}` },
        { timeoutMs: 10_000, what },
      );
    sendSome(200);
    await receivedAll('pushed messages');
    d.transport.setPeer('a', `127.0.0.1:${a.port}`);
    // Keep sending while d's pull attaches and takes over from the push session.
    await waitFor(
      () => {
        sendSome(50);
        return (a.transport as unknown as { peers: Map<string, { outlet?: object }> }).peers.get('d')?.outlet
          ? { done: true, value: 0 }
          : { done: false, state: 'd has not pulled yet' };
      },
      { timeoutMs: 10_000, intervalMs: 20, what: 'pull from d attached' },
    );
    sendSome(500);
    await receivedAll('messages after the hand-over');
    const indexes = d.received.map((x) => (x as AppendMessage).entries[0]!.index);
    expect(indexes).toEqual(Array.from({ length: next - 1 }, (_, i) => i + 1));
  });

  it('in push mode (the default), the sender dials and delivers in order to a receiver that knows no peer', async () => {
    const e = await startPushMember('e');
    const f = await startPushMember('f');
    e.t.setPeer('f', `127.0.0.1:${f.port}`);
    for (let i = 1; i <= 1000; i++) e.t.send([append('e', 'f', i)]);
    await waitFor(
      () => (f.got.length >= 1000 ? { done: true, value: 0 } : { done: false, state: `${f.got.length}` }),
      { timeoutMs: 10_000, what: 'pushed appends' },
    );
    expect(f.got.map((x) => (x as AppendMessage).entries[0]!.index)).toEqual(
      Array.from({ length: 1000 }, (_, i) => i + 1),
    );
  });

  it('holds an append without entries (a commit-index update) until company or commitDelayMs, in order', async () => {
    const clock = new ManualClock();
    const e = await startPushMember('h', clock, { commitDelayMs: 1000 });
    const f = await startPushMember('i');
    const g = await startPushMember('j');
    e.t.setPeer('i', `127.0.0.1:${f.port}`);
    e.t.setPeer('j', `127.0.0.1:${g.port}`);
    e.t.send([append('h', 'i', 1), append('h', 'j', 1)]);
    await gotCount(f, 1, 'first append to i');
    await gotCount(g, 1, 'first append to j');
    // Held: once j has a message sent after it, the one for i has not even left the queue.
    e.t.send([commitOnly('h', 'i', 1), append('h', 'j', 2)]);
    await gotCount(g, 2, 'second append to j');
    expect(e.t.queued('i')).toBe(1);
    // Company releases it, ahead of the message that came later.
    e.t.send([append('h', 'i', 2)]);
    await gotCount(f, 3, 'the held update and the next append');
    expect(f.got.map((m) => (m as AppendMessage).entries.length)).toEqual([1, 0, 1]);
    // Alone, it leaves once the delay is over.
    e.t.send([commitOnly('h', 'i', 2)]);
    expect(e.t.queued('i')).toBe(1);
    clock.advance(1000);
    await gotCount(f, 4, 'the update released by its timer');
    expect((f.got[3] as AppendMessage).commit).toBe(2);
    // A member that forwards proposals to us waits for commits: its updates are not held.
    g.t.setPeer('h', `127.0.0.1:${e.port}`);
    g.t.send([
      {
        type: 'propose',
        from: 'j',
        to: 'h',
        term: 1,
        entries: [{ type: 'normal', data: new Uint8Array(1) }],
      },
    ]);
    await gotCount(e, 1, 'the forwarded proposal');
    e.t.send([commitOnly('h', 'j', 2)]);
    await gotCount(g, 3, 'the update to a member that forwards');
  });

  it('refuses a commitDelayMs that is not whole milliseconds in 0..1000, naming it', () => {
    const make = (commitDelayMs: number) =>
      new GrpcTransport(
        {
          self: 'x',
          clock: new ManualClock(),
          logger: noopLogger,
          credentials: () => clientCredentials({ ca: ca.rootPem }),
        },
        { commitDelayMs },
      );
    expect(() => make(0)).not.toThrow();
    for (const bad of [-1, 1.5, 1001]) {
      try {
        make(bad);
        expect.fail(`commitDelayMs ${bad} accepted`);
      } catch (err) {
        expect(
          isSwarmError(err) && err.code === 'INVALID_ARGUMENT' && err.details?.field === 'commitDelayMs',
        ).toBe(true);
      }
    }
  });

  it('drops messages beyond the queue bound instead of growing without limit', () => {
    const t = new GrpcTransport(
      {
        self: 'x',
        clock: new ManualClock(),
        logger: noopLogger,
        credentials: () => clientCredentials({ ca: ca.rootPem }),
      },
      { maxQueuedMessages: 10 },
    );
    t.setPeer('y', '127.0.0.1:1');
    for (let i = 1; i <= 50; i++) t.send([append('x', 'y', i)]);
    expect((t as unknown as { peers: Map<string, { queue: unknown[] }> }).peers.get('y')?.queue).toHaveLength(
      10,
    );
  });
});

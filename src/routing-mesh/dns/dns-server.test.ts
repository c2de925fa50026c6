import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { connect, createServer, type Server } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isSwarmError, noopLogger, SeededRandom, systemClock, waitFor } from '../../common/index.js';
import { DnsServer, meshDnsBindings } from './dns-server.js';
import { APP, askTcp, fixture, NODE1, OTHER, queryBytes, taskIdOf, UdpDnsClient } from './test-support.js';
import type { Upstream } from './upstreams.js';
import { encodeMessage, parseMessage, RCODE, RR_TYPE } from './wire.js';

const HOST = '127.0.0.1';

/** A fake upstream resolver on 127.0.0.x: answers A queries with 198.51.100.7, or stays silent. */
class FakeUpstream {
  readonly socket: UdpSocket = createSocket('udp4');
  readonly tcp: Server = createServer((c) => {
    c.on('error', () => {});
    c.on('data', (buf: Buffer) => {
      const reply = this.reply(buf.subarray(2), 'tcp');
      if (!reply) return;
      const framed = Buffer.alloc(reply.length + 2);
      framed.writeUInt16BE(reply.length, 0);
      reply.copy(framed, 2);
      c.write(framed);
    });
  });
  readonly names: string[] = [];
  silent = false;

  private reply(buf: Buffer, transport: string): Buffer | undefined {
    const q = parseMessage(buf);
    this.names.push(`${q.questions[0]?.name ?? ''}${transport === 'tcp' ? '/tcp' : ''}`);
    if (this.silent) return undefined;
    return encodeMessage({
      ...q,
      flags: { ...q.flags, qr: true, ra: true },
      answers: [{ name: q.questions[0]!.name, class: 1, ttl: 300, type: 1, address: '198.51.100.7' }],
    });
  }

  async start(host: string): Promise<Upstream> {
    this.socket.on('message', (buf, rinfo) => {
      const reply = this.reply(buf, 'udp');
      if (reply) this.socket.send(reply, rinfo.port, rinfo.address);
    });
    await new Promise<void>((resolve) => this.socket.bind(0, host, resolve));
    const port = this.socket.address().port;
    await new Promise<void>((resolve) => this.tcp.listen({ host, port }, resolve));
    return { host, port };
  }

  close(): void {
    this.socket.close();
    this.tcp.close();
  }
}

describe('DnsServer', () => {
  let abort: AbortController;
  let running: Promise<void>;
  let server: DnsServer;
  let client: UdpDnsClient | undefined;
  let upstream: FakeUpstream | undefined;
  let port: number;

  async function start(
    options: { upstreamTimeoutMs?: number; maxForwarded?: number } = {},
  ): Promise<{ client: UdpDnsClient; upstream: FakeUpstream }> {
    const fake = new FakeUpstream();
    upstream = fake;
    const up = await fake.start('127.0.0.2');
    server = new DnsServer(
      { logger: noopLogger, clock: systemClock, random: new SeededRandom(7), upstreams: async () => [up] },
      { port: 0, ...options },
    );
    server.updateState(fixture());
    abort = new AbortController();
    running = server.run(abort.signal);
    await server.setBindings([{ networkId: APP, host: HOST }]);
    port = server.bindings()[0]!.port;
    client = new UdpDnsClient(HOST, port);
    return { client, upstream: fake };
  }

  beforeEach(() => {
    abort = new AbortController();
    running = Promise.resolve();
    client = undefined;
    upstream = undefined;
  });

  afterEach(async () => {
    abort.abort();
    await running;
    client?.close();
    upstream?.close();
  });

  it('answers a service name with its VIP, case-insensitively, echoing the question as asked', async () => {
    const { client } = await start();
    const r = await client.ask('WeB', RR_TYPE.A);
    expect(r.flags.rcode).toBe(RCODE.NOERROR);
    expect(r.flags.aa).toBe(true);
    expect(r.questions[0]!.name).toBe('WeB');
    expect(r.answers).toEqual([{ name: 'WeB', class: 1, ttl: 0, type: 1, address: '10.0.1.2' }]);
  });

  it('answers tasks.<service>, dnsrr services and task names with task addresses', async () => {
    const { client } = await start();
    const tasks = await client.ask('tasks.web', RR_TYPE.A);
    expect(tasks.answers.map((a) => ('address' in a ? a.address : '')).sort()).toEqual([
      '10.0.1.10',
      '10.0.1.11',
    ]);
    const rr = await client.ask('db', RR_TYPE.A);
    expect(rr.answers.map((a) => ('address' in a ? a.address : '')).sort()).toEqual([
      '10.0.1.20',
      '10.0.1.21',
    ]);
    const task = await client.ask('web.2.t2web00000000000000000000', RR_TYPE.A);
    expect(task.answers).toMatchObject([{ address: '10.0.1.11' }]);
  });

  it('gives NODATA for AAAA and other types of our names, and A records for ANY', async () => {
    const { client, upstream } = await start();
    for (const type of [RR_TYPE.AAAA, RR_TYPE.TXT, RR_TYPE.SRV]) {
      const r = await client.ask('web', type);
      expect(r.flags.rcode).toBe(RCODE.NOERROR);
      expect(r.answers).toEqual([]);
    }
    const any = await client.ask('web', RR_TYPE.ANY);
    expect(any.answers).toMatchObject([{ type: 1, address: '10.0.1.2' }]);
    expect(upstream.names).toEqual([]);
  });

  it('answers SRV by port name, published or target port: VIP first, then tasks, with their addresses', async () => {
    const { client, upstream } = await start();
    for (const name of ['_http._tcp.web', '_8080._tcp.web', '_80._TCP.web']) {
      const r = await client.ask(name, RR_TYPE.SRV);
      expect(r.flags.rcode).toBe(RCODE.NOERROR);
      expect(r.answers[0]).toMatchObject({ type: 33, priority: 0, port: 80, target: 'web' });
      expect(
        r.answers
          .slice(1)
          .map((a) => ('target' in a ? a.target : ''))
          .sort(),
      ).toEqual(['web.1.t1web00000000000000000000', 'web.2.t2web00000000000000000000']);
      expect(r.answers.slice(1).every((a) => 'priority' in a && a.priority === 10 && a.port === 80)).toBe(
        true,
      );
      expect(r.additionals.map((a) => `${a.name}=${'address' in a ? a.address : ''}`).sort()).toEqual([
        'web.1.t1web00000000000000000000=10.0.1.10',
        'web.2.t2web00000000000000000000=10.0.1.11',
        'web=10.0.1.2',
      ]);
    }
    const udp = await client.ask('_5353._udp.db', RR_TYPE.SRV);
    expect(udp.answers).toHaveLength(2);
    expect(udp.answers.every((a) => 'priority' in a && a.priority === 0 && a.port === 5353)).toBe(true);
    const wrongProto = await client.ask('_http._udp.web', RR_TYPE.SRV);
    expect(wrongProto.flags.rcode).toBe(RCODE.NXDOMAIN);
    expect(upstream.names).toEqual([]);
  });

  it('answers PTR for VIPs and task addresses, NXDOMAIN inside the subnet otherwise', async () => {
    const { client, upstream } = await start();
    expect((await client.ask('2.1.0.10.in-addr.arpa', RR_TYPE.PTR)).answers).toMatchObject([
      { target: 'web' },
    ]);
    expect((await client.ask('20.1.0.10.in-addr.arpa', RR_TYPE.PTR)).answers).toMatchObject([
      { target: 'db.1.t1db000000000000000000000' },
    ]);
    expect((await client.ask('99.1.0.10.in-addr.arpa', RR_TYPE.PTR)).flags.rcode).toBe(RCODE.NXDOMAIN);
    expect(upstream.names).toEqual([]);
  });

  it('keeps names of other networks and single labels local (NXDOMAIN, never forwarded)', async () => {
    const { client, upstream } = await start();
    for (const name of ['hidden', 'tasks.hidden', '_80._tcp.hidden', 'nosuchname']) {
      expect((await client.ask(name, RR_TYPE.A)).flags.rcode, name).toBe(RCODE.NXDOMAIN);
    }
    expect(upstream.names).toEqual([]);
  });

  it('follows updateState at once: a new backend and a removed service', async () => {
    const { client } = await start();
    expect((await client.ask('tasks.web', RR_TYPE.A)).answers).toHaveLength(2);
    server.updateState(fixture(2, 1));
    expect((await client.ask('tasks.web', RR_TYPE.A)).answers).toHaveLength(3);
    const m = fixture(3);
    server.updateState({ ...m, services: m.services.filter((s) => s.name !== 'db') });
    const gone = await client.ask('db', RR_TYPE.A);
    expect(gone.flags.rcode).toBe(RCODE.NXDOMAIN);
  });

  it('drops a withdrawn task from its answers at once, until the leader stops listing it', async () => {
    const { client, upstream } = await start();
    server.withdraw(taskIdOf('web', 2));
    expect((await client.ask('tasks.web', RR_TYPE.A)).answers).toMatchObject([{ address: '10.0.1.10' }]);
    expect((await client.ask('web.2.t2web00000000000000000000', RR_TYPE.A)).flags.rcode).toBe(RCODE.NXDOMAIN);
    expect(upstream.names).toEqual([]);
    expect((await client.ask('web', RR_TYPE.A)).answers).toMatchObject([{ address: '10.0.1.2' }]);
    // The leader's next state no longer lists it; a new task with the same id later would resolve.
    const m = fixture(2);
    server.updateState({
      ...m,
      services: m.services.map((s) => ({
        ...s,
        backends: s.backends.filter((b) => b.taskId !== taskIdOf('web', 2)),
      })),
    });
    server.updateState(fixture(3));
    expect((await client.ask('tasks.web', RR_TYPE.A)).answers).toHaveLength(2);
  });

  it('forwards other names to the upstream and returns its answer under the client ID', async () => {
    const { client, upstream } = await start();
    const r = await client.ask('example.com', RR_TYPE.A);
    expect(r.flags.rcode).toBe(RCODE.NOERROR);
    expect(r.answers).toMatchObject([{ name: 'example.com', address: '198.51.100.7' }]);
    expect(upstream.names).toEqual(['example.com']);
  });

  it('forwards over TCP a query that came over TCP', async () => {
    const { upstream } = await start();
    const r = await askTcp(HOST, port, 'big.example.net', RR_TYPE.A);
    expect(r.answers).toMatchObject([{ name: 'big.example.net', address: '198.51.100.7' }]);
    expect(upstream.names).toEqual(['big.example.net/tcp']);
  });

  it('answers SERVFAIL when the upstream does not answer in time', async () => {
    const { client, upstream } = await start({ upstreamTimeoutMs: 150 });
    upstream.silent = true;
    const r = await client.ask('slow.example.org', RR_TYPE.A);
    expect(r.flags.rcode).toBe(RCODE.SERVFAIL);
    expect(upstream.names).toEqual(['slow.example.org']);
  });

  it('bounds the queries forwarded at once: beyond the bound, SERVFAIL without asking upstream', async () => {
    const { client, upstream } = await start({ upstreamTimeoutMs: 600, maxForwarded: 1 });
    upstream.silent = true;
    const first = client.ask('one.example.org', RR_TYPE.A);
    await waitFor(
      () => (upstream.names.length === 1 ? { done: true, value: 0 } : { done: false, state: 'no forward' }),
      {
        timeoutMs: 2_000,
      },
    );
    const second = await client.ask('two.example.org', RR_TYPE.A);
    expect(second.flags.rcode).toBe(RCODE.SERVFAIL);
    expect(upstream.names).toEqual(['one.example.org']);
    expect((await first).flags.rcode).toBe(RCODE.SERVFAIL);
  });

  it('ignores malformed packets and keeps answering; a bad body gets FORMERR', async () => {
    const { client } = await start();
    client.sendRaw(Buffer.from([1, 2, 3]));
    client.sendRaw(Buffer.from('this is not a dns message at all, but long enough'));
    const badBody = queryBytes('web', RR_TYPE.A, { id: 4242 }).subarray(0, 15);
    const formerr = await client.askRaw(Buffer.from(badBody));
    expect(formerr.flags.rcode).toBe(RCODE.FORMERR);
    const ok = await client.ask('web', RR_TYPE.A);
    expect(ok.answers).toHaveLength(1);
  });

  it('reads compressed names in a query (an additional record pointing at the question)', async () => {
    const { client } = await start();
    const q = queryBytes('web', RR_TYPE.A, { id: 777 });
    // One additional A record whose name is a pointer to the question name at offset 12.
    const extra = Buffer.from([0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 0, 0, 4, 10, 0, 0, 1]);
    const msg = Buffer.concat([q, extra]);
    msg.writeUInt16BE(1, 10);
    const r = await client.askRaw(msg);
    expect(r.answers).toMatchObject([{ address: '10.0.1.2' }]);
  });

  it('truncates an answer too big for UDP and gives it whole over TCP', async () => {
    const { client } = await start();
    server.updateState(fixture(2, 60));
    const udp = await client.ask('tasks.web', RR_TYPE.A);
    expect(udp.flags.tc).toBe(true);
    expect(udp.answers).toEqual([]);
    const edns = await client.ask('tasks.web', RR_TYPE.A, { edns: 4096 });
    expect(edns.flags.tc).toBe(false);
    expect(edns.answers).toHaveLength(62);
    const tcp = await askTcp(HOST, port, 'tasks.web', RR_TYPE.A);
    expect(tcp.answers).toHaveLength(62);
  });

  it('closes every socket when its signal aborts', async () => {
    await start();
    abort.abort();
    await running;
    const refused = await new Promise<string>((resolve) => {
      const s = connect({ host: HOST, port });
      s.on('connect', () => resolve('connected'));
      s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
    });
    expect(refused).toBe('ECONNREFUSED');
    expect(server.bindings()).toEqual([]);
  });

  it('follows the mesh when given a node id, and reports a binding it cannot open', async () => {
    expect(meshDnsBindings(fixture(), NODE1, 5300)).toEqual([
      { networkId: APP, host: '10.0.1.250', port: 5300 },
    ]);
    server = new DnsServer(
      { logger: noopLogger, clock: systemClock, random: new SeededRandom(1), upstreams: async () => [] },
      { port: 0, nodeId: NODE1, bindRetryMs: 50 },
    );
    abort = new AbortController();
    running = server.run(abort.signal);
    server.updateState(fixture());
    const status = await waitFor(
      () => {
        const b = server.bindings();
        return b.length === 1 ? { done: true, value: b[0]! } : { done: false, state: JSON.stringify(b) };
      },
      { timeoutMs: 2_000 },
    );
    // 10.0.1.250 is not an address of this machine: the binding is reported failed and retried.
    expect(status).toMatchObject({ networkId: APP, host: '10.0.1.250', state: 'failed' });
    expect(status.error).toMatch(/EADDRNOTAVAIL/);
    const m = fixture(2);
    server.updateState({ ...m, nodes: [{ ...m.nodes[0]!, networkAddrs: [] }] });
    await waitFor(
      () => (server.bindings().length === 0 ? { done: true, value: 0 } : { done: false, state: 'bound' }),
      {
        timeoutMs: 2_000,
      },
    );
  });

  it('rejects bad options naming the field', () => {
    const make = (): DnsServer =>
      new DnsServer(
        { logger: noopLogger, clock: systemClock, random: new SeededRandom(1) },
        { ttlSeconds: -1 },
      );
    expect(make).toThrow(/dns\.ttlSeconds.*-1/);
    try {
      make();
    } catch (e) {
      expect(isSwarmError(e, 'INVALID_ARGUMENT')).toBe(true);
    }
  });

  it('answers a service on another network only there', async () => {
    await start();
    await server.setBindings([
      { networkId: APP, host: HOST },
      { networkId: OTHER, host: '127.0.0.3' },
    ]);
    const other = server.bindings().find((b) => b.networkId === OTHER)!;
    const c2 = new UdpDnsClient('127.0.0.3', other.port);
    try {
      expect((await c2.ask('hidden', RR_TYPE.A)).answers).toMatchObject([{ address: '10.0.2.2' }]);
      expect((await c2.ask('web', RR_TYPE.A)).flags.rcode).toBe(RCODE.NXDOMAIN);
    } finally {
      c2.close();
    }
  });
});

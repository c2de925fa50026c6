import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  deferred,
  ManualClock,
  noopLogger,
  SeededRandom,
  systemClock,
  waitFor,
  withTimeout,
} from '../../common/index.js';
import { PortProxy, type ProxyBackend } from './port-proxy.js';
import { TcpEcho, tcpExchange, UdpClient, UdpEcho } from './test-support.js';

const HOST = '127.0.0.1';
const LIMITS = { udpIdleMs: 30_000, maxUdpFlows: 64, connectTimeoutMs: 1_000 };

describe('PortProxy', () => {
  const cleanups: (() => void)[] = [];
  afterEach(() => {
    for (const c of cleanups.splice(0).reverse()) c();
  });

  async function tcpBackends(...names: string[]): Promise<{ echo: TcpEcho; backend: ProxyBackend }[]> {
    const out: { echo: TcpEcho; backend: ProxyBackend }[] = [];
    for (const name of names) {
      const echo = new TcpEcho(name);
      const port = await echo.listen();
      cleanups.push(() => echo.close());
      out.push({ echo, backend: { host: HOST, port, local: true } });
    }
    return out;
  }

  async function proxy(protocol: 'tcp' | 'udp', clock = systemClock, port = 0): Promise<PortProxy> {
    const p = new PortProxy(
      protocol,
      HOST,
      port,
      { logger: noopLogger, clock, random: new SeededRandom(3) },
      LIMITS,
    );
    await p.listen();
    cleanups.push(() => p.close());
    return p;
  }

  it('splices TCP to two backends, using both', async () => {
    const [a, b] = await tcpBackends('a', 'b');
    const p = await proxy('tcp');
    p.setBackends([a!.backend, b!.backend]);
    const seen = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const r = await tcpExchange(HOST, p.localPort, `ping${i}`);
      expect(r.kind).toBe('data');
      const [who, echoed] = r.text.split('|');
      expect(echoed).toBe(`ping${i}`);
      seen.add(who!);
    }
    expect([...seen].sort()).toEqual(['a', 'b']);
  });

  it('sends no new connection to a removed backend, and keeps the open ones', async () => {
    const [a, b] = await tcpBackends('a', 'b');
    const p = await proxy('tcp');
    p.setBackends([b!.backend]);
    const held = connect({ host: HOST, port: p.localPort });
    cleanups.push(() => held.destroy());
    let got = '';
    const seen = (want: string): Promise<void> => {
      const d = deferred<void>();
      const check = (): void => {
        if (got.includes(want)) d.resolve();
      };
      held.on('data', (c: Buffer) => {
        got += c.toString();
        check();
      });
      check();
      return withTimeout(d.promise, 3_000, `held connection to see ${want}`);
    };
    held.write('first');
    await seen('b|first');
    p.setBackends([a!.backend]);
    held.write('second');
    await seen('second');
    const before = b!.echo.connections;
    for (let i = 0; i < 10; i++) expect((await tcpExchange(HOST, p.localPort, 'x')).text).toBe('a|x');
    expect(b!.echo.connections).toBe(before);
  });

  it('carries 8 MiB both ways with back-pressure and half-close intact', async () => {
    const [a] = await tcpBackends('a');
    const p = await proxy('tcp');
    p.setBackends([a!.backend]);
    const payload = Buffer.alloc(8 * 1024 * 1024, 'z');
    const r = await tcpExchange(HOST, p.localPort, payload);
    expect(r.kind).toBe('data');
    expect(r.text.length).toBe(2 + payload.length);
  });

  it('resets a connection when there is no backend, and skips a backend that refuses', async () => {
    const p = await proxy('tcp');
    const none = await tcpExchange(HOST, p.localPort, 'x');
    expect(none.kind).toBe('reset');
    const [a] = await tcpBackends('a');
    const dead = await tcpBackends('dead');
    dead[0]!.echo.close();
    p.setBackends([dead[0]!.backend, a!.backend]);
    for (let i = 0; i < 6; i++) expect((await tcpExchange(HOST, p.localPort, 'y')).text).toBe('a|y');
  });

  it('relays UDP per client flow over two backends, dropping datagrams while there is none', async () => {
    const echoes = [new UdpEcho('a'), new UdpEcho('b')];
    const backends: ProxyBackend[] = [];
    for (const e of echoes) {
      backends.push({ host: HOST, port: await e.listen(), local: true });
      cleanups.push(() => e.close());
    }
    const p = await proxy('udp');
    const first = new UdpClient();
    await first.bind();
    cleanups.push(() => first.close());
    first.socket.send('lost', p.localPort, HOST);
    await waitFor(
      () => (p.dropped === 1 ? { done: true, value: 0 } : { done: false, state: `${p.dropped}` }),
      {
        timeoutMs: 2_000,
        what: 'the datagram without a backend to be dropped',
      },
    );
    p.setBackends(backends);
    const reply = await first.ask(HOST, p.localPort, 'hello');
    expect(reply).toMatch(/^[ab]\|hello$/);
    // The datagram sent while no backend existed was dropped, not held for later.
    expect(echoes.flatMap((e) => e.peers)).toHaveLength(1);
    // The same client stays on its backend; other clients spread over both.
    expect(await first.ask(HOST, p.localPort, 'again')).toBe(`${reply.split('|')[0]}|again`);
    const seen = new Set<string>();
    for (let i = 0; i < 12; i++) {
      const c = new UdpClient();
      await c.bind();
      cleanups.push(() => c.close());
      seen.add((await c.ask(HOST, p.localPort, 'hi')).split('|')[0]!);
    }
    expect([...seen].sort()).toEqual(['a', 'b']);
    expect(p.activeCount).toBe(13);
  });

  it('drops the datagrams of new clients beyond maxUdpFlows, keeping the flows it has', async () => {
    const echo = new UdpEcho('a');
    const backend: ProxyBackend = { host: HOST, port: await echo.listen(), local: true };
    cleanups.push(() => echo.close());
    const p = new PortProxy(
      'udp',
      HOST,
      0,
      { logger: noopLogger, clock: systemClock, random: new SeededRandom(3) },
      { ...LIMITS, maxUdpFlows: 1 },
    );
    await p.listen();
    cleanups.push(() => p.close());
    p.setBackends([backend]);
    const [one, two] = [new UdpClient(), new UdpClient()];
    for (const c of [one, two]) {
      await c.bind();
      cleanups.push(() => c.close());
    }
    expect(await one.ask(HOST, p.localPort, 'a')).toBe('a|a');
    two.socket.send('b', p.localPort, HOST);
    await waitFor(
      () => (p.dropped === 1 ? { done: true, value: 0 } : { done: false, state: `${p.dropped}` }),
      {
        timeoutMs: 2_000,
        what: 'the second client to be dropped',
      },
    );
    expect(await one.ask(HOST, p.localPort, 'c')).toBe('a|c');
    expect(p.activeCount).toBe(1);
  });

  it('forgets idle UDP flows on its clock and drops the flows of a removed backend', async () => {
    const clock = new ManualClock(1_000);
    const echo = new UdpEcho('a');
    const backend: ProxyBackend = { host: HOST, port: await echo.listen(), local: true };
    cleanups.push(() => echo.close());
    const p = await proxy('udp', clock);
    p.setBackends([backend]);
    const c = new UdpClient();
    await c.bind();
    cleanups.push(() => c.close());
    expect(await c.ask(HOST, p.localPort, 'one')).toBe('a|one');
    clock.advance(LIMITS.udpIdleMs - 1);
    expect(p.activeCount).toBe(1);
    clock.advance(LIMITS.udpIdleMs);
    expect(p.activeCount).toBe(0);
    expect(await c.ask(HOST, p.localPort, 'two')).toBe('a|two');
    expect(p.activeCount).toBe(1);
    p.setBackends([]);
    expect(p.activeCount).toBe(0);
  });

  it('closes its listener and every open connection when closed', async () => {
    const [a] = await tcpBackends('a');
    const p = await proxy('tcp');
    p.setBackends([a!.backend]);
    const port = p.localPort;
    expect((await tcpExchange(HOST, port, 'x')).kind).toBe('data');
    p.close();
    expect((await tcpExchange(HOST, port, 'x')).kind).toBe('refused');
    expect(p.activeCount).toBe(0);
  });
});

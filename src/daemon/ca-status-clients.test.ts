import { describe, expect, it } from 'vitest';
import type { NodeCertificateStatus } from '../api/index.js';
import { createLogger, ManualClock, SeededRandom, SwarmError, waitFor } from '../common/index.js';
import type { TlsMaterial } from '../rpc/index.js';
import { type CaStatusClient, CaStatusClients } from './ca-status-clients.js';
import { CERT_STATUS_JITTER, pollCertificateStatus } from './cert-status.js';

const logger = createLogger(() => {}, { level: 'error' });
const INTERVAL = 1000;
const STATUS: NodeCertificateStatus = {
  desiredRole: 'worker',
  trustRootsPem: ['root-a'],
  rotationInProgress: false,
  issuerCertPem: 'root-a',
};

interface FakeClient {
  addr: string;
  tls: TlsMaterial;
  calls: number;
  closed: boolean;
}

/** A factory that records every client it opens; `failing` addresses reject their calls. */
function fakeFactory() {
  const opened: FakeClient[] = [];
  const failing = new Set<string>();
  const factory = (addr: string, tls: TlsMaterial): CaStatusClient => {
    const rec: FakeClient = { addr, tls, calls: 0, closed: false };
    opened.push(rec);
    return {
      status: async () => {
        if (rec.closed) throw new SwarmError('BUG', 'call on a closed client');
        rec.calls++;
        if (failing.has(addr)) throw new SwarmError('UNAVAILABLE', `${addr} is down`, { retryable: true });
        return STATUS;
      },
      close: () => {
        rec.closed = true;
      },
    };
  };
  return { opened, failing, factory };
}

/** The daemon's wiring in small: the real poll loop on a ManualClock asking through the cache. */
function startPoll(managers: () => string[], tls: () => TlsMaterial, initiallyFailing: string[] = []) {
  const clock = new ManualClock(Date.UTC(2030, 3, 1));
  const stop = new AbortController();
  const fake = fakeFactory();
  // The first poll asks at once, before startPoll returns.
  for (const addr of initiallyFailing) fake.failing.add(addr);
  const clients = new CaStatusClients(fake.factory, stop.signal);
  let asks = 0;
  let answers = 0;
  const done = pollCertificateStatus(
    {
      clock,
      random: new SeededRandom(7),
      logger,
      intervalMs: INTERVAL,
      ask: async (s) => {
        asks++;
        const status = await clients.ask(managers(), tls(), s);
        answers++;
        return status;
      },
      current: () => {
        throw new SwarmError('BUG', 'not needed: the status names no change');
      },
      trust: () => 'root-a',
      setTrust: async () => {},
      renewNow: () => {},
    },
    stop.signal,
  );
  /** Moves past the longest jittered wait and waits for poll number `n` to have asked. */
  const poll = async (n: number): Promise<void> => {
    if (n > 1) clock.advance(Math.ceil(INTERVAL * (1 + CERT_STATUS_JITTER)));
    await waitFor(
      () =>
        asks === n && clock.pendingTimers() === 1
          ? { done: true, value: 0 }
          : { done: false, state: `${asks} asks, ${clock.pendingTimers()} timers` },
      { timeoutMs: 2000, what: `poll ${n}` },
    );
  };
  return { ...fake, clients, stop, done, poll, answers: () => answers };
}

const tlsA: TlsMaterial = { ca: 'root-a', cert: 'cert-1', key: 'key-1' };

describe('CaStatusClients under the status poll', () => {
  it('reuses one client per manager across polls', async () => {
    const p = startPoll(
      () => ['m1:2377'],
      () => tlsA,
    );
    for (let n = 1; n <= 10; n++) await p.poll(n);
    expect(p.answers()).toBe(10);
    expect(p.opened.map((c) => [c.addr, c.calls, c.closed])).toEqual([['m1:2377', 10, false]]);
    expect(p.clients.open).toBe(1);
    p.stop.abort();
    await p.done;
  });

  it('replaces the client when the certificate, key or trusted roots change, closing the old one', async () => {
    let tls = tlsA;
    const p = startPoll(
      () => ['m1:2377'],
      () => tls,
    );
    await p.poll(1);
    await p.poll(2);
    tls = { ...tlsA, cert: 'cert-2', key: 'key-2' }; // renewal
    await p.poll(3);
    await p.poll(4);
    tls = { ...tls, ca: 'root-a+root-b' }; // rotation: both roots trusted
    await p.poll(5);
    expect(p.opened.map((c) => [c.tls.cert, c.tls.ca, c.calls, c.closed])).toEqual([
      ['cert-1', 'root-a', 2, true],
      ['cert-2', 'root-a', 2, true],
      ['cert-2', 'root-a+root-b', 1, false],
    ]);
    expect(p.clients.open).toBe(1);
    p.stop.abort();
    await p.done;
  });

  it('closes a client whose call failed, asks the next manager, and reconnects at a later poll', async () => {
    const p = startPoll(
      () => ['m1:2377', 'm2:2377'],
      () => tlsA,
    );
    await p.poll(1);
    p.failing.add('m1:2377');
    await p.poll(2);
    // m1's client failed and was closed; m2 answered on a client of its own.
    expect(p.opened.map((c) => [c.addr, c.closed])).toEqual([
      ['m1:2377', true],
      ['m2:2377', false],
    ]);
    expect(p.answers()).toBe(2);
    await p.poll(3);
    // Still down: each poll tries a fresh client to m1 and closes it; m2's stays.
    expect(p.opened.map((c) => [c.addr, c.closed])).toEqual([
      ['m1:2377', true],
      ['m2:2377', false],
      ['m1:2377', true],
    ]);
    p.failing.delete('m1:2377');
    await p.poll(4);
    await p.poll(5);
    expect(p.opened.length).toBe(4);
    expect(p.opened[3]).toMatchObject({ addr: 'm1:2377', calls: 2, closed: false });
    expect(p.opened[1]).toMatchObject({ addr: 'm2:2377', calls: 2, closed: false });
    expect(p.answers()).toBe(5);
    p.stop.abort();
    await p.done;
    expect(p.opened.every((c) => c.closed)).toBe(true);
  });

  it('closes the client of a manager that left the list', async () => {
    let managers = ['m1:2377', 'm2:2377'];
    const p = startPoll(
      () => managers,
      () => tlsA,
    );
    await p.poll(1);
    expect(p.opened.map((c) => c.addr)).toEqual(['m1:2377']);
    managers = ['m2:2377'];
    await p.poll(2);
    expect(p.opened.map((c) => [c.addr, c.closed])).toEqual([
      ['m1:2377', true],
      ['m2:2377', false],
    ]);
    p.stop.abort();
    await p.done;
  });

  it('closes every client when the poll is aborted, and opens none afterwards', async () => {
    const p = startPoll(
      () => ['m1:2377', 'm2:2377'],
      () => tlsA,
      ['m1:2377'],
    );
    await p.poll(1);
    p.failing.delete('m1:2377');
    await p.poll(2);
    // m2 from poll 1, then a fresh m1 at poll 2: two open channels.
    expect(p.clients.open).toBe(2);
    p.stop.abort();
    await p.done;
    expect(p.clients.open).toBe(0);
    expect(p.opened.map((c) => c.closed)).toEqual([true, true, true]);
    await expect(p.clients.ask(['m1:2377'], tlsA, p.stop.signal)).rejects.toMatchObject({ code: 'STOPPED' });
    expect(p.opened.length).toBe(3);
  });
});

import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock, nextEvent, noopLogger, SeededRandom, waitFor } from '../common/index.js';
import { CaSigner, DEFAULT_CERT_EXPIRY_MS } from './ca-signer.js';
import { generateNodeKeyAndCsr, verifyNodeCertificate } from './node-identity.js';
import {
  CertRenewer,
  type NodeCredentials,
  RENEW_LOWER_FRACTION,
  RENEW_UPPER_FRACTION,
  renewalTime,
} from './renewal.js';
import { createRootCa } from './root-ca.js';

const NOW = Date.UTC(2031, 5, 1);
const HOUR = 3_600_000;

describe('renewalTime', () => {
  it('stays within [50 %, 80 %] of the validity over many seeds, and spreads across it', () => {
    const validity = { notBefore: NOW - HOUR, notAfter: NOW + DEFAULT_CERT_EXPIRY_MS };
    const life = validity.notAfter - validity.notBefore;
    let min = 1;
    let max = 0;
    for (let seed = 0; seed < 5000; seed++) {
      const f = (renewalTime(validity, new SeededRandom(seed)) - validity.notBefore) / life;
      expect(f).toBeGreaterThanOrEqual(RENEW_LOWER_FRACTION);
      expect(f).toBeLessThanOrEqual(RENEW_UPPER_FRACTION);
      min = Math.min(min, f);
      max = Math.max(max, f);
    }
    expect(min).toBeLessThan(0.51);
    expect(max).toBeGreaterThan(0.79);
  });

  it('refuses an empty validity, naming it', () => {
    expect(() => renewalTime({ notBefore: 5, notAfter: 5 }, new SeededRandom(1))).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT', field: 'validity' }),
    );
  });
});

interface Harness {
  clock: ManualClock;
  renewer: CertRenewer;
  calls: NodeCredentials[];
  failNext: number;
  stop(): Promise<void>;
}

let running: Harness | undefined;
afterEach(async () => {
  await running?.stop();
  running = undefined;
});

async function start(seed: number, opts: { startAt?: number } = {}): Promise<Harness> {
  const clock = new ManualClock(NOW);
  const root = await createRootCa({ clock });
  const signer = await CaSigner.create(root, { clock });
  const issue = async (): Promise<NodeCredentials> => {
    const { keyPem, csrPem } = await generateNodeKeyAndCsr();
    const issued = await signer.sign({ csrPem, nodeId: 'node1', role: 'worker', clusterId: 'cluster1' });
    // What a real renew() does before swapping: check the chain against the trusted root.
    verifyNodeCertificate({ certChainPem: issued.certChainPem, rootsPem: root.certPem, clock });
    return { ...issued, keyPem };
  };
  const initial = await issue();
  if (opts.startAt !== undefined) clock.advance(opts.startAt - clock.now());
  const h: Harness = {
    clock,
    calls: [],
    failNext: 0,
    renewer: new CertRenewer(
      {
        clock,
        random: new SeededRandom(seed),
        logger: noopLogger,
        renew: async (current) => {
          h.calls.push(current);
          if (h.failNext > 0) {
            h.failNext--;
            throw new Error('manager unreachable');
          }
          return issue();
        },
      },
      initial,
    ),
    stop: async () => {},
  };
  const controller = new AbortController();
  const done = h.renewer.run(controller.signal);
  h.stop = async () => {
    controller.abort();
    await done;
  };
  running = h;
  return h;
}

/** Waits until the renewer has armed its timer (it does so after an await). */
async function armed(clock: ManualClock): Promise<void> {
  await waitFor(
    () =>
      clock.pendingTimers() === 1
        ? { done: true, value: undefined }
        : { done: false, state: `${clock.pendingTimers()} timers` },
    { timeoutMs: 5000, intervalMs: 5, what: 'renewal timer' },
  );
}

describe('CertRenewer', () => {
  it('renews at the scheduled point of the life, swaps the credentials and announces them', async () => {
    const h = await start(42);
    const first = h.renewer.current;
    const due = renewalTime(first.identity, new SeededRandom(42));
    const life = first.identity.notAfter - first.identity.notBefore;
    expect((due - first.identity.notBefore) / life).toBeGreaterThanOrEqual(0.5);

    await armed(h.clock);
    h.clock.advance(due - h.clock.now() - 1);
    expect(h.calls).toHaveLength(0);
    expect(h.renewer.current).toBe(first);

    const renewed = nextEvent(h.renewer.onDidRenew);
    h.clock.advance(1);
    const next = await renewed;
    expect(h.calls).toEqual([first]);
    expect(h.renewer.current).toBe(next);
    expect(next.keyPem).not.toBe(first.keyPem);
    expect(next.identity.nodeId).toBe('node1');
    expect(next.identity.notAfter).toBe(due - (due % 1000) + DEFAULT_CERT_EXPIRY_MS);

    // The next renewal is scheduled from the new certificate.
    await armed(h.clock);
    const again = nextEvent(h.renewer.onDidRenew);
    h.clock.advance(Math.ceil(0.8 * (next.identity.notAfter - next.identity.notBefore)));
    await again;
    expect(h.calls).toHaveLength(2);
  });

  it('renews an expired certificate at once', async () => {
    const h = await start(1, { startAt: NOW + DEFAULT_CERT_EXPIRY_MS + HOUR });
    const expired = h.renewer.current;
    await waitFor(
      () =>
        h.renewer.current !== expired
          ? { done: true, value: 0 }
          : { done: false, state: `${h.calls.length} renew calls, still on the expired certificate` },
      { timeoutMs: 5000, intervalMs: 5, what: 'renewal of an expired certificate' },
    );
    expect(h.calls).toHaveLength(1);
    expect(h.renewer.current.identity.notAfter).toBe(h.clock.now() + DEFAULT_CERT_EXPIRY_MS);
  });

  it('retries a failed renewal with growing backoff and keeps the old credentials meanwhile', async () => {
    const h = await start(7);
    const first = h.renewer.current;
    h.failNext = 2;
    const failures: number[] = [];
    h.renewer.onDidFailRenewal((f) => failures.push(f.retryInMs));

    await armed(h.clock);
    const fail1 = nextEvent(h.renewer.onDidFailRenewal);
    h.clock.advance(Math.ceil(0.8 * (first.identity.notAfter - first.identity.notBefore)));
    const f1 = await fail1;
    expect(f1.failures).toBe(1);
    expect(f1.error.message).toBe('manager unreachable');
    expect(f1.retryInMs).toBeGreaterThanOrEqual(5_000);
    expect(f1.retryInMs).toBeLessThanOrEqual(10_000);
    expect(h.renewer.current).toBe(first);

    await armed(h.clock);
    const fail2 = nextEvent(h.renewer.onDidFailRenewal);
    h.clock.advance(f1.retryInMs);
    const f2 = await fail2;
    expect(f2.failures).toBe(2);
    expect(f2.retryInMs).toBeGreaterThanOrEqual(5_000);
    expect(f2.retryInMs).toBeLessThanOrEqual(15_000);

    await armed(h.clock);
    const ok = nextEvent(h.renewer.onDidRenew);
    h.clock.advance(f2.retryInMs - 1);
    expect(h.calls).toHaveLength(2);
    h.clock.advance(1);
    await ok;
    expect(h.calls).toHaveLength(3);
    expect(failures).toEqual([f1.retryInMs, f2.retryInMs]);
  });

  it('caps the backoff at the maximum', () => {
    const r = new CertRenewer(
      { clock: new ManualClock(0), random: new SeededRandom(3), logger: noopLogger, renew: async (c) => c },
      {
        certChainPem: '',
        keyPem: '',
        identity: { nodeId: 'n', role: 'worker', clusterId: 'c', notBefore: 0, notAfter: 1 },
      },
    );
    for (let i = 1; i < 40; i++) expect(r.retryDelay(i)).toBeLessThanOrEqual(3_600_000);
    expect(Math.max(...Array.from({ length: 20 }, () => r.retryDelay(30)))).toBe(3_600_000);
  });

  it('renews on demand (role change, root rotation) without waiting for the schedule', async () => {
    const h = await start(9);
    await armed(h.clock);
    const renewed = nextEvent(h.renewer.onDidRenew);
    h.renewer.renewNow();
    await renewed;
    expect(h.calls).toHaveLength(1);
    expect(h.clock.now()).toBe(NOW);
  });

  it('stops promptly when aborted, leaving no timer behind', async () => {
    const h = await start(11);
    await armed(h.clock);
    await h.stop();
    running = undefined;
    expect(h.clock.pendingTimers()).toBe(0);
    expect(h.calls).toHaveLength(0);
  });
});

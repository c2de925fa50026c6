import { describe, expect, it } from 'vitest';
import type { NodeCertificateStatus } from '../api/index.js';
import {
  beginCaRotation,
  type CaState,
  createSignerForState,
  generateNodeKeyAndCsr,
  initialCaState,
  type NodeCredentials,
  parseNodeCertificate,
} from '../ca/index.js';
import { createLogger, ManualClock, SeededRandom, waitFor } from '../common/index.js';
import {
  CERT_STATUS_INTERVAL_MS,
  CERT_STATUS_JITTER,
  jitteredInterval,
  pollCertificateStatus,
  renewalReason,
} from './cert-status.js';

const clock = new ManualClock(Date.UTC(2030, 3, 1));
const logger = createLogger(() => {}, { level: 'error' });

async function issue(ca: CaState, role: 'manager' | 'worker'): Promise<NodeCredentials> {
  const { keyPem, csrPem } = await generateNodeKeyAndCsr();
  const signer = await createSignerForState(ca, { clock });
  const issued = await signer.sign({ csrPem, nodeId: 'node1', role, clusterId: ca.clusterId });
  return { certChainPem: issued.certChainPem, keyPem, identity: parseNodeCertificate(issued.certChainPem) };
}

function statusFor(ca: CaState, desiredRole: 'manager' | 'worker'): NodeCertificateStatus {
  const rotation = ca.roots.rotation;
  return {
    desiredRole,
    trustRootsPem: rotation
      ? [ca.roots.current.certPem, rotation.newRoot.certPem]
      : [ca.roots.current.certPem],
    rotationInProgress: rotation !== undefined,
    issuerCertPem: rotation ? rotation.newRoot.certPem : ca.roots.current.certPem,
  };
}

describe('renewalReason', () => {
  it('asks for a new certificate on a role change or a new signing root, not otherwise', async () => {
    const ca = await initialCaState({ clock }, { clusterId: 'cluster1' });
    const worker = await issue(ca, 'worker');
    expect(renewalReason(statusFor(ca, 'worker'), worker)).toBeUndefined();
    expect(renewalReason(statusFor(ca, 'manager'), worker)).toBe('role changed to manager');
    const rotating = await beginCaRotation(ca, { clock });
    expect(renewalReason(statusFor(rotating, 'worker'), worker)).toBe('root CA rotation');
    const renewed = await issue(rotating, 'worker');
    expect(renewalReason(statusFor(rotating, 'worker'), renewed)).toBeUndefined();
  });
});

describe('pollCertificateStatus', () => {
  it('applies new trusted roots and forces one renewal per certificate, polling on the clock', async () => {
    const ca = await initialCaState({ clock }, { clusterId: 'cluster1' });
    const rotating = await beginCaRotation(ca, { clock });
    let current = await issue(ca, 'worker');
    let trust = ca.roots.current.certPem;
    let asks = 0;
    let kicks = 0;
    const stop = new AbortController();
    const done = pollCertificateStatus(
      {
        clock,
        random: new SeededRandom(1),
        logger,
        intervalMs: 1000,
        ask: async () => {
          asks++;
          return statusFor(rotating, 'worker');
        },
        current: () => current,
        trust: () => trust,
        setTrust: async (pem) => {
          trust = pem;
        },
        renewNow: () => {
          kicks++;
        },
      },
      stop.signal,
    );
    await waitFor(
      () =>
        asks === 1 && kicks === 1 ? { done: true, value: 0 } : { done: false, state: `${asks}/${kicks}` },
      {
        timeoutMs: 2000,
        what: 'the first poll',
      },
    );
    expect(trust).toBe(rotating.roots.current.certPem + rotating.roots.rotation!.newRoot.certPem);
    // Same certificate at the next poll: no second kick while the renewal runs.
    clock.advance(1000 * (1 + CERT_STATUS_JITTER));
    await waitFor(() => (asks === 2 ? { done: true, value: 0 } : { done: false, state: `${asks} asks` }), {
      timeoutMs: 2000,
      what: 'the second poll',
    });
    expect(kicks).toBe(1);
    current = await issue(rotating, 'worker');
    clock.advance(1000 * (1 + CERT_STATUS_JITTER));
    await waitFor(() => (asks === 3 ? { done: true, value: 0 } : { done: false, state: `${asks} asks` }), {
      timeoutMs: 2000,
      what: 'the third poll',
    });
    expect(kicks).toBe(1);
    stop.abort();
    await done;
  });
});

describe('jitteredInterval', () => {
  it('spreads the waits over the interval ± 20 % and stays within it', () => {
    const random = new SeededRandom(42);
    const waits = Array.from({ length: 10_000 }, () => jitteredInterval(CERT_STATUS_INTERVAL_MS, random));
    const lo = CERT_STATUS_INTERVAL_MS * (1 - CERT_STATUS_JITTER);
    const hi = CERT_STATUS_INTERVAL_MS * (1 + CERT_STATUS_JITTER);
    expect(Math.min(...waits)).toBeGreaterThanOrEqual(lo);
    expect(Math.max(...waits)).toBeLessThanOrEqual(hi);
    // Spread, not lockstep: both ends of the range are reached and the mean is near the interval.
    expect(Math.min(...waits)).toBeLessThan(lo + 20);
    expect(Math.max(...waits)).toBeGreaterThan(hi - 20);
    const mean = waits.reduce((a, b) => a + b, 0) / waits.length;
    expect(Math.abs(mean - CERT_STATUS_INTERVAL_MS)).toBeLessThan(10);
    // Seeded: the same sequence again.
    const again = new SeededRandom(42);
    expect(waits.slice(0, 5)).toEqual(
      Array.from({ length: 5 }, () => jitteredInterval(CERT_STATUS_INTERVAL_MS, again)),
    );
  });
});

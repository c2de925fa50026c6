import type { NodeCertificateStatus } from '../api/index.js';
import { isIssuedUnder, type NodeCredentials } from '../ca/index.js';
import { type Clock, errorMessage, type Logger, type Random } from '../common/index.js';

/** How often a node asks the CA about its certificate; a dispatcher will push this later. */
export const CERT_STATUS_INTERVAL_MS = 2_000;

/** Each wait is the interval ± this fraction: nodes started together do not poll in lockstep. */
export const CERT_STATUS_JITTER = 0.2;

/** The wait before the next poll: uniform in interval × [1 − jitter, 1 + jitter], rounded. */
export function jitteredInterval(intervalMs: number, random: Random, jitter = CERT_STATUS_JITTER): number {
  return Math.round(intervalMs * (1 - jitter + 2 * jitter * random.next()));
}

export interface CertStatusPollerDeps {
  clock: Clock;
  random: Random;
  logger: Logger;
  /** Asks a manager's CA (`NodeCertificateStatus`) with the current credentials. */
  ask(signal: AbortSignal): Promise<NodeCertificateStatus>;
  current(): NodeCredentials;
  /** The PEM bundle of roots the node trusts now. */
  trust(): string;
  /** Stores and applies a new trust bundle (root file, server and client credentials). */
  setTrust(pem: string): Promise<void>;
  renewNow(): void;
  /** Sees every status before the renewal check (the node's role follows it; see RoleSwitch). */
  onStatus?(status: NodeCertificateStatus): Promise<void>;
  /** @default CERT_STATUS_INTERVAL_MS */
  intervalMs?: number;
}

/** Why the node's certificate must be reissued now, or undefined when it is fine. */
export function renewalReason(status: NodeCertificateStatus, current: NodeCredentials): string | undefined {
  if (status.desiredRole !== current.identity.role) return `role changed to ${status.desiredRole}`;
  if (!isIssuedUnder(current.certChainPem, status.issuerCertPem)) return 'root CA rotation';
  return undefined;
}

/**
 * Follows the CA: trusts the roots it names (both during a rotation) and asks the renewer for a
 * new certificate when the desired role differs from the certificate's or the signing root
 * changed. Each certificate triggers at most one forced renewal.
 */
export async function pollCertificateStatus(deps: CertStatusPollerDeps, signal: AbortSignal): Promise<void> {
  const log = deps.logger.child({ module: 'daemon/cert-status' });
  const interval = deps.intervalMs ?? CERT_STATUS_INTERVAL_MS;
  let kickedFor: string | undefined;
  while (!signal.aborted) {
    try {
      const status = await deps.ask(signal);
      const bundle = status.trustRootsPem.join('');
      if (bundle !== deps.trust()) {
        await deps.setTrust(bundle);
        log.info('trusted roots changed', { roots: status.trustRootsPem.length });
      }
      await deps.onStatus?.(status);
      const current = deps.current();
      const reason = renewalReason(status, current);
      if (reason && kickedFor !== current.certChainPem) {
        kickedFor = current.certChainPem;
        log.info('certificate must be reissued', { reason });
        deps.renewNow();
      }
    } catch (e) {
      if (signal.aborted) break;
      log.debug('certificate status unavailable', { error: errorMessage(e) });
    }
    await new Promise<void>((resolve) => {
      const cancel = deps.clock.setTimer(jitteredInterval(interval, deps.random), done);
      function done(): void {
        cancel();
        signal.removeEventListener('abort', done);
        resolve();
      }
      signal.addEventListener('abort', done, { once: true });
    });
  }
}

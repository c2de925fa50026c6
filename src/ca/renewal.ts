import {
  type Clock,
  type Component,
  Emitter,
  type Event,
  errorMessage,
  InvalidArgumentError,
  isAbortError,
  type Logger,
  type Random,
  toError,
} from '../common/index.js';
import type { NodeIdentity } from './types.js';

/** Renew somewhere between 50 % and 80 % of a certificate's life (docker), to spread the herd. */
export const RENEW_LOWER_FRACTION = 0.5;
export const RENEW_UPPER_FRACTION = 0.8;

export interface Validity {
  notBefore: number;
  notAfter: number;
}

/** The instant (ms since the epoch) at which a certificate with this validity should be renewed. */
export function renewalTime(validity: Validity, random: Random): number {
  const life = validity.notAfter - validity.notBefore;
  if (!(life > 0)) {
    throw new InvalidArgumentError(
      'validity',
      `certificate validity is empty: notAfter ${validity.notAfter} <= notBefore ${validity.notBefore}`,
    );
  }
  const fraction = RENEW_LOWER_FRACTION + (RENEW_UPPER_FRACTION - RENEW_LOWER_FRACTION) * random.next();
  return validity.notBefore + Math.floor(life * fraction);
}

/** A node's TLS credentials: the certificate chain, its private key and the identity it proves. */
export interface NodeCredentials {
  certChainPem: string;
  keyPem: string;
  identity: NodeIdentity;
}

export interface RenewalFailure {
  error: Error;
  /** Consecutive failures so far. */
  failures: number;
  retryInMs: number;
}

export interface CertRenewerOptions {
  /** @default 5000 (docker's renewer) */
  retryBaseMs?: number;
  /** @default 5000 */
  retryFactorMs?: number;
  /** @default 3_600_000 */
  retryMaxMs?: number;
}

export interface CertRenewerDeps {
  clock: Clock;
  random: Random;
  logger: Logger;
  /**
   * Obtains new credentials, authenticating with the current ones (no join token). Usually: a
   * new key and CSR, sent to a manager's CA over mTLS, the result checked against the roots.
   */
  renew(current: NodeCredentials, signal: AbortSignal): Promise<NodeCredentials>;
}

/**
 * Keeps a node's certificate fresh: renews at a random point in [50 %, 80 %] of its life, at once
 * when it has already expired or when `renewNow()` is called (role change, root rotation), and
 * retries failures with jittered exponential backoff. Listeners of `onDidRenew` swap their TLS
 * contexts; connections already open keep the certificate they were made with.
 */
export class CertRenewer implements Component {
  readonly name = 'ca/cert-renewer';
  private readonly renewed = new Emitter<NodeCredentials>();
  private readonly failed = new Emitter<RenewalFailure>();
  readonly onDidRenew: Event<NodeCredentials> = this.renewed.event;
  readonly onDidFailRenewal: Event<RenewalFailure> = this.failed.event;
  private credentials: NodeCredentials;
  private kick: (() => void) | undefined;
  private forcePending = false;
  private readonly retryBaseMs: number;
  private readonly retryFactorMs: number;
  private readonly retryMaxMs: number;

  constructor(
    private readonly deps: CertRenewerDeps,
    initial: NodeCredentials,
    options: CertRenewerOptions = {},
  ) {
    this.credentials = initial;
    this.retryBaseMs = nonNegative(options.retryBaseMs ?? 5_000, 'retryBaseMs');
    this.retryFactorMs = nonNegative(options.retryFactorMs ?? 5_000, 'retryFactorMs');
    this.retryMaxMs = nonNegative(options.retryMaxMs ?? 3_600_000, 'retryMaxMs');
  }

  /** The credentials to use for new connections. */
  get current(): NodeCredentials {
    return this.credentials;
  }

  /** Renews as soon as possible, whatever the certificate's age. */
  renewNow(): void {
    this.forcePending = true;
    this.kick?.();
  }

  /** Milliseconds to wait after `failures` consecutive failures. */
  retryDelay(failures: number): number {
    const exp = this.retryFactorMs * 2 ** Math.min(failures - 1, 30);
    return Math.min(this.retryMaxMs, this.retryBaseMs + Math.floor(this.deps.random.next() * exp));
  }

  async run(signal: AbortSignal): Promise<void> {
    const log = this.deps.logger.child({ module: 'ca/renewer' });
    try {
      let failures = 0;
      let due = renewalTime(this.credentials.identity, this.deps.random);
      while (!signal.aborted) {
        const now = this.deps.clock.now();
        // An expired certificate is renewed at once (docker), the next attempt after a failure waits.
        const waitMs = this.forcePending ? 0 : Math.max(0, due - now);
        if (waitMs > 0) {
          log.debug('next certificate renewal scheduled', { at: new Date(due).toISOString() });
          await this.sleep(waitMs, signal);
          if (signal.aborted) break;
        }
        const forced = this.forcePending;
        this.forcePending = false;
        try {
          const next = await this.deps.renew(this.credentials, signal);
          this.credentials = next;
          failures = 0;
          due = renewalTime(next.identity, this.deps.random);
          log.info('certificate renewed', {
            'node.id': next.identity.nodeId,
            'node.role': next.identity.role,
            forced,
            notAfter: new Date(next.identity.notAfter).toISOString(),
          });
          this.renewed.fire(next);
        } catch (e) {
          if (signal.aborted && (isAbortError(e) || e === signal.reason)) break;
          failures++;
          const retryInMs = this.retryDelay(failures);
          due = this.deps.clock.now() + retryInMs;
          log.warn('certificate renewal failed', { error: errorMessage(e), failures, retryInMs });
          this.failed.fire({ error: toError(e), failures, retryInMs });
        }
      }
    } finally {
      this.kick = undefined;
    }
  }

  /** Waits on the injected clock; `renewNow()` or abort cut the wait short. */
  private sleep(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        cancel();
        signal.removeEventListener('abort', done);
        this.kick = undefined;
        resolve();
      };
      const cancel = this.deps.clock.setTimer(ms, done);
      signal.addEventListener('abort', done, { once: true });
      this.kick = done;
    });
  }
}

function nonNegative(value: number, field: string): number {
  if (!Number.isFinite(value) || value < 0) {
    throw new InvalidArgumentError(field, `invalid ${field} ${value}: must be a finite number >= 0`);
  }
  return value;
}

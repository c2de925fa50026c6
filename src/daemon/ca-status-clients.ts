import type { NodeCertificateStatus } from '../api/index.js';
import { StoppedError, SwarmError } from '../common/index.js';
import type { TlsMaterial } from '../rpc/index.js';

/** One manager's CA, as the status poll uses it: one channel, many calls. */
export interface CaStatusClient {
  status(signal: AbortSignal): Promise<NodeCertificateStatus>;
  close(): void;
}

/** Opens a client to the CA at `addr` with the node's TLS material (a new mTLS channel). */
export type CaStatusClientFactory = (addr: string, tls: TlsMaterial) => CaStatusClient;

interface Cached {
  tls: TlsMaterial;
  client: CaStatusClient;
}

function sameTls(a: TlsMaterial, b: TlsMaterial): boolean {
  return a.ca === b.ca && a.cert === b.cert && a.key === b.key;
}

/**
 * The status poll's clients, one per manager address, kept across polls so an idle node does not
 * make a TLS handshake every interval. A client is replaced when the node's certificate, key or
 * trusted roots change, closed when its call fails (the next poll opens a fresh one) or its manager
 * leaves the list, and all are closed when `signal` aborts.
 */
export class CaStatusClients {
  private readonly clients = new Map<string, Cached>();

  constructor(
    private readonly factory: CaStatusClientFactory,
    private readonly signal: AbortSignal,
  ) {
    signal.addEventListener('abort', () => this.closeAll(), { once: true });
  }

  /** How many channels are open now. */
  get open(): number {
    return this.clients.size;
  }

  /** The CA's view of this node from the first manager that answers. */
  async ask(
    managers: readonly string[],
    tls: TlsMaterial,
    signal: AbortSignal,
  ): Promise<NodeCertificateStatus> {
    for (const addr of [...this.clients.keys()]) {
      if (!managers.includes(addr)) this.drop(addr);
    }
    let last: unknown;
    for (const addr of managers) {
      if (this.signal.aborted) break;
      const client = this.clientFor(addr, tls);
      try {
        return await client.status(signal);
      } catch (e) {
        last = e;
        // Its channel may be broken or hold a session the manager no longer accepts.
        if (this.clients.get(addr)?.client === client) this.drop(addr);
      }
    }
    if (this.signal.aborted) throw new StoppedError('the certificate status poll');
    throw (
      last ?? new SwarmError('UNAVAILABLE', 'no manager answered the certificate status', { retryable: true })
    );
  }

  private clientFor(addr: string, tls: TlsMaterial): CaStatusClient {
    const cached = this.clients.get(addr);
    if (cached && sameTls(cached.tls, tls)) return cached.client;
    if (cached) this.drop(addr);
    const client = this.factory(addr, { ...tls });
    this.clients.set(addr, { tls: { ...tls }, client });
    return client;
  }

  private drop(addr: string): void {
    this.clients.get(addr)?.client.close();
    this.clients.delete(addr);
  }

  private closeAll(): void {
    for (const addr of [...this.clients.keys()]) this.drop(addr);
  }
}

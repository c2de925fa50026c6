import {
  createSecureContext,
  checkServerIdentity as defaultCheckServerIdentity,
  type PeerCertificate,
} from 'node:tls';
import { ChannelCredentials } from '@grpc/grpc-js';
import { errorMessage, InvalidArgumentError } from '../common/index.js';

/** PEM material for one node: the trusted root bundle, its certificate chain and private key. */
export interface TlsMaterial {
  ca: string;
  cert: string;
  key: string;
}

/** Who is calling, from a client certificate issued by the cluster CA. */
export interface PeerIdentity {
  /** Certificate CN. */
  nodeId: string;
  /** Certificate OU, e.g. `swarm-manager` or `swarm-worker`. */
  role: string;
  /** Certificate O. */
  clusterId: string;
}

/** The TLS options a listener is created with, and later swapped to. */
export interface TlsContextOptions {
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
}

/**
 * How a listener of `RpcServer` secures its connections: plaintext (`createInsecure`, for the
 * local control socket and benchmarks) or TLS (`NodeServerCredentials`).
 */
export class ServerCredentials {
  private readonly watchers = new Set<(options: TlsContextOptions) => void>();

  protected constructor(private tls: TlsContextOptions | null) {}

  static createInsecure(): ServerCredentials {
    return new ServerCredentials(null);
  }

  /** The current TLS options, or null for plaintext. */
  tlsOptions(): TlsContextOptions | null {
    return this.tls;
  }

  /** Calls `watcher` with new TLS options on every update; returns the function that stops it. */
  watch(watcher: (options: TlsContextOptions) => void): () => void {
    this.watchers.add(watcher);
    return () => this.watchers.delete(watcher);
  }

  protected replace(options: TlsContextOptions): void {
    this.tls = options;
    for (const w of this.watchers) w(options);
  }
}

/**
 * Server credentials for inter-node listeners. The TLS layer asks every client for a certificate
 * but lets callers without one (or with one from another CA) connect, because a joining node has
 * no certificate yet; the per-method authorization then refuses them everywhere except the join
 * calls. `update` swaps key, certificate and trusted roots for new connections (renewal, root
 * rotation) without restarting the listener.
 */
export class NodeServerCredentials extends ServerCredentials {
  constructor(material: TlsMaterial) {
    super(toContext(material));
  }

  /** Throws, changing nothing, when the material is unusable (e.g. a key not matching its certificate). */
  update(material: TlsMaterial): void {
    const options = toContext(material);
    try {
      createSecureContext(options);
    } catch (e) {
      throw new InvalidArgumentError('tls', `the new TLS material is not usable: ${errorMessage(e)}`, {
        cause: e,
      });
    }
    this.replace(options);
  }
}

function toContext(m: TlsMaterial): TlsContextOptions {
  return { ca: Buffer.from(m.ca), cert: Buffer.from(m.cert), key: Buffer.from(m.key) };
}

/** The name every manager certificate carries as a SAN; we dial by address, so verify this. */
export const MANAGER_SERVER_NAME = 'swarm-manager';

/**
 * Client credentials: with a client certificate (mutual TLS), or with only the trusted root (the
 * joining node's first call). The server must present a certificate for `serverName`.
 */
export function clientCredentials(
  trust: { ca: string; cert?: string; key?: string },
  serverName: string = MANAGER_SERVER_NAME,
): ChannelCredentials {
  return ChannelCredentials.createSsl(
    Buffer.from(trust.ca),
    trust.key ? Buffer.from(trust.key) : null,
    trust.cert ? Buffer.from(trust.cert) : null,
    {
      checkServerIdentity: (_host: string, cert: PeerCertificate) =>
        defaultCheckServerIdentity(serverName, cert),
    },
  );
}

/** gRPC channel options that make TLS verify `serverName` whatever address is dialled. */
export function serverNameOverride(serverName: string = MANAGER_SERVER_NAME): Record<string, string> {
  return { 'grpc.ssl_target_name_override': serverName, 'grpc.default_authority': serverName };
}

function firstOf(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** The identity in a verified cluster certificate, or null when a field is missing. */
export function peerIdentity(cert: PeerCertificate): PeerIdentity | null {
  const nodeId = firstOf(cert.subject?.CN);
  const role = firstOf(cert.subject?.OU);
  const clusterId = firstOf(cert.subject?.O);
  if (!nodeId || !role || !clusterId) return null;
  return { nodeId, role, clusterId };
}

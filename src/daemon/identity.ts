import { hostname } from 'node:os';
import { CaService } from '../api/index.js';
import { type CaState, type NodeCredentials, type NodeKeyFile, parseUnlockKey } from '../ca/index.js';
import { SwarmError } from '../common/index.js';
import {
  ChannelCredentials,
  clientCredentials,
  createClient,
  serverNameOverride,
  type TlsMaterial,
} from '../rpc/index.js';
import type { CaStatusClient } from './ca-status-clients.js';

/** TLS material for this node from its key file and trusted root. */
export function tlsMaterial(rootCaPem: string, key: NodeKeyFile): TlsMaterial {
  return { ca: rootCaPem, cert: key.certChainPem, key: key.secrets.tlsKeyPem };
}

/** The seal for a manager's key file under the cluster's current unlock key, if autolock is on. */
export function keyFileLock(
  ca: CaState | undefined,
): { unlockKey: ReturnType<typeof parseUnlockKey>; kekVersion: number } | undefined {
  if (!ca?.autolock) return undefined;
  return { unlockKey: parseUnlockKey(ca.autolock.unlockKey), kekVersion: ca.autolock.kekVersion };
}

/** A CA client to `addr`; without `material`, only the root is trusted (join), or nothing (first fetch). */
export function caClient(addr: string, trust: { ca: string; cert?: string; key?: string } | 'unverified') {
  const creds =
    trust === 'unverified'
      ? // The root is fetched before it can be trusted: the token's digest verifies it afterwards.
        ChannelCredentials.createSsl(null, null, null, {
          rejectUnauthorized: false,
          checkServerIdentity: () => undefined,
        })
      : clientCredentials(trust);
  return createClient(CaService, addr, creds, serverNameOverride());
}

/** Renews through the CA of the first manager that answers. */
export async function renewAtManagers(
  managers: readonly string[],
  rootCaPem: string,
  current: NodeCredentials,
  csrPem: string,
  signal: AbortSignal,
): Promise<{ certChainPem: string; rootCaPem: string }> {
  let last: unknown;
  for (const addr of managers) {
    const client = caClient(addr, { ca: rootCaPem, cert: current.certChainPem, key: current.keyPem });
    try {
      return await client.call.RenewNodeCertificate({ csrPem }, { signal, timeoutMs: 10_000 });
    } catch (e) {
      last = e;
    } finally {
      client.close();
    }
  }
  throw (
    last ?? new SwarmError('UNAVAILABLE', 'no manager to renew the certificate with', { retryable: true })
  );
}

export function defaultHostname(): string {
  return hostname();
}

/**
 * The status poll's client to the CA at `addr` (kept across polls by `CaStatusClients`): one
 * channel, so one TLS handshake until it is closed.
 */
export function caStatusClient(addr: string, tls: TlsMaterial): CaStatusClient {
  const client = caClient(addr, tls);
  return {
    status: (signal) => client.call.NodeCertificateStatus({}, { signal, timeoutMs: 5_000 }),
    close: () => client.close(),
  };
}

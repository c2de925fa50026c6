import { type Clock, FailedPreconditionError } from '../common/index.js';
import { parseJoinToken, verifyRootAgainstToken } from './join-token.js';
import { generateNodeKeyAndCsr, verifyNodeCertificate } from './node-identity.js';
import type { NodeCredentials } from './renewal.js';

/*
 * The node side of joining and renewing, with the transport injected: the RPC layer supplies
 * the calls, these functions supply the order of operations and the checks.
 */

export interface JoinTransport {
  /** Fetches the root CA bundle from the join address, over TLS that is not yet verified. */
  fetchRootCa(signal?: AbortSignal): Promise<string>;
  /** Sends the token and CSR to the CA (TLS verified against the fetched root); returns the chain. */
  requestCertificate(request: { token: string; csrPem: string }, signal?: AbortSignal): Promise<string>;
}

export interface JoinResult {
  /** The root bundle exactly as fetched and pinned: to be saved as the node's trust root. */
  rootCaPem: string;
  credentials: NodeCredentials;
}

/**
 * Joins with a token: fetch the root, check it against the token's digest BEFORE the secret
 * leaves this node, then send a CSR for a key generated here and check what comes back. Writes
 * nothing: the caller stores the result only once this resolves, so a failure leaves no
 * half-joined state.
 */
export async function joinWithToken(
  input: { token: string; clock: Clock; expectedRole?: 'manager' | 'worker' },
  transport: JoinTransport,
  signal?: AbortSignal,
): Promise<JoinResult> {
  parseJoinToken(input.token, 'token');
  const rootCaPem = await transport.fetchRootCa(signal);
  verifyRootAgainstToken(rootCaPem, input.token);
  const { keyPem, csrPem } = await generateNodeKeyAndCsr();
  signal?.throwIfAborted();
  const certChainPem = await transport.requestCertificate({ token: input.token, csrPem }, signal);
  const identity = verifyNodeCertificate({ certChainPem, rootsPem: rootCaPem, clock: input.clock });
  if (input.expectedRole && identity.role !== input.expectedRole) {
    throw new FailedPreconditionError(`joined as ${identity.role}, expected ${input.expectedRole}`);
  }
  return { rootCaPem, credentials: { certChainPem, keyPem, identity } };
}

export interface RenewTransport {
  /** Sends a CSR to a manager's CA, authenticating with the current certificate (no token). */
  requestRenewal(
    request: { csrPem: string; current: NodeCredentials },
    signal?: AbortSignal,
  ): Promise<string>;
}

/**
 * One renewal, usable as CertRenewer's `renew`: new key, CSR, and a returned certificate that
 * must chain to the trusted roots and name the same node and cluster (the role may change).
 */
export async function renewWithCertificate(
  input: { current: NodeCredentials; rootsPem: string | readonly string[]; clock: Clock },
  transport: RenewTransport,
  signal?: AbortSignal,
): Promise<NodeCredentials> {
  const { keyPem, csrPem } = await generateNodeKeyAndCsr();
  signal?.throwIfAborted();
  const certChainPem = await transport.requestRenewal({ csrPem, current: input.current }, signal);
  const identity = verifyNodeCertificate({ certChainPem, rootsPem: input.rootsPem, clock: input.clock });
  const was = input.current.identity;
  if (identity.nodeId !== was.nodeId || identity.clusterId !== was.clusterId) {
    throw new FailedPreconditionError(
      `renewed certificate is for node ${identity.nodeId} of cluster ${identity.clusterId}, expected node ${was.nodeId} of cluster ${was.clusterId}`,
    );
  }
  return { certChainPem, keyPem, identity };
}

import { defineService, emptyCodec, jsonCodec, unary } from '../../rpc/index.js';

export interface IssueCertificateRequest {
  token: string;
  csrPem: string;
  /** Manager joins: the address other managers reach this node's Raft and API on. */
  advertiseAddr?: string;
  hostname?: string;
  availability?: 'active' | 'pause' | 'drain';
}

export interface IssueCertificateResponse {
  nodeId: string;
  /** Leaf certificate followed by any intermediate (during a root rotation). */
  certChainPem: string;
  rootCaPem: string;
  /** Managers the node can reach, `host:port`. */
  managers: string[];
}

/** What a node compares with its own certificate to know when to renew and what to trust. */
export interface NodeCertificateStatus {
  /**
   * The role the CA issues now (`spec.desiredRole`, except that a manager still in Raft stays a
   * manager): a certificate with another role is reissued (promote/demote).
   */
  desiredRole: 'manager' | 'worker';
  /** Roots to trust: the current one, plus the new one while a rotation runs. */
  trustRootsPem: string[];
  rotationInProgress: boolean;
  /** The root whose key signs certificates now; a certificate not issued under it is renewed. */
  issuerCertPem: string;
}

/**
 * The CA on every manager. `GetRootCACertificate` and `IssueNodeCertificate` are the only calls
 * a node without a cluster certificate may make (it has a join token instead).
 */
export const CaService = defineService('swarmctl.ca.CA', {
  GetRootCACertificate: unary(emptyCodec, jsonCodec<{ rootCaPem: string }>()),
  IssueNodeCertificate: unary(jsonCodec<IssueCertificateRequest>(), jsonCodec<IssueCertificateResponse>()),
  /** Authenticated by the current certificate; the role comes from the store, not the CSR. */
  RenewNodeCertificate: unary(
    jsonCodec<{ csrPem: string }>(),
    jsonCodec<{ certChainPem: string; rootCaPem: string }>(),
  ),
  /** Authenticated by the current certificate; polled by every node. */
  NodeCertificateStatus: unary(emptyCodec, jsonCodec<NodeCertificateStatus>()),
});
export type CaServiceMethods = (typeof CaService)['methods'];

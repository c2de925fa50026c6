/** The two node roles, as written in a certificate's OU (docker's exact strings). */
export type NodeRole = 'manager' | 'worker';

export const MANAGER_OU = 'swarm-manager';
export const WORKER_OU = 'swarm-worker';
/** CN of every root we create, and the DNS name a manager answers to as the CA. */
export const CA_NAME = 'swarm-ca';

export function roleToOu(role: NodeRole): string {
  return role === 'manager' ? MANAGER_OU : WORKER_OU;
}

export function ouToRole(ou: string): NodeRole | undefined {
  if (ou === MANAGER_OU) return 'manager';
  if (ou === WORKER_OU) return 'worker';
  return undefined;
}

/** Who a node certificate says its holder is. */
export interface NodeIdentity {
  nodeId: string;
  role: NodeRole;
  clusterId: string;
  /** Milliseconds since the epoch. */
  notBefore: number;
  notAfter: number;
}

/** What a CA hands back: the leaf first, then any intermediates (cross-signed root during rotation). */
export interface IssuedCertificate {
  certChainPem: string;
  identity: NodeIdentity;
}

/** Randomness for secrets and keys: `crypto.randomBytes` in production, fixed bytes in tests. */
export type RandomBytes = (n: number) => Uint8Array;

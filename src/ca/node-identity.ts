import { type Clock, errorMessage } from '../common/index.js';
import { verifyCertificateChain } from './chain.js';
import { CertificateVerificationError } from './errors.js';
import { generateP256Key } from './keys.js';
import { certificatesFromPem, encodePem } from './pem.js';
import { type NodeIdentity, ouToRole } from './types.js';
import { ECDSA_SHA256, x509 } from './x509.js';

export interface NodeKeyAndCsr {
  /** PKCS#8 PEM; stays on the node (see key-store.ts). */
  keyPem: string;
  csrPem: string;
}

/**
 * A new node key and a CSR for it. The CA takes only the public key from the CSR, so the
 * subject is a placeholder.
 */
export async function generateNodeKeyAndCsr(): Promise<NodeKeyAndCsr> {
  const { keys, keyPem } = await generateP256Key();
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: [{ CN: ['swarm-node'] }],
    keys,
    signingAlgorithm: ECDSA_SHA256,
  });
  return { keyPem, csrPem: encodePem('CERTIFICATE REQUEST', csr.rawData) };
}

function single(name: x509.Name, field: string): string | undefined {
  const values = name.getField(field);
  return values.length === 1 ? values[0] : undefined;
}

/** Reads node ID, role and cluster ID from the first certificate in `certPem`. No trust check. */
export function parseNodeCertificate(certPem: string): NodeIdentity {
  const der = certificatesFromPem(certPem, 'node certificate')[0]!;
  let cert: x509.X509Certificate;
  try {
    cert = new x509.X509Certificate(der);
  } catch (e) {
    throw new CertificateVerificationError(
      'malformed',
      `node certificate does not parse: ${errorMessage(e)}`,
    );
  }
  const nodeId = single(cert.subjectName, 'CN');
  const ou = single(cert.subjectName, 'OU');
  const clusterId = single(cert.subjectName, 'O');
  const role = ou === undefined ? undefined : ouToRole(ou);
  if (!nodeId || !clusterId || !role) {
    throw new CertificateVerificationError(
      'malformed',
      `not a node certificate: subject ${JSON.stringify(cert.subject)} needs one CN, one O and OU swarm-manager or swarm-worker`,
    );
  }
  return {
    nodeId,
    role,
    clusterId,
    notBefore: cert.notBefore.getTime(),
    notAfter: cert.notAfter.getTime(),
  };
}

export interface VerifyNodeCertificateInput {
  /** Leaf first, then the intermediates that came with it. */
  certChainPem: string;
  /** The root(s) this node trusts: several while a root rotation is under way. */
  rootsPem: string | readonly string[];
  /** Extra untrusted intermediates, such as the cross-signed new root. */
  intermediatesPem?: string | readonly string[];
  clock: Clock;
}

/** Checks the certificate chains to a trusted root and is valid now; returns the identity it carries. */
export function verifyNodeCertificate(input: VerifyNodeCertificateInput): NodeIdentity {
  verifyCertificateChain({
    chainPem: input.certChainPem,
    rootsPem: input.rootsPem,
    now: input.clock.now(),
    ...(input.intermediatesPem === undefined ? {} : { intermediatesPem: input.intermediatesPem }),
  });
  return parseNodeCertificate(input.certChainPem);
}

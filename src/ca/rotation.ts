import { randomBytes as cryptoRandomBytes, X509Certificate } from 'node:crypto';
import { FailedPreconditionError, InvalidArgumentError } from '../common/index.js';
import type { SigningMaterial } from './ca-signer.js';
import { importP256SigningKey, randomSerialHex } from './keys.js';
import { certificatesFromPem, encodePem } from './pem.js';
import {
  type CreateRootCaDeps,
  type CreateRootCaOptions,
  createRootCa,
  parseRootCa,
  type RootCaWithKey,
} from './root-ca.js';
import { ECDSA_SHA256, x509 } from './x509.js';

/**
 * Root rotation with a cross-signed transition (swarmkit's RootRotation). While it runs:
 * - the CA signs with the new key and attaches the cross-signed certificate (new root's subject
 *   and key, signed by the old root), so a node that trusts only the old root still builds a path;
 * - the served root, and therefore the join tokens, stay the old ones;
 * - nodes are asked to renew until every certificate is issued under the new key.
 * Completing it makes the new root the only root, and the join tokens change with its digest.
 */
export interface RootRotation {
  newRoot: RootCaWithKey;
  /** The new root's certificate re-signed by the old root key. */
  crossSignedPem: string;
}

/** The cluster's root material: the current root, and a rotation if one is under way. */
export interface CaRoots {
  current: RootCaWithKey;
  rotation?: RootRotation;
}

export interface TrustBundle {
  /** Trusted roots (TLS `ca`). */
  rootsPem: string[];
  /** Untrusted certificates that may complete a path (sent along with leaves). */
  intermediatesPem: string[];
}

/**
 * Re-issues `newRootCertPem` (same subject, key, validity and key id) under the old root, as
 * docker's CrossSignCACertificate does.
 */
export async function crossSignRoot(oldRoot: RootCaWithKey, newRootCertPem: string): Promise<string> {
  const oldCert = new x509.X509Certificate(certificatesFromPem(oldRoot.certPem, 'old root')[0]!);
  const newDer = certificatesFromPem(newRootCertPem, 'new root')[0]!;
  const newCert = new x509.X509Certificate(newDer);
  if (!new X509Certificate(newDer).ca)
    throw new InvalidArgumentError('newRootCertPem', 'new root is not a CA');
  const newKeyId =
    newCert.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId ??
    (await x509.SubjectKeyIdentifierExtension.create(newCert.publicKey)).keyId;
  const oldKeyId =
    oldCert.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId ??
    (await x509.SubjectKeyIdentifierExtension.create(oldCert.publicKey)).keyId;
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerialHex(cryptoRandomBytes),
    subject: newCert.subjectName,
    issuer: oldCert.subjectName,
    notBefore: newCert.notBefore,
    notAfter: newCert.notAfter,
    publicKey: newCert.publicKey,
    signingKey: await importP256SigningKey(oldRoot.keyPem, 'oldRoot.keyPem'),
    signingAlgorithm: ECDSA_SHA256,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature,
        true,
      ),
      new x509.SubjectKeyIdentifierExtension(newKeyId),
      new x509.AuthorityKeyIdentifierExtension(oldKeyId),
    ],
  });
  return encodePem('CERTIFICATE', cert.rawData);
}

export interface BeginRotationOptions extends CreateRootCaOptions {
  /** Rotate to this root instead of a freshly generated one (docker's `--ca-cert/--ca-key`). */
  newRoot?: RootCaWithKey;
}

/**
 * Starts (or restarts, replacing the pending new root) a rotation away from `roots.current`.
 * The old root's key signs the cross-certificate, so it must be present.
 */
export async function beginRootRotation(
  roots: CaRoots,
  deps: CreateRootCaDeps,
  options: BeginRotationOptions = {},
): Promise<CaRoots> {
  const newRoot = options.newRoot
    ? { ...parseRootCa(options.newRoot.certPem, options.newRoot.keyPem), keyPem: options.newRoot.keyPem }
    : await createRootCa(deps, options);
  if (newRoot.certPem === roots.current.certPem) {
    throw new InvalidArgumentError('newRoot', 'the new root is the current root');
  }
  return {
    current: roots.current,
    rotation: { newRoot, crossSignedPem: await crossSignRoot(roots.current, newRoot.certPem) },
  };
}

/** Ends the rotation: the new root becomes the only root. The caller regenerates the join tokens. */
export function completeRootRotation(roots: CaRoots): CaRoots {
  if (!roots.rotation) throw new FailedPreconditionError('no root rotation is in progress');
  return { current: roots.rotation.newRoot };
}

/** What the CA signs node certificates with right now. */
export function signingMaterial(roots: CaRoots): SigningMaterial {
  if (!roots.rotation) return { certPem: roots.current.certPem, keyPem: roots.current.keyPem };
  return {
    certPem: roots.rotation.crossSignedPem,
    keyPem: roots.rotation.newRoot.keyPem,
    intermediatesPem: roots.rotation.crossSignedPem,
  };
}

/** The root bundle served to joining nodes and pinned by join tokens: the old one until completion. */
export function servedRootPem(roots: CaRoots): string {
  return roots.current.certPem;
}

/**
 * What a node should trust. During a rotation both roots are trusted, so a node that has heard of
 * the rotation accepts new-root certificates even without the intermediate (as issued after the
 * switch); nodes that have not heard of it rely on the cross-signed intermediate peers send.
 */
export function trustBundle(roots: CaRoots): TrustBundle {
  if (!roots.rotation) return { rootsPem: [roots.current.certPem], intermediatesPem: [] };
  return {
    rootsPem: [roots.current.certPem, roots.rotation.newRoot.certPem],
    intermediatesPem: [roots.rotation.crossSignedPem],
  };
}

/** Whether the leaf of `certChainPem` was signed by `rootCertPem`'s key: the reconciler's "done yet?". */
export function isIssuedUnder(certChainPem: string, rootCertPem: string): boolean {
  const leaf = new X509Certificate(certificatesFromPem(certChainPem, 'certificate')[0]!);
  const root = new X509Certificate(certificatesFromPem(rootCertPem, 'root')[0]!);
  return leaf.checkIssued(root) && leaf.verify(root.publicKey);
}

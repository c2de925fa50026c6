import { randomBytes as cryptoRandomBytes, X509Certificate } from 'node:crypto';
import { type Clock, InvalidArgumentError } from '../common/index.js';
import { CertificateVerificationError } from './errors.js';
import { generateP256Key, keyMatchesCertificate, randomSerialHex } from './keys.js';
import { certificatesFromPem, encodePem } from './pem.js';
import { CA_NAME, type RandomBytes } from './types.js';
import { type CryptoKeyPair, ECDSA_SHA256, x509 } from './x509.js';

/** 20 years, as docker's `630720000s`. */
export const DEFAULT_ROOT_CA_VALIDITY_MS = 630_720_000_000;
/** A root rotated in must last at least this long (swarmkit's minRootExpiration). */
export const MIN_ROOT_CA_VALIDITY_MS = 365 * 24 * 3_600_000;
/** Certificates start this far in the past so small clock skew between nodes does not reject them. */
export const CERT_BACKDATE_MS = 3_600_000;

/** A root CA: its self-signed certificate and, where this node may sign, its private key. */
export interface RootCa {
  certPem: string;
  /** PKCS#8 PEM. Absent on nodes that only verify. */
  keyPem?: string;
}

export interface RootCaWithKey extends RootCa {
  keyPem: string;
}

export interface CreateRootCaOptions {
  /** @default DEFAULT_ROOT_CA_VALIDITY_MS */
  validityMs?: number;
  /** @default 'swarm-ca' */
  commonName?: string;
}

export interface CreateRootCaDeps {
  clock: Clock;
  /** For serial numbers. @default crypto.randomBytes */
  randomBytes?: RandomBytes;
}

/** The extensions every CA certificate we make carries (self-signed root and cross-signed twin). */
export async function caExtensions(publicKey: CryptoKeyPair['publicKey']): Promise<x509.Extension[]> {
  return [
    new x509.BasicConstraintsExtension(true, undefined, true),
    new x509.KeyUsagesExtension(
      x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature,
      true,
    ),
    await x509.SubjectKeyIdentifierExtension.create(publicKey),
  ];
}

/** Creates a new root: a fresh ECDSA P-256 key and a self-signed CA certificate. */
export async function createRootCa(
  deps: CreateRootCaDeps,
  options: CreateRootCaOptions = {},
): Promise<RootCaWithKey> {
  const validityMs = options.validityMs ?? DEFAULT_ROOT_CA_VALIDITY_MS;
  if (!Number.isFinite(validityMs) || validityMs < MIN_ROOT_CA_VALIDITY_MS) {
    throw new InvalidArgumentError(
      'validityMs',
      `root CA validityMs ${validityMs} is too short: must be at least ${MIN_ROOT_CA_VALIDITY_MS} (1 year)`,
    );
  }
  const commonName = options.commonName ?? CA_NAME;
  if (!/^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$/.test(commonName)) {
    throw new InvalidArgumentError('commonName', `invalid root CA commonName ${JSON.stringify(commonName)}`);
  }
  const { keys, keyPem } = await generateP256Key();
  const now = deps.clock.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerialHex(deps.randomBytes ?? cryptoRandomBytes),
    name: [{ CN: [commonName] }],
    notBefore: new Date(now - CERT_BACKDATE_MS),
    notAfter: new Date(now - CERT_BACKDATE_MS + validityMs),
    keys,
    signingAlgorithm: ECDSA_SHA256,
    extensions: await caExtensions(keys.publicKey),
  });
  return { certPem: encodePem('CERTIFICATE', cert.rawData), keyPem };
}

/**
 * Parses and checks a root read from disk or the store: exactly one self-signed CA certificate,
 * and, if a key is given, that the key belongs to it. Returns the canonical PEM.
 */
export function parseRootCa(certPem: string, keyPem?: string): RootCa {
  const ders = certificatesFromPem(certPem, 'root CA certificate');
  if (ders.length !== 1) {
    throw new InvalidArgumentError(
      'certPem',
      `root CA certificate must be one certificate, got ${ders.length}`,
    );
  }
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(ders[0]!);
  } catch (e) {
    throw new CertificateVerificationError('malformed', 'root CA certificate does not parse', { cause: e });
  }
  if (!cert.ca)
    throw new CertificateVerificationError('not-a-ca', 'root CA certificate is not a CA certificate');
  if (!cert.checkIssued(cert) || !cert.verify(cert.publicKey)) {
    throw new CertificateVerificationError('unknown-authority', 'root CA certificate is not self-signed');
  }
  const canonical = encodePem('CERTIFICATE', ders[0]!);
  if (keyPem === undefined) return { certPem: canonical };
  if (!keyMatchesCertificate(keyPem, canonical)) {
    throw new InvalidArgumentError('keyPem', 'root CA key does not match the root CA certificate');
  }
  return { certPem: canonical, keyPem };
}

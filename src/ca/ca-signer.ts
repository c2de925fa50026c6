import { createPublicKey, randomBytes as cryptoRandomBytes, X509Certificate } from 'node:crypto';
import { type Clock, errorMessage, formatDuration, InvalidArgumentError } from '../common/index.js';
import { importP256SigningKey, keyMatchesCertificate, randomSerialHex } from './keys.js';
import { certificatesFromPem, encodePem, normalizeCertificatePem } from './pem.js';
import { CERT_BACKDATE_MS } from './root-ca.js';
import { CA_NAME, type IssuedCertificate, type NodeRole, type RandomBytes, roleToOu } from './types.js';
import { type CryptoKey, ECDSA_SHA256, x509 } from './x509.js';

/** 2160 h, docker's default node certificate life. */
export const DEFAULT_CERT_EXPIRY_MS = 90 * 24 * 3_600_000;
/** docker refuses a `--cert-expiry` below one hour. */
export const MIN_CERT_EXPIRY_MS = 3_600_000;

const ID_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** Validates a user-supplied certificate life; `field` is the flag or spec field, named in errors. */
export function validateCertExpiry(ms: number, field = 'certExpiry', minMs = MIN_CERT_EXPIRY_MS): number {
  if (!Number.isFinite(ms) || ms < minMs) {
    throw new InvalidArgumentError(
      field,
      `invalid ${field} ${Number.isFinite(ms) ? formatDuration(ms) : String(ms)}: must be at least ${formatDuration(minMs)}`,
    );
  }
  return ms;
}

export interface CaSignerOptions {
  /** Life of issued certificates, counted from issuance. @default DEFAULT_CERT_EXPIRY_MS */
  certExpiryMs?: number;
  /**
   * Lowest accepted certExpiryMs. Only tests lower it, to watch renewals happen within seconds.
   * @default MIN_CERT_EXPIRY_MS
   */
  minCertExpiryMs?: number;
  /** @default CERT_BACKDATE_MS */
  backdateMs?: number;
}

export interface CaSignerDeps {
  clock: Clock;
  /** For serial numbers. @default crypto.randomBytes */
  randomBytes?: RandomBytes;
}

/** What the CA signs with: normally the root itself; during a rotation the new key and its chain. */
export interface SigningMaterial {
  /** The certificate whose subject becomes the issuer (self-signed root, or cross-signed twin). */
  certPem: string;
  keyPem: string;
  /** Appended to every issued certificate, so peers that trust only the old root can build a path. */
  intermediatesPem?: string;
}

export interface SignRequest {
  csrPem: string;
  nodeId: string;
  role: NodeRole;
  clusterId: string;
}

/** Accepts ECDSA P-256, or RSA of at least 2048 bits; anything else is refused. */
function checkCsrKey(csr: x509.Pkcs10CertificateRequest): void {
  const key = createPublicKey({ key: Buffer.from(csr.publicKey.rawData), format: 'der', type: 'spki' });
  const details = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'ec' && details.namedCurve === 'prime256v1') return;
  if (key.asymmetricKeyType === 'rsa' && (details.modulusLength ?? 0) >= 2048) return;
  const what =
    key.asymmetricKeyType === 'ec'
      ? `EC ${details.namedCurve}`
      : `${key.asymmetricKeyType} ${details.modulusLength ?? ''}`.trim();
  throw new InvalidArgumentError(
    'csr',
    `CSR key type ${what} is not accepted: use ECDSA P-256 (or RSA >= 2048)`,
  );
}

/** Parses a PEM CSR and checks its self-signature and key type. Everything else in it is ignored. */
export async function parseAndVerifyCsr(csrPem: string): Promise<x509.Pkcs10CertificateRequest> {
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(csrPem);
  } catch (e) {
    throw new InvalidArgumentError('csr', `CSR does not parse: ${errorMessage(e)}`, { cause: e });
  }
  checkCsrKey(csr);
  let ok = false;
  try {
    ok = await csr.verify();
  } catch (e) {
    throw new InvalidArgumentError('csr', `CSR signature cannot be checked: ${errorMessage(e)}`, {
      cause: e,
    });
  }
  if (!ok) throw new InvalidArgumentError('csr', 'CSR signature does not verify');
  return csr;
}

/**
 * Signs node CSRs. Only the CSR's public key is used: subject, SANs and usages come from the
 * request's node ID, role and cluster ID (docker's CSR whitelist).
 */
export class CaSigner {
  readonly certExpiryMs: number;
  private readonly backdateMs: number;

  private constructor(
    private readonly deps: CaSignerDeps,
    private readonly issuerName: x509.Name,
    private readonly issuerKeyId: string,
    private readonly key: CryptoKey,
    private readonly intermediatesPem: string,
    options: CaSignerOptions,
  ) {
    this.certExpiryMs = validateCertExpiry(
      options.certExpiryMs ?? DEFAULT_CERT_EXPIRY_MS,
      'certExpiryMs',
      options.minCertExpiryMs ?? MIN_CERT_EXPIRY_MS,
    );
    this.backdateMs = options.backdateMs ?? CERT_BACKDATE_MS;
    if (!Number.isFinite(this.backdateMs) || this.backdateMs < 0) {
      throw new InvalidArgumentError('backdateMs', `invalid backdateMs ${this.backdateMs}: must be >= 0`);
    }
  }

  static async create(
    material: SigningMaterial,
    deps: CaSignerDeps,
    options: CaSignerOptions = {},
  ): Promise<CaSigner> {
    const ders = certificatesFromPem(material.certPem, 'signing certificate');
    const issuer = new X509Certificate(ders[0]!);
    if (!issuer.ca) throw new InvalidArgumentError('certPem', 'signing certificate is not a CA certificate');
    if (!keyMatchesCertificate(material.keyPem, material.certPem)) {
      throw new InvalidArgumentError('keyPem', 'signing key does not match the signing certificate');
    }
    const parsed = new x509.X509Certificate(ders[0]!);
    const keyId =
      parsed.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId ??
      (await x509.SubjectKeyIdentifierExtension.create(parsed.publicKey)).keyId;
    const key = await importP256SigningKey(material.keyPem, 'keyPem');
    const intermediates = material.intermediatesPem
      ? normalizeCertificatePem(material.intermediatesPem, 'intermediatesPem')
      : '';
    return new CaSigner(deps, parsed.subjectName, keyId, key, intermediates, options);
  }

  async sign(request: SignRequest): Promise<IssuedCertificate> {
    for (const field of ['nodeId', 'clusterId'] as const) {
      if (!ID_RE.test(request[field])) {
        throw new InvalidArgumentError(field, `invalid ${field} ${JSON.stringify(request[field])}`);
      }
    }
    if (request.role !== 'manager' && request.role !== 'worker') {
      throw new InvalidArgumentError(
        'role',
        `invalid role ${JSON.stringify(request.role)}: manager or worker`,
      );
    }
    const csr = await parseAndVerifyCsr(request.csrPem);
    const ou = roleToOu(request.role);
    // docker: DNS names <ou> and <node ID>; managers also answer as the CA.
    const dns = request.role === 'manager' ? [ou, request.nodeId, CA_NAME] : [ou, request.nodeId];
    const now = this.deps.clock.now();
    const notBefore = now - this.backdateMs;
    const notAfter = now + this.certExpiryMs;
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: randomSerialHex(this.deps.randomBytes ?? cryptoRandomBytes),
      subject: [{ O: [request.clusterId] }, { OU: [ou] }, { CN: [request.nodeId] }],
      issuer: this.issuerName,
      notBefore: new Date(notBefore),
      notAfter: new Date(notAfter),
      publicKey: csr.publicKey,
      signingKey: this.key,
      signingAlgorithm: ECDSA_SHA256,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(
          x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
          true,
        ),
        new x509.ExtendedKeyUsageExtension([
          x509.ExtendedKeyUsage.serverAuth,
          x509.ExtendedKeyUsage.clientAuth,
        ]),
        new x509.SubjectAlternativeNameExtension(dns.map((value) => ({ type: 'dns' as const, value }))),
        new x509.AuthorityKeyIdentifierExtension(this.issuerKeyId),
        await x509.SubjectKeyIdentifierExtension.create(csr.publicKey),
      ],
    });
    // X.509 keeps whole seconds; report what the certificate actually says.
    return {
      certChainPem: encodePem('CERTIFICATE', cert.rawData) + this.intermediatesPem,
      identity: {
        nodeId: request.nodeId,
        role: request.role,
        clusterId: request.clusterId,
        notBefore: cert.notBefore.getTime(),
        notAfter: cert.notAfter.getTime(),
      },
    };
  }
}

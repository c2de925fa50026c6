import { X509Certificate } from 'node:crypto';
import { errorMessage } from '../common/index.js';
import { CertificateVerificationError } from './errors.js';
import { certificatesFromPem } from './pem.js';

/** Longest path we follow: leaf, cross-signed intermediate, and a spare. */
const MAX_DEPTH = 4;

export interface VerifyChainInput {
  /** Leaf first, then intermediates the peer sent (as a TLS peer or an issued chain does). */
  chainPem: string;
  /** Trusted roots: one, or several during a root rotation. */
  rootsPem: string | readonly string[];
  /** More untrusted intermediates to try (for instance the cross-signed root). */
  intermediatesPem?: string | readonly string[];
  /** Time to check validity at, ms since the epoch (from the injected Clock). */
  now: number;
}

function parseAll(pem: string | readonly string[], field: string): X509Certificate[] {
  const texts = typeof pem === 'string' ? [pem] : pem;
  const out: X509Certificate[] = [];
  for (const text of texts) {
    for (const der of certificatesFromPem(text, field)) {
      try {
        out.push(new X509Certificate(der));
      } catch (e) {
        throw new CertificateVerificationError(
          'malformed',
          `${field}: unparsable certificate: ${errorMessage(e)}`,
        );
      }
    }
  }
  return out;
}

function checkTime(cert: X509Certificate, now: number, what: string): void {
  const from = Date.parse(cert.validFrom);
  const to = Date.parse(cert.validTo);
  if (now < from) {
    throw new CertificateVerificationError('not-yet-valid', `${what} is not valid before ${cert.validFrom}`);
  }
  if (now > to) throw new CertificateVerificationError('expired', `${what} expired at ${cert.validTo}`);
}

/** True when `issuer` is a CA whose key signed `child` and whose name/key id match its issuer field. */
function issued(issuer: X509Certificate, child: X509Certificate): boolean {
  return issuer.ca && child.checkIssued(issuer) && child.verify(issuer.publicKey);
}

/**
 * Checks that the first certificate of `chainPem` chains to one of `rootsPem`, through the other
 * certificates given, with every certificate on the path valid at `now`. Returns the leaf.
 * Signatures are checked by Node's crypto (OpenSSL), not by JavaScript code.
 */
export function verifyCertificateChain(input: VerifyChainInput): X509Certificate {
  const presented = parseAll(input.chainPem, 'certificate chain');
  const leaf = presented[0]!;
  const roots = parseAll(input.rootsPem, 'trusted roots');
  const pool = [
    ...presented.slice(1),
    ...(input.intermediatesPem ? parseAll(input.intermediatesPem, 'intermediates') : []),
  ];
  checkTime(leaf, input.now, 'certificate');

  // Depth-first over candidate issuers: during a rotation two certificates share one subject
  // (the new root and its cross-signed twin), so the first name match may lead nowhere.
  const walk = (cert: X509Certificate, depth: number, seen: Set<X509Certificate>): boolean => {
    for (const root of roots) {
      if (issued(root, cert)) {
        checkTime(root, input.now, 'root CA certificate');
        return true;
      }
    }
    if (depth >= MAX_DEPTH) return false;
    for (const next of pool) {
      if (seen.has(next) || !issued(next, cert)) continue;
      checkTime(next, input.now, 'intermediate CA certificate');
      seen.add(next);
      if (walk(next, depth + 1, seen)) return true;
      seen.delete(next);
    }
    return false;
  };
  if (!walk(leaf, 1, new Set())) {
    throw new CertificateVerificationError(
      'unknown-authority',
      `certificate (subject ${leaf.subject.replace(/\n/g, ', ')}) is not signed by a trusted root CA`,
    );
  }
  return leaf;
}

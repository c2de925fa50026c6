import { createPrivateKey, createPublicKey, type KeyObject, X509Certificate } from 'node:crypto';
import { errorMessage, InvalidArgumentError } from '../common/index.js';
import { decodePemBlocks, encodePem } from './pem.js';
import { type CryptoKey, type CryptoKeyPair, EC_P256, subtle } from './x509.js';

export interface GeneratedKey {
  keys: CryptoKeyPair;
  /** PKCS#8 PEM ("PRIVATE KEY"), which Node's TLS and openssl both read. */
  keyPem: string;
}

/** A fresh ECDSA P-256 key pair from Node's WebCrypto. */
export async function generateP256Key(): Promise<GeneratedKey> {
  const keys = (await subtle.generateKey(EC_P256, true, ['sign', 'verify'])) as CryptoKeyPair;
  const pkcs8 = await subtle.exportKey('pkcs8', keys.privateKey);
  return { keys, keyPem: encodePem('PRIVATE KEY', pkcs8) };
}

function pkcs8Der(keyPem: string, field: string): Buffer {
  const block = decodePemBlocks(keyPem).find((b) => b.label === 'PRIVATE KEY');
  if (!block) throw new InvalidArgumentError(field, `${field} holds no PKCS#8 PEM "PRIVATE KEY" block`);
  return block.der;
}

/** Imports a PKCS#8 P-256 key for signing; `field` names the input in errors. */
export async function importP256SigningKey(keyPem: string, field: string): Promise<CryptoKey> {
  const der = pkcs8Der(keyPem, field);
  try {
    return await subtle.importKey('pkcs8', der, EC_P256, false, ['sign']);
  } catch (e) {
    throw new InvalidArgumentError(field, `${field} is not an ECDSA P-256 private key: ${errorMessage(e)}`, {
      cause: e,
    });
  }
}

/** Whether the private key in `keyPem` belongs to the public key in `certPem` (first certificate). */
export function keyMatchesCertificate(keyPem: string, certPem: string): boolean {
  let priv: KeyObject;
  try {
    priv = createPrivateKey({ key: pkcs8Der(keyPem, 'keyPem'), format: 'der', type: 'pkcs8' });
  } catch (e) {
    throw new InvalidArgumentError('keyPem', `keyPem is not a private key: ${errorMessage(e)}`, { cause: e });
  }
  const fromKey = createPublicKey(priv).export({ type: 'spki', format: 'der' });
  const fromCert = new X509Certificate(certPem).publicKey.export({ type: 'spki', format: 'der' });
  return Buffer.compare(fromKey, fromCert) === 0;
}

/** Random positive serial number (RFC 5280: at most 20 octets, non-negative). */
export function randomSerialHex(randomBytes: (n: number) => Uint8Array): string {
  const bytes = Buffer.from(randomBytes(16));
  bytes[0] = (bytes[0]! & 0x7f) | 0x01; // positive, and never a leading zero octet
  return bytes.toString('hex');
}

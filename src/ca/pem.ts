import { InvalidArgumentError } from '../common/index.js';

const BLOCK_RE = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([A-Za-z0-9+/=\r\n]*?)-----END \1-----/g;

export interface PemBlock {
  label: string;
  der: Buffer;
}

/** Every PEM block in `text`, in order. Text between blocks is ignored, as openssl does. */
export function decodePemBlocks(text: string): PemBlock[] {
  const out: PemBlock[] = [];
  for (const m of text.matchAll(BLOCK_RE)) {
    out.push({ label: m[1]!, der: Buffer.from(m[2]!.replace(/\s+/g, ''), 'base64') });
  }
  return out;
}

/** PEM with 64-column lines and a trailing newline, so concatenated blocks form a valid bundle. */
export function encodePem(label: string, der: Uint8Array | ArrayBuffer): string {
  const b64 = Buffer.from(der instanceof ArrayBuffer ? new Uint8Array(der) : der).toString('base64');
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

/** The DER of every CERTIFICATE block; fails naming `field` when there is none. */
export function certificatesFromPem(text: string, field: string): Buffer[] {
  const ders = decodePemBlocks(text)
    .filter((b) => b.label === 'CERTIFICATE')
    .map((b) => b.der);
  if (ders.length === 0) {
    throw new InvalidArgumentError(field, `${field} holds no PEM CERTIFICATE block`);
  }
  return ders;
}

/** Re-encodes every certificate in canonical form (our line width, one newline each). */
export function normalizeCertificatePem(text: string, field: string): string {
  return certificatesFromPem(text, field)
    .map((der) => encodePem('CERTIFICATE', der))
    .join('');
}

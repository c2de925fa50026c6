import type { ConfigSpec } from '../objects/config.js';
import type { SecretSpec } from '../objects/secret.js';
import { checkLabels, checkName, invalid } from './rules.js';

/** Docker's limits: 500 KiB per secret, 1000 KiB per config (decoded size). */
export const MAX_SECRET_BYTES = 500 * 1024;
export const MAX_CONFIG_BYTES = 1000 * 1024;

const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function validatePayload(spec: SecretSpec | ConfigSpec, maxBytes: number): void {
  if (typeof spec !== 'object' || spec === null) throw invalid('spec', spec, 'is required');
  checkName('name', spec.name);
  checkLabels('labels', spec.labels);
  if (typeof spec.data !== 'string' || !BASE64_RE.test(spec.data))
    throw invalid('data', spec.data, 'must be base64');
  const size = Buffer.byteLength(spec.data, 'base64');
  if (size === 0) throw invalid('data', spec.data, 'must not be empty');
  if (size > maxBytes) throw invalid('data', `<${size} bytes>`, `must be at most ${maxBytes} bytes`);
}

export function validateSecretSpec(spec: SecretSpec): void {
  validatePayload(spec, MAX_SECRET_BYTES);
}

export function validateConfigSpec(spec: ConfigSpec): void {
  validatePayload(spec, MAX_CONFIG_BYTES);
}

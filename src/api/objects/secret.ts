import type { SecretId } from '../ids.js';
import type { Labels, Meta } from './meta.js';

export interface SecretSpec {
  /** Unique among secrets (case-insensitive). */
  readonly name: string;
  readonly labels?: Labels;
  /** The payload, base64-encoded so the object stays plain JSON. Encrypted at rest by Raft. */
  readonly data: string;
}

export interface Secret {
  readonly id: SecretId;
  readonly meta: Meta;
  readonly spec: SecretSpec;
  /** Nothing is observed about a secret yet; kept for the common object shape. */
  readonly status: Readonly<Record<string, never>>;
}

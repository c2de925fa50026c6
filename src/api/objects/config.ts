import type { ConfigId } from '../ids.js';
import type { Labels, Meta } from './meta.js';

export interface ConfigSpec {
  /** Unique among configs (case-insensitive). */
  readonly name: string;
  readonly labels?: Labels;
  /** The payload, base64-encoded so the object stays plain JSON. */
  readonly data: string;
}

export interface Config {
  readonly id: ConfigId;
  readonly meta: Meta;
  readonly spec: ConfigSpec;
  /** Nothing is observed about a config yet; kept for the common object shape. */
  readonly status: Readonly<Record<string, never>>;
}

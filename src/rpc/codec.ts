import { InvalidArgumentError } from '../common/index.js';

/** How one message type crosses the wire. */
export interface Codec<T> {
  encode(value: T): Buffer;
  decode(bytes: Buffer): T;
}

/**
 * JSON for low-rate APIs (control, CA, dispatcher): readable in captures and easy to evolve.
 * `check` validates the decoded value at the boundary, so handlers receive typed data.
 */
export function jsonCodec<T>(check?: (value: unknown) => T): Codec<T> {
  return {
    encode: (value) => Buffer.from(JSON.stringify(value)),
    decode: (bytes) => {
      let value: unknown;
      try {
        value = JSON.parse(bytes.toString('utf8'));
      } catch (e) {
        throw new InvalidArgumentError('message', 'message is not valid JSON', { cause: e });
      }
      return check ? check(value) : (value as T);
    },
  };
}

export const emptyCodec: Codec<Record<string, never>> = {
  encode: () => Buffer.alloc(0),
  decode: () => ({}),
};

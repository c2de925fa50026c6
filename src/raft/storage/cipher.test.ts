import { describe, expect, it } from 'vitest';
import { isSwarmError } from '../../common/index.js';
import { AesGcmCipher } from './cipher.js';

const key = (b: number): Uint8Array => new Uint8Array(32).fill(b);
const aad = (s: string): Uint8Array => new TextEncoder().encode(s);

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  return new Error('expected a throw');
}

describe('AesGcmCipher', () => {
  const cipher = new AesGcmCipher({ keys: [{ id: 'a', key: key(1) }], activeKeyId: 'a' });
  const plain = new TextEncoder().encode('hello raft');

  it('round-trips and uses a fresh nonce each time', () => {
    const one = cipher.encrypt(plain, aad('pos1'));
    const two = cipher.encrypt(plain, aad('pos1'));
    expect(Buffer.from(one).equals(Buffer.from(two))).toBe(false);
    expect(cipher.decrypt(one, aad('pos1'))).toEqual(Buffer.from(plain));
  });

  it('rejects a payload presented with different authenticated data, or tampered', () => {
    const sealed = cipher.encrypt(plain, aad('pos1'));
    expect(
      isSwarmError(
        thrown(() => cipher.decrypt(sealed, aad('pos2'))),
        'CORRUPTION',
      ),
    ).toBe(true);
    const tampered = Uint8Array.from(sealed);
    tampered[tampered.length - 20]! ^= 1;
    expect(
      isSwarmError(
        thrown(() => cipher.decrypt(tampered, aad('pos1'))),
        'CORRUPTION',
      ),
    ).toBe(true);
  });

  it.each([
    [{ keys: [{ id: 'a', key: key(1).subarray(0, 16) }], activeKeyId: 'a' }, 'keys[0].key'],
    [{ keys: [{ id: '', key: key(1) }], activeKeyId: '' }, 'keys[0].id'],
    [{ keys: [{ id: 'a', key: key(1) }], activeKeyId: 'b' }, 'activeKeyId'],
  ])('names the bad option %#', (options, field) => {
    const e = thrown(() => new AesGcmCipher(options));
    expect(isSwarmError(e, 'INVALID_ARGUMENT')).toBe(true);
    expect((e as { details: { field?: string } }).details.field).toBe(field);
  });
});

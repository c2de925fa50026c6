import { describe, expect, it } from 'vitest';
import { isSwarmError, SeededRandom } from '../common/index.js';
import { generateId, ID_LENGTH, isValidId, parseId, type ServiceId } from './ids.js';

function seededBytes(seed: number): (n: number) => Uint8Array {
  const r = new SeededRandom(seed);
  return (n) => Uint8Array.from({ length: n }, () => r.int(0, 256));
}

describe('ids', () => {
  it('generates 25-character lowercase base36 ids', () => {
    const rb = seededBytes(1);
    for (let i = 0; i < 200; i++) {
      const id = generateId<ServiceId>(rb);
      expect(id).toMatch(/^[0-9a-z]{25}$/);
    }
  });

  it('maps the extremes of 128 bits onto the 25-character range', () => {
    expect(generateId(() => new Uint8Array(16))).toBe('0'.repeat(ID_LENGTH));
    const max = generateId(() => new Uint8Array(16).fill(255));
    expect(max).toHaveLength(ID_LENGTH);
    expect(BigInt(`0x${'ff'.repeat(16)}`).toString(36)).toBe(max);
  });

  it('is deterministic for a given random source and distinct across draws', () => {
    const a = Array.from(
      { length: 50 },
      (
        (rb) => () =>
          generateId(rb)
      )(seededBytes(7)),
    );
    const b = Array.from(
      { length: 50 },
      (
        (rb) => () =>
          generateId(rb)
      )(seededBytes(7)),
    );
    expect(a).toEqual(b);
    expect(new Set(a).size).toBe(50);
  });

  it('refuses a random source that returns too few bytes', () => {
    expect(() => generateId(() => new Uint8Array(8))).toThrow(/8 bytes/);
  });

  it.each([
    ['', false],
    ['abc', false],
    ['0123456789abcdefghijklmno', true],
    ['0123456789ABCDEFGHIJKLMNO', false],
    ['0123456789abcdefghijklmn-', false],
    ['0123456789abcdefghijklmnop', false],
  ])('isValidId(%j) is %s', (value, ok) => {
    expect(isValidId(value)).toBe(ok);
  });

  it('parseId names the field and the value', () => {
    try {
      parseId('nope', 'serviceId');
      expect.unreachable();
    } catch (e) {
      expect(isSwarmError(e, 'INVALID_ARGUMENT')).toBe(true);
      expect((e as Error).message).toContain('serviceId');
      expect((e as Error).message).toContain('"nope"');
    }
  });
});

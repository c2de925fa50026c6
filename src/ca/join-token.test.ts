import { describe, expect, it } from 'vitest';
import { ManualClock } from '../common/index.js';
import {
  generateJoinToken,
  generateJoinTokens,
  parseJoinToken,
  roleForJoinToken,
  rootCaDigest,
  verifyRootAgainstToken,
} from './join-token.js';
import { createRootCa } from './root-ca.js';

const fixedBytes =
  (fill: number) =>
  (n: number): Uint8Array =>
    new Uint8Array(n).fill(fill);

describe('join tokens', () => {
  it('have docker format: SWMTKN-1-<50 base36 digest>-<25 base36 secret>', async () => {
    const root = await createRootCa({ clock: new ManualClock(0) });
    const token = generateJoinToken(root.certPem);
    expect(token).toMatch(/^SWMTKN-1-[0-9a-z]{50}-[0-9a-z]{25}$/);
    const parsed = parseJoinToken(token);
    expect(parsed.rootDigest).toBe(rootCaDigest(root.certPem));
    expect(parsed.rootDigest).toMatch(/^[0-9a-f]{64}$/);
  });

  it('encode the secret bytes as base-36 big-endian integers, zero padded', () => {
    const pem = 'any bundle';
    // 16 bytes of 0xff is 2^128 - 1, whose base-36 form is exactly 25 characters.
    const max = generateJoinToken(pem, fixedBytes(0xff)).split('-')[3];
    expect(max).toBe(((1n << 128n) - 1n).toString(36));
    expect(max).toHaveLength(25);
    const zero = generateJoinToken(pem, fixedBytes(0)).split('-')[3];
    expect(zero).toBe('0'.repeat(25));
    const digest = generateJoinToken(pem, fixedBytes(1)).split('-')[2]!;
    expect(
      BigInt(`0x${rootCaDigest(pem)}`)
        .toString(36)
        .padStart(50, '0'),
    ).toBe(digest);
  });

  it('round-trip a digest with leading zero nibbles', () => {
    // Search a few inputs for a digest starting with 0 so the padding paths are exercised.
    let pem = '';
    for (let i = 0; i < 1000; i++) {
      pem = `bundle-${i}`;
      if (rootCaDigest(pem).startsWith('00')) break;
    }
    expect(rootCaDigest(pem).startsWith('00')).toBe(true);
    expect(parseJoinToken(generateJoinToken(pem)).rootDigest).toBe(rootCaDigest(pem));
  });

  it.each([
    ['', /must start with SWMTKN-1-/],
    ['SWMTKN-2-1-abc-def', /FIPS/],
    ['SWMTKN-1-abc', /expected SWMTKN-1-<digest>-<secret>/],
    [`SWMTKN-1-${'0'.repeat(49)}-${'0'.repeat(25)}`, /digest part must be 50/],
    [`SWMTKN-1-${'0'.repeat(50)}-${'0'.repeat(24)}`, /secret part must be 25/],
    [`SWMTKN-1-${'A'.repeat(50)}-${'0'.repeat(25)}`, /lowercase base-36/],
    [`SWMTKN-1-${'z'.repeat(50)}-${'0'.repeat(25)}`, /larger than a SHA-256/],
    [`SWMTKN-1-${'0'.repeat(50)}-${'z'.repeat(25)}`, /larger than 128 bits/],
  ])('refuses malformed token %j with InvalidArgument naming the field', (token, why) => {
    expect(() => parseJoinToken(token, 'token')).toThrow(why);
    expect(() => parseJoinToken(token, 'token')).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT', field: 'token' }),
    );
  });

  it('pin the root: the right root passes, another root is refused before any secret is used', async () => {
    const clock = new ManualClock(0);
    const root = await createRootCa({ clock });
    const impostor = await createRootCa({ clock });
    const token = generateJoinToken(root.certPem);
    expect(() => verifyRootAgainstToken(root.certPem, token)).not.toThrow();
    expect(() => verifyRootAgainstToken(impostor.certPem, token)).toThrow(
      expect.objectContaining({ code: 'UNAUTHENTICATED', name: 'RootCaMismatchError' }),
    );
    // An extra root slipped into the bundle changes the digest too.
    expect(() => verifyRootAgainstToken(root.certPem + impostor.certPem, token)).toThrow(/does not match/);
  });

  it('map the worker and manager tokens to their roles and refuse anything else', async () => {
    const root = await createRootCa({ clock: new ManualClock(0) });
    const tokens = generateJoinTokens(root.certPem);
    expect(tokens.worker).not.toBe(tokens.manager);
    expect(tokens.worker.split('-')[2]).toBe(tokens.manager.split('-')[2]);
    expect(roleForJoinToken(tokens, tokens.worker)).toBe('worker');
    expect(roleForJoinToken(tokens, tokens.manager)).toBe('manager');
    expect(roleForJoinToken(tokens, ` ${tokens.manager}\n`)).toBe('manager'); // pasted with blanks
    const rotated = generateJoinTokens(root.certPem);
    expect(() => roleForJoinToken(tokens, rotated.worker)).toThrow(
      expect.objectContaining({ code: 'UNAUTHENTICATED', name: 'InvalidJoinTokenError' }),
    );
    expect(() => roleForJoinToken(tokens, 'garbage')).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
  });
});

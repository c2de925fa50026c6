import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration, resolveMillis } from './duration.js';
import { InvalidArgumentError } from './errors.js';

describe('parseDuration', () => {
  it.each([
    ['500ms', 500],
    ['5s', 5000],
    ['1m30s', 90_000],
    ['2h', 7_200_000],
    ['1.5h', 5_400_000],
    ['0', 0],
    ['0s', 0],
    ['1h2m3s4ms', 3_723_004],
    ['250us', 0.25],
    ['10ns', 1e-5],
    ['.5s', 500],
  ])('accepts docker form %s', (text, ms) => {
    expect(parseDuration(text)).toBeCloseTo(ms, 9);
  });

  it.each([
    ['', 'empty'],
    ['5', 'missing unit'],
    ['5x', 'unknown unit'],
    ['-5s', 'negative'],
    ['1m30', 'missing unit'],
    ['s', 'unknown unit'],
    ['5 s', 'unknown unit'],
  ])('refuses %j naming the field and value', (text, why) => {
    let error: unknown;
    try {
      parseDuration(text, '--update-delay');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InvalidArgumentError);
    const e = error as InvalidArgumentError;
    expect(e.code).toBe('INVALID_ARGUMENT');
    expect(e.field).toBe('--update-delay');
    expect(e.message).toContain(JSON.stringify(text));
    expect(e.message).toContain(why);
  });
});

describe('formatDuration', () => {
  it.each([
    [0, '0s'],
    [500, '500ms'],
    [5000, '5s'],
    [90_000, '1m30s'],
    [7_200_000, '2h0m0s'],
    [1500, '1.5s'],
  ])('formats %d ms as %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  it('round-trips through parseDuration', () => {
    for (const ms of [1, 999, 1000, 61_000, 3_600_001, 86_400_000]) {
      expect(parseDuration(formatDuration(ms))).toBeCloseTo(ms, 6);
    }
  });
});

describe('resolveMillis', () => {
  it('gives the default when unset, keeps a valid value and refuses others naming the field', () => {
    expect(resolveMillis('fooMs', undefined, 5_000)).toBe(5_000);
    expect(resolveMillis('fooMs', 1, 5_000)).toBe(1);
    expect(resolveMillis('fooMs', 600_000, 5_000)).toBe(600_000);
    for (const bad of [0, -1, 1.5, 600_001, Number.NaN])
      expect(() => resolveMillis('fooMs', bad, 5_000), String(bad)).toThrow(
        expect.objectContaining({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('fooMs') }),
      );
    expect(() => resolveMillis('fooMs', 11, 5, 10)).toThrow(/between 1 and 10/);
  });
});

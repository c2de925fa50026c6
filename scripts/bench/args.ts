/**
 * The benchmark scripts' numeric options, checked one way: a bad value stops the script with an
 * error that names the option and the value given.
 */

/** An integer option in [min, max] (by default a positive integer; no upper bound). */
export function integerOption(
  name: string,
  value: string | undefined,
  min = 1,
  max = Number.MAX_SAFE_INTEGER,
): number {
  const n = Number(value);
  if (value === undefined || value.trim() === '' || !Number.isInteger(n) || n < min || n > max) {
    const what =
      max !== Number.MAX_SAFE_INTEGER
        ? `an integer in [${min}, ${max}]`
        : min === 1
          ? 'a positive integer'
          : `an integer >= ${min}`;
    throw new Error(`--${name} must be ${what}, got ${value}`);
  }
  return n;
}

/** A duration option in seconds (fractions allowed), returned in milliseconds. */
export function secondsOption(name: string, value: string | undefined, allowZero = false): number {
  const s = Number(value);
  if (value === undefined || value.trim() === '' || !Number.isFinite(s) || s < 0 || (s === 0 && !allowZero))
    throw new Error(`--${name} must be a number of seconds ${allowZero ? '>= 0' : '> 0'}, got ${value}`);
  return s * 1000;
}

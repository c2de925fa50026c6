import { InvalidArgumentError } from './errors.js';

const UNIT_MS: Readonly<Record<string, number>> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

const PART = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/y;

/**
 * Parses a duration the way docker does (Go's time.ParseDuration): `500ms`, `5s`, `1m30s`,
 * `1.5h`, `0`. Returns milliseconds. `field` names the flag or option in the error.
 */
export function parseDuration(input: string, field = 'duration'): number {
  const text = input.trim();
  const fail = (why: string): never => {
    throw new InvalidArgumentError(field, `invalid duration ${JSON.stringify(input)} for ${field}: ${why}`);
  };
  if (text === '') fail('empty');
  if (text === '0') return 0;
  if (text.startsWith('-')) fail('must not be negative');
  let body = text.startsWith('+') ? text.slice(1) : text;
  if (body === '') fail('missing value');
  let total = 0;
  PART.lastIndex = 0;
  let pos = 0;
  while (pos < body.length) {
    PART.lastIndex = pos;
    const m = PART.exec(body);
    if (!m) fail(/^\d+(\.\d*)?$/.test(body.slice(pos)) ? 'missing unit (use ms, s, m or h)' : 'unknown unit');
    const [whole, num, unit] = m as RegExpExecArray;
    total += Number(num) * UNIT_MS[unit as string]!;
    pos += whole.length;
  }
  body = '';
  if (!Number.isFinite(total)) fail('out of range');
  return total;
}

/** Formats milliseconds like Go's Duration.String(): `1m30s`, `500ms`, `2h0m0s`. */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  const sign = ms < 0 ? '-' : '';
  let rest = Math.abs(ms);
  if (rest < 1000) {
    if (rest >= 1) return `${sign}${trim(rest)}ms`;
    if (rest >= 1e-3) return `${sign}${trim(rest * 1e3)}µs`;
    return `${sign}${trim(rest * 1e6)}ns`;
  }
  const h = Math.floor(rest / 3_600_000);
  rest -= h * 3_600_000;
  const m = Math.floor(rest / 60_000);
  rest -= m * 60_000;
  const s = `${trim(rest / 1000)}s`;
  if (h > 0) return `${sign}${h}h${m}m${s}`;
  if (m > 0) return `${sign}${m}m${s}`;
  return `${sign}${s}`;
}

function trim(n: number): string {
  return String(Number(n.toFixed(9)));
}

/**
 * A time option in whole milliseconds as given (undefined: its default), checked once where the
 * options are read: a bad value is refused naming the field, never clamped.
 */
export function resolveMillis(
  field: string,
  ms: number | undefined,
  defaultMs: number,
  maxMs = 600_000,
): number {
  if (ms === undefined) return defaultMs;
  if (!Number.isInteger(ms) || ms <= 0 || ms > maxMs)
    throw new InvalidArgumentError(
      field,
      `invalid ${field} ${String(ms)}: expected whole milliseconds between 1 and ${maxMs}`,
    );
  return ms;
}

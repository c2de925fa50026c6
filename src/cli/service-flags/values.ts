import { parseDuration } from '../../common/index.js';
import { flagError } from './errors.js';

/** Parsers for single flag values. Each takes the flag name (without `--`) for its error. */

export function parseUint(flag: string, value: string): number {
  const text = value.trim();
  if (!/^\d+$/.test(text)) throw flagError(flag, value, 'must be a non-negative integer');
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw flagError(flag, value, 'value out of range');
  return n;
}

export function parseRatio(flag: string, value: string): number {
  const text = value.trim();
  if (!/^(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/.test(text))
    throw flagError(flag, value, 'must be a number between 0 and 1');
  const n = Number(text);
  if (n > 1) throw flagError(flag, value, 'must be a number between 0 and 1');
  return n;
}

export function parseChoice<T extends string>(flag: string, value: string, allowed: readonly T[]): T {
  const v = value.trim().toLowerCase();
  if (!(allowed as readonly string[]).includes(v))
    throw flagError(flag, value, `must be one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}`);
  return v as T;
}

/** Durations as docker takes them (`5s`, `1m30s`, `0`), in whole milliseconds. */
export function parseFlagDuration(flag: string, value: string): number {
  return Math.round(parseDuration(value, `--${flag}`));
}

const MEMORY_UNITS: Readonly<Record<string, number>> = {
  k: 1024,
  m: 1024 ** 2,
  g: 1024 ** 3,
  t: 1024 ** 4,
  p: 1024 ** 5,
};

/**
 * Docker's RAMInBytes: a number with an optional binary unit, `b`, `k`, `kb`, `kib`… any case
 * (`512m`, `1g`, `1.5GB`, `1048576`). `kb` means KiB here, as in docker.
 */
export function parseMemoryBytes(flag: string, value: string): number {
  const m = /^\s*(\d+(?:\.\d*)?|\.\d+)\s?([a-zA-Z]*)\s*$/.exec(value);
  if (!m) throw flagError(flag, value, `invalid size: '${value}'`);
  const num = Number(m[1]);
  const suffix = m[2]!.toLowerCase();
  let bytes: number;
  if (suffix === '' || suffix === 'b') bytes = num;
  else {
    const unit = MEMORY_UNITS[suffix[0]!];
    const rest = suffix.slice(1);
    if (unit === undefined || !(rest === '' || rest === 'b' || rest === 'ib'))
      throw flagError(flag, value, `invalid suffix: '${m[2]}'`);
    bytes = num * unit;
  }
  const whole = Math.floor(bytes);
  if (!Number.isSafeInteger(whole)) throw flagError(flag, value, 'value out of range');
  return whole;
}

const NANO = 1_000_000_000n;

/**
 * CPUs as a decimal (`0.5`, `2`) or a fraction (`1/4`), in nano-CPUs: `0.5` → 500000000. Exact
 * arithmetic, so a value finer than 1e-9 CPU is refused rather than rounded, as docker does.
 */
export function parseNanoCpus(flag: string, value: string): number {
  const text = value.trim();
  let numerator: bigint;
  let denominator: bigint;
  const dec = /^(\d*)(?:\.(\d*))?$/.exec(text);
  const frac = /^(\d+)\/(\d+)$/.exec(text);
  if (dec && (dec[1] !== '' || (dec[2] ?? '') !== '')) {
    const fraction = dec[2] ?? '';
    numerator = BigInt(`${dec[1] || '0'}${fraction}`);
    denominator = 10n ** BigInt(fraction.length);
  } else if (frac) {
    numerator = BigInt(frac[1]!);
    denominator = BigInt(frac[2]!);
    if (denominator === 0n) throw flagError(flag, value, `failed to parse ${value} as a rational number`);
  } else {
    throw flagError(flag, value, `failed to parse ${value} as a rational number`);
  }
  const scaled = numerator * NANO;
  if (scaled % denominator !== 0n) throw flagError(flag, value, 'value is too precise');
  const nano = scaled / denominator;
  if (nano > BigInt(Number.MAX_SAFE_INTEGER)) throw flagError(flag, value, 'value out of range');
  return Number(nano);
}

/** A `key=value` pair; a bare `key` has the empty value (docker's labels). */
export function parseKeyValue(flag: string, value: string): [string, string] {
  const eq = value.indexOf('=');
  const key = eq < 0 ? value : value.slice(0, eq);
  if (key.trim() === '') throw flagError(flag, value, `invalid label '${value}': empty name`);
  return [key, eq < 0 ? '' : value.slice(eq + 1)];
}

export function parseLabels(flag: string, values: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values) {
    const [k, val] = parseKeyValue(flag, v);
    out[k] = val;
  }
  return out;
}

/**
 * Splits a command line into words like a POSIX shell without expansion (docker's shlex):
 * blanks separate words, quotes group, a backslash escapes outside single quotes.
 */
export function splitShellWords(flag: string, value: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let quote: '"' | "'" | null = null;
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    if (quote === "'") {
      if (c === "'") quote = null;
      else word += c;
      continue;
    }
    if (c === '\\') {
      const next = value[i + 1];
      if (next === undefined) throw flagError(flag, value, 'EOF found after escape character');
      // Inside double quotes a backslash only escapes the characters the shell would treat specially.
      if (quote === '"' && !'\\"$`'.includes(next)) word += c;
      word += next;
      i++;
      inWord = true;
      continue;
    }
    if (quote === '"') {
      if (c === '"') quote = null;
      else word += c;
      continue;
    }
    if (c === '"' || c === "'") {
      quote = c;
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (quote !== null) throw flagError(flag, value, 'EOF found when expecting closing quote');
  if (inWord) words.push(word);
  return words;
}

/** Reads the environment and env files for `--env`/`--env-file`; injected so parsing stays pure. */
/** A network the CLI knows by id and name, to resolve `--network-rm`/`--network-add` names. */
export interface KnownNetwork {
  readonly id: string;
  readonly name: string;
}

export interface ParseEnvironment {
  /** Value of a variable in the CLI's own environment (for `-e NAME` without a value). */
  readonly lookupEnv?: (name: string) => string | undefined;
  /** Contents of an `--env-file`; throws if it cannot be read. */
  readonly readFile?: (path: string) => string;
  /** The cluster's networks (`service update`); without them names are left to the manager. */
  readonly networks?: readonly KnownNetwork[];
}

/** `-e KEY=value` as is; `-e KEY` takes KEY's value from the CLI's environment if it has one. */
export function resolveEnvEntry(flag: string, value: string, env: ParseEnvironment): string {
  const eq = value.indexOf('=');
  const key = eq < 0 ? value : value.slice(0, eq);
  if (key === '') throw flagError(flag, value, 'invalid environment variable: empty name');
  if (eq >= 0) return value;
  const fromEnv = env.lookupEnv?.(key);
  return fromEnv === undefined ? key : `${key}=${fromEnv}`;
}

/** Docker's env-file format: `KEY=value` or `KEY` lines, `#` comments and blank lines skipped. */
export function parseEnvFile(flag: string, path: string, env: ParseEnvironment): string[] {
  if (!env.readFile) throw flagError(flag, path, 'env files cannot be read here');
  let text: string;
  try {
    text = env.readFile(path);
  } catch (e) {
    throw flagError(flag, path, e instanceof Error ? e.message : String(e));
  }
  const out: string[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.replace(/^\s+/, '');
    if (line === '' || line.startsWith('#')) return;
    const key = line.split('=', 1)[0]!;
    if (/\s/.test(key) || key === '')
      throw flagError(flag, path, `line ${i + 1}: variable '${key}' contains whitespaces or is empty`);
    out.push(resolveEnvEntry(flag, line, env));
  });
  return out;
}

export function envKey(entry: string): string {
  const eq = entry.indexOf('=');
  return eq < 0 ? entry : entry.slice(0, eq);
}

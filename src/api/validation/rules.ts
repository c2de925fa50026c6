import { InvalidArgumentError } from '../../common/index.js';
import { isValidId } from '../ids.js';
import type { Labels } from '../objects/meta.js';

/**
 * Small checks shared by the spec validators. Every failure is an InvalidArgumentError whose
 * `field` is the spec path (`mode.replicas`) and whose message shows the offending value.
 * Units belong to the CLI: specs hold integers (ms, bytes, nano-CPUs).
 */

export function invalid(field: string, value: unknown, why: string): InvalidArgumentError {
  return new InvalidArgumentError(field, `invalid ${field} ${show(value)}: ${why}`);
}

function show(value: unknown): string {
  if (value === undefined) return 'undefined';
  const text = JSON.stringify(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/** Docker's object names: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`, at most 63 characters. */
const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
export const MAX_NAME_LENGTH = 63;

export function checkName(field: string, value: unknown): void {
  if (typeof value !== 'string' || value === '') throw invalid(field, value, 'a name is required');
  if (value.length > MAX_NAME_LENGTH)
    throw invalid(field, value, `must be at most ${MAX_NAME_LENGTH} characters`);
  if (!NAME_RE.test(value))
    throw invalid(field, value, 'must start with a letter or digit and contain only [a-zA-Z0-9_.-]');
}

export function checkString(field: string, value: unknown, opts: { required?: boolean } = {}): void {
  if (value === undefined && !opts.required) return;
  if (typeof value !== 'string') throw invalid(field, value, 'must be a string');
  if (opts.required && value.trim() === '') throw invalid(field, value, 'must not be empty');
}

export function checkStrings(field: string, value: unknown): void {
  if (value === undefined) return;
  if (!Array.isArray(value)) throw invalid(field, value, 'must be a list of strings');
  value.forEach((v, i) => {
    if (typeof v !== 'string') throw invalid(`${field}[${i}]`, v, 'must be a string');
  });
}

export function checkBoolean(field: string, value: unknown): void {
  if (value !== undefined && typeof value !== 'boolean') throw invalid(field, value, 'must be true or false');
}

export function checkInt(
  field: string,
  value: unknown,
  opts: { min?: number; max?: number; optional?: boolean } = {},
): void {
  if (value === undefined && opts.optional) return;
  if (typeof value !== 'number' || !Number.isSafeInteger(value))
    throw invalid(field, value, 'must be an integer');
  if (opts.min !== undefined && value < opts.min) throw invalid(field, value, `must be at least ${opts.min}`);
  if (opts.max !== undefined && value > opts.max) throw invalid(field, value, `must be at most ${opts.max}`);
}

/** Durations are whole milliseconds, never negative. */
export function checkDurationMs(field: string, value: unknown, optional = true): void {
  if (value === undefined && optional) return;
  if (typeof value !== 'number' || !Number.isSafeInteger(value))
    throw invalid(field, value, 'must be a whole number of milliseconds');
  if (value < 0) throw invalid(field, value, 'must not be negative');
}

export function checkRatio(field: string, value: unknown): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > 1)
    throw invalid(field, value, 'must be a number between 0 and 1');
}

export function checkOneOf<T extends string>(
  field: string,
  value: unknown,
  allowed: readonly T[],
): asserts value is T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value))
    throw invalid(field, value, `must be one of ${allowed.join(', ')}`);
}

export function checkLabels(field: string, value: Labels | undefined): void {
  if (value === undefined) return;
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw invalid(field, value, 'must be a map of strings');
  for (const [k, v] of Object.entries(value)) {
    if (k.trim() === '') throw invalid(`${field}`, k, 'label keys must not be empty');
    if (typeof v !== 'string') throw invalid(`${field}.${k}`, v, 'label values must be strings');
  }
}

export function checkIdField(field: string, value: unknown): void {
  if (!isValidId(value)) throw invalid(field, value, 'must be a 25-character id');
}

const IPV4_RE = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

export function isIpv4(value: string): boolean {
  return IPV4_RE.test(value);
}

export function checkCidr(field: string, value: unknown): void {
  const parts = typeof value === 'string' ? value.split('/') : [];
  const bits = Number(parts[1]);
  if (parts.length !== 2 || !isIpv4(parts[0]!) || !/^\d{1,2}$/.test(parts[1]!) || bits > 32)
    throw invalid(field, value, 'must be an IPv4 CIDR such as 10.0.1.0/24');
}

export function checkIpv4(field: string, value: unknown): void {
  if (typeof value !== 'string' || !isIpv4(value)) throw invalid(field, value, 'must be an IPv4 address');
}

import type { Mount, MountType } from '../../api/index.js';
import { flagError } from './errors.js';
import { parseMemoryBytes } from './values.js';

type Propagation = NonNullable<NonNullable<Mount['bindOptions']>['propagation']>;
const PROPAGATIONS: readonly Propagation[] = ['private', 'rprivate', 'shared', 'rshared', 'slave', 'rslave'];
const FLAG_ONLY_KEYS = ['readonly', 'ro', 'volume-nocopy'];

/** Splits one CSV record: commas separate fields, double quotes protect commas (`"a,b"`). */
export function splitCsv(flag: string, value: string): string[] {
  const fields: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    if (quoted) {
      if (c === '"' && value[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"' && field === '') quoted = true;
    else if (c === ',') {
      fields.push(field);
      field = '';
    } else field += c;
  }
  if (quoted) throw flagError(flag, value, 'extraneous or missing " in quoted-field');
  fields.push(field);
  return fields;
}

interface MountDraft {
  type: MountType;
  source?: string;
  target?: string;
  readOnly?: boolean;
  propagation?: Propagation;
  volume?: {
    noCopy?: boolean;
    labels?: Record<string, string>;
    driver?: string;
    driverOpts?: Record<string, string>;
  };
  tmpfs?: { sizeBytes?: number; mode?: number };
}

/**
 * Docker's `--mount` CSV: `type=bind|volume|tmpfs` (default volume), `source|src`,
 * `target|dst|destination`, `readonly|ro[=bool]`, `bind-propagation`, `volume-nocopy`,
 * `volume-label`, `volume-driver`, `volume-opt`, `tmpfs-size`, `tmpfs-mode` (octal).
 */
export function parseMount(flag: string, value: string): Mount {
  const text = value.trim();
  if (text === '') throw flagError(flag, value, 'value is empty');
  const fail = (why: string): never => {
    throw flagError(flag, value, why);
  };
  const m: MountDraft = { type: 'volume' };
  for (const field of splitCsv(flag, text)) {
    const eq = field.indexOf('=');
    const hasValue = eq >= 0;
    const rawKey = hasValue ? field.slice(0, eq) : field;
    const val = hasValue ? field.slice(eq + 1) : '';
    if (rawKey.trim() !== rawKey)
      fail(`invalid option '${rawKey.trim()}' in '${field}': option should not have whitespace`);
    if (hasValue && val.trim() === '') fail(`invalid value for '${rawKey}': value is empty`);
    if (hasValue && val.trim() !== val)
      fail(`invalid value for '${rawKey}' in '${field}': value should not have whitespace`);
    const key = rawKey.toLowerCase();
    if (!hasValue && !FLAG_ONLY_KEYS.includes(key)) fail(`invalid field '${field}' must be a key=value pair`);
    switch (key) {
      case 'type': {
        const t = val.toLowerCase();
        if (t !== 'bind' && t !== 'volume' && t !== 'tmpfs')
          fail(`invalid mount type '${val}': must be bind, volume or tmpfs`);
        m.type = t as MountType;
        break;
      }
      case 'source':
      case 'src':
        m.source = val;
        break;
      case 'target':
      case 'dst':
      case 'destination':
        m.target = val;
        break;
      case 'readonly':
      case 'ro':
        m.readOnly = parseBool(flag, value, key, val, hasValue);
        break;
      case 'bind-propagation': {
        const p = val.toLowerCase() as Propagation;
        if (!PROPAGATIONS.includes(p)) fail(`invalid value for bind-propagation: ${val}`);
        m.propagation = p;
        break;
      }
      case 'volume-nocopy':
        m.volume = { ...m.volume, noCopy: parseBool(flag, value, key, val, hasValue) };
        break;
      case 'volume-label':
        m.volume = { ...m.volume, labels: { ...m.volume?.labels, ...pair(val) } };
        break;
      case 'volume-driver':
        m.volume = { ...m.volume, driver: val };
        break;
      case 'volume-opt':
        m.volume = { ...m.volume, driverOpts: { ...m.volume?.driverOpts, ...pair(val) } };
        break;
      case 'tmpfs-size': {
        let size = 0;
        try {
          size = parseMemoryBytes(flag, val);
        } catch {
          fail(`invalid value for tmpfs-size: ${val}`);
        }
        m.tmpfs = { ...m.tmpfs, sizeBytes: size };
        break;
      }
      case 'tmpfs-mode':
        if (!/^[0-7]{1,4}$/.test(val)) fail(`invalid value for tmpfs-mode: ${val}`);
        m.tmpfs = { ...m.tmpfs, mode: Number.parseInt(val, 8) };
        break;
      default:
        fail(`unknown option '${key}' in '${field}'`);
    }
  }
  return finish(m, fail);
}

function finish(m: MountDraft, fail: (why: string) => never): Mount {
  if (m.propagation !== undefined && m.type !== 'bind')
    fail(`cannot mix 'bind-*' options with mount type '${m.type}'`);
  if (m.volume !== undefined && m.type !== 'volume')
    fail(`cannot mix 'volume-*' options with mount type '${m.type}'`);
  if (m.tmpfs !== undefined && m.type !== 'tmpfs')
    fail(`cannot mix 'tmpfs-*' options with mount type '${m.type}'`);
  if (m.target === undefined) fail('target is required');
  const target = m.target as string;
  if (!target.startsWith('/')) fail(`invalid mount target, must be an absolute path: ${target}`);
  if (m.type === 'bind') {
    if (m.source === undefined) fail('source is required when specifying bind mounts');
    if (!m.source?.startsWith('/')) fail(`invalid bind source, must be an absolute path: ${m.source}`);
  }
  if (m.type === 'tmpfs' && m.source !== undefined) fail('source must not be specified for tmpfs mounts');
  const volumeOptions = m.volume && {
    ...(m.volume.noCopy !== undefined && { noCopy: m.volume.noCopy }),
    ...(m.volume.labels && { labels: m.volume.labels }),
    ...((m.volume.driver !== undefined || m.volume.driverOpts) && {
      driver: {
        name: m.volume.driver ?? 'local',
        ...(m.volume.driverOpts && { options: m.volume.driverOpts }),
      },
    }),
  };
  return {
    type: m.type,
    ...(m.source !== undefined && { source: m.source }),
    target,
    ...(m.readOnly && { readOnly: true }),
    ...(m.propagation && { bindOptions: { propagation: m.propagation } }),
    ...(volumeOptions && { volumeOptions }),
    ...(m.tmpfs && { tmpfsOptions: m.tmpfs }),
  };
}

function parseBool(flag: string, value: string, key: string, val: string, hasValue: boolean): boolean {
  if (!hasValue) return true;
  if (val === '1' || val === 'true') return true;
  if (val === '0' || val === 'false') return false;
  throw flagError(
    flag,
    value,
    `invalid value for '${key}': invalid boolean value (${JSON.stringify(val)}): must be one of "true", "1", "false", or "0" (default "true")`,
  );
}

function pair(kv: string): Record<string, string> {
  const eq = kv.indexOf('=');
  return eq < 0 ? { [kv]: '' } : { [kv.slice(0, eq)]: kv.slice(eq + 1) };
}

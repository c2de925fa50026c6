import { isObjectKind, type ObjectKind, type ObjectOf } from '../../api/index.js';
import { CorruptionError } from '../../common/index.js';

/**
 * What one write transaction proposes: the objects it creates or updates (in full) and the
 * versions it read. Replicated through Raft and applied identically on every manager, so it is
 * plain data. Versions are re-checked at apply time; `meta.version` inside `object` is ignored.
 */
export type ChangeOf<K extends ObjectKind> =
  | { readonly action: 'create'; readonly kind: K; readonly object: ObjectOf<K> }
  | {
      readonly action: 'update';
      readonly kind: K;
      readonly object: ObjectOf<K>;
      readonly expectedVersion: number;
    }
  /** `expectedVersion` absent: delete whatever version is stored (delete by id). */
  | { readonly action: 'delete'; readonly kind: K; readonly id: string; readonly expectedVersion?: number };

export type Change = { [K in ObjectKind]: ChangeOf<K> }[ObjectKind];

export interface ChangeSet {
  readonly changes: readonly Change[];
}

/**
 * Wire format: one format byte, then UTF-8 JSON. JSON because the objects are JSON-shaped (ids
 * are strings, payloads base64), V8 parses it natively faster than a JS binary codec would, and
 * change sets are small; the format byte lets a later codec replace it without a flag day.
 */
export const CHANGE_SET_FORMAT_JSON = 1;

export function encodeChangeSet(cs: ChangeSet): Uint8Array {
  const json = Buffer.from(JSON.stringify({ changes: cs.changes }), 'utf8');
  const out = Buffer.allocUnsafe(json.length + 1);
  out[0] = CHANGE_SET_FORMAT_JSON;
  json.copy(out, 1);
  return out;
}

export function decodeChangeSet(data: Uint8Array): ChangeSet {
  if (data.length === 0 || data[0] !== CHANGE_SET_FORMAT_JSON)
    throw new CorruptionError(`change set: unknown format byte ${data[0]}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(data.buffer, data.byteOffset + 1, data.length - 1).toString('utf8'));
  } catch (e) {
    throw new CorruptionError('change set: invalid JSON', { cause: e });
  }
  const changes = (parsed as { changes?: unknown } | null)?.changes;
  if (!Array.isArray(changes)) throw new CorruptionError('change set: missing changes');
  changes.forEach(checkChange);
  return { changes: changes as Change[] };
}

function checkChange(c: unknown, i: number): void {
  const fail = (why: string): never => {
    throw new CorruptionError(`change set: change ${i}: ${why}`);
  };
  if (typeof c !== 'object' || c === null) fail('not an object');
  const r = c as Record<string, unknown>;
  if (!isObjectKind(r.kind)) fail(`unknown kind ${String(r.kind)}`);
  const version = r.expectedVersion;
  switch (r.action) {
    case 'create':
    case 'update': {
      const o = r.object as { id?: unknown; meta?: { createdAt?: unknown; updatedAt?: unknown } } | null;
      if (typeof o !== 'object' || o === null || typeof o.id !== 'string') fail('object without id');
      if (typeof o?.meta?.createdAt !== 'number' || typeof o.meta.updatedAt !== 'number')
        fail('object without meta');
      if (r.action === 'update' && !Number.isSafeInteger(version)) fail('update without expectedVersion');
      break;
    }
    case 'delete':
      if (typeof r.id !== 'string') fail('delete without id');
      if (version !== undefined && !Number.isSafeInteger(version)) fail('bad expectedVersion');
      break;
    default:
      fail(`unknown action ${String(r.action)}`);
  }
}

import { promisify } from 'node:util';
import { deflateRaw, deflateRawSync, inflateRawSync } from 'node:zlib';
import { type AnyObject, isObjectKind, OBJECT_KINDS, type ObjectKind } from '../../api/index.js';
import { CorruptionError } from '../../common/index.js';

/** The whole store at one version, as Raft snapshots carry it. */
export interface StoreSnapshot {
  readonly version: number;
  /** Every kind, each sorted by id: equal stores encode to equal bytes. */
  readonly objects: Readonly<Record<ObjectKind, readonly AnyObject[]>>;
}

export const SNAPSHOT_FORMAT_JSON = 1;
/**
 * Raw-deflated JSON. Tasks repeat their service's spec, so snapshots compress several-fold
 * (see docs/store.md for figures); snapshots are rare and big, unlike change sets.
 */
export const SNAPSHOT_FORMAT_DEFLATE_JSON = 2;

export function encodeStoreSnapshot(snapshot: StoreSnapshot, compress = true): Uint8Array {
  const json = Buffer.from(JSON.stringify(snapshot), 'utf8');
  return framed(compress ? deflateRawSync(json, DEFLATE) : json, compress);
}

const DEFLATE = { level: 1 };

/** The format byte, then the body. */
function framed(body: Buffer, compressed: boolean): Buffer {
  const out = Buffer.allocUnsafe(body.length + 1);
  out[0] = compressed ? SNAPSHOT_FORMAT_DEFLATE_JSON : SNAPSHOT_FORMAT_JSON;
  body.copy(out, 1);
  return out;
}

const deflateRawAsync = promisify(deflateRaw);

/** Objects stringified per loop turn by `encodeStoreSnapshotSliced`. */
export const SNAPSHOT_SLICE_OBJECTS = 2048;

/**
 * The same bytes as `encodeStoreSnapshot`, without holding the event loop: the JSON is built
 * `sliceObjects` objects per `turn` and deflated on the thread pool. A store of thousands of
 * nodes' tasks is tens of MB of JSON; in one piece that stopped the leader (heartbeats, client
 * calls, the dispatcher) for hundreds of ms at every Raft snapshot. `snapshot` must not change
 * meanwhile: the store's objects are frozen and its lists are fresh arrays.
 */
export interface SlicedEncodeOptions {
  /** @default true */
  readonly compress?: boolean;
  /** Awaited between slices. @default the next setImmediate */
  readonly turn?: () => Promise<void>;
  /** @default SNAPSHOT_SLICE_OBJECTS */
  readonly sliceObjects?: number;
}

export async function encodeStoreSnapshotSliced(
  snapshot: StoreSnapshot,
  o: SlicedEncodeOptions = {},
): Promise<Uint8Array> {
  const turn = o.turn ?? (() => new Promise<void>((resolve) => setImmediate(resolve)));
  const slice = o.sliceObjects ?? SNAPSHOT_SLICE_OBJECTS;
  // JSON.stringify's own layout for {version, objects: {kind: [...]}} (no spaces, key order kept).
  const parts: string[] = [`{"version":${JSON.stringify(snapshot.version)},"objects":{`];
  let first = true;
  for (const [kind, list] of Object.entries(snapshot.objects)) {
    parts.push(`${first ? '' : ','}${JSON.stringify(kind)}:[`);
    first = false;
    for (let i = 0; i < list.length; i += slice) {
      if (i > 0) {
        await turn();
        parts.push(',');
      }
      parts.push(JSON.stringify(list.slice(i, i + slice)).slice(1, -1));
    }
    parts.push(']');
  }
  parts.push('}}');
  const json = Buffer.from(parts.join(''), 'utf8');
  const compress = o.compress ?? true;
  return framed(compress ? await deflateRawAsync(json, DEFLATE) : json, compress);
}

export function decodeStoreSnapshot(data: Uint8Array): StoreSnapshot {
  const format = data[0];
  if (format !== SNAPSHOT_FORMAT_JSON && format !== SNAPSHOT_FORMAT_DEFLATE_JSON)
    throw new CorruptionError(`store snapshot: unknown format byte ${format}`);
  let parsed: unknown;
  try {
    const body = Buffer.from(data.buffer, data.byteOffset + 1, data.length - 1);
    const json = format === SNAPSHOT_FORMAT_DEFLATE_JSON ? inflateRawSync(body) : body;
    parsed = JSON.parse(json.toString('utf8'));
  } catch (e) {
    throw new CorruptionError('store snapshot: cannot decode', { cause: e });
  }
  const s = parsed as { version?: unknown; objects?: Record<string, unknown> } | null;
  if (!s || !Number.isSafeInteger(s.version) || typeof s.objects !== 'object' || s.objects === null)
    throw new CorruptionError('store snapshot: missing version or objects');
  for (const [kind, list] of Object.entries(s.objects)) {
    if (!isObjectKind(kind)) throw new CorruptionError(`store snapshot: unknown kind ${kind}`);
    if (
      !Array.isArray(list) ||
      list.some((o) => typeof o?.id !== 'string' || typeof o?.meta?.version !== 'number')
    )
      throw new CorruptionError(`store snapshot: bad ${kind} list`);
  }
  const objects = Object.fromEntries(OBJECT_KINDS.map((k) => [k, (s.objects?.[k] as AnyObject[]) ?? []]));
  return { version: s.version as number, objects: objects as unknown as StoreSnapshot['objects'] };
}

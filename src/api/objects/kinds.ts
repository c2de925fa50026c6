import type { Cluster } from './cluster.js';
import type { Config } from './config.js';
import type { Network } from './network.js';
import type { Node } from './node.js';
import type { Secret } from './secret.js';
import type { Service } from './service.js';
import type { Task } from './task.js';

/** Every kind of stored object, in a fixed order (snapshots list them in this order). */
export const OBJECT_KINDS = ['cluster', 'node', 'service', 'task', 'network', 'secret', 'config'] as const;
export type ObjectKind = (typeof OBJECT_KINDS)[number];

export interface ObjectsByKind {
  cluster: Cluster;
  node: Node;
  service: Service;
  task: Task;
  network: Network;
  secret: Secret;
  config: Config;
}

export type ObjectOf<K extends ObjectKind> = ObjectsByKind[K];
export type AnyObject = ObjectsByKind[ObjectKind];

/** Kinds whose names are unique (case-insensitive) across the kind. */
export const UNIQUE_NAME_KINDS = ['cluster', 'service', 'network', 'secret', 'config'] as const;
export type UniqueNameKind = (typeof UNIQUE_NAME_KINDS)[number];
/** Kinds with a name at all (nodes' names are display names, not unique). */
export type NamedKind = UniqueNameKind | 'node';

export function isObjectKind(value: unknown): value is ObjectKind {
  return typeof value === 'string' && (OBJECT_KINDS as readonly string[]).includes(value);
}

export function hasUniqueName(kind: ObjectKind): kind is UniqueNameKind {
  return (UNIQUE_NAME_KINDS as readonly string[]).includes(kind);
}

/** The name an object is found by: spec.name, or a node's hostname when it has none. */
export function objectName(kind: ObjectKind, obj: AnyObject): string | undefined {
  if (kind === 'task') return undefined;
  if (kind === 'node') {
    const n = obj as ObjectOf<'node'>;
    return n.spec.name || n.description?.hostname;
  }
  return (obj as ObjectOf<UniqueNameKind>).spec.name;
}

import type { AnyObject, ObjectKind, ObjectOf } from './objects/kinds.js';

export type StoreAction = 'create' | 'update' | 'delete';
export const STORE_ACTIONS: readonly StoreAction[] = ['create', 'update', 'delete'];

/** One object change. `old` is absent on create, `new` on delete; updates carry both. */
export type ObjectEventOf<K extends ObjectKind> =
  | { readonly kind: K; readonly action: 'create'; readonly old?: undefined; readonly new: ObjectOf<K> }
  | { readonly kind: K; readonly action: 'update'; readonly old: ObjectOf<K>; readonly new: ObjectOf<K> }
  | { readonly kind: K; readonly action: 'delete'; readonly old: ObjectOf<K>; readonly new?: undefined };

/** Events of some kinds, distributed so `event.kind === 'task'` narrows `event.new` to Task. */
export type ObjectEventFor<K extends ObjectKind> = { [P in K]: ObjectEventOf<P> }[K];

export type ObjectEvent = ObjectEventFor<ObjectKind>;

/**
 * Emitted after the events of one applied change set: consumers batch work per commit and
 * debounce on it (swarmkit's EventCommit). `version` is the store version the change set got.
 */
export interface CommitEvent {
  readonly kind: 'commit';
  readonly version: number;
}

export type StoreEvent = ObjectEvent | CommitEvent;

export function isObjectEvent(event: StoreEvent): event is ObjectEvent {
  return event.kind !== 'commit';
}

/** The object an event is about: the new one, or the old one for a delete. */
export function eventObject(event: ObjectEvent): AnyObject {
  return event.action === 'delete' ? event.old : event.new;
}

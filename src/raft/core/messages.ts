import type { Message } from '../types.js';

export type MessageChannel = 'control' | 'bulk';

/**
 * Which transport channel a message belongs on: snapshots are bulk (possibly megabytes, chunked)
 * and must never queue in front of heartbeats, votes and appends.
 */
export function messageChannel(m: Message): MessageChannel {
  return m.type === 'snapshot' ? 'bulk' : 'control';
}

/** Responses that promise durable state; a driver must send them only after persisting. */
export function mustFollowPersist(m: Message): boolean {
  return (
    m.type === 'append-resp' ||
    m.type === 'vote-resp' ||
    m.type === 'pre-vote-resp' ||
    m.type === 'heartbeat-resp'
  );
}

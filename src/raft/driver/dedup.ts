import type { ClientSession, Command } from '../types.js';

export type DedupLookup<R> =
  | { readonly duplicate: false }
  /** `result` is the first attempt's result, or undefined if an even older command was retried. */
  | { readonly duplicate: true; readonly result: R | undefined };

export interface SessionRecord<R> {
  readonly clientId: string;
  readonly seq: number;
  readonly result: R;
}

/**
 * Client sessions for the state machine (paper §8, thesis §6.3): remembers each client's last
 * applied sequence number and result, so a retried command is answered, not applied twice.
 * Eviction of the least recently active client is deterministic, hence identical on every node,
 * as long as the table is part of the state-machine snapshot (`entries` / `restore`).
 */
export class SessionTable<R> {
  private readonly sessions = new Map<string, { seq: number; result: R }>();

  constructor(private readonly maxClients = 10_000) {}

  lookup(session: ClientSession | undefined): DedupLookup<R> {
    if (!session) return { duplicate: false };
    const s = this.sessions.get(session.clientId);
    if (!s || session.seq > s.seq) return { duplicate: false };
    return { duplicate: true, result: session.seq === s.seq ? s.result : undefined };
  }

  record(session: ClientSession | undefined, result: R): void {
    if (!session) return;
    this.sessions.delete(session.clientId);
    this.sessions.set(session.clientId, { seq: session.seq, result });
    while (this.sessions.size > this.maxClients) {
      const oldest = this.sessions.keys().next().value;
      if (oldest === undefined) break;
      this.sessions.delete(oldest);
    }
  }

  /** Applies `cmd` with `fn` unless it is a retry of an applied command. */
  applyOnce(cmd: Command, fn: (cmd: Command) => R): R | undefined {
    const seen = this.lookup(cmd.session);
    if (seen.duplicate) return seen.result;
    const result = fn(cmd);
    this.record(cmd.session, result);
    return result;
  }

  /** In eviction order, for the state-machine snapshot. */
  entries(): SessionRecord<R>[] {
    return [...this.sessions].map(([clientId, s]) => ({ clientId, seq: s.seq, result: s.result }));
  }

  restore(records: readonly SessionRecord<R>[]): void {
    this.sessions.clear();
    for (const r of records) this.sessions.set(r.clientId, { seq: r.seq, result: r.result });
  }

  get size(): number {
    return this.sessions.size;
  }
}

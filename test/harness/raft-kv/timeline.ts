/**
 * Per-stage timestamps of a raft-kv member, for finding where a write's time goes at low
 * concurrency (`RAFT_KV_TIMELINE=1`): wraps the storage and the transport the driver sees and
 * records monotonic microseconds (the same clock in every process on the host). The member prints
 * the records on stderr (its log) when it stops.
 */
import { readFileSync } from 'node:fs';
import type { Message, PersistBatch, RaftStorage, Transport } from '../../../src/raft/types.js';

const records: string[] = [];
const now = (): number => Number(process.hrtime.bigint() / 1000n);

export function mark(what: string): void {
  if (records.length < 200_000) records.push(`${now()} ${what}`);
}

export function dumpTimeline(write: (s: string) => void): void {
  if (records.length > 0) write(`timeline ${records.join(';')}\n`);
}

/** A stopped member's records from its log file: [microseconds, event] in the order marked. */
export function readTimeline(logFile: string): [number, string][] {
  const line = readFileSync(logFile, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('timeline '));
  return (line ?? 'timeline ')
    .slice(9)
    .split(';')
    .filter(Boolean)
    .map((e) => {
      const i = e.indexOf(' ');
      return [Number(e.slice(0, i)), e.slice(i + 1)];
    });
}

const describe = (m: Message): string =>
  m.type === 'append' ? `append>${m.to}#${m.entries.length}` : `${m.type}>${m.to}`;

export function timedTransport(t: Transport): Transport {
  return {
    send: (ms) => {
      mark(`send ${ms.map(describe).join(',')}`);
      t.send(ms);
    },
    onMessage: (h) =>
      t.onMessage((m) => {
        mark(`recv ${m.type}<${m.from}`);
        h(m);
      }),
    ...(t.onReport ? { onReport: t.onReport.bind(t) } : {}),
  };
}

export function timedStorage(s: RaftStorage): RaftStorage {
  return {
    load: () => s.load(),
    save: async (b: PersistBatch) => {
      mark(`save ${b.entries.length}`);
      await s.save(b);
      mark('saved');
    },
    saveSnapshot: (snap, keep) => s.saveSnapshot(snap, keep),
    close: () => s.close(),
  };
}

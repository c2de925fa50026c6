/**
 * Per-stage timestamps of a raft-kv member, for finding where a write's time goes at low
 * concurrency (`RAFT_KV_TIMELINE=1`): wraps the storage and the transport the driver sees and
 * records monotonic microseconds (the same clock in every process on the host). The member prints
 * the records on stderr (its log) when it stops.
 */
import type { Message, PersistBatch, RaftStorage, Transport } from '../../../src/raft/types.js';

const records: string[] = [];
const now = (): number => Number(process.hrtime.bigint() / 1000n);

export function mark(what: string): void {
  if (records.length < 200_000) records.push(`${now()} ${what}`);
}

export function dumpTimeline(write: (s: string) => void): void {
  if (records.length > 0) write(`timeline ${records.join(';')}\n`);
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

import type { NetworkId } from '../../api/index.js';
import type { Random } from '../../common/index.js';
import type { DnsEntry, DnsTable, SrvTarget } from './dns-table.js';
import { type DnsQuestion, type DnsRecord, RCODE, RR_CLASS_ANY, RR_CLASS_IN, RR_TYPE } from './wire.js';

/** What the server does with one question: answer it from the table, or forward it upstream. */
export type Resolution =
  | {
      readonly kind: 'local';
      readonly rcode: number;
      readonly answers: readonly DnsRecord[];
      readonly additionals: readonly DnsRecord[];
    }
  | { readonly kind: 'forward' };

const FORWARD: Resolution = { kind: 'forward' };
/** Ids are 25 lower-case base36 characters (api/ids.ts); a slot is a number. */
const TASK_NAME = /^(.+)\.(?:\d+|[0-9a-z]{25})\.[0-9a-z]{25}$/;

/**
 * Answers `q` for a container on `networkId`. Names of ours (any service of the cluster, its
 * `tasks.` and SRV names, reverse names inside the network's subnet) and single-label names are
 * never forwarded: the cluster's names must not leak to, or be spoofed by, outside resolvers.
 */
export function resolveQuestion(
  table: DnsTable,
  networkId: NetworkId,
  q: DnsQuestion,
  ttl: number,
  random: Random,
): Resolution {
  const name = q.name.toLowerCase();
  const net = table.networks.get(networkId);
  const entry = net?.entries.get(name);
  if (entry) {
    if (q.class !== RR_CLASS_IN && q.class !== RR_CLASS_ANY) return local(RCODE.REFUSED, []);
    return answerEntry(entry, q, ttl, random, (target) => net?.entries.get(target));
  }
  if (isOurs(table, name) || net?.reverseZones.some((z) => name === z || name.endsWith(`.${z}`))) {
    return local(RCODE.NXDOMAIN, []);
  }
  if (name !== '' && !name.includes('.')) return local(RCODE.NXDOMAIN, []);
  return FORWARD;
}

function isOurs(table: DnsTable, name: string): boolean {
  if (table.serviceNames.has(name)) return true;
  if (name.startsWith('tasks.') && table.serviceNames.has(name.slice('tasks.'.length))) return true;
  const srv = /^_[^.]+\._(?:tcp|udp)\.(.+)$/.exec(name);
  if (srv !== null && table.serviceNames.has(srv[1]!)) return true;
  // A task name (`<service>.<slot or node id>.<task id>`) of a task that is gone or unhealthy.
  const task = TASK_NAME.exec(name);
  return task !== null && table.serviceNames.has(task[1]!);
}

function answerEntry(
  entry: DnsEntry,
  q: DnsQuestion,
  ttl: number,
  random: Random,
  lookup: (name: string) => DnsEntry | undefined,
): Resolution {
  const any = q.type === RR_TYPE.ANY;
  const name = q.name;
  // Literals, not spreads of a shared head: V8 copies `{ ...head }` some 20x slower here.
  switch (entry.kind) {
    case 'addresses':
      if (!any && q.type !== RR_TYPE.A) return local(RCODE.NOERROR, []);
      return local(
        RCODE.NOERROR,
        shuffle(entry.addrs, random).map((address) => ({
          name,
          class: RR_CLASS_IN,
          ttl,
          type: RR_TYPE.A,
          address,
        })),
      );
    case 'ptr':
      if (!any && q.type !== RR_TYPE.PTR) return local(RCODE.NOERROR, []);
      return local(RCODE.NOERROR, [
        { name, class: RR_CLASS_IN, ttl, type: RR_TYPE.PTR, target: entry.target },
      ]);
    case 'srv': {
      if (!any && q.type !== RR_TYPE.SRV) return local(RCODE.NOERROR, []);
      const ordered = orderSrv(entry.targets, random);
      const answers: DnsRecord[] = ordered.map((t) => ({
        name,
        class: RR_CLASS_IN,
        ttl,
        type: RR_TYPE.SRV,
        priority: t.priority,
        weight: 0,
        port: t.port,
        target: t.target,
      }));
      const additionals: DnsRecord[] = [];
      for (const t of new Set(ordered.map((x) => x.target))) {
        const target = lookup(t);
        if (target?.kind !== 'addresses') continue;
        for (const address of target.addrs) {
          additionals.push({ name: t, class: RR_CLASS_IN, ttl, type: RR_TYPE.A, address });
        }
      }
      return local(RCODE.NOERROR, answers, additionals);
    }
  }
}

function local(
  rcode: number,
  answers: readonly DnsRecord[],
  additionals: readonly DnsRecord[] = [],
): Resolution {
  return { kind: 'local', rcode, answers, additionals };
}

/** By priority; shuffled within one priority, as docker shuffles multi-address answers. */
function orderSrv(targets: readonly SrvTarget[], random: Random): SrvTarget[] {
  const byPriority = new Map<number, SrvTarget[]>();
  for (const t of targets) byPriority.set(t.priority, [...(byPriority.get(t.priority) ?? []), t]);
  return [...byPriority.keys()].sort((a, b) => a - b).flatMap((p) => shuffle(byPriority.get(p)!, random));
}

export function shuffle<T>(items: readonly T[], random: Random): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = random.int(0, i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

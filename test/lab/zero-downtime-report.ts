import { copyFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Lab } from '../harness/lab.js';
import { NODE_PROC } from '../harness/lab-swarm.js';
import { type Reply, SYN_RETRANSMIT_MS } from './zero-downtime-client.js';

const HOSTS = [1, 2, 3] as const;
/** Node log records around a request worth printing: how each node routed and what its tasks did. */
const TIMELINE_MSGS = new Set([
  'mesh applied',
  'held stop released',
  'stopping a task before every node confirmed the mesh without it',
  'task status',
  'backend withdrawal not confirmed',
  'mesh convergence failed; retrying',
]);

/** How a request that failed or was slow went: the handshake, the reply, or neither. */
export function phase(r: Reply): string {
  if (r.connectMs === undefined)
    return `no SYN-ACK in ${r.ms.toFixed(0)} ms (SYN and its retransmission lost)`;
  const syn = r.connectMs >= SYN_RETRANSMIT_MS ? ' after a retransmitted SYN' : '';
  if (r.firstByteMs === undefined)
    return `connected at ${r.connectMs.toFixed(1)} ms${syn}, no response by ${r.ms.toFixed(0)} ms`;
  return `connected at ${r.connectMs.toFixed(1)} ms${syn}, first byte at ${r.firstByteMs.toFixed(1)} ms`;
}

/** Requests whose SYN was retransmitted at least once (each costs 1 s; two cost 3 s > the timeout). */
export function synRetransmits(replies: readonly Reply[]): number {
  return replies.filter((r) => r.connectMs === undefined || r.connectMs >= SYN_RETRANSMIT_MS).length;
}

/** Conntrack's TCP timeouts (s) by state: with the time left, when the entry last saw a packet. */
const CT_TIMEOUTS: Record<string, number> = {
  SYN_SENT: 120,
  SYN_RECV: 60,
  FIN_WAIT: 120,
  CLOSE_WAIT: 60,
  LAST_ACK: 30,
  TIME_WAIT: 120,
  CLOSE: 10,
};

/**
 * Matching entries, each with the time of its last packet (± 1 s): a client port is reused
 * towards the same node within seconds, so an entry may belong to a later connection.
 */
async function conntrack(lab: Lab, n: number, match: (line: string) => boolean): Promise<string[]> {
  const r = await lab.exec(n, ['cat', '/proc/net/nf_conntrack'], { allowFailure: true });
  const now = Date.now();
  return r.stdout
    .split('\n')
    .filter(match)
    .map((l) => {
      const line = l.replace(/\s+/g, ' ').replace(/^ipv4 2 /, '');
      const m = /^tcp 6 (\d+) (\S+) /.exec(line);
      const full = m ? CT_TIMEOUTS[m[2] as string] : undefined;
      if (!m || full === undefined) return line;
      const last = new Date(now - (full - Number(m[1])) * 1_000).toISOString().slice(11, 21);
      return `${line} (last packet ~${last})`;
    });
}

/** Every container of `service` on every host, running or not, by its address on any network. */
async function containers(lab: Lab, service: string): Promise<string[]> {
  const out: string[] = [];
  for (const n of HOSTS) {
    const ids = (
      await lab.dockerCli(n, ['ps', '-aq', '--filter', `label=com.docker.swarm.service.name=${service}`], {
        allowFailure: true,
      })
    ).stdout.trim();
    if (ids === '') continue;
    const fmt =
      `host${n} {{.Name}} {{.Config.Image}} {{.State.Status}} started={{.State.StartedAt}} ` +
      `finished={{.State.FinishedAt}} {{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}`;
    const r = await lab.dockerCli(n, ['inspect', '-f', fmt, ...ids.split('\n')], { allowFailure: true });
    out.push(...r.stdout.trim().split('\n'));
  }
  return out;
}

/** How much each node's log holds, so that an empty timeline is not mistaken for a quiet one. */
function logSpan(lab: Lab): string {
  return HOSTS.map((n) => {
    const path = join(lab.host(n).logDir, `${NODE_PROC}.log`);
    if (!existsSync(path)) return `host${n} no log`;
    const recs = readFileSync(path, 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('{'));
    const time = (l: string | undefined): string => /"time":"[^"]*T([^"]+)"/.exec(l ?? '')?.[1] ?? '?';
    return `host${n} ${recs.length} records ${time(recs[0])}-${time(recs.at(-1))}`;
  }).join(', ');
}

/** Copies every node's log into `dir` (kept after the lab's teardown), named by host. */
export function keepLogs(lab: Lab, dir: string, tag: string): void {
  mkdirSync(dir, { recursive: true });
  for (const n of HOSTS) {
    const path = join(lab.host(n).logDir, `${NODE_PROC}.log`);
    if (existsSync(path)) copyFileSync(path, join(dir, `${tag}-host${n}.log`));
  }
}

/** The node logs' records of interest between `from` and `to` (epoch ms), merged by time. */
function timeline(lab: Lab, from: number, to: number): string[] {
  const rows: { t: number; line: string }[] = [];
  for (const n of HOSTS) {
    const path = join(lab.host(n).logDir, `${NODE_PROC}.log`);
    if (!existsSync(path)) continue;
    for (const raw of readFileSync(path, 'utf8').split('\n')) {
      if (!raw.startsWith('{')) continue;
      let rec: Record<string, unknown>;
      try {
        rec = JSON.parse(raw) as Record<string, unknown>;
      } catch {
        continue;
      }
      if (typeof rec.msg !== 'string' || !TIMELINE_MSGS.has(rec.msg)) continue;
      const t = Date.parse(String(rec.time));
      if (!(t >= from && t <= to)) continue;
      const { time: _time, level: _level, msg, module: _module, ...fields } = rec;
      rows.push({
        t,
        line: `${new Date(t).toISOString().slice(11)} host${n} ${msg} ${JSON.stringify(fields)}`,
      });
    }
  }
  return rows.sort((a, b) => a.t - b.t).map((r) => r.line);
}

/**
 * Everything that explains one failed or slow request: how far it got, where the receiving node's
 * DNAT sent it (conntrack on that node, then the backend's node by the remapped client port), the
 * containers behind those addresses and when they started and ended, and what every node logged
 * of its mesh revisions and its tasks' states from 1.5 s before the request to 0.5 s after it.
 */
export async function explain(lab: Lab, r: Reply, port: number, service: string): Promise<string> {
  const lines = [`request through host ${r.host} from client port ${r.sport}: ${r.body}; ${phase(r)}`];
  const mine = await conntrack(lab, r.host, (l) => l.includes(`sport=${r.sport} dport=${port} `));
  lines.push(`  conntrack host${r.host}: ${mine.join(' | ') || '(none)'}`);
  // The reply tuple names the backend and the port the node mapped the client's into.
  const reply = [...(mine[0] ?? '').matchAll(/src=(\S+) dst=(\S+) sport=(\d+) dport=(\d+)/g)][1];
  const backend = reply?.[1];
  const mapped = reply?.[4];
  if (backend && mapped) {
    for (const n of HOSTS.filter((h) => h !== r.host)) {
      const there = await conntrack(
        lab,
        n,
        (l) => l.includes(`dst=${backend} `) && l.includes(`sport=${mapped} `),
      );
      if (there.length > 0) lines.push(`  conntrack host${n}: ${there.join(' | ')}`);
    }
    const behind = (await containers(lab, service)).filter(
      (c) => c.includes(` ${backend} `) || c.endsWith(backend),
    );
    lines.push(`  backend ${backend}: ${behind.join(' | ') || '(no container of the service has it now)'}`);
  }
  lines.push(`  timeline (request at ${new Date(r.wall).toISOString().slice(11)}; ${logSpan(lab)}):`);
  for (const l of timeline(lab, r.wall - 1_500, r.wall + r.ms + 500)) lines.push(`    ${l}`);
  return lines.join('\n');
}

/** Every container of the service with its address and lifetime (the backends conntrack names). */
export async function containerTable(lab: Lab, service: string): Promise<string> {
  return (await containers(lab, service)).join('\n  ');
}

/**
 * What the nodes logged of the mesh between `from` and `to` (epoch ms): how long the leader held
 * stops for every node's acknowledgement, how long applies took, and stops released unconfirmed.
 */
export function holdSummary(lab: Lab, from: number, to: number): string {
  const held: number[] = [];
  const applies: number[] = [];
  const drains: { initial: number; remaining: number; waitedMs: number }[] = [];
  let early = 0;
  for (const n of HOSTS) {
    const path = join(lab.host(n).logDir, `${NODE_PROC}.log`);
    if (!existsSync(path)) continue;
    for (const raw of readFileSync(path, 'utf8').split('\n')) {
      if (
        !raw.includes('"mesh applied"') &&
        !raw.includes('held stop') &&
        !raw.includes('before every node') &&
        !raw.includes('"connections drained"')
      )
        continue;
      let rec: {
        time: string;
        msg: string;
        heldMs?: number;
        ms?: number;
        initial?: number;
        remaining?: number;
        waitedMs?: number;
      };
      try {
        rec = JSON.parse(raw) as typeof rec;
      } catch {
        continue; // a line still being written
      }
      const t = Date.parse(rec.time);
      if (t < from || t > to) continue;
      if (rec.msg === 'held stop released') held.push(rec.heldMs ?? 0);
      else if (rec.msg === 'mesh applied') applies.push(rec.ms ?? 0);
      else if (rec.msg === 'connections drained')
        drains.push({
          initial: rec.initial ?? 0,
          remaining: rec.remaining ?? 0,
          waitedMs: rec.waitedMs ?? 0,
        });
      else early++;
    }
  }
  const max = (xs: number[]): number => xs.reduce((m, x) => Math.max(m, x), 0);
  return (
    `held stops ${held.length} (longest ${max(held)} ms), released unconfirmed ${early}; ` +
    `mesh applies on the nodes ${applies.length} (longest ${max(applies)} ms); ` +
    `stops that waited for open connections ${drains.length} (longest ${max(drains.map((d) => d.waitedMs))} ms, ` +
    `most open ${max(drains.map((d) => d.initial))}, left at the limit ${drains.filter((d) => d.remaining > 0).length})`
  );
}

export interface DrainRecord {
  readonly host: number;
  readonly initial: number;
  readonly remaining: number;
  readonly waitedMs: number;
}

/** The nodes' `connections drained` debug lines (a stop that waited for open connections). */
export function drainRecords(lab: Lab, from: number): DrainRecord[] {
  const out: DrainRecord[] = [];
  for (const n of HOSTS) {
    const path = join(lab.host(n).logDir, `${NODE_PROC}.log`);
    if (!existsSync(path)) continue;
    for (const raw of readFileSync(path, 'utf8').split('\n')) {
      if (!raw.includes('"connections drained"')) continue;
      try {
        const r = JSON.parse(raw) as { time: string; initial: number; remaining: number; waitedMs: number };
        if (Date.parse(r.time) >= from)
          out.push({ host: n, initial: r.initial, remaining: r.remaining, waitedMs: r.waitedMs });
      } catch {
        // a line still being written
      }
    }
  }
  return out;
}

/**
 * Connections bridged in from another node, as the backend's node tracks them (their original
 * tuple is addressed to a backend of `service` already), whose client port that node changed.
 * Each node maps client ports into its own share; a second mapping on the backend's node put
 * connections through every node into one share, where a port reused through another node met
 * the backend's TIME_WAIT with other timestamps (PAWS). Returns [tracked, remapped].
 */
export async function bridgedRemaps(
  lab: Lab,
  service: string,
  targetPort: number,
): Promise<[number, string[]]> {
  const backends = (await containers(lab, service))
    .filter((c) => / running /.test(c))
    .flatMap((c) => c.split(' ').filter((w) => /^\d+\.\d+\.\d+\.\d+$/.test(w)));
  let tracked = 0;
  const remapped: string[] = [];
  for (const n of HOSTS) {
    for (const line of await conntrack(lab, n, (l) => l.includes(` dport=${targetPort} `))) {
      const [orig, reply] = [...line.matchAll(/src=(\S+) dst=(\S+) sport=(\d+) dport=(\d+)/g)];
      if (!orig || !reply || !backends.includes(orig[2] as string) || orig[4] !== String(targetPort))
        continue;
      tracked++;
      if (reply[4] !== orig[3]) remapped.push(`host${n}: ${line}`);
    }
  }
  return [tracked, remapped];
}

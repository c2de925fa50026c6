import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../src/common/index.js';
import { Lab } from '../harness/lab.js';
import { LabSwarm } from '../harness/lab-swarm.js';
import { ensureBuilt } from '../harness/swarm-nodes.js';
import { Client, get, type Reply, SYN_RETRANSMIT_MS } from './zero-downtime-client.js';
import {
  bridgedRemaps,
  containerTable,
  drainRecords,
  explain,
  holdSummary,
  keepLogs,
  synRetransmits,
} from './zero-downtime-report.js';

/**
 * Issue 7's "Zero downtime" point on three lab hosts: a start-first rolling update of a service
 * published through the routing mesh, while a client in the root namespace calls all three hosts'
 * published port in a loop, one fresh connection per request (no keep-alive, so every request
 * goes through the DNAT choice anew and sees backends joining and leaving the rotation).
 *
 * In the default suite again (about 65 s) since the node purges a stopping backend's conntrack
 * entries itself, by reply tuple: Docker's own purge, by original tuple, was what cost the rare
 * reset or 2 s timeout (docs/routing-mesh.md "Zero downtime"). `npm run test:soak` runs this file
 * alone, for repeated runs. Every slow or failed request is explained (client port, handshake
 * and first-byte times, conntrack on both nodes, the backend's container, each node's applied
 * mesh revisions from debug logs). Before the two earlier fixes it covers, one run in 2 to 3 lost
 * requests: a node still routing to a task already told to stop (now the stop waits for every
 * node's acknowledgement of the mesh without it), and a client port reused through another node
 * meeting the backend's TIME_WAIT (PAWS; now each node maps client ports into its own share).
 * The last case reproduces the second one on purpose (10 of 30 pairs stalled or failed before).
 */
const PREFIX = 'swlz';
const SUBNET = '10.213.9';
const V1 = 'swarmctl-test/web:v1';
const V2 = 'swarmctl-test/web:v2';
/** The same server with a HEALTHCHECK; its body's first word is $VERSION. */
const HEALTH = 'swarmctl-test/health';
const REPLICAS = 6;
const MIN_REQUESTS = 2_000;
/** Requests after the update completed that must all be v2 ("ending with v2 only"). */
const TAIL = 300;
/** Request loops running side by side: more connections in flight when a backend leaves. */
const LOOPS = 4;
/** Client ports used twice each, through two nodes, by the PAWS case (outside the ephemeral range). */
const PAWS_FIRST_PORT = 23_100;
const PAWS_PAIRS = 30;

let lab: Lab;
let swarm: LabSwarm;

const cli = (n: number, ...args: string[]): Promise<string> => swarm.cli(n, ...args);

beforeAll(async () => {
  ensureBuilt();
  lab = await Lab.up({ hosts: 3, prefix: PREFIX, subnet: SUBNET, images: [V1, V2, HEALTH] });
  // Debug logs carry each node's applied mesh revisions and task states: the timeline of a lost request.
  swarm = new LabSwarm(lab, { nodeFlags: ['--log-level', 'debug'] });
  await swarm.init(1);
  for (const n of [2, 3]) await swarm.join(n, 'worker');
}, 240_000);

afterAll(async () => {
  await lab?.teardown();
}, 120_000);

/**
 * TIME_WAIT and PAWS counters of each running container of `service` (its own network namespace):
 * the client's address is kept through the mesh, so a reused client port can meet the backend's
 * TIME_WAIT for the same pair, coming through another node with other TCP timestamps.
 */
async function pawsCounters(service: string): Promise<string> {
  const out: string[] = [];
  for (const n of [1, 2, 3]) {
    const ids = (
      await lab.dockerCli(n, ['ps', '-q', '--filter', `label=com.docker.swarm.service.name=${service}`])
    ).stdout.trim();
    for (const id of ids === '' ? [] : ids.split('\n')) {
      const pid = (await lab.dockerCli(n, ['inspect', '-f', '{{.State.Pid}}', id])).stdout.trim();
      // A container listed a moment ago may have exited since (pid 0, or its /proc gone): skip it.
      let text: string;
      try {
        text = pid === '0' ? '' : readFileSync(`/proc/${pid}/net/netstat`, 'utf8');
      } catch {
        text = '';
      }
      if (text === '') {
        out.push(`${id}@host${n}: (exited)`);
        continue;
      }
      const lines = text.split('\n');
      const names = (lines[0] ?? '').split(' ');
      const values = (lines[1] ?? '').split(' ');
      const picked = names
        .map((name, i) => [name, values[i]] as const)
        .filter(
          ([name, v]) =>
            /PAWS|TW|OutOfWindow|Listen|Syncookies|ReqQFull|Abort|Timeouts/.test(name) && v !== '0',
        );
      out.push(`${id}@host${n}: ${picked.map(([name, v]) => `${name}=${v}`).join(' ')}`);
    }
  }
  return `TIME_WAIT/PAWS counters of ${service}'s containers: ${out.join(' | ')}`;
}

interface Versions {
  /** `service create` arguments after the name's flags that make the replicas answer "v1 …" */
  readonly v1: readonly string[];
  /** `service update` arguments that make them answer "v2 …" */
  readonly v2: readonly string[];
}
const IMAGES: Versions = { v1: [V1], v2: ['--image', V2] };

/**
 * Creates `service` (v1, published on `port`), waits until every replica answers through every
 * host, then runs the start-first update to v2 with `flags` while the client calls; checks and
 * prints what the client saw.
 */
async function rollThrough(
  service: string,
  port: number,
  replicas: number,
  flags: string[],
  versions: Versions = IMAGES,
): Promise<void> {
  const addresses = [1, 2, 3].map((n) => lab.host(n).address);
  await cli(
    1,
    'service',
    'create',
    '--detach',
    '--name',
    service,
    '--replicas',
    String(replicas),
    '-p',
    `${port}:80`,
    ...versions.v1,
  );
  await waitFor(
    async () => {
      const seen = new Set<string>();
      const bad: string[] = [];
      for (let i = 0; i < replicas * 6; i++) {
        const { body } = await get(addresses[i % 3] as string, port);
        if (body.startsWith('v1 ')) seen.add(body);
        else bad.push(body);
      }
      return seen.size === replicas && bad.length === 0
        ? { done: true, value: 0 }
        : { done: false, state: `${seen.size} replicas seen, failures: ${bad.slice(0, 3).join('; ')}` };
    },
    {
      timeoutMs: 90_000,
      intervalMs: 200,
      what: `${replicas} v1 replicas of ${service} answering through all hosts`,
    },
  );

  const client = new Client(addresses, port, LOOPS);
  try {
    // Some v1 traffic before the update.
    await waitFor(
      () =>
        client.replies.length >= 200
          ? { done: true, value: 0 }
          : { done: false, state: `${client.replies.length} replies` },
      { timeoutMs: 30_000, intervalMs: 20, what: '200 replies before the update' },
    );
    const updateFrom = client.now();
    const updateWall = Date.now();
    const argv = [
      'service',
      'update',
      '--detach=false',
      ...versions.v2,
      '--update-order',
      'start-first',
      ...flags,
      service,
    ];
    const r = await swarm.run(1, argv, { allowFailure: true, timeoutMs: 180_000 });
    const updateTo = client.now();
    expect(r.code, `service update: ${r.stderr.trim()}`).toBe(0);
    const atUpdateEnd = client.replies.length;
    await waitFor(
      () =>
        client.replies.length >= Math.max(MIN_REQUESTS, atUpdateEnd + TAIL)
          ? { done: true, value: 0 }
          : { done: false, state: `${client.replies.length} replies` },
      { timeoutMs: 120_000, intervalMs: 20, what: `${MIN_REQUESTS} replies and ${TAIL} after the update` },
    );
    await client.stop();

    const all = client.replies;
    const failed = all.filter((x) => x.body.startsWith('error'));
    const v1 = all.filter((x) => x.body.startsWith('v1 ')).length;
    const v2 = all.filter((x) => x.body.startsWith('v2 ')).length;
    const during = all.filter((x) => x.at >= updateFrom && x.at <= updateTo);
    const worst = all.reduce((m, x) => (x.ms > m.ms ? x : m), all[0] as Reply);
    const worstDuring = during.reduce((m, x) => Math.max(m, x.ms), 0);
    const tail = all.slice(-TAIL);
    console.log(
      `${service} (${replicas} replicas, ${argv.join(' ')}): requests ${all.length} (${during.length} during the update), ` +
        `failed ${failed.length}, v1 ${v1}, v2 ${v2}; update took ${Math.round(updateTo - updateFrom)} ms; ` +
        `worst latency ${worst.ms.toFixed(1)} ms (host ${worst.host}, at +${Math.round(worst.at - updateFrom)} ms ` +
        `from the update's start), worst during the update ${worstDuring.toFixed(1)} ms`,
    );
    // A connect over 900 ms waited for a retransmitted SYN (1 s RTO): one dropped on the way.
    console.log(
      `${service}: requests whose SYN was retransmitted: ${synRetransmits(all)} ` +
        `(${synRetransmits(during)} during the update); slowest connect ` +
        `${all.reduce((m, x) => Math.max(m, x.connectMs ?? Number.POSITIVE_INFINITY), 0).toFixed(1)} ms`,
    );
    console.log(`${service}: ${holdSummary(lab, updateWall, Date.now())}`);
    console.log(await pawsCounters(service));
    // Slow (a retransmitted SYN or a stalled reply) or failed: where it went and what the nodes did then.
    const odd = all.filter((x) => x.body.startsWith('error') || x.ms >= SYN_RETRANSMIT_MS);
    if (odd.length > 0) console.log(`containers of ${service}:\n  ${await containerTable(lab, service)}`);
    // The nodes' logs go with the lab: ZERO_DOWNTIME_LOGS=<dir> keeps them when a request failed.
    const keep = process.env.ZERO_DOWNTIME_LOGS;
    if (keep && failed.length > 0) keepLogs(lab, keep, `${service}-${Date.now()}`);
    for (const x of odd.slice(0, 10)) {
      console.log(
        `${x.body.startsWith('error') ? 'failed' : 'slow'}: at +${Math.round(x.at - updateFrom)} ms from the ` +
          `update's start, ${x.ms.toFixed(1)} ms\n${await explain(lab, x, port, service)}`,
      );
    }

    expect(all.length).toBeGreaterThanOrEqual(MIN_REQUESTS);
    expect(failed.map((f) => `host ${f.host}: ${f.body}`)).toEqual([]);
    expect(v1).toBeGreaterThan(0);
    expect(v2).toBeGreaterThan(0);
    expect(tail.filter((x) => !x.body.startsWith('v2 ')).map((x) => x.body)).toEqual([]);
    // Every host answered during the update, not one host only.
    expect(new Set(during.map((x) => x.host))).toEqual(new Set([1, 2, 3]));
  } finally {
    await client.stop();
  }
}

describe('zero downtime through the routing mesh', () => {
  it(`a start-first rolling update of ${REPLICAS} published replicas loses none of ${MIN_REQUESTS}+ requests`, async () => {
    await rollThrough('web', 8080, REPLICAS, ['--update-parallelism', '2', '--update-delay', '1s']);
  }, 400_000);

  it('a single published replica hands over to its start-first replacement without a failed request', async () => {
    // Nothing else serves while the one slot changes task: the new task must be in every node's
    // rotation before the old one leaves it, and must answer as soon as it is there.
    await rollThrough('solo', 8081, 1, []);
  }, 400_000);

  it('with a healthcheck, a replacement joins the rotation only once healthy: no request fails', async () => {
    // The image answers before its first check passes (about 1 s): a backend that is running but
    // not yet healthy must stay out of every node's rotation, and the old one serve until then.
    await rollThrough('checked', 8082, 3, ['--update-parallelism', '3'], {
      v1: ['--env', 'VERSION=v1', HEALTH],
      v2: ['--env-add', 'VERSION=v2'],
    });
  }, 400_000);

  it('a client port reused towards another node is not refused by the backend (PAWS)', async () => {
    // One backend, so both connections of a pair reach the same one. The client's TCP timestamps
    // are based per destination address: through another node they may be older than those the
    // backend keeps in TIME_WAIT for the same client address and port, and a SYN carrying them
    // is refused until retransmitted 1 s later. Each node maps client ports into its own share.
    const port = 8083;
    const addresses = [1, 2, 3].map((n) => lab.host(n).address);
    await cli(1, 'service', 'create', '--detach', '--name', 'paws', '-p', `${port}:80`, V1);
    await waitFor(
      async () => {
        const bodies = (await Promise.all(addresses.map((a) => get(a, port)))).map((a) => a.body);
        const bad = bodies.filter((b) => !b.startsWith('v1 '));
        return bad.length === 0 ? { done: true, value: 0 } : { done: false, state: bad.join('; ') };
      },
      { timeoutMs: 90_000, intervalMs: 200, what: 'paws answering through every host' },
    );
    const slow: string[] = [];
    for (let i = 0; i < PAWS_PAIRS; i++) {
      const localPort = PAWS_FIRST_PORT + i;
      for (const [k, address] of [addresses[i % 3], addresses[(i + 1) % 3]].entries()) {
        const t0 = performance.now();
        const { body } = await get(address as string, port, localPort);
        const ms = performance.now() - t0;
        // Over 900 ms: a SYN was refused and retransmitted.
        if (!body.startsWith('v1 ') || ms > 900)
          slow.push(`port ${localPort} #${k + 1}: ${body} in ${Math.round(ms)} ms`);
      }
    }
    console.log(
      `paws: ${PAWS_PAIRS} client ports each used through two nodes; ${await pawsCounters('paws')}`,
    );
    // The backend's node leaves the port another node chose alone (it mapped it again into its
    // own share before, which let connections through different nodes share the backend's ports).
    const [tracked, remapped] = await bridgedRemaps(lab, 'paws', 80);
    console.log(`paws: ${tracked} connections bridged in from other nodes tracked on the backend's node`);
    expect(tracked).toBeGreaterThan(0);
    expect(remapped.slice(0, 5)).toEqual([]);
    expect(slow).toEqual([]);
  }, 200_000);

  it('a connection open to a backend that leaves the rotation holds its stop signal up to the drain limit', async () => {
    // A request routed to a backend just before it left the rotation may still be in flight: its
    // node waits until its conntrack shows no connection to the backend (at most 2 s) before the
    // stop signal. An idle connection through another host stands for such a request here.
    const port = 8084;
    const via = lab.host(2).address;
    await cli(1, 'service', 'create', '--detach', '--name', 'drain', '-p', `${port}:80`, V1);
    await waitFor(
      async () => {
        const { body } = await get(via, port);
        return body.startsWith('v1 ') ? { done: true, value: 0 } : { done: false, state: body };
      },
      { timeoutMs: 90_000, intervalMs: 200, what: 'drain answering through host 2' },
    );
    const held = connect(port, via);
    try {
      await once(held, 'connect');
      const from = Date.now();
      const argv = [
        'service',
        'update',
        '--detach=false',
        '--image',
        V2,
        '--update-order',
        'start-first',
        'drain',
      ];
      const r = await swarm.run(1, argv, { allowFailure: true, timeoutMs: 120_000 });
      expect(r.code, `service update: ${r.stderr.trim()}`).toBe(0);
      const records = await waitFor(
        () => {
          const d = drainRecords(lab, from);
          return d.length > 0 ? { done: true, value: d } : { done: false, state: 'no drain logged yet' };
        },
        { timeoutMs: 30_000, intervalMs: 200, what: "the old task's drain in its node's log" },
      );
      console.log(`drain: ${JSON.stringify(records)}`);
      expect(records).toHaveLength(1);
      const [d] = records;
      expect(d?.initial).toBeGreaterThan(0);
      expect(d?.remaining).toBeGreaterThan(0);
      expect(d?.waitedMs).toBeGreaterThanOrEqual(1_900);
    } finally {
      held.destroy();
    }
  }, 200_000);
});

/**
 * npm run bench:services [-- --rounds 3 --replicas 20 --scale-to 60 --cut-replicas 4 --cut-rounds 1]
 *
 * swarmctl side by side with Docker Swarm mode, in the same run, on lab hosts (docs/lab.md): each
 * host is a network namespace with its own dockerd, so Swarm never touches the machine's engine.
 * Hosts 1 (manager) and 2 (worker) run Swarm, hosts 3 (manager) and 4 (worker) run swarmctl.
 *  (a) One engine each (the managers alone): `service create --replicas 20` until 20 containers
 *      run, then `service scale` to 60 until 60 run; rounds alternate which side goes first.
 *      The engine alone (20 and 40 containers created and started at once through its API, on
 *      host 4 before it joins) is the floor under both.
 *  (b) Workers joined, both sides at the same 5 s heartbeat: a service with tasks on both hosts,
 *      the worker's link cut, until all its replicas run on the manager's engine.
 * "Running" is the same for both: the engine lists the container as running (Docker API, polled
 * every 50 ms; the test image has no healthcheck). See docs/bench.md.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { waitFor } from '../src/common/index.js';
import { Lab } from '../test/harness/lab.js';
import { integerOption } from './bench/args.js';
import {
  type ClusterSide,
  HEARTBEAT,
  type SideName,
  swarmctlSide,
  swarmSide,
} from './bench/cluster-sides.js';
import { convergedAfter, median, POLL_MS, runningOn, waitGone } from './bench/converge.js';
import { removeDirect, runDirect } from './bench/engine-api.js';
import { hostCpuMs } from './bench/host-cpu.js';
import { ensureSwarmctlBinary } from './bench/swarmctl-binary.js';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    replicas: { type: 'string', default: '20' },
    'scale-to': { type: 'string', default: '60' },
    'cut-replicas': { type: 'string', default: '4' },
    'cut-rounds': { type: 'string', default: '1' },
    image: { type: 'string', default: 'swarmctl-test/web:v1' },
    /** Run one side only (quick iterations while tracing). */
    only: { type: 'string' },
    'skip-cut': { type: 'boolean', default: false },
    /** Leave the lab up at the end (`npm run lab -- --prefix swbs down` removes it). */
    keep: { type: 'boolean', default: false },
  },
});

const rounds = integerOption('rounds', values.rounds);
const replicas = integerOption('replicas', values.replicas);
const scaleTo = integerOption('scale-to', values['scale-to'], replicas + 1);
const cutReplicas = integerOption('cut-replicas', values['cut-replicas'], 2);
const cutRounds = integerOption('cut-rounds', values['cut-rounds'], 0);
const image = values.image!;
const only = values.only;
if (only !== undefined && only !== 'swarmctl' && only !== 'swarm')
  throw new Error(`--only must be swarmctl or swarm, got ${only}`);

const PREFIX = 'swbs';
const SUBNET = '10.213.17';
const CONVERGE_TIMEOUT_MS = 180_000;
const log = (line: string): void => void process.stderr.write(`${line}\n`);

interface OneEngineRound {
  side: SideName;
  round: number;
  createAckMs: number;
  createMs: number;
  scaleAckMs: number;
  scaleMs: number;
  /** CPU of the manager host's engine and orchestrator from the command to convergence. */
  createCpuMs: number;
  scaleCpuMs: number;
}
interface CutRound {
  side: SideName;
  round: number;
  onWorker: number;
  nodeDownMs: number | null;
  movedMs: number;
}
const oneEngine: OneEngineRound[] = [];
const floor: { createMs: number; scaleMs: number; createCpuMs: number; scaleCpuMs: number }[] = [];
const cuts: CutRound[] = [];

const bin = only === 'swarm' ? '' : ensureSwarmctlBinary(log);
const controller = new AbortController();
const signal = controller.signal;
let lab: Lab | undefined;
let tearing: Promise<void> | undefined;
const teardown = (): Promise<void> => {
  tearing ??= values.keep
    ? Promise.resolve(log(`kept lab ${PREFIX}`))
    : (lab ? lab.teardown() : Lab.cleanupStale({ prefix: PREFIX })).catch((e: unknown) =>
        log(`teardown failed: ${String(e)}`),
      );
  return tearing;
};
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    log(`${sig}: stopping and tearing the lab down`);
    controller.abort(new Error(sig));
    void teardown().finally(() => process.exit(130));
  });
}

const sock = (n: number): string => lab!.docker(n).socketPath;

async function oneEngineRound(side: ClusterSide, round: number): Promise<void> {
  const service = `b${round}`;
  const sockets = [sock(side.manager)];
  const cpu0 = side.cpuMs();
  const t0 = performance.now();
  await side.create(service, replicas, image);
  const createAckMs = performance.now() - t0;
  const createMs = await convergedAfter({
    sockets,
    service,
    ok: ([n]) => n === replicas,
    startedAt: t0,
    timeoutMs: CONVERGE_TIMEOUT_MS,
    what: `${side.name}: ${replicas} running`,
    signal,
  });
  const cpu1 = side.cpuMs();
  const t1 = performance.now();
  await side.scale(service, scaleTo);
  const scaleAckMs = performance.now() - t1;
  const scaleMs = await convergedAfter({
    sockets,
    service,
    ok: ([n]) => n === scaleTo,
    startedAt: t1,
    timeoutMs: CONVERGE_TIMEOUT_MS,
    what: `${side.name}: ${scaleTo} running`,
    signal,
  });
  const createCpuMs = cpu1 - cpu0;
  const scaleCpuMs = side.cpuMs() - cpu1;
  oneEngine.push({
    side: side.name,
    round,
    createAckMs,
    createMs,
    scaleAckMs,
    scaleMs,
    createCpuMs,
    scaleCpuMs,
  });
  log(
    `${side.name} round ${round}: create ${s(createMs)} (CPU ${s(createCpuMs)}), scale ${s(scaleMs)} (CPU ${s(scaleCpuMs)})`,
  );
  await side.remove(service);
  await waitGone(sockets, service, signal);
}

/** The engine alone on `host`: `replicas` containers at once, then `scaleTo - replicas` more. */
async function floorRound(host: number, round: number): Promise<void> {
  const service = `floor${round}`;
  const sockets = [sock(host)];
  const cpu0 = hostCpuMs(lab!, host);
  const t0 = performance.now();
  await runDirect(sock(host), image, service, replicas);
  const createMs = await convergedAfter({
    sockets,
    service,
    ok: ([n]) => n === replicas,
    startedAt: t0,
    timeoutMs: CONVERGE_TIMEOUT_MS,
    what: 'engine alone',
    signal,
  });
  const cpu1 = hostCpuMs(lab!, host);
  const t1 = performance.now();
  await runDirect(sock(host), image, service, scaleTo - replicas);
  const scaleMs = await convergedAfter({
    sockets,
    service,
    ok: ([n]) => n === scaleTo,
    startedAt: t1,
    timeoutMs: CONVERGE_TIMEOUT_MS,
    what: 'engine alone',
    signal,
  });
  floor.push({ createMs, scaleMs, createCpuMs: cpu1 - cpu0, scaleCpuMs: hostCpuMs(lab!, host) - cpu1 });
  log(`engine alone round ${round}: ${replicas} ${s(createMs)}, +${scaleTo - replicas} ${s(scaleMs)}`);
  await removeDirect(sock(host), service);
  await waitGone(sockets, service, signal);
}

async function waitNodeState(side: ClusterSide, nodeId: string, want: string): Promise<void> {
  await waitFor(
    async () => {
      const st = await side.nodeState(nodeId);
      return st === want ? { done: true, value: undefined } : { done: false, state: st };
    },
    { timeoutMs: 90_000, intervalMs: 250, what: `${side.name}: worker ${want}`, signal },
  );
}

async function cutRound(side: ClusterSide, workerId: string, round: number): Promise<void> {
  const service = `cut${round}`;
  const sockets = [sock(side.manager), sock(side.worker)];
  await side.create(service, cutReplicas, image);
  await convergedAfter({
    sockets,
    service,
    ok: ([m, w]) => m! + w! === cutReplicas && w! > 0,
    startedAt: performance.now(),
    timeoutMs: CONVERGE_TIMEOUT_MS,
    what: `${side.name}: ${cutReplicas} running on both hosts`,
    signal,
  });
  const [, onWorker] = await runningOn(sockets, service);
  const t0 = performance.now();
  await lab!.cutLink(side.worker);
  try {
    // The manager's view of the worker, polled beside the engine: when it was marked down.
    let nodeDownMs: number | null = null;
    // The time a probe was sent, not when it returned: a swarmctl CLI call takes ~0.5 s to start
    // on a loaded machine, docker's ~0.05 s, and that should not count against either.
    const down = waitFor(
      async () => {
        const sent = performance.now() - t0;
        const st = await side.nodeState(workerId);
        return st === 'down' ? { done: true, value: sent } : { done: false, state: st };
      },
      { timeoutMs: CONVERGE_TIMEOUT_MS, intervalMs: 250, what: `${side.name}: worker down`, signal },
    ).then(
      (ms) => {
        nodeDownMs = ms;
      },
      (e: unknown) => log(`${side.name}: worker never seen down: ${String(e)}`),
    );
    const movedMs = await convergedAfter({
      sockets: [sock(side.manager)],
      service,
      ok: ([m]) => m === cutReplicas,
      startedAt: t0,
      timeoutMs: CONVERGE_TIMEOUT_MS,
      what: `${side.name}: ${cutReplicas} running on the manager after the cut`,
      signal,
    });
    await down;
    cuts.push({ side: side.name, round, onWorker: onWorker!, nodeDownMs, movedMs });
    log(
      `${side.name} cut round ${round}: ${onWorker} tasks moved in ${s(movedMs)} (node down at ${nodeDownMs === null ? '?' : s(nodeDownMs)})`,
    );
  } finally {
    await lab!.healLink(side.worker);
  }
  await waitNodeState(side, workerId, 'ready');
  await side.remove(service);
  await waitGone(sockets, service, signal);
}

function s(ms: number): string {
  return `${(ms / 1000).toFixed(2)} s`;
}

try {
  lab = await Lab.up({ prefix: PREFIX, subnet: SUBNET, hosts: 4, images: [image] });
  const sides: ClusterSide[] = [];
  if (only !== 'swarm') sides.push(swarmctlSide(lab, bin, 3, 4));
  if (only !== 'swarmctl') sides.push(swarmSide(lab, 1, 2));
  for (const side of sides) await side.init();
  for (let r = 1; r <= rounds; r++) {
    // Alternating who goes first spreads the machine's background load over both sides.
    const order = r % 2 === 1 ? sides : [...sides].reverse();
    for (const side of order) await oneEngineRound(side, r);
    await floorRound(4, r);
  }
  if (!values['skip-cut'] && cutRounds > 0) {
    const workerIds = new Map<SideName, string>();
    for (const side of sides) {
      const id = await side.joinWorker();
      await waitNodeState(side, id, 'ready');
      workerIds.set(side.name, id);
    }
    for (let r = 1; r <= cutRounds; r++) {
      for (const side of sides) await cutRound(side, workerIds.get(side.name)!, r);
    }
  }
} finally {
  await teardown();
}

const of = (side: SideName, pick: (r: OneEngineRound) => number): number[] =>
  oneEngine.filter((r) => r.side === side).map(pick);
const fmt = (xs: number[]): string =>
  xs.length === 0 ? '-' : `${s(median(xs))} (${xs.map((x) => (x / 1000).toFixed(2)).join(', ')})`;
const ratio = (a: number[], b: number[]): string =>
  a.length === 0 || b.length === 0 ? '-' : `${(median(a) / median(b)).toFixed(2)}x`;
const rows: [string, (r: OneEngineRound) => number][] = [
  [`create ${replicas} -> running`, (r) => r.createMs],
  [`scale ${replicas} -> ${scaleTo} running`, (r) => r.scaleMs],
  ['create CLI returned', (r) => r.createAckMs],
  ['scale CLI returned', (r) => r.scaleAckMs],
  ['create: CPU of manager host (engine + orchestrator)', (r) => r.createCpuMs],
  ['scale: CPU of manager host (engine + orchestrator)', (r) => r.scaleCpuMs],
];
const lines = [
  `services benchmark: one engine per side, ${image}, ${rounds} round(s); running = the engine lists the container as running (API poll every ${POLL_MS} ms, same for both)`,
  'phase | swarmctl median (rounds) | swarm median (rounds) | swarmctl/swarm',
];
for (const [label, pick] of rows) {
  const a = of('swarmctl', pick);
  const b = of('swarm', pick);
  lines.push(`${label} | ${fmt(a)} | ${fmt(b)} | ${ratio(a, b)}`);
}
lines.push(
  `engine alone (API create+start all at once): ${replicas} in ${fmt(floor.map((f) => f.createMs))}; ${scaleTo - replicas} more in ${fmt(floor.map((f) => f.scaleMs))}; engine CPU ${fmt(floor.map((f) => f.createCpuMs))} and ${fmt(floor.map((f) => f.scaleCpuMs))}`,
);
for (const [label, pick] of rows.slice(0, 2)) {
  const a = of('swarmctl', pick);
  const b = of('swarm', pick);
  if (a.length > 0 && b.length > 0)
    lines.push(`goal ${label} <= 0.5x swarm: ${median(a) <= 0.5 * median(b) ? 'met' : 'NOT met'}`);
}
for (const c of cuts) {
  lines.push(
    `cut worker (heartbeat ${HEARTBEAT}), ${c.side}: its ${c.onWorker} of ${cutReplicas} tasks running on the manager after ${s(c.movedMs)}; node marked down after ${c.nodeDownMs === null ? '?' : s(c.nodeDownMs)}`,
  );
}
process.stdout.write(`${lines.join('\n')}\n`);
mkdirSync('.bench', { recursive: true });
writeFileSync('.bench/services.json', JSON.stringify({ oneEngine, floor, cuts }, null, 2));

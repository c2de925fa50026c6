/**
 * npm run bench:update [-- --replicas 20 --monitor 5s --keep]
 *
 * A rolling update of the same service on Docker Swarm mode and on swarmctl in the same run, side
 * by side on two lab hosts (docs/lab.md), each with its own dockerd: host 1 runs `docker swarm
 * init` on its engine, host 2 a one-node swarmctl cluster. Both services: 20 replicas of
 * swarmctl-test/web:v1 (a shell that stops at once on SIGTERM) with `--init`, updated to :v2 with
 * `--update-parallelism 2 --update-delay 0s` and the same `--update-monitor`. Measured: the time
 * until each CLI's waiting `service update` returns (the update completed), the time until the
 * last v2 container started, and the most slots without a running container (engine events).
 *
 * Measured here on 2026-11-24 (2 shared cores, other jobs running, monitor 5s), after the
 * stop-first handover (docs/bench.md has the per-batch breakdown):
 *   load  5–9:  Docker Swarm mode 30.2 s, swarmctl 14.8 s   0.49x (last v2 start 0.38x)
 *   load 10–12: Docker Swarm mode 27.6 s, swarmctl 15.9 s   0.58x (last v2 start 0.48x)
 *   load 13–21: 0.65x–0.67x. Goal 0.5x.
 * Before (2026-11-23): 31.2 / 28.9 s against 22.2 / 20.6 s, 0.71x. Both keep at most 2 slots
 * down and never list two containers of a slot; per batch ours waits ~0.1–0.3 s on itself (Swarm
 * ~1–1.3 s), the rest is the engine.
 */
import { spawn } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { request } from 'node:http';
import { parseArgs } from 'node:util';
import { waitFor } from '../src/common/index.js';
import { Lab } from '../test/harness/lab.js';
import { type CommandResult, runCommand } from '../test/harness/run-command.js';
import { ensureBuilt, SWARMCTL } from '../test/harness/swarm-nodes.js';
import { SlotWatch } from './bench/slot-watch.js';

const { values } = parseArgs({
  options: {
    replicas: { type: 'string', default: '20' },
    monitor: { type: 'string', default: '5s' },
    /** Run one side only (`swarm` or `swarmctl`), for quick iterations; no ratio then. */
    only: { type: 'string' },
    /** Leave the lab up afterwards (remove it with the lab CLI or the next run). */
    keep: { type: 'boolean', default: false },
    /**
     * Trace: the swarmctl node at this log level, and every container event of each side's engine
     * written to .bench/update-events-<host>.jsonl (for the per-batch breakdown in docs/bench.md).
     */
    'log-level': { type: 'string' },
  },
});
const replicas = Number(values.replicas);
if (!Number.isInteger(replicas) || replicas < 1) throw new Error(`--replicas: ${values.replicas}`);
const monitor = values.monitor!;
const only = values.only;
if (only !== undefined && only !== 'swarm' && only !== 'swarmctl')
  throw new Error(`--only must be swarm or swarmctl, got ${only}`);

const PREFIX = 'swbu';
const SUBNET = '10.213.16';
const SWARM_HOST = 1;
const SWARMCTL_HOST = 2;
const V1 = 'swarmctl-test/web:v1';
const V2 = 'swarmctl-test/web:v2';
const SERVICE = 'bench';
const TIMEOUT_MS = 300_000;
const UPDATE_FLAGS = ['--update-parallelism', '2', '--update-delay', '0s', '--update-monitor', monitor];

interface Side {
  readonly name: string;
  readonly host: number;
  /** `service <args>` through the side's own CLI. */
  cli(args: readonly string[]): Promise<CommandResult>;
}

interface Figures {
  /** From the update command's start until it returned (the update completed). */
  commandMs: number;
  /** From the same start until the last v2 container started. */
  lastStartMs: number;
  maxSlotsDown: number;
  /**
   * Most containers of one slot that `docker ps` listed as running at once (sampled): the engine
   * lists a container as running until its network is torn down, after its `die` event.
   */
  maxListedPerSlot: number;
  /** Mean time a slot had no container: old one died → new one started. */
  slotGapMs: number;
  /** Mean time from a batch's last new start to the next batch's first old container death. */
  batchTurnMs: number;
}

/** Per-batch figures from the engine events (batches of 2 slots, in the order they went down). */
function batchFigures(watch: SlotWatch, since: number): Pick<Figures, 'slotGapMs' | 'batchTurnMs'> {
  const h = watch.handovers(V2, since);
  const mean = (xs: number[]): number => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);
  const turns: number[] = [];
  for (let i = 2; i < h.length; i += 2) {
    const lastStart = Math.max(h[i - 2]!.startedAt, h[i - 1]!.startedAt);
    turns.push(h[i]!.diedAt - lastStart);
  }
  return { slotGapMs: mean(h.map((x) => x.startedAt - x.diedAt)), batchTurnMs: mean(turns) };
}

async function measure(side: Side): Promise<Figures> {
  await side.cli([
    'create',
    '--detach',
    '--init',
    '--name',
    SERVICE,
    '--replicas',
    String(replicas),
    ...UPDATE_FLAGS,
    V1,
  ]);
  const watch = await SlotWatch.start(lab, [side.host], SERVICE, replicas);
  const trace = values['log-level'] === undefined ? undefined : traceEvents(side.host);
  try {
    await watch.settled(V1, TIMEOUT_MS);
    const started = Date.now();
    const listing = sampleListing(side.host);
    await side.cli(['update', '--detach=false', '--quiet', '--image', V2, SERVICE]);
    const commandMs = Date.now() - started;
    const maxListedPerSlot = await listing.stop();
    await watch.settled(V2, TIMEOUT_MS);
    const lastStartMs = Math.round((watch.starts(V2).at(-1) ?? started) - started);
    return {
      commandMs,
      lastStartMs,
      maxSlotsDown: watch.worst(started).maxSlotsDown,
      maxListedPerSlot,
      ...batchFigures(watch, started),
    };
  } finally {
    watch.stop();
    trace?.kill('SIGTERM');
  }
}

/**
 * The engine's container listing (what `docker ps` shows) of the service, one request after the
 * other through its socket, until stopped: the most containers of one slot listed at once.
 */
function sampleListing(host: number): { stop: () => Promise<number> } {
  const { socketPath } = lab.docker(host);
  const filters = encodeURIComponent(JSON.stringify({ label: [`com.docker.swarm.service.name=${SERVICE}`] }));
  const list = (): Promise<string> =>
    new Promise((resolve, reject) => {
      const req = request({ socketPath, path: `/containers/json?filters=${filters}` }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          body += c;
        });
        res.on('end', () => resolve(body));
      });
      req.on('error', reject);
      req.end();
    });
  let running = true;
  let max = 0;
  const loop = (async () => {
    while (running) {
      const containers = JSON.parse(await list()) as { Labels?: Record<string, string> }[];
      const perSlot = new Map<string, number>();
      for (const c of containers) {
        const slot = c.Labels?.['com.docker.swarm.task.name']?.split('.')[1] ?? '';
        perSlot.set(slot, (perSlot.get(slot) ?? 0) + 1);
      }
      max = Math.max(max, ...perSlot.values());
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return max;
    },
  };
}

/** Every container event of a host's engine, one JSON line each, into .bench/. */
function traceEvents(host: number): ReturnType<typeof spawn> {
  mkdirSync('.bench', { recursive: true });
  const out = createWriteStream(`.bench/update-events-${host}.jsonl`);
  const args = ['-H', lab.docker(host).host, 'events', '--format', '{{json .}}'];
  args.push('--filter', 'type=container', '--filter', `label=com.docker.swarm.service.name=${SERVICE}`);
  const p = spawn('docker', args, { stdio: ['ignore', 'pipe', 'ignore'] });
  p.stdout?.pipe(out);
  return p;
}

/** Docker Swarm mode: `docker swarm init` on host 1's own engine. */
async function swarmSide(): Promise<Side> {
  await lab.dockerCli(SWARM_HOST, ['swarm', 'init', '--advertise-addr', lab.host(SWARM_HOST).address]);
  return {
    name: 'Docker Swarm mode',
    host: SWARM_HOST,
    cli: (args) => lab.dockerCli(SWARM_HOST, ['service', ...args], { timeoutMs: TIMEOUT_MS }),
  };
}

/** A one-node swarmctl cluster inside host 2, on host 2's engine. */
async function swarmctlSide(): Promise<Side> {
  const h = lab.host(SWARMCTL_HOST);
  const sock = ['-H', `unix://${h.swarmctlSocket}`];
  const addr = `${h.address}:2377`;
  const flags = ['--state-dir', h.swarmctlStateDir, '--control-socket', h.swarmctlSocket];
  flags.push('--docker-host', h.dockerHost, '--listen-addr', addr, '--advertise-addr', addr);
  if (values['log-level'] !== undefined) flags.push('--log-level', values['log-level']);
  lab.startProcess(SWARMCTL_HOST, [SWARMCTL, 'init', ...flags, '--foreground'], { name: 'swarmctl' });
  await waitFor(
    async () => {
      const r = await runCommand([SWARMCTL, ...sock, 'info'], { allowFailure: true, timeoutMs: 10_000 });
      return r.code === 0 ? { done: true, value: 0 } : { done: false, state: r.stderr.trim() };
    },
    { timeoutMs: 60_000, intervalMs: 200, what: 'the swarmctl node to answer' },
  );
  return {
    name: 'swarmctl',
    host: SWARMCTL_HOST,
    cli: (args) => runCommand([SWARMCTL, ...sock, 'service', ...args], { timeoutMs: TIMEOUT_MS }),
  };
}

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

ensureBuilt();
const lab = await Lab.up({ prefix: PREFIX, subnet: SUBNET, hosts: 2, images: [] });
try {
  await lab.loadImages('all', [V1, V2]);
  console.log(
    `bench:update: ${replicas} replicas ${V1} → ${V2}, --init, ${UPDATE_FLAGS.join(' ')}; Docker Swarm ` +
      `mode on lab host ${SWARM_HOST}'s own dockerd and swarmctl on host ${SWARMCTL_HOST}'s, measured ` +
      'side by side in this run (one after the other)',
  );
  const results = new Map<string, Figures>();
  for (const start of [only !== 'swarmctl' && swarmSide, only !== 'swarm' && swarmctlSide]) {
    if (!start) continue;
    const side = await start();
    const f = await measure(side);
    results.set(side.name, f);
    console.log(
      `${side.name.padEnd(18)} update command ${seconds(f.commandMs)}; last v2 container started after ` +
        `${seconds(f.lastStartMs)}; at most ${f.maxSlotsDown} slots without a running container (docker ps: at ` +
        `most ${f.maxListedPerSlot} listed running in a slot); per slot ` +
        `${Math.round(f.slotGapMs)} ms from old death to new start, ${Math.round(f.batchTurnMs)} ms from a batch's ` +
        'last start to the next batch',
    );
  }
  const s = results.get('Docker Swarm mode');
  const o = results.get('swarmctl');
  if (s && o)
    console.log(
      `ratio swarmctl / Swarm: update command ${(o.commandMs / s.commandMs).toFixed(2)}x, last v2 start ` +
        `${(o.lastStartMs / s.lastStartMs).toFixed(2)}x (goal ≤ 0.5x)`,
    );
} finally {
  if (!values.keep) await lab.teardown();
}

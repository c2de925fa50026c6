/**
 * Deterministic Raft simulation over many seeds (raft.md §3.2):
 *   npm run sim:raft -- --seeds 500 --seed-start 1 [--nodes 3|5] [--steps K] [--jobs J] [--verbose]
 *   npm run sim:raft -- --seed 1234 --nodes 5 --verbose      # replay one seed exactly
 * Prints each failing run with its replay command and a batch report; exits 1 if any run has an
 * invariant violation, a non-linearizable history, or fails liveness/convergence after healing.
 */
import { fork } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  driverNodeFactory,
  failed,
  formatBatch,
  formatFailureDetail,
  formatRun,
  type InjectedBug,
  type RunSummary,
  runSimulation,
  summarize,
} from '../src/raft/sim/index.js';

const USAGE = `usage: sim-raft [--seeds N --seed-start S | --seed X] [--nodes 3|5] [--steps K] [--jobs J]
                [--storage wal|memory] [--verbose] [--determinism-every M]
                [--bug ack-before-fsync|stale-local-reads]
  --steps K   simulated ticks (100 ms each) of load and faults per run before healing (default 150)
  --bug B     inject a deliberate bug, to see the simulator catch it`;

interface Args {
  seeds: number[];
  nodes: number;
  steps: number;
  jobs: number;
  storage: 'wal' | 'memory';
  bug: InjectedBug | undefined;
  verbose: boolean;
  determinismEvery: number;
}

function fail(message: string): never {
  console.error(`sim-raft: ${message}\n${USAGE}`);
  process.exit(2);
}

function int(name: string, v: string | undefined, def: number, min: number): number {
  if (v === undefined) return def;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < min) fail(`--${name} must be an integer >= ${min}, got ${v}`);
  return n;
}

function parse(argv: string[]): Args {
  const { values } = parseArgs({
    args: argv,
    options: {
      seeds: { type: 'string' },
      'seed-start': { type: 'string' },
      seed: { type: 'string' },
      nodes: { type: 'string' },
      steps: { type: 'string' },
      jobs: { type: 'string' },
      storage: { type: 'string' },
      verbose: { type: 'boolean', short: 'v' },
      'determinism-every': { type: 'string' },
      bug: { type: 'string' },
      worker: { type: 'boolean' },
      'seed-list': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const nodes = int('nodes', values.nodes, 3, 1);
  if (nodes !== 3 && nodes !== 5) fail(`--nodes must be 3 or 5, got ${nodes}`);
  const storage = values.storage ?? 'wal';
  if (storage !== 'wal' && storage !== 'memory') fail(`--storage must be wal or memory, got ${storage}`);
  const bug = values.bug;
  if (bug !== undefined && bug !== 'ack-before-fsync' && bug !== 'stale-local-reads') {
    fail(`--bug must be ack-before-fsync or stale-local-reads, got ${bug}`);
  }
  let seeds: number[];
  if (values['seed-list'] !== undefined) {
    seeds = values['seed-list'].split(',').map((x) => int('seed-list', x, 0, 0));
  } else if (values.seed !== undefined) {
    seeds = [int('seed', values.seed, 0, 0)];
  } else {
    const count = int('seeds', values.seeds, 10, 1);
    const start = int('seed-start', values['seed-start'], 1, 0);
    seeds = Array.from({ length: count }, (_, i) => start + i);
  }
  const defaultJobs = Math.max(1, Math.min(availableParallelism(), seeds.length));
  return {
    seeds,
    nodes,
    steps: int('steps', values.steps, 150, 1),
    jobs: int('jobs', values.jobs, defaultJobs, 1),
    storage,
    bug,
    verbose: values.verbose ?? false,
    determinismEvery: int('determinism-every', values['determinism-every'], 50, 0),
  };
}

async function runOne(seed: number, a: Args, log?: (line: string) => void): Promise<RunSummary> {
  const started = performance.now();
  const result = await runSimulation({
    seed,
    nodes: a.nodes,
    faultMs: a.steps * 100,
    storage: a.storage,
    bug: a.bug,
    factory: driverNodeFactory,
    log,
  });
  return summarize(result, a.nodes, performance.now() - started);
}

/** Runs the seeds in `seeds` (this process's share) and reports each summary. */
async function runShare(seeds: readonly number[], a: Args, emit: (s: RunSummary) => void): Promise<void> {
  for (const seed of seeds) {
    const s = await runOne(
      seed,
      a,
      a.verbose && a.seeds.length === 1 ? (l) => console.log(`  ${l}`) : undefined,
    );
    // Determinism self-check: the same seed must give the same trace.
    if (a.determinismEvery > 0 && seed % a.determinismEvery === 0) {
      const again = await runOne(seed, a);
      if (again.traceHash !== s.traceHash || again.events !== s.events) {
        s.violations.push(
          `harness: seed ${seed} is not deterministic (trace ${s.traceHash} then ${again.traceHash})`,
        );
      }
    }
    emit(s);
  }
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const a = parse(argv);
  if (argv.includes('--worker')) {
    await runShare(a.seeds, a, (s) => process.send?.(s));
    return;
  }
  const started = performance.now();
  const results: RunSummary[] = [];
  const onResult = (s: RunSummary): void => {
    results.push(s);
    if (a.verbose || failed(s)) console.log(formatRun(s));
    if (failed(s)) console.log(formatFailureDetail(s));
  };
  const jobs = Math.min(a.jobs, a.seeds.length);
  if (jobs <= 1) {
    await runShare(a.seeds, a, onResult);
  } else {
    // Worker processes each take every jobs-th seed; results come back over IPC.
    const script = fileURLToPath(import.meta.url);
    await Promise.all(
      Array.from({ length: jobs }, (_, j) => {
        const share = a.seeds.filter((_, i) => i % jobs === j);
        const args = [
          '--worker',
          '--nodes',
          String(a.nodes),
          '--steps',
          String(a.steps),
          '--storage',
          a.storage,
          '--determinism-every',
          String(a.determinismEvery),
          ...(a.bug ? ['--bug', a.bug] : []),
          '--seed-list',
          share.join(','),
        ];
        return runWorker(script, args, onResult);
      }),
    );
  }
  results.sort((x, y) => x.seed - y.seed);
  console.log(formatBatch(results, performance.now() - started));
  process.exitCode = results.some(failed) ? 1 : 0;
}

function runWorker(script: string, args: string[], onResult: (s: RunSummary) => void): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const child = fork(script, args, {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    child.on('message', (m) => onResult(m as RunSummary));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`worker exited with ${code}`))));
  });
}

await main();

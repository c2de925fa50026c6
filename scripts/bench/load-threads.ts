/**
 * The closed loop spread over worker threads. At concurrency 1024 a single-threaded load
 * generator was the bottleneck it was meant not to be (Session 6: its event loop 99 % busy, loop
 * delay p99 205 ms, most of a write's time spent waiting in its queue after the server had
 * answered), so the figures measured that queue as much as either server. Each thread opens its
 * own connections and runs its share of the workers; the latencies are merged.
 */
import { Worker } from 'node:worker_threads';
import { closedLoop, type LoadResult, type LoopResult, measureLoad } from './load.js';
import { type LoadTarget, openTarget } from './load-target.js';

export interface ThreadedLoadOptions {
  /** 1 runs the loop on this thread. */
  threads: number;
  concurrency: number;
  durationMs: number;
  /** @default 1000 */
  warmupMs?: number;
  target: LoadTarget;
  /** The measured system's processes' CPU milliseconds, to report CPU per write. */
  cpu?: () => number;
}

/** What the main thread sends a load thread: its share of the workers. */
export interface ThreadJob {
  target: LoadTarget;
  concurrency: number;
  firstWorker: number;
  durationMs: number;
  warmupMs: number;
}

export async function runLoadInThreads(o: ThreadedLoadOptions): Promise<LoadResult> {
  if (!Number.isInteger(o.threads) || o.threads < 1)
    throw new Error(`threads must be a positive integer, got ${o.threads}`);
  const warmupMs = o.warmupMs ?? 1000;
  const measured = {
    concurrency: o.concurrency,
    durationMs: o.durationMs,
    warmupMs,
    ...(o.cpu ? { cpu: o.cpu } : {}),
  };
  if (o.threads === 1) {
    const t = openTarget(o.target);
    try {
      return await measureLoad(measured, () => closedLoop({ ...measured, op: t.op }));
    } finally {
      t.close();
    }
  }
  const threads = Math.min(o.threads, o.concurrency);
  const jobs: ThreadJob[] = [];
  for (let i = 0, first = 0; i < threads; i++) {
    const concurrency = Math.floor(o.concurrency / threads) + (i < o.concurrency % threads ? 1 : 0);
    jobs.push({ target: o.target, concurrency, firstWorker: first, durationMs: o.durationMs, warmupMs });
    first += concurrency;
  }
  const workers = jobs.map((job) => spawnLoadThread(job));
  try {
    // Every thread has its connections open before the clock starts.
    await Promise.all(workers.map((w) => w.ready));
    return await measureLoad(measured, async () => {
      for (const w of workers) w.go();
      return merge(await Promise.all(workers.map((w) => w.result)));
    });
  } finally {
    await Promise.all(workers.map((w) => w.worker.terminate()));
  }
}

function merge(parts: readonly LoopResult[]): LoopResult {
  const latencies = new Float64Array(parts.reduce((n, p) => n + p.latencies.length, 0));
  let at = 0;
  for (const p of parts) {
    latencies.set(p.latencies, at);
    at += p.latencies.length;
  }
  const firstError = parts.find((p) => p.firstError)?.firstError;
  return {
    latencies,
    errors: parts.reduce((n, p) => n + p.errors, 0),
    loopBusy: Math.max(...parts.map((p) => p.loopBusy)),
    ...(firstError ? { firstError } : {}),
  };
}

type FromThread = { kind: 'ready' } | { kind: 'result'; result: LoopResult };

function spawnLoadThread(job: ThreadJob): {
  worker: Worker;
  ready: Promise<void>;
  result: Promise<LoopResult>;
  go(): void;
} {
  const entry = new URL('./load-thread.ts', import.meta.url).href;
  // Node 20 does not carry tsx's loader into worker threads: register it there first.
  const tsx = import.meta.resolve('tsx/esm/api');
  const worker = new Worker(
    `import(${JSON.stringify(tsx)}).then((t) => { t.register(); return import(${JSON.stringify(entry)}); });`,
    { eval: true, workerData: job },
  );
  let onReady: () => void = () => {};
  let onResult: (r: LoopResult) => void = () => {};
  const failed = new Promise<never>((_, reject) => {
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`load thread exited with ${code} before its result`)));
  });
  const ready = Promise.race([new Promise<void>((r) => (onReady = r)), failed]);
  const result = Promise.race([new Promise<LoopResult>((r) => (onResult = r)), failed]);
  // Either may never be awaited if the other fails first.
  ready.catch(() => {});
  result.catch(() => {});
  worker.on('message', (m: FromThread) => {
    if (m.kind === 'ready') onReady();
    else onResult(m.result);
  });
  return { worker, ready, result, go: () => worker.postMessage('go') };
}

/**
 * A closed-loop load generator shared by every benchmark target, so both sides of a comparison
 * see exactly the same client: `concurrency` workers each issue one write at a time.
 */
export interface LoadResult {
  concurrency: number;
  ops: number;
  errors: number;
  seconds: number;
  opsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  /** CPU milliseconds the measured system's processes used per 1000 writes (if measured). */
  cpuMsPer1k?: number;
  /** CPU milliseconds this process (the load generator) used per 1000 writes. */
  clientCpuMsPer1k: number;
  /** The busiest load thread's event loop utilisation over the measured phase (1 = saturated). */
  clientLoopBusy: number;
}

export interface LoadOptions {
  concurrency: number;
  /** Measured phase length. */
  durationMs: number;
  /** Unmeasured warm-up before it. @default 1000 */
  warmupMs?: number;
  /** The measured system's processes, to report CPU per write. */
  cpu?: () => number;
  /** One write; `worker` and `seq` make keys distinct. */
  op: (worker: number, seq: number) => Promise<unknown>;
}

function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

export interface LoopOptions {
  concurrency: number;
  durationMs: number;
  warmupMs: number;
  op: (worker: number, seq: number) => Promise<unknown>;
  /** Added to each worker's index (workers spread over threads keep distinct keys). @default 0 */
  firstWorker?: number;
}

export interface LoopResult {
  /** Latency of each write that started after the warm-up and ended within the measured phase. */
  latencies: Float64Array;
  errors: number;
  firstError?: string;
  /** Share of the measured phase this thread's event loop was busy (1 = saturated). */
  loopBusy: number;
}

/** The closed loop itself: `concurrency` workers, each one write at a time, until the end. */
export async function closedLoop(o: LoopOptions): Promise<LoopResult> {
  const warmupEnd = performance.now() + o.warmupMs;
  const end = warmupEnd + o.durationMs;
  const latencies: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  const worker = async (w: number): Promise<void> => {
    for (let seq = 0; ; seq++) {
      const t0 = performance.now();
      if (t0 >= end) return;
      try {
        await o.op(w, seq);
        const t1 = performance.now();
        if (t0 >= warmupEnd && t1 <= end) latencies.push(t1 - t0);
      } catch (e) {
        errors++;
        firstError ??= String(e);
      }
    }
  };
  const first = o.firstWorker ?? 0;
  let elu = performance.eventLoopUtilization();
  const eluStart = setTimeout(() => {
    elu = performance.eventLoopUtilization();
  }, o.warmupMs);
  let loopBusy = Number.NaN;
  const eluEnd = setTimeout(() => {
    loopBusy = performance.eventLoopUtilization(elu).utilization;
  }, o.warmupMs + o.durationMs);
  await Promise.all(Array.from({ length: o.concurrency }, (_, w) => worker(first + w)));
  clearTimeout(eluStart);
  clearTimeout(eluEnd);
  if (Number.isNaN(loopBusy)) loopBusy = performance.eventLoopUtilization(elu).utilization;
  return { latencies: Float64Array.from(latencies), errors, loopBusy, ...(firstError ? { firstError } : {}) };
}

/**
 * Runs `loop` (the closed loop, on this thread or spread over several) and measures this
 * process's CPU and the measured system's over the measured phase only.
 */
export async function measureLoad(
  o: { concurrency: number; durationMs: number; warmupMs: number; cpu?: () => number },
  loop: () => Promise<LoopResult>,
): Promise<LoadResult> {
  let cpuAtStart = 0;
  let clientAtStart = process.cpuUsage();
  let clientUsed: NodeJS.CpuUsage | undefined;
  const cpuTimer = setTimeout(() => {
    cpuAtStart = o.cpu?.() ?? 0;
    clientAtStart = process.cpuUsage();
  }, o.warmupMs);
  let cpuAtEnd = 0;
  const endTimer = setTimeout(() => {
    cpuAtEnd = o.cpu?.() ?? 0;
    clientUsed = process.cpuUsage(clientAtStart);
  }, o.warmupMs + o.durationMs);
  const { latencies, errors, firstError, loopBusy } = await loop();
  clearTimeout(cpuTimer);
  clearTimeout(endTimer);
  // The end timer can lose the race with the last worker: read the counters now then.
  if (cpuAtEnd === 0) cpuAtEnd = o.cpu?.() ?? 0;
  clientUsed ??= process.cpuUsage(clientAtStart);
  if (latencies.length === 0) throw new Error(`no write completed: ${firstError}`);
  const sorted = latencies.sort();
  const seconds = o.durationMs / 1000;
  return {
    concurrency: o.concurrency,
    ops: latencies.length,
    errors,
    seconds,
    opsPerSec: latencies.length / seconds,
    p50Ms: quantile(sorted, 0.5),
    p99Ms: quantile(sorted, 0.99),
    ...(o.cpu && cpuAtEnd > 0 ? { cpuMsPer1k: ((cpuAtEnd - cpuAtStart) * 1000) / latencies.length } : {}),
    // process.cpuUsage counts every thread of this process, load threads included.
    clientCpuMsPer1k: (clientUsed.user + clientUsed.system) / latencies.length,
    clientLoopBusy: loopBusy,
  };
}

export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  const warmupMs = o.warmupMs ?? 1000;
  return measureLoad({ ...o, warmupMs }, () => closedLoop({ ...o, warmupMs }));
}

/** A value of `size` bytes, the same for both sides. */
export function valueOfSize(size: number): Buffer {
  return Buffer.alloc(size, 0x61);
}

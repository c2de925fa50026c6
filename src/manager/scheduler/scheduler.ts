import type { ObjectEventFor, Task, TaskId } from '../../api/index.js';
import {
  type Clock,
  type Component,
  DisposableStore,
  Emitter,
  type Event,
  errorMessage,
  isSwarmError,
  type Logger,
} from '../../common/index.js';
import { nodeAcceptsNewTasks } from '../orchestrator/index.js';
import { by, type MemoryStore, type WriteTx } from '../store/index.js';
import { CommitDebounce } from './commit-debounce.js';
import { SchedulerModel } from './model.js';
import { type ResolvedSchedulerOptions, resolveSchedulerOptions, type SchedulerOptions } from './options.js';
import { type Decision, planPass } from './pass.js';
import { Pipeline } from './pipeline.js';

export interface SchedulerDeps {
  readonly store: MemoryStore;
  readonly clock: Clock;
  readonly logger: Logger;
}

/** What one scheduling pass did, for tests, benchmarks and debug logs. */
export interface PassReport {
  /** Tasks given a node, preassigned ones confirmed included. */
  readonly placed: number;
  /** Tasks left pending because no node fits. */
  readonly unplaced: number;
  /** Task changes committed. */
  readonly written: number;
  /** Decisions dropped because the task or its node changed meanwhile (retried next pass). */
  readonly skipped: number;
  /** Store transactions that committed changes. */
  readonly transactions: number;
  /** Deciding the pass (no I/O), on the injected clock's monotonic time. */
  readonly planMs: number;
  /** Planning and writing, on the injected clock's monotonic time. */
  readonly durationMs: number;
}

type WatchedKind = 'node' | 'service' | 'task';

/** Decision transactions proposed at once by one pass. */
const MAX_TRANSACTIONS_IN_FLIGHT = 4;

/** Lets every queued promise continuation (the watch loop's) run before going on. */
function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Assigns pending tasks to nodes (pending → assigned), on the leader only. It reads the store once
 * (viewAndWatch) and then keeps its own picture from events; after a commit it waits for a quiet
 * gap (capped by a maximum latency) and runs one pass over everything queued, writing the
 * decisions in transactions of at most `batchSize` tasks. Writes are optimistic: a task that
 * changed since the pass read it is skipped and reconsidered on the next pass.
 */
export class Scheduler implements Component {
  readonly name = 'scheduler';
  private readonly options: ResolvedSchedulerOptions;
  private readonly logger: Logger;
  private readonly pipeline = new Pipeline();
  private readonly passEmitter = new Emitter<PassReport>();
  /** Fires after each pass's writes have settled. */
  readonly onDidPass: Event<PassReport> = this.passEmitter.event;

  constructor(
    private readonly deps: SchedulerDeps,
    options: SchedulerOptions = {},
  ) {
    this.options = resolveSchedulerOptions(options);
    this.logger = deps.logger.child({ module: 'manager/scheduler' });
  }

  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        await this.runSession(signal);
      } catch (e) {
        if (signal.aborted) return;
        // The watch fell behind or the store was restored: start again from a fresh read.
        if (isSwarmError(e) && e.retryable && (e.code === 'RESOURCE_EXHAUSTED' || e.code === 'UNAVAILABLE')) {
          this.logger.warn('scheduler resyncing with the store', { error: errorMessage(e) });
          continue;
        }
        throw e;
      }
    }
  }

  /** One read of the store and the event loop after it, until aborted or the watch fails. */
  private async runSession(signal: AbortSignal): Promise<void> {
    const { clock, store } = this.deps;
    const disposables = new DisposableStore();
    const inner = new AbortController();
    const onAbort = (): void => inner.abort(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    disposables.defer(() => signal.removeEventListener('abort', onAbort));
    if (signal.aborted) inner.abort(signal.reason);

    const model = new SchedulerModel(() => clock.now());
    const { result, watch } = store.viewAndWatch(
      (tx) => ({
        services: tx.find('service', by.all()),
        nodes: tx.find('node', by.all()),
        tasks: tx.find('task', by.all()),
      }),
      { kinds: ['node', 'service', 'task'] as WatchedKind[] },
      inner.signal,
    );
    disposables.add(watch);
    for (const s of result.services) model.applyService(s);
    for (const n of result.nodes) model.applyNode(n);
    for (const t of result.tasks) model.applyTask(t);

    let fatal: unknown;
    let running: Promise<void> | undefined;
    let again = false;
    let dirty = false;
    const startPass = (): void => {
      if (running) {
        again = true;
        return;
      }
      if (!model.hasWork || inner.signal.aborted) return;
      running = this.pass(model, inner.signal)
        .then((retry) => {
          if (retry) markDirty();
        })
        .catch((e: unknown) => {
          if (inner.signal.aborted) return;
          fatal = e;
          inner.abort(e);
        })
        .finally(() => {
          running = undefined;
          if (again) {
            again = false;
            startPass();
          }
        });
    };
    const debounce = disposables.add(
      new CommitDebounce(clock, this.options.quietPeriodMs, this.options.maxLatencyMs, () => {
        dirty = false;
        startPass();
      }),
    );
    const markDirty = (): void => {
      dirty = true;
      debounce.poke();
    };

    try {
      startPass();
      for await (const event of watch) {
        if (event.kind === 'commit') {
          if (dirty) debounce.poke();
        } else if (this.applyEvent(model, event)) {
          dirty = true;
        }
      }
    } finally {
      // A pass still writing belongs to this session's picture: stop it before leaving (a resync
      // starts from a fresh read, and its tasks are reconsidered there).
      inner.abort(signal.reason);
      disposables.dispose();
      await running;
    }
    if (fatal !== undefined) throw fatal;
  }

  private applyEvent(model: SchedulerModel, event: ObjectEventFor<WatchedKind>): boolean {
    switch (event.kind) {
      case 'task':
        return event.action === 'delete' ? model.deleteTask(event.old.id) : model.applyTask(event.new);
      case 'node':
        if (event.action === 'delete') model.deleteNode(event.old.id);
        else model.applyNode(event.new);
        return true;
      case 'service':
        if (event.action === 'delete') model.deleteService(event.old.id);
        else model.applyService(event.new);
        return false;
    }
  }

  /** Plans one pass and writes it. Resolves true when some decision must be retried later. */
  private async pass(model: SchedulerModel, signal: AbortSignal): Promise<boolean> {
    const { clock, store } = this.deps;
    const started = clock.monotonic();
    const plan = planPass(model, this.pipeline, {
      now: clock.now(),
      failureWindowMs: this.options.failureWindowMs,
      maxRecentFailures: this.options.maxRecentFailures,
    });
    const planMs = clock.monotonic() - started;
    let written = 0;
    let skipped = 0;
    let transactions = 0;
    let retry = false;
    let fatal: unknown;
    const writeChunk = async (chunk: readonly Decision[]): Promise<void> => {
      try {
        const r = await store.update((tx) => writeDecisions(tx, chunk), {
          signal,
          retries: this.options.conflictRetries,
        });
        if (r.written > 0) transactions++;
        written += r.written;
        skipped += r.skipped.length;
        if (r.skipped.length > 0) retry = true;
        this.resync(model, r.skipped);
      } catch (e) {
        if (signal.aborted || !isSwarmError(e) || !e.retryable) {
          fatal ??= e;
          return;
        }
        this.logger.warn('scheduler could not write decisions; will retry', {
          error: errorMessage(e),
          tasks: chunk.length,
        });
        retry = true;
        this.resync(
          model,
          chunk.map((d) => d.old.id),
        );
      }
    };
    // Chunks touch disjoint tasks, so a few are proposed at once and pipelined through Raft. The
    // window, and a turn of the event loop before each further chunk, let the watch loop take in
    // the events of our own writes, so a pass of 10,000 tasks cannot overflow its buffer.
    const inFlight: Promise<void>[] = [];
    for (let i = 0; i < plan.decisions.length && fatal === undefined; i += this.options.batchSize) {
      if (inFlight.length >= MAX_TRANSACTIONS_IN_FLIGHT) {
        await inFlight.shift();
        await yieldToEventLoop();
      }
      inFlight.push(writeChunk(plan.decisions.slice(i, i + this.options.batchSize)));
    }
    await Promise.all(inFlight);
    if (fatal !== undefined) throw fatal;
    const report: PassReport = {
      placed: plan.placed,
      unplaced: plan.unplaced,
      written,
      skipped,
      transactions,
      planMs,
      durationMs: clock.monotonic() - started,
    };
    this.logger.debug('scheduling pass', { ...report });
    this.passEmitter.fire(report);
    return retry;
  }

  /** Replaces speculative decisions by what the store holds now (newer events win later). */
  private resync(model: SchedulerModel, ids: readonly TaskId[]): void {
    if (ids.length === 0) return;
    const current = this.deps.store.view((tx) => ids.map((id) => [id, tx.get('task', id)] as const));
    for (const [id, t] of current) {
      if (t) model.applyTask(t);
      else model.deleteTask(id);
    }
  }
}

/**
 * The transaction body (re-run on a version conflict): writes each decision whose task is still
 * the version it was decided from and, for placements, whose node still takes tasks.
 */
function writeDecisions(tx: WriteTx, chunk: readonly Decision[]): { written: number; skipped: TaskId[] } {
  let written = 0;
  const skipped: TaskId[] = [];
  for (const d of chunk) {
    const current: Task | undefined = tx.get('task', d.old.id);
    if (!current || current.meta.version !== d.old.meta.version) {
      skipped.push(d.old.id);
      continue;
    }
    if (d.kind !== 'unschedulable') {
      const node = d.new.nodeId ? tx.get('node', d.new.nodeId) : undefined;
      if (!node || !nodeAcceptsNewTasks(node)) {
        skipped.push(d.old.id);
        continue;
      }
    }
    tx.update('task', { ...d.new, meta: current.meta });
    written++;
  }
  return { written, skipped };
}

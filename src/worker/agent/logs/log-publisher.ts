import type {
  LogPublishMessage,
  LogSubscriptionMessage,
  LogsServiceMethods,
  TaskId,
} from '../../../api/index.js';
import {
  abortableDelay,
  type Clock,
  DisposableStore,
  errorMessage,
  isSwarmError,
  type Logger,
} from '../../../common/index.js';
import type { RpcClient } from '../../../rpc/index.js';
import type { Executor, ManagedContainer } from '../../executor/index.js';
import { batches } from './batches.js';

export interface LogPublisherDeps {
  readonly clock: Clock;
  readonly logger: Logger;
  readonly executor: Executor;
  /** Dials the manager the agent has its session with (the leader). */
  readonly connect: (addr: string) => RpcClient<LogsServiceMethods>;
}

/** Pause before listening again after the stream failed while the session goes on. */
const RELISTEN_DELAY_MS = 1000;
/** Lines per Publish message at most. */
const BATCH_LINES = 500;

type Subscribe = Extract<LogSubscriptionMessage, { kind: 'subscribe' }>;

/**
 * The worker's half of the log broker: listens for its node's subscriptions on the leader, reads
 * the matching containers' logs from the engine and publishes them, one Publish call per
 * subscription. A `close` (the subscriber left), the end of the session, or a refused write
 * stops the engine reads of that subscription.
 */
export class LogPublisher {
  private readonly log: Logger;

  constructor(private readonly deps: LogPublisherDeps) {
    this.log = deps.logger.child({ module: 'log-publisher' });
  }

  /** Serves subscriptions from the manager at `addr` until `signal` aborts. */
  async run(addr: string, signal: AbortSignal): Promise<void> {
    const client = this.deps.connect(addr);
    const subs = new Map<string, AbortController>();
    const serving = new Set<Promise<void>>();
    try {
      while (!signal.aborted) {
        try {
          for await (const m of client.call.Listen({}, { signal })) {
            if (m.kind === 'close') {
              subs.get(m.id)?.abort();
              continue;
            }
            if (subs.has(m.id)) continue;
            const stop = new AbortController();
            subs.set(m.id, stop);
            const p = this.serve(client, m, stop.signal).finally(() => {
              subs.delete(m.id);
              serving.delete(p);
            });
            serving.add(p);
          }
        } catch (e) {
          if (signal.aborted) break;
          this.log.info('log subscriptions stream ended', { manager: addr, error: errorMessage(e) });
        }
        // The broker reports our open subscriptions as lost when the stream ends: stop them.
        for (const s of subs.values()) s.abort();
        await abortableDelay(this.deps.clock, RELISTEN_DELAY_MS, signal);
      }
    } finally {
      for (const s of subs.values()) s.abort();
      await Promise.all(serving);
      client.close();
    }
  }

  /** One subscription: every matching container of this node, and later ones when following. */
  private async serve(
    client: RpcClient<LogsServiceMethods>,
    sub: Subscribe,
    outer: AbortSignal,
  ): Promise<void> {
    const disposables = new DisposableStore();
    // Aborted by the subscription's end or by a refused write: every engine read stops.
    const stop = new AbortController();
    const onStop = (): void => stop.abort();
    if (outer.aborted) stop.abort();
    else outer.addEventListener('abort', onStop, { once: true });
    disposables.defer(() => outer.removeEventListener('abort', onStop));
    const signal = stop.signal;
    const call = client.call.Publish({ signal });
    const reading = new Map<TaskId, Promise<void>>();
    const { selector, options } = sub;
    const matches = (c: ManagedContainer): boolean =>
      'serviceId' in selector ? c.serviceId === selector.serviceId : c.taskId === selector.taskId;
    let sent = 0;
    const send = (m: Omit<LogPublishMessage, 'subscriptionId'>): Promise<void> => {
      sent += m.lines.length;
      return call.write({ subscriptionId: sub.id, ...m });
    };
    this.log.info('log subscription started', { subscription: sub.id, follow: options.follow });
    let failed = false;
    const fail = (e: unknown): void => {
      // A write refused means the broker ended the call: the subscription is over.
      if (!signal.aborted && !failed) this.log.info('log subscription stopped', { error: errorMessage(e) });
      failed = true;
      stop.abort();
    };
    const scan = async (fresh: boolean): Promise<void> => {
      const found = (await this.deps.executor.listManagedContainers(signal)).filter(matches);
      for (const c of found) {
        if (reading.has(c.taskId)) continue;
        // Containers that appear while following are new: all their lines, not the tail.
        const read = this.read(c.taskId, fresh ? { follow: true } : options, send, signal).catch(fail);
        reading.set(c.taskId, read);
      }
    };
    try {
      if (options.follow) {
        let rescan: Promise<void> = Promise.resolve();
        disposables.add(
          this.deps.executor.onDidContainerEvent((e) => {
            if (e.kind !== 'start' && e.kind !== 'resync') return;
            if (e.kind === 'start' && reading.has(e.taskId)) return;
            rescan = rescan.then(() => scan(true)).catch(fail);
          }),
        );
        await scan(false);
        await new Promise<void>((resolve) => {
          if (signal.aborted) return resolve();
          signal.addEventListener('abort', () => resolve(), { once: true });
          void call.closed.then(() => resolve());
        });
        await rescan;
      } else {
        await scan(false);
        await Promise.all(reading.values());
        if (!failed) {
          await send({ lines: [], done: true });
          await call.end();
        }
      }
    } catch (e) {
      if (!signal.aborted && !failed) {
        await send({ lines: [], error: errorMessage(e), done: !options.follow }).catch(() => undefined);
        await call.end().catch(() => undefined);
      }
    } finally {
      stop.abort();
      disposables.dispose();
      await Promise.allSettled(reading.values());
      // Every engine read of the subscription has stopped by now.
      this.log.info('log subscription ended', { subscription: sub.id, lines: sent });
    }
  }

  /** One container's lines, in batches, until its output ends (or the subscription does). */
  private async read(
    taskId: TaskId,
    options: Subscribe['options'],
    send: (m: Omit<LogPublishMessage, 'subscriptionId'>) => Promise<void>,
    signal: AbortSignal,
  ): Promise<void> {
    // A refused write ends the subscription; an engine error is reported and ends this task only.
    let refused = false;
    const lines = this.deps.executor.logs(taskId, {
      follow: options.follow,
      ...(options.tail !== undefined ? { tail: options.tail } : {}),
      ...(options.since !== undefined ? { since: options.since } : {}),
      signal,
    });
    try {
      for await (const batch of batches(lines, BATCH_LINES)) {
        const out = batch.map((l) => ({ taskId, stream: l.stream, line: l.line, timestamp: l.timestamp }));
        try {
          await send({ lines: out });
        } catch (e) {
          refused = true;
          throw e;
        }
      }
    } catch (e) {
      if (refused || signal.aborted) throw e;
      // The container went away between the listing and the read: nothing to show.
      if (!isSwarmError(e, 'NOT_FOUND'))
        await send({ lines: [], error: `task ${taskId}: ${errorMessage(e)}` });
    }
  }
}

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  type LogPublishMessage,
  type LogSubscriptionMessage,
  LogsService,
  type NodeId,
  type ServiceId,
  type TaskId,
} from '../../../api/index.js';
import {
  BugError,
  type Deferred,
  deferred,
  Emitter,
  noopLogger,
  systemClock,
  waitFor,
} from '../../../common/index.js';
import { ChannelCredentials, createClient, RpcServer, ServerCredentials } from '../../../rpc/index.js';
import type {
  ContainerEvent,
  Executor,
  LogLine,
  LogOptions,
  ManagedContainer,
} from '../../executor/index.js';
import { LogPublisher } from './log-publisher.js';

const NODE = 'node1' as NodeId;
const WEB = 'svc-web' as ServiceId;
const DB = 'svc-db' as ServiceId;

/** An engine with in-memory containers and logs; counts the follow reads still open. */
class FakeEngine implements Executor {
  readonly containers: ManagedContainer[] = [];
  private readonly lines = new Map<TaskId, LogLine[]>();
  private readonly appended = new Emitter<TaskId>();
  private readonly events = new Emitter<ContainerEvent>();
  readonly onDidContainerEvent = this.events.event;
  openFollows = 0;

  describe(): never {
    throw new BugError('not used');
  }
  controller(): never {
    throw new BugError('not used');
  }
  removeUnownedContainers(): never {
    throw new BugError('not used');
  }
  async listManagedContainers(): Promise<ManagedContainer[]> {
    return [...this.containers];
  }

  async *logs(taskId: TaskId, options: LogOptions = {}): AsyncIterable<LogLine> {
    const all = this.lines.get(taskId) ?? [];
    let next = options.tail !== undefined ? Math.max(0, all.length - options.tail) : 0;
    while (next < all.length) yield all[next++]!;
    if (!options.follow) return;
    this.openFollows++;
    try {
      while (!options.signal?.aborted) {
        const more = deferred<void>();
        const sub = this.appended.event((id) => id === taskId && more.resolve());
        const onAbort = (): void => more.resolve();
        options.signal?.addEventListener('abort', onAbort, { once: true });
        await more.promise;
        sub.dispose();
        options.signal?.removeEventListener('abort', onAbort);
        while (next < all.length) yield all[next++]!;
      }
    } finally {
      this.openFollows--;
    }
  }

  start(taskId: string, serviceId: ServiceId, lines: string[]): void {
    this.containers.push({
      containerId: `c-${taskId}`,
      name: taskId,
      taskId: taskId as TaskId,
      serviceId,
      serviceName: serviceId,
      nodeId: NODE,
      state: 'running',
      statusText: 'Up',
      createdAt: 0,
    });
    this.lines.set(
      taskId as TaskId,
      lines.map((line) => ({ stream: 'stdout' as const, line, timestamp: 1 })),
    );
    this.events.fire({ kind: 'start', containerId: `c-${taskId}`, taskId: taskId as TaskId, time: 1 });
  }

  append(taskId: string, line: string): void {
    this.lines.get(taskId as TaskId)!.push({ stream: 'stdout', line, timestamp: 2 });
    this.appended.fire(taskId as TaskId);
  }
}

/** The leader's side, reduced to what a worker sees: subscriptions to push, calls to record. */
class FakeLeader {
  private readonly queued: LogSubscriptionMessage[] = [];
  private wake: Deferred<void> | undefined;
  readonly calls: { messages: LogPublishMessage[]; ended: boolean }[] = [];

  push(m: LogSubscriptionMessage): void {
    this.queued.push(m);
    this.wake?.resolve();
  }

  handlers() {
    return {
      Listen: (_req: Record<string, never>, ctx: { signal: AbortSignal }) => this.listen(ctx.signal),
      Publish: async (requests: AsyncIterable<LogPublishMessage>) => {
        const call = { messages: [] as LogPublishMessage[], ended: false };
        this.calls.push(call);
        try {
          for await (const m of requests) call.messages.push(m);
        } catch {
          // A cancelled call ends the request stream with an error: that is an end too.
        } finally {
          call.ended = true;
        }
        return {};
      },
    };
  }

  private async *listen(signal: AbortSignal): AsyncIterable<LogSubscriptionMessage> {
    signal.addEventListener('abort', () => this.wake?.resolve(), { once: true });
    while (!signal.aborted) {
      const m = this.queued.shift();
      if (m) {
        yield m;
        continue;
      }
      this.wake = deferred<void>();
      await this.wake.promise;
    }
  }
}

let dir: string;
let server: RpcServer;
let serverStop: AbortController;
let serving: Promise<void>;
let leader: FakeLeader;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'log-publisher-'));
  leader = new FakeLeader();
  server = new RpcServer({ logger: noopLogger }, { shutdownGraceMs: 100 });
  server.addService(LogsService, leader.handlers(), () => {});
  await server.bind(`unix://${join(dir, 'leader.sock')}`, ServerCredentials.createInsecure());
  serverStop = new AbortController();
  serving = server.run(serverStop.signal);
});

afterEach(async () => {
  serverStop.abort();
  await serving;
  rmSync(dir, { recursive: true, force: true });
});

function startPublisher(engine: FakeEngine) {
  const stop = new AbortController();
  const publisher = new LogPublisher({
    clock: systemClock,
    logger: noopLogger,
    executor: engine,
    connect: (addr) => createClient(LogsService, addr, ChannelCredentials.createInsecure()),
  });
  const running = publisher.run(`unix://${join(dir, 'leader.sock')}`, stop.signal);
  return { stop: () => stop.abort(), running };
}

const texts = (messages: readonly LogPublishMessage[]) => messages.flatMap((m) => m.lines.map((l) => l.line));

async function until(what: string, cond: () => boolean, state: () => string): Promise<void> {
  await waitFor(() => (cond() ? { done: true, value: undefined } : { done: false, state: state() }), {
    timeoutMs: 5000,
    intervalMs: 10,
    what,
  });
}

describe('LogPublisher', () => {
  it('publishes the tail of each matching container, then done, and ends the call', async () => {
    const engine = new FakeEngine();
    engine.start('t1', WEB, ['a1', 'a2', 'a3']);
    engine.start('t2', WEB, ['b1', 'b2', 'b3']);
    engine.start('t3', DB, ['other']);
    const p = startPublisher(engine);
    leader.push({
      kind: 'subscribe',
      id: 's1',
      selector: { serviceId: WEB },
      options: { follow: false, tail: 2 },
    });
    await until(
      'the call to end',
      () => leader.calls[0]?.ended === true,
      () => JSON.stringify(leader.calls),
    );
    const call = leader.calls[0]!;
    expect(call.messages.every((m) => m.subscriptionId === 's1')).toBe(true);
    expect(texts(call.messages).sort()).toEqual(['a2', 'a3', 'b2', 'b3']);
    expect(call.messages.at(-1)).toEqual({ subscriptionId: 's1', lines: [], done: true });
    p.stop();
    await p.running;
  });

  it('following: new lines and containers started later, until the leader closes the subscription', async () => {
    const engine = new FakeEngine();
    engine.start('t1', WEB, ['a1']);
    const p = startPublisher(engine);
    leader.push({ kind: 'subscribe', id: 's2', selector: { serviceId: WEB }, options: { follow: true } });
    const lines = () => texts(leader.calls[0]?.messages ?? []);
    await until(
      'the existing line',
      () => lines().includes('a1'),
      () => lines().join(','),
    );
    engine.append('t1', 'a2');
    await until(
      'the new line',
      () => lines().includes('a2'),
      () => lines().join(','),
    );
    engine.start('t4', WEB, ['c1', 'c2']);
    engine.start('t5', DB, ['not mine']);
    await until(
      'the new container',
      () => lines().includes('c2'),
      () => lines().join(','),
    );
    expect(engine.openFollows).toBe(2);
    leader.push({ kind: 'close', id: 's2' });
    // The engine reads stop and the Publish call ends: nothing is left streaming.
    await until(
      'reads stopped and call ended',
      () => engine.openFollows === 0 && leader.calls[0]?.ended === true,
      () => `open follows ${engine.openFollows}, ended ${leader.calls[0]?.ended}`,
    );
    expect(lines()).not.toContain('not mine');
    expect(lines().filter((l) => l === 'c1')).toHaveLength(1);
    p.stop();
    await p.running;
  });

  it('stops every read when the session ends', async () => {
    const engine = new FakeEngine();
    engine.start('t1', WEB, ['a1']);
    const p = startPublisher(engine);
    leader.push({
      kind: 'subscribe',
      id: 's3',
      selector: { taskId: 't1' as TaskId },
      options: { follow: true },
    });
    await until(
      'following',
      () => engine.openFollows === 1,
      () => `${engine.openFollows}`,
    );
    p.stop();
    await p.running;
    expect(engine.openFollows).toBe(0);
    await until(
      'the call ended',
      () => leader.calls[0]?.ended === true,
      () => 'open',
    );
  });
});

import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type {
  LogPublishMessage,
  LogSubscriptionMessage,
  NodeId,
  ServiceId,
  TaskId,
} from '../../api/index.js';
import { isSwarmError, noopLogger, waitFor } from '../../common/index.js';
import { countingStore, idSource, nodeInput, serviceInput, taskInput } from '../scheduler/test-fixtures.js';
import { BoundedQueue } from './bounded-queue.js';
import { type BrokerMessage, LogBroker } from './log-broker.js';

const nextId = idSource(11);
const W1 = nextId<NodeId>();
const W2 = nextId<NodeId>();
const W3 = nextId<NodeId>();
const SVC = nextId<ServiceId>();
const T1 = nextId<TaskId>();
const T2 = nextId<TaskId>();
const T3 = nextId<TaskId>();

async function setup(bufferLines?: number) {
  const { store } = countingStore();
  await store.update((tx) => {
    for (const n of [W1, W2, W3]) tx.create('node', nodeInput(n));
    tx.create('service', serviceInput(SVC, 'web'));
  });
  const service = store.view((tx) => tx.get('service', SVC)!);
  await store.update((tx) => {
    tx.create('task', taskInput(T1, service, 1, { nodeId: W1 }));
    tx.create('task', taskInput(T2, service, 2, { nodeId: W2 }));
  });
  const broker = new LogBroker(
    { store, logger: noopLogger, randomBytes: (n) => randomBytes(n) },
    bufferLines !== undefined ? { bufferLines } : {},
  );
  return { store, service, broker };
}

/** A node's Listen stream read in the background. */
function listen(broker: LogBroker, nodeId: NodeId) {
  const stop = new AbortController();
  const got: LogSubscriptionMessage[] = [];
  const done = (async () => {
    for await (const m of broker.listen(nodeId, stop.signal)) got.push(m);
  })();
  return { got, stop: () => stop.abort(), done };
}

/** A subscriber reading everything into an array. */
function subscribe(broker: LogBroker, follow: boolean, tail?: number) {
  const stop = new AbortController();
  const got: BrokerMessage[] = [];
  const done = (async () => {
    const options = { follow, ...(tail !== undefined ? { tail } : {}) };
    for await (const m of broker.subscribe({ serviceId: SVC }, options, stop.signal)) got.push(m);
  })();
  return { got, stop: () => stop.abort(), done };
}

/** A Publish call's request stream that the test writes to. */
function publisher(broker: LogBroker, nodeId: NodeId) {
  const requests = new BoundedQueue<LogPublishMessage>(Number.MAX_SAFE_INTEGER);
  const done = broker.publish(nodeId, requests, new AbortController().signal);
  return { send: (m: LogPublishMessage) => requests.pushNow(m), end: () => requests.end(), done };
}

const line = (taskId: TaskId, text: string) => ({
  taskId,
  stream: 'stdout' as const,
  line: text,
  timestamp: 1,
});

async function until<T>(what: string, probe: () => T | undefined): Promise<T> {
  return waitFor(
    () => {
      const v = probe();
      return v === undefined ? { done: false, state: 'not yet' } : { done: true, value: v };
    },
    { timeoutMs: 2000, intervalMs: 5, what },
  );
}

function subscribeMessage(got: readonly LogSubscriptionMessage[]) {
  const m = got.find((x) => x.kind === 'subscribe');
  return m?.kind === 'subscribe' ? m : undefined;
}

describe('LogBroker', () => {
  it('sends a subscription to the nodes with tasks only, relays their lines and ends when all are done', async () => {
    const { broker } = await setup();
    const [n1, n2, n3] = [listen(broker, W1), listen(broker, W2), listen(broker, W3)];
    await until('3 listeners', () => (broker.connectedNodes().length === 3 ? true : undefined));
    const sub = subscribe(broker, false, 2);
    const s1 = await until('W1 subscribed', () => subscribeMessage(n1.got));
    const s2 = await until('W2 subscribed', () => subscribeMessage(n2.got));
    expect(s1.id).toBe(s2.id);
    expect(s1.selector).toEqual({ serviceId: SVC });
    expect(s1.options).toEqual({ follow: false, tail: 2 });
    const p1 = publisher(broker, W1);
    p1.send({ subscriptionId: s1.id, lines: [line(T1, 'a'), line(T1, 'b')] });
    p1.send({ subscriptionId: s1.id, lines: [], done: true });
    await p1.done;
    const p2 = publisher(broker, W2);
    p2.send({ subscriptionId: s1.id, lines: [line(T2, 'c')], done: true });
    await p2.done;
    await sub.done;
    expect(sub.got).toEqual([
      { kind: 'lines', nodeId: W1, lines: [line(T1, 'a'), line(T1, 'b')] },
      { kind: 'lines', nodeId: W2, lines: [line(T2, 'c')] },
    ]);
    expect(n3.got).toEqual([]);
    expect(broker.subscriptionCount).toBe(0);
    for (const n of [n1, n2, n3]) n.stop();
  });

  it('reports a node that is not connected instead of skipping it, and still ends', async () => {
    const { broker } = await setup();
    const n1 = listen(broker, W1);
    await until('W1 listening', () => (broker.connectedNodes().length === 1 ? true : undefined));
    const sub = subscribe(broker, false);
    const s1 = await until('W1 subscribed', () => subscribeMessage(n1.got));
    const p1 = publisher(broker, W1);
    p1.send({ subscriptionId: s1.id, lines: [], done: true });
    await sub.done;
    expect(sub.got).toEqual([
      { kind: 'node-error', nodeId: W2, error: expect.stringMatching(/not connected/) },
    ]);
    n1.stop();
  });

  it('reports a node that disconnects before it is done', async () => {
    const { broker } = await setup();
    const [n1, n2] = [listen(broker, W1), listen(broker, W2)];
    const sub = subscribe(broker, false);
    const s1 = await until('W1 subscribed', () => subscribeMessage(n1.got));
    await until('W2 subscribed', () => subscribeMessage(n2.got));
    publisher(broker, W1).send({ subscriptionId: s1.id, lines: [], done: true });
    n2.stop();
    await sub.done;
    expect(sub.got).toEqual([{ kind: 'node-error', nodeId: W2, error: 'node disconnected from the leader' }]);
    n1.stop();
  });

  it('refuses lines for a subscription from a node it was not sent to', async () => {
    const { broker } = await setup();
    const n1 = listen(broker, W1);
    const sub = subscribe(broker, true);
    const s1 = await until('W1 subscribed', () => subscribeMessage(n1.got));
    const intruder = publisher(broker, W3);
    intruder.send({ subscriptionId: s1.id, lines: [line(T1, 'forged')] });
    const e = await intruder.done.catch((err: unknown) => err);
    expect(isSwarmError(e, 'PERMISSION_DENIED')).toBe(true);
    expect(sub.got.filter((m) => m.kind === 'lines')).toEqual([]);
    sub.stop();
    await sub.done;
    n1.stop();
  });

  it('cancels on the nodes when the subscriber leaves, and ends their Publish calls', async () => {
    const { broker } = await setup();
    const [n1, n2] = [listen(broker, W1), listen(broker, W2)];
    const sub = subscribe(broker, true);
    const s1 = await until('W1 subscribed', () => subscribeMessage(n1.got));
    await until('W2 subscribed', () => subscribeMessage(n2.got));
    const p1 = publisher(broker, W1);
    p1.send({ subscriptionId: s1.id, lines: [line(T1, 'x')] });
    await until('line relayed', () => (sub.got.length === 1 ? true : undefined));
    sub.stop();
    await sub.done;
    expect(broker.subscriptionCount).toBe(0);
    for (const n of [n1, n2]) {
      await until('close sent', () => n.got.find((m) => m.kind === 'close' && m.id === s1.id));
    }
    // The next message finds the subscription gone: the call ends, the worker stops reading.
    p1.send({ subscriptionId: s1.id, lines: [line(T1, 'late')] });
    await p1.done;
    for (const n of [n1, n2]) n.stop();
  });

  it('following, sends the subscription to a node that gets a task later, and resumes a reconnected node with tail 0', async () => {
    const { broker, store, service } = await setup();
    const [n1, n3] = [listen(broker, W1), listen(broker, W3)];
    const sub = subscribe(broker, true, 5);
    await until('W1 subscribed', () => subscribeMessage(n1.got));
    // W2 has a task but is not connected: reported, and subscribed once it connects.
    await until('W2 reported', () => sub.got.find((m) => m.kind === 'node-error' && m.nodeId === W2));
    const n2 = listen(broker, W2);
    const s2 = await until('W2 subscribed on connect', () => subscribeMessage(n2.got));
    expect(s2.options).toEqual({ follow: true, tail: 0 });
    expect(n3.got).toEqual([]);
    await store.update((tx) => tx.create('task', taskInput(T3, service, 3, { nodeId: W3 })));
    const s3 = await until('W3 subscribed after its task was placed', () => subscribeMessage(n3.got));
    expect(s3.options).toEqual({ follow: true, tail: 5 });
    sub.stop();
    await sub.done;
    for (const n of [n1, n2, n3]) n.stop();
  });

  it('holds publishers back when the subscriber does not read (bounded buffer)', async () => {
    const { broker } = await setup(10);
    const n1 = listen(broker, W1);
    const stop = new AbortController();
    const iterator = broker.subscribe({ taskId: T1 }, { follow: true }, stop.signal)[Symbol.asyncIterator]();
    const first = iterator.next();
    const s1 = await until('W1 subscribed', () => subscribeMessage(n1.got));
    // The publisher offers 20 messages of 4 lines; the broker takes them only as space frees.
    let offered = 0;
    async function* lines(): AsyncIterable<LogPublishMessage> {
      for (let i = 0; i < 20; i++) {
        offered++;
        yield { subscriptionId: s1.id, lines: [1, 2, 3, 4].map((k) => line(T1, `${i}.${k}`)) };
      }
    }
    const publishing = broker.publish(W1, lines(), new AbortController().signal);
    await first;
    // One batch went straight to the reader; then at most 10 lines (3 batches of 4 > 10) queue.
    await until('publisher held', () => (offered >= 4 ? true : undefined));
    // The publisher runs on promise jobs only: after one timer turn of the probe it has done all
    // it can, and a broker without a bound would have taken all 20.
    let probes = 0;
    await until('a timer turn', () => (++probes >= 2 ? true : undefined));
    expect(offered).toBe(4);
    let read = 1;
    for (;;) {
      const r = await iterator.next();
      if (r.done) break;
      read++;
      if (read === 20) break;
    }
    await publishing;
    expect(offered).toBe(20);
    stop.abort();
    await iterator.return?.();
    n1.stop();
  });
});

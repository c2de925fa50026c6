import {
  generateId,
  type LogLineMessage,
  type LogPublishMessage,
  type LogSelector,
  type LogSubscriptionMessage,
  type LogSubscriptionOptions,
  type LogsServiceMethods,
  type NodeId,
  type RandomBytes,
  type Task,
  type TaskId,
} from '../../api/index.js';
import { errorMessage, type Logger, NotFoundError, SwarmError } from '../../common/index.js';
import type { CallContext, Handlers } from '../../rpc/index.js';
import { by, type MemoryStore, type ReadTx } from '../store/index.js';
import { BoundedQueue } from './bounded-queue.js';

/** What a subscriber reads: lines of one node, or why a node's lines are missing. */
export type BrokerMessage =
  | { readonly kind: 'lines'; readonly nodeId: NodeId; readonly lines: readonly LogLineMessage[] }
  | { readonly kind: 'node-error'; readonly nodeId: NodeId; readonly error: string };

export interface LogBrokerDeps {
  readonly store: MemoryStore;
  readonly logger: Logger;
  readonly randomBytes: RandomBytes;
}

export interface LogBrokerOptions {
  /** Lines queued per subscription before publishers are held back. @default 1000 */
  readonly bufferLines?: number;
}

/** Per node of a subscription: sent to it, finished, or waiting for the node to connect. */
type NodeState = 'sent' | 'done' | 'waiting';

interface Subscription {
  readonly id: string;
  readonly selector: LogSelector;
  readonly options: LogSubscriptionOptions;
  readonly nodes: Map<NodeId, NodeState>;
  readonly queue: BoundedQueue<BrokerMessage>;
}

/** A worker's open `Listen` stream: the subscriptions to push to it. */
interface Listener {
  readonly queue: BoundedQueue<LogSubscriptionMessage>;
}

const DEFAULT_BUFFER_LINES = 1000;

/**
 * The leader's log broker (swarmkit's LogBroker): a subscriber asks for a service's or a task's
 * logs; the broker pushes the subscription to every node that has (or, when following, later
 * gets) one of its tasks, on that node's `Listen` stream, and relays what the nodes `Publish`.
 * A node that is not connected is reported, never skipped in silence. Each subscription's queue
 * is bounded: when the subscriber reads slowly, publishers wait (gRPC flow control then holds
 * back the worker, which stops reading its engine's log stream), so nothing grows without bound.
 */
export class LogBroker {
  private readonly listeners = new Map<NodeId, Listener>();
  private readonly subscriptions = new Map<string, Subscription>();
  private readonly bufferLines: number;
  private readonly log: Logger;

  constructor(
    private readonly deps: LogBrokerDeps,
    options: LogBrokerOptions = {},
  ) {
    this.bufferLines = options.bufferLines ?? DEFAULT_BUFFER_LINES;
    this.log = deps.logger.child({ module: 'logbroker' });
  }

  /** Open subscriptions (for tests and leak checks). */
  get subscriptionCount(): number {
    return this.subscriptions.size;
  }

  /** Nodes with an open `Listen` stream. */
  connectedNodes(): NodeId[] {
    return [...this.listeners.keys()];
  }

  /**
   * The lines of `selector`'s containers on every node, until each node finished (not following)
   * or `signal` aborts; leaving the loop early cancels the subscription on the nodes too.
   */
  async *subscribe(
    selector: LogSelector,
    options: LogSubscriptionOptions,
    signal: AbortSignal,
  ): AsyncIterable<BrokerMessage> {
    if (signal.aborted) return;
    const sub: Subscription = {
      id: String(generateId<TaskId>(this.deps.randomBytes)),
      selector,
      options,
      nodes: new Map(),
      queue: new BoundedQueue<BrokerMessage>(this.bufferLines),
    };
    const onAbort = (): void => sub.queue.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    this.subscriptions.set(sub.id, sub);
    const matches = (t: Task): boolean =>
      'serviceId' in selector ? t.serviceId === selector.serviceId : t.id === selector.taskId;
    // Following: the view and the watch are taken together, so no task placed meanwhile is missed.
    const { result: nodes, watch } = options.follow
      ? this.deps.store.viewAndWatch((tx) => nodesOf(tx, selector), {
          kinds: ['task'],
          commits: false,
          filter: (e) => e.action !== 'delete' && matches(e.new) && e.new.nodeId !== undefined,
        })
      : { result: this.deps.store.view((tx) => nodesOf(tx, selector)), watch: undefined };
    const following = watch
      ? (async () => {
          try {
            for await (const e of watch) {
              if (e.kind === 'task' && e.action !== 'delete' && e.new.nodeId) this.addNode(sub, e.new.nodeId);
            }
          } catch (e) {
            // A closed watch (overflow, restore) ends the subscription rather than missing tasks.
            if (sub.queue.isOpen) {
              this.log.info('log subscription watch ended', { error: errorMessage(e) });
              sub.queue.end();
            }
          }
        })()
      : undefined;
    try {
      for (const n of nodes) this.addNode(sub, n);
      this.checkComplete(sub);
      yield* sub.queue;
    } finally {
      signal.removeEventListener('abort', onAbort);
      this.close(sub);
      watch?.dispose();
      await following;
    }
  }

  /** The worker-facing service: each call acts only for the node of the caller's certificate. */
  workerHandlers(): Handlers<LogsServiceMethods> {
    return {
      Listen: (_req, ctx) => this.listen(callerOf(ctx), ctx.signal),
      Publish: async (messages, ctx) => {
        await this.publish(callerOf(ctx), messages, ctx.signal);
        return {};
      },
    };
  }

  /** A node's subscriptions, from now until `signal` aborts; a newer call of the node replaces it. */
  async *listen(nodeId: NodeId, signal: AbortSignal): AsyncIterable<LogSubscriptionMessage> {
    const listener: Listener = { queue: new BoundedQueue<LogSubscriptionMessage>(Number.MAX_SAFE_INTEGER) };
    const previous = this.listeners.get(nodeId);
    if (previous) {
      // The node's older stream is stale (it reconnected): what went there is sent again below.
      previous.queue.end();
      this.listeners.delete(nodeId);
      this.nodeLost(nodeId);
    }
    this.listeners.set(nodeId, listener);
    const onAbort = (): void => listener.queue.end();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      for (const sub of this.subscriptions.values())
        if (sub.nodes.get(nodeId) === 'waiting') this.send(sub, nodeId, listener);
      yield* listener.queue;
    } finally {
      signal.removeEventListener('abort', onAbort);
      if (this.listeners.get(nodeId) === listener) {
        this.listeners.delete(nodeId);
        this.nodeLost(nodeId);
      }
    }
  }

  /** Relays a node's lines for one subscription, holding the node back while the queue is full. */
  async publish(
    nodeId: NodeId,
    messages: AsyncIterable<LogPublishMessage>,
    signal: AbortSignal,
  ): Promise<void> {
    let sub: Subscription | undefined;
    for await (const m of messages) {
      if (!sub) {
        sub = this.subscriptions.get(m.subscriptionId);
        // Gone already (the subscriber left): ending the call tells the worker to stop.
        if (!sub) return;
        if (!sub.nodes.has(nodeId)) {
          throw new SwarmError(
            'PERMISSION_DENIED',
            `log subscription ${m.subscriptionId} is not for node ${nodeId}`,
          );
        }
      } else if (m.subscriptionId !== sub.id) {
        throw new SwarmError('INVALID_ARGUMENT', 'one Publish call carries one subscription', {
          details: { field: 'subscriptionId', value: m.subscriptionId },
        });
      }
      if (m.lines.length > 0) {
        const queued = await sub.queue.push(
          { kind: 'lines', nodeId, lines: m.lines },
          m.lines.length,
          signal,
        );
        if (!queued) return;
      }
      if (m.error) sub.queue.pushNow({ kind: 'node-error', nodeId, error: m.error });
      if (m.done) {
        this.finish(sub, nodeId);
        return;
      }
    }
    // The node ended its call without saying it was done: its lines may be incomplete.
    if (sub && !sub.options.follow && sub.nodes.get(nodeId) === 'sent') {
      sub.queue.pushNow({
        kind: 'node-error',
        nodeId,
        error: 'the node stopped sending logs before the end',
      });
      this.finish(sub, nodeId);
    }
  }

  private addNode(sub: Subscription, nodeId: NodeId): void {
    if (sub.nodes.has(nodeId) || !sub.queue.isOpen) return;
    const listener = this.listeners.get(nodeId);
    if (listener) {
      sub.nodes.set(nodeId, 'sent');
      this.send(sub, nodeId, listener);
      return;
    }
    sub.queue.pushNow({ kind: 'node-error', nodeId, error: 'node is not connected to the leader (down?)' });
    // Following: the subscription goes to the node if it reconnects.
    sub.nodes.set(nodeId, sub.options.follow ? 'waiting' : 'done');
  }

  private send(sub: Subscription, nodeId: NodeId, listener: Listener): void {
    // A node that comes back while following gets only new lines: the old ones may have been shown.
    const resumed = sub.nodes.get(nodeId) === 'waiting';
    const options: LogSubscriptionOptions = resumed ? { ...sub.options, tail: 0 } : sub.options;
    sub.nodes.set(nodeId, 'sent');
    listener.queue.pushNow({ kind: 'subscribe', id: sub.id, selector: sub.selector, options });
  }

  private finish(sub: Subscription, nodeId: NodeId): void {
    sub.nodes.set(nodeId, 'done');
    this.checkComplete(sub);
  }

  /** Not following: once every node finished, the subscriber reads the rest and the end. */
  private checkComplete(sub: Subscription): void {
    if (sub.options.follow) return;
    for (const s of sub.nodes.values()) if (s !== 'done') return;
    sub.queue.end();
  }

  /** A node's `Listen` stream ended: what it had not finished is reported. */
  private nodeLost(nodeId: NodeId): void {
    for (const sub of this.subscriptions.values()) {
      if (sub.nodes.get(nodeId) !== 'sent') continue;
      sub.queue.pushNow({ kind: 'node-error', nodeId, error: 'node disconnected from the leader' });
      if (sub.options.follow) sub.nodes.set(nodeId, 'waiting');
      else this.finish(sub, nodeId);
    }
  }

  private close(sub: Subscription): void {
    if (!this.subscriptions.delete(sub.id)) return;
    sub.queue.abort();
    for (const [nodeId, state] of sub.nodes) {
      if (state === 'sent') this.listeners.get(nodeId)?.queue.pushNow({ kind: 'close', id: sub.id });
    }
  }
}

/** The nodes that have (or had: history) a task of the selector. */
function nodesOf(tx: ReadTx, selector: LogSelector): NodeId[] {
  const tasks =
    'serviceId' in selector
      ? tx.find('task', by.serviceId(selector.serviceId))
      : [tx.get('task', selector.taskId)].filter((t): t is Task => t !== undefined);
  if ('taskId' in selector && tasks.length === 0) throw new NotFoundError('task', selector.taskId);
  return [...new Set(tasks.flatMap((t) => (t.nodeId ? [t.nodeId] : [])))];
}

function callerOf(ctx: CallContext): NodeId {
  if (!ctx.peer) throw new SwarmError('UNAUTHENTICATED', 'the log broker needs a node certificate');
  return ctx.peer.nodeId as NodeId;
}

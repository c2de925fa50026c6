import {
  abortableDelay,
  type Clock,
  type Component,
  DisposableStore,
  Emitter,
  errorMessage,
  type Logger,
  SwarmError,
} from '../../common/index.js';
import { type ChannelCredentials, createClient, type Handlers } from '../../rpc/index.js';
import type { Message, NodeId, Transport, TransportReport, TransportSubscription } from '../types.js';
import { Notifier } from './notifier.js';
import {
  enqueue,
  newPeer,
  type Peer,
  resolveCommitDelay,
  stopPeer,
  takeBatch,
  waitsForCommits,
} from './peer.js';
import { RaftService, type RaftServiceMethods, type SnapshotFrame } from './service.js';

export interface GrpcTransportOptions {
  /** Messages waiting for one peer before new ones are dropped (Raft retries). @default 4096 */
  maxQueuedMessages?: number;
  /** Upper bound of one batch frame in bytes (approximate, by entry payload). @default 4 MiB */
  maxBatchBytes?: number;
  /** Snapshot chunk size on the bulk channel. @default 1 MiB */
  snapshotChunkBytes?: number;
  /** Reconnect backoff after a stream fails. @default 50..2000 ms */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /**
   * HTTP/2 window this member grants each peer's stream of messages to it (connection and
   * stream). The default 64 KiB made a leader's large append batches wait for window updates
   * from a busy follower. @default 8 MiB
   */
  receiveWindowBytes?: number;
  /**
   * How long messages may wait for a peer that does not pull (it does not know our address yet,
   * or runs a version without `Pull`) before we push them to it instead. @default 1000 ms
   */
  pushAfterMs?: number;
  /**
   * How this member receives: `pull` dials each peer's `Pull` (its own window, above); `push`
   * leaves it to the peers, which then push on `Send` without waiting (pushAfterMs is 0). Both
   * serve both, so a cluster may mix them. `push` stays the default: in interleaved c=1024
   * benchmarks `pull` used more member CPU per write (docs/raft-core.md). @default 'push'
   */
  receive?: 'pull' | 'push';
  /**
   * How long an append without entries (the leader's commit-index broadcast after each commit)
   * may wait for the next message to the same peer, which it then travels with. At low
   * concurrency the broadcast and its acknowledgements otherwise take the leader's CPU just as
   * the client's response should leave; a follower learns the commit index at most this much
   * later. Not held for a peer that forwarded a proposal or a read in the last second (its
   * clients wait for that commit index). 0 sends it at once. @default 2
   */
  commitDelayMs?: number;
}

export interface GrpcTransportDeps {
  self: NodeId;
  clock: Clock;
  logger: Logger;
  /** Client credentials for dialling peers (mutual TLS in production). */
  credentials: () => ChannelCredentials;
  channelOptions?: Record<string, string | number>;
}

/**
 * Raft messages over gRPC streams, one per pair and direction, each carrying batches (everything
 * queued since the last write). A member receives either by pulling (it dials each peer's `Pull`,
 * so it sets the HTTP/2 window it grants) or by letting its peers push on `Send` (see
 * `receive`); a sender serves a pull when one comes and pushes otherwise. Back-pressure comes from
 * HTTP/2 flow control, a bounded queue drops on overload, and snapshots are pushed on their own
 * connection.
 */
export class GrpcTransport implements Transport, Component {
  readonly name = 'raft-transport';
  private readonly peers = new Map<NodeId, Peer>();
  private readonly inbound = new Emitter<Message>();
  private readonly reports = new Emitter<TransportReport>();
  /** A peer was added or the transport stopped: a `Pull` from an unknown peer waits on it. */
  private readonly peersChanged = new Notifier();
  private readonly stopped = new AbortController();
  private signal: AbortSignal | undefined;
  private readonly running: Promise<void>[] = [];
  private readonly o: Required<GrpcTransportOptions>;

  constructor(
    private readonly deps: GrpcTransportDeps,
    options: GrpcTransportOptions = {},
  ) {
    this.o = {
      maxQueuedMessages: options.maxQueuedMessages ?? 4096,
      maxBatchBytes: options.maxBatchBytes ?? 4 * 1024 * 1024,
      snapshotChunkBytes: options.snapshotChunkBytes ?? 1024 * 1024,
      minBackoffMs: options.minBackoffMs ?? 50,
      maxBackoffMs: options.maxBackoffMs ?? 2000,
      receiveWindowBytes: options.receiveWindowBytes ?? 8 * 1024 * 1024,
      pushAfterMs: options.pushAfterMs ?? (options.receive === 'pull' ? 1000 : 0),
      receive: options.receive ?? 'push',
      commitDelayMs: resolveCommitDelay(options.commitDelayMs),
    };
  }

  onMessage(handler: (message: Message) => void): TransportSubscription {
    return this.inbound.event(handler);
  }

  onReport(handler: (report: TransportReport) => void): TransportSubscription {
    return this.reports.event(handler);
  }

  /** Adds or re-addresses a peer. */
  setPeer(id: NodeId, address: string): void {
    const existing = this.peers.get(id);
    if (existing?.address === address) return;
    if (existing) this.removePeer(id);
    const peer = newPeer(id, address);
    this.peers.set(id, peer);
    this.peersChanged.notify();
    if (this.signal) this.startPeer(peer, this.signal);
  }

  removePeer(id: NodeId): void {
    const peer = this.peers.get(id);
    if (!peer) return;
    this.peers.delete(id);
    stopPeer(peer);
  }

  /** Messages waiting for `peer` (observability; bounded by maxQueuedMessages). */
  queued(peer: NodeId): number {
    return this.peers.get(peer)?.queue.length ?? 0;
  }

  send(messages: readonly Message[]): void {
    for (const m of messages) {
      const peer = this.peers.get(m.to);
      if (!peer) continue;
      if (m.type === 'snapshot') {
        peer.snapshots.push(m);
        peer.snapshotQueued.notify();
      } else if (peer.queue.length < this.o.maxQueuedMessages) {
        enqueue(peer, m, this.deps.clock, this.o.commitDelayMs);
      }
    }
  }

  private receive(m: Message): void {
    if (m.type === 'propose' || m.type === 'read-index') {
      const peer = this.peers.get(m.from);
      if (peer) waitsForCommits(peer, this.deps.clock);
    }
    this.inbound.fire(m);
  }

  /** Server side, registered by the manager on its inter-node listener with its authorizer. */
  handlers(): Handlers<RaftServiceMethods> {
    return {
      Pull: (request, ctx) => this.outlet(request.to, ctx.peer?.nodeId, ctx.signal),
      Send: async (batches) => {
        for await (const batch of batches)
          for (const m of batch) if (m.to === this.deps.self) this.receive(m);
        return { ok: true };
      },
      Snapshot: async (frames) => {
        let header: SnapshotFrame['header'];
        const parts: Uint8Array[] = [];
        let received = 0;
        for await (const f of frames) {
          header ??= f.header;
          parts.push(f.data);
          received += f.data.length;
        }
        if (!header || received !== header.totalBytes) {
          throw new SwarmError(
            'INVALID_ARGUMENT',
            `incomplete snapshot: ${received} of ${header?.totalBytes ?? '?'} bytes`,
          );
        }
        if (header.to === this.deps.self) {
          const data = Buffer.concat(parts);
          this.inbound.fire({
            type: 'snapshot',
            from: header.from,
            to: header.to,
            term: header.term,
            snapshot: { meta: header.meta, data },
          });
        }
        return { ok: true };
      },
    };
  }

  async run(signal: AbortSignal): Promise<void> {
    this.signal = signal;
    const store = new DisposableStore();
    try {
      for (const peer of this.peers.values()) this.startPeer(peer, signal);
      if (!signal.aborted)
        await new Promise<void>((r) => signal.addEventListener('abort', () => r(), { once: true }));
      this.stopped.abort();
      this.peersChanged.notify();
      for (const peer of this.peers.values()) stopPeer(peer);
      await Promise.allSettled(this.running);
    } finally {
      store.dispose();
      this.inbound.dispose();
      this.reports.dispose();
    }
  }

  private startPeer(peer: Peer, signal: AbortSignal): void {
    const stop = AbortSignal.any([signal, peer.stop.signal]);
    if (this.o.receive === 'pull') this.running.push(this.pullFrom(peer, stop));
    this.running.push(this.pushTo(peer, stop), this.pumpSnapshots(peer, stop));
  }

  /**
   * Server side of `Pull`: streams the messages queued for peer `to` until the caller goes away,
   * the transport stops, or the same peer pulls again (its newer call takes over the queue). The
   * first batch is empty and tells the caller the stream is up.
   */
  private async *outlet(
    to: NodeId,
    caller: string | undefined,
    signal: AbortSignal,
  ): AsyncIterable<Message[]> {
    // With mutual TLS, a member pulls only its own messages (the certificate's node ID is its Raft ID).
    if (caller !== undefined && caller !== to)
      throw new SwarmError('PERMISSION_DENIED', `node ${caller} cannot pull the raft messages of ${to}`);
    const stop = AbortSignal.any([signal, this.stopped.signal]);
    let peer = this.peers.get(to);
    // One listener per call (not per wait) wakes the loops below when the caller goes away.
    const wake = (): void => {
      this.peersChanged.notify();
      peer?.work.notify();
    };
    stop.addEventListener('abort', wake, { once: true });
    try {
      while (!peer && !stop.aborted) {
        await this.peersChanged.wait();
        peer = this.peers.get(to);
      }
      if (!peer || stop.aborted) return;
      yield* this.drain(peer, stop);
    } finally {
      stop.removeEventListener('abort', wake);
    }
  }

  private async *drain(peer: Peer, stop: AbortSignal): AsyncIterable<Message[]> {
    const token = {};
    peer.outlet = token;
    peer.work.notify();
    peer.outletChanged.notify();
    try {
      yield [];
      // Messages keep their order across the switch: a push session under way delivers and ends first.
      if (peer.pushing) await this.settledOrTimeout(peer.pushing, stop);
      while (!stop.aborted && peer.outlet === token && this.peers.get(peer.id) === peer) {
        if (peer.queue.length === 0) await peer.work.wait();
        else yield takeBatch(peer, this.o.maxBatchBytes);
      }
    } finally {
      if (peer.outlet === token) {
        peer.outlet = undefined;
        peer.outletChanged.notify();
      }
    }
  }

  private async settledOrTimeout(p: Promise<void>, signal: AbortSignal): Promise<void> {
    const timer = new AbortController();
    await Promise.race([p, abortableDelay(this.deps.clock, 5000, AbortSignal.any([signal, timer.signal]))]);
    timer.abort();
  }

  /**
   * The fallback: pushes queued messages on a `Send` stream while the peer has not pulled them for
   * `pushAfterMs`, and hands over (ending the session once all it sent was delivered) when it does.
   */
  private async pushTo(peer: Peer, signal: AbortSignal): Promise<void> {
    let failures = 0;
    while (!signal.aborted) {
      if (peer.outlet) await peer.outletChanged.wait();
      else if (peer.queue.length === 0) await peer.work.wait();
      else {
        if (this.o.pushAfterMs > 0) await abortableDelay(this.deps.clock, this.o.pushAfterMs, signal);
        if (peer.outlet || peer.queue.length === 0 || signal.aborted) continue;
        const client = createClient(
          RaftService,
          peer.address,
          this.deps.credentials(),
          this.deps.channelOptions,
        );
        let finished = (): void => {};
        peer.pushing = new Promise((r) => {
          finished = r;
        });
        try {
          const stream = client.call.Send({ signal });
          let closed = false;
          void stream.closed.then(() => {
            closed = true;
            peer.work.notify();
          });
          while (!signal.aborted && !peer.outlet) {
            if (closed)
              throw new SwarmError('UNAVAILABLE', 'raft stream closed by peer', { retryable: true });
            if (peer.queue.length === 0) await peer.work.wait();
            else await stream.write(takeBatch(peer, this.o.maxBatchBytes));
          }
          if (signal.aborted) stream.cancel();
          else await stream.end();
          failures = 0;
        } catch (e) {
          failures++;
          await this.backOff(peer, failures, 'raft push to peer failed', e, signal);
        } finally {
          client.close();
          peer.pushing = undefined;
          finished();
        }
      }
    }
  }

  /**
   * After a failed stream with `peer` (either direction): drop what waits for it, report it
   * unreachable, log the first failure of a run, and wait the exponential backoff.
   */
  private async backOff(
    peer: Peer,
    failures: number,
    what: string,
    e: unknown,
    signal: AbortSignal,
  ): Promise<void> {
    // The peer cannot reach us either, as a rule: what waits for it is stale by the time it is back.
    peer.queue.length = 0;
    this.reports.fire({ kind: 'unreachable', peer: peer.id });
    if (failures === 1) this.deps.logger.debug(what, { 'peer.id': peer.id, error: errorMessage(e) });
    await abortableDelay(
      this.deps.clock,
      Math.min(this.o.maxBackoffMs, this.o.minBackoffMs * 2 ** failures),
      signal,
    );
  }

  /** Client side of `Pull`: receives what `peer` has for us, reconnecting with backoff. */
  private async pullFrom(peer: Peer, signal: AbortSignal): Promise<void> {
    const self = this.deps.self;
    let failures = 0;
    while (!signal.aborted) {
      const client = createClient(RaftService, peer.address, this.deps.credentials(), {
        ...this.deps.channelOptions,
        'grpc-node.flow_control_window': this.o.receiveWindowBytes,
      });
      try {
        for await (const batch of client.call.Pull({ to: self }, { signal })) {
          failures = 0;
          for (const m of batch) if (m.to === self) this.receive(m);
        }
        if (!signal.aborted)
          throw new SwarmError('UNAVAILABLE', 'raft stream closed by peer', { retryable: true });
      } catch (e) {
        if (signal.aborted) break;
        failures++;
        await this.backOff(peer, failures, 'raft stream from peer failed', e, signal);
      } finally {
        client.close();
      }
    }
  }

  private async pumpSnapshots(peer: Peer, signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      if (peer.snapshots.length === 0) await peer.snapshotQueued.wait();
      const m = peer.snapshots.shift();
      if (!m || signal.aborted) continue;
      // A separate channel (distinct options => distinct connection) keeps bulk data off the heartbeat path.
      const client = createClient(RaftService, peer.address, this.deps.credentials(), {
        ...this.deps.channelOptions,
        'swarmctl.channel': 'raft-bulk',
      });
      let ok = false;
      try {
        const call = client.call.Snapshot({ signal });
        const data = m.snapshot.data;
        const size = this.o.snapshotChunkBytes;
        const header = {
          from: m.from,
          to: m.to,
          term: m.term,
          meta: m.snapshot.meta,
          totalBytes: data.length,
        };
        await call.write({ header, data: data.subarray(0, size) });
        for (let off = size; off < data.length; off += size)
          await call.write({ data: data.subarray(off, off + size) });
        ok = (await call.end()).ok;
      } catch (e) {
        this.deps.logger.warn('raft snapshot to peer failed', { 'peer.id': peer.id, error: errorMessage(e) });
      } finally {
        client.close();
      }
      this.reports.fire({ kind: 'snapshot', peer: peer.id, ok });
    }
  }
}

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
import type {
  Message,
  NodeId,
  SnapshotMessage,
  Transport,
  TransportReport,
  TransportSubscription,
} from '../types.js';
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
}

export interface GrpcTransportDeps {
  self: NodeId;
  clock: Clock;
  logger: Logger;
  /** Client credentials for dialling peers (mutual TLS in production). */
  credentials: () => ChannelCredentials;
  channelOptions?: Record<string, string | number>;
}

interface Peer {
  id: NodeId;
  address: string;
  queue: Message[];
  snapshots: SnapshotMessage[];
  wake: (() => void) | undefined;
  stop: AbortController;
}

function approxSize(m: Message): number {
  if (m.type === 'append') return 64 + m.entries.reduce((n, e) => n + e.data.length + 24, 0);
  if (m.type === 'propose') return 64 + m.entries.reduce((n, e) => n + e.data.length + 8, 0);
  return 64;
}

/**
 * Raft messages over gRPC streams: one outbound stream per peer carrying batches (everything
 * queued since the last write goes in one frame), back-pressure from HTTP/2 flow control, a
 * bounded queue that drops on overload, and snapshots on their own connection.
 */
export class GrpcTransport implements Transport, Component {
  readonly name = 'raft-transport';
  private readonly peers = new Map<NodeId, Peer>();
  private readonly inbound = new Emitter<Message>();
  private readonly reports = new Emitter<TransportReport>();
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
    const peer: Peer = {
      id,
      address,
      queue: [],
      snapshots: [],
      wake: undefined,
      stop: new AbortController(),
    };
    this.peers.set(id, peer);
    if (this.signal) this.startPeer(peer, this.signal);
  }

  removePeer(id: NodeId): void {
    const peer = this.peers.get(id);
    if (!peer) return;
    this.peers.delete(id);
    peer.stop.abort();
    peer.wake?.();
  }

  /** Messages waiting for `peer` (observability; bounded by maxQueuedMessages). */
  queued(peer: NodeId): number {
    return this.peers.get(peer)?.queue.length ?? 0;
  }

  send(messages: readonly Message[]): void {
    for (const m of messages) {
      const peer = this.peers.get(m.to);
      if (!peer) continue;
      if (m.type === 'snapshot') peer.snapshots.push(m);
      else if (peer.queue.length < this.o.maxQueuedMessages) peer.queue.push(m);
      else continue;
      peer.wake?.();
    }
  }

  /** Server side, registered by the manager on its inter-node listener with its authorizer. */
  handlers(): Handlers<RaftServiceMethods> {
    return {
      Send: async (batches) => {
        for await (const batch of batches)
          for (const m of batch) if (m.to === this.deps.self) this.inbound.fire(m);
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
      for (const peer of this.peers.values()) {
        peer.stop.abort();
        peer.wake?.();
      }
      await Promise.allSettled(this.running);
    } finally {
      store.dispose();
      this.inbound.dispose();
      this.reports.dispose();
    }
  }

  private startPeer(peer: Peer, signal: AbortSignal): void {
    const stop = AbortSignal.any([signal, peer.stop.signal]);
    this.running.push(this.pumpMessages(peer, stop), this.pumpSnapshots(peer, stop));
  }

  private waitForWork(peer: Peer, has: () => boolean, signal: AbortSignal): Promise<void> {
    if (has() || signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const prev = peer.wake;
      peer.wake = () => {
        peer.wake = undefined;
        prev?.();
        resolve();
      };
    });
  }

  private async pumpMessages(peer: Peer, signal: AbortSignal): Promise<void> {
    const log = this.deps.logger.child({ 'peer.id': peer.id });
    let failures = 0;
    while (!signal.aborted) {
      await this.waitForWork(peer, () => peer.queue.length > 0, signal);
      if (signal.aborted) break;
      const client = createClient(
        RaftService,
        peer.address,
        this.deps.credentials(),
        this.deps.channelOptions,
      );
      const stream = client.call.Send({ signal });
      let closed = false;
      void stream.closed.then(() => {
        closed = true;
        peer.wake?.();
      });
      try {
        while (!signal.aborted) {
          await this.waitForWork(peer, () => peer.queue.length > 0 || closed, signal);
          if (signal.aborted) break;
          if (closed) throw new SwarmError('UNAVAILABLE', 'raft stream closed by peer', { retryable: true });
          await stream.write(this.takeBatch(peer));
          failures = 0;
        }
        stream.cancel();
      } catch (e) {
        failures++;
        peer.queue.length = 0;
        this.reports.fire({ kind: 'unreachable', peer: peer.id });
        if (failures === 1) log.debug('raft stream to peer failed', { error: errorMessage(e) });
        await abortableDelay(
          this.deps.clock,
          Math.min(this.o.maxBackoffMs, this.o.minBackoffMs * 2 ** failures),
          signal,
        );
      } finally {
        client.close();
      }
    }
  }

  private takeBatch(peer: Peer): Message[] {
    let bytes = 0;
    let n = 0;
    while (n < peer.queue.length && (n === 0 || bytes + approxSize(peer.queue[n]!) <= this.o.maxBatchBytes)) {
      bytes += approxSize(peer.queue[n]!);
      n++;
    }
    return peer.queue.splice(0, n);
  }

  private async pumpSnapshots(peer: Peer, signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      await this.waitForWork(peer, () => peer.snapshots.length > 0, signal);
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

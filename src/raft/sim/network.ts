/**
 * A seeded, simulated network over the event queue: every message is delivered, dropped,
 * duplicated or held back by decisions drawn from one PRNG, so a seed replays exactly.
 * Partitions cut directed links; a paused node's inbound messages wait until it resumes.
 */
import type { Random } from '../../common/index.js';
import { InvalidArgumentError } from '../../common/index.js';
import type { EventQueue } from './event-queue.js';

export interface NetworkConfig {
  /** One-way latency is base + uniform [0, jitter): jitter alone reorders messages. */
  readonly baseLatencyMs: number;
  readonly jitterMs: number;
  readonly dropRate: number;
  readonly duplicateRate: number;
  /** Probability that a message is held back much longer than usual (reordering across rounds). */
  readonly delayRate: number;
  readonly maxDelayMs: number;
}

export const CALM_NETWORK: NetworkConfig = {
  baseLatencyMs: 1,
  jitterMs: 2,
  dropRate: 0,
  duplicateRate: 0,
  delayRate: 0,
  maxDelayMs: 0,
};

export type PartitionKind = 'symmetric' | 'one-way' | 'bridge';

export interface NetworkStats {
  sent: number;
  delivered: number;
  dropped: number;
  droppedByPartition: number;
  droppedNodeDown: number;
  duplicated: number;
  delayed: number;
  heldWhilePaused: number;
  partitions: Record<PartitionKind, number>;
  heals: number;
  pauses: number;
}

export type Deliver<M> = (from: string, to: string, message: M) => void;

export class SimNetwork<M> {
  private config: NetworkConfig;
  /** Directed links that are cut, as "from->to". */
  private readonly cut = new Set<string>();
  private readonly down = new Set<string>();
  private readonly pausedUntil = new Map<string, number>();
  private readonly backlog = new Map<string, { from: string; message: M }[]>();
  readonly stats: NetworkStats = {
    sent: 0,
    delivered: 0,
    dropped: 0,
    droppedByPartition: 0,
    droppedNodeDown: 0,
    duplicated: 0,
    delayed: 0,
    heldWhilePaused: 0,
    partitions: { symmetric: 0, 'one-way': 0, bridge: 0 },
    heals: 0,
    pauses: 0,
  };

  constructor(
    private readonly queue: EventQueue,
    private readonly rng: Random,
    config: NetworkConfig,
    private readonly deliver: Deliver<M>,
  ) {
    this.config = validate(config);
  }

  setConfig(config: NetworkConfig): void {
    this.config = validate(config);
  }

  send(from: string, to: string, message: M): void {
    this.stats.sent++;
    if (this.blocked(from, to)) {
      this.stats.droppedByPartition++;
      return;
    }
    const c = this.config;
    if (c.dropRate > 0 && this.rng.next() < c.dropRate) {
      this.stats.dropped++;
      return;
    }
    const copies = c.duplicateRate > 0 && this.rng.next() < c.duplicateRate ? 2 : 1;
    if (copies === 2) this.stats.duplicated++;
    for (let i = 0; i < copies; i++) {
      let latency = c.baseLatencyMs + (c.jitterMs > 0 ? this.rng.next() * c.jitterMs : 0);
      if (c.delayRate > 0 && this.rng.next() < c.delayRate) {
        this.stats.delayed++;
        latency += this.rng.next() * c.maxDelayMs;
      }
      this.queue.schedule(latency, 'net', () => this.arrive(from, to, message));
    }
  }

  /** Cuts links between the two sides: both ways, or only from `a` to `b` for 'one-way'. */
  partition(kind: 'symmetric' | 'one-way', a: readonly string[], b: readonly string[]): void;
  /** Cuts `a` from `b` both ways except through `bridge`, which still reaches everyone. */
  partition(kind: 'bridge', a: readonly string[], b: readonly string[], bridge: string): void;
  partition(kind: PartitionKind, a: readonly string[], b: readonly string[], bridge?: string): void {
    if (kind === 'bridge' && bridge === undefined) {
      throw new InvalidArgumentError('bridge', 'a bridge partition needs the bridging node');
    }
    this.stats.partitions[kind]++;
    for (const x of a) {
      for (const y of b) {
        if (x === y || x === bridge || y === bridge) continue;
        this.cut.add(`${x}->${y}`);
        if (kind !== 'one-way') this.cut.add(`${y}->${x}`);
      }
    }
  }

  heal(): void {
    if (this.cut.size > 0) this.stats.heals++;
    this.cut.clear();
  }

  isPartitioned(): boolean {
    return this.cut.size > 0;
  }

  blocked(from: string, to: string): boolean {
    return this.cut.has(`${from}->${to}`);
  }

  /** A crashed node: messages arriving while it is down are lost. */
  setDown(node: string, isDown: boolean): void {
    if (isDown) {
      this.down.add(node);
      this.backlog.delete(node);
      this.pausedUntil.delete(node);
    } else {
      this.down.delete(node);
    }
  }

  /** The node stops processing for `ms` (a GC pause or SIGSTOP); its inbox is delivered afterwards. */
  pause(node: string, ms: number): void {
    if (this.down.has(node)) return;
    this.stats.pauses++;
    const until = Math.max(this.pausedUntil.get(node) ?? 0, this.queue.now + ms);
    this.pausedUntil.set(node, until);
    this.queue.schedule(until - this.queue.now, 'resume', () => this.resume(node, until));
  }

  isPaused(node: string): boolean {
    return this.pausedUntil.has(node);
  }

  private resume(node: string, until: number): void {
    if (this.pausedUntil.get(node) !== until) return; // extended by a later pause, or crashed
    this.pausedUntil.delete(node);
    const held = this.backlog.get(node) ?? [];
    this.backlog.delete(node);
    for (const m of held) this.queue.schedule(0, 'net', () => this.arrive(m.from, node, m.message));
  }

  private arrive(from: string, to: string, message: M): void {
    if (this.down.has(to)) {
      this.stats.droppedNodeDown++;
      return;
    }
    if (this.blocked(from, to)) {
      this.stats.droppedByPartition++;
      return;
    }
    if (this.pausedUntil.has(to)) {
      this.stats.heldWhilePaused++;
      let list = this.backlog.get(to);
      if (!list) {
        list = [];
        this.backlog.set(to, list);
      }
      list.push({ from, message });
      return;
    }
    this.stats.delivered++;
    this.deliver(from, to, message);
  }
}

function validate(c: NetworkConfig): NetworkConfig {
  for (const field of ['dropRate', 'duplicateRate', 'delayRate'] as const) {
    const v = c[field];
    if (!(v >= 0 && v <= 1)) throw new InvalidArgumentError(field, `${field} must be in [0, 1], got ${v}`);
  }
  for (const field of ['baseLatencyMs', 'jitterMs', 'maxDelayMs'] as const) {
    const v = c[field];
    if (!(v >= 0 && Number.isFinite(v))) {
      throw new InvalidArgumentError(field, `${field} must be a finite non-negative number, got ${v}`);
    }
  }
  return c;
}

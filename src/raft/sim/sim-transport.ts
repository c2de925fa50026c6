/**
 * One node incarnation's Transport over the simulated network, and the per-incarnation clock.
 * Both go silent when the incarnation dies; while the node is paused its timers and outgoing
 * messages wait (the inbound side is held by the network).
 */
import type { Clock } from '../../common/index.js';
import type { Message, NodeId, Transport, TransportReport, TransportSubscription } from '../types.js';
import type { EventQueue } from './event-queue.js';
import type { SimNetwork } from './network.js';
import type { ClientRequest, ClientResponse } from './workload.js';

export type Wire = { readonly kind: 'raft'; readonly message: Message } | ClientRequest | ClientResponse;

/** Liveness of one incarnation, shared by its clock and transport. */
export class Incarnation {
  dead = false;
  pausedUntil = 0;
  private readonly onResume: (() => void)[] = [];
  /** Local clock rate: 1.25 = its timers fire and its time passes 25% faster than simulated time. */
  private rate = 1;
  /** (simulated, local) time when the rate last changed. */
  private anchor = { sim: 0, local: 0 };

  constructor(
    readonly id: NodeId,
    readonly number: number,
    private readonly queue: EventQueue,
    rate = 1,
  ) {
    this.anchor = { sim: queue.now, local: queue.now };
    this.rate = rate;
  }

  /** Changes the clock rate from now on; timers already set keep their deadline. */
  setClockRate(rate: number): void {
    this.anchor = { sim: this.queue.now, local: this.localNow() };
    this.rate = rate;
  }

  private localNow(): number {
    return this.anchor.local + (this.queue.now - this.anchor.sim) * this.rate;
  }

  paused(): boolean {
    return this.queue.now < this.pausedUntil;
  }

  pause(ms: number): void {
    const until = Math.max(this.pausedUntil, this.queue.now + ms);
    this.pausedUntil = until;
    this.queue.schedule(until - this.queue.now, 'resume', () => {
      if (this.pausedUntil !== until || this.dead) return;
      for (const fn of this.onResume.splice(0)) fn();
    });
  }

  /** Runs `fn` now, or when the pause ends; never after death. */
  whenRunning(fn: () => void): void {
    if (this.dead) return;
    if (this.paused()) this.onResume.push(fn);
    else fn();
  }

  /** The node's own clock: it runs at the incarnation's rate (clock-rate skew). */
  clock(): Clock {
    return {
      now: () => this.localNow(),
      monotonic: () => this.localNow(),
      setTimer: (ms, fn) => {
        let cancelled = false;
        const cancel = this.queue.schedule(ms / this.rate, 'timer', () => {
          this.whenRunning(() => {
            if (!cancelled) fn();
          });
        });
        return () => {
          cancelled = true;
          cancel();
        };
      },
    };
  }
}

export class SimTransport implements Transport {
  private readonly handlers = new Set<(m: Message) => void>();
  private readonly reporters = new Set<(r: TransportReport) => void>();
  sent = 0;
  snapshotsSent = 0;

  constructor(
    private readonly life: Incarnation,
    private readonly queue: EventQueue,
    private readonly network: SimNetwork<Wire>,
  ) {}

  send(messages: readonly Message[]): void {
    const batch = [...messages];
    this.life.whenRunning(() => {
      for (const m of batch) {
        this.sent++;
        this.network.send(this.life.id, m.to, { kind: 'raft', message: m });
        if (m.type === 'snapshot') {
          this.snapshotsSent++;
          // Streams report the outcome of a snapshot send; here: whether the link was open.
          const ok = !this.network.blocked(this.life.id, m.to);
          this.queue.schedule(5, 'snapshot-report', () =>
            this.life.whenRunning(() => {
              for (const r of this.reporters) r({ kind: 'snapshot', peer: m.to, ok });
            }),
          );
        }
      }
    });
  }

  onMessage(handler: (message: Message) => void): TransportSubscription {
    this.handlers.add(handler);
    return { dispose: () => this.handlers.delete(handler) };
  }

  onReport(handler: (report: TransportReport) => void): TransportSubscription {
    this.reporters.add(handler);
    return { dispose: () => this.reporters.delete(handler) };
  }

  /** A message arrived from the network for this node. */
  deliver(message: Message): void {
    if (this.life.dead) return;
    for (const h of this.handlers) h(message);
  }
}

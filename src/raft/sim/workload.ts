/**
 * Simulated clients: each has at most one operation outstanding on a small key space, sends it to
 * some node over the simulated network, retries on errors and timeouts with the same session
 * number (so the state machine can drop duplicates), and records the history the linearizability
 * checker reads.
 */
import type { Random } from '../../common/index.js';
import type { NodeId } from '../types.js';
import type { EventQueue } from './event-queue.js';
import type { KvInput, KvOutput } from './kv-model.js';
import type { Operation } from './linearizability.js';

export interface ClientRequest {
  readonly kind: 'request';
  readonly clientId: string;
  readonly seq: number;
  readonly input: KvInput;
}

export type ClientResponse =
  | { readonly kind: 'response'; readonly seq: number; readonly ok: true; readonly output: KvOutput }
  | {
      readonly kind: 'response';
      readonly seq: number;
      readonly ok: false;
      /** Retry elsewhere; `leader` is a hint. `definite` means the command was surely not proposed. */
      readonly leader: NodeId | null;
      readonly definite: boolean;
    };

export interface WorkloadConfig {
  readonly clients: number;
  readonly keys: number;
  /** A single attempt is abandoned (and retried elsewhere) after this long without an answer. */
  readonly attemptTimeoutMs: number;
  /** The operation is given up (outcome unknown) after this long. */
  readonly opTimeoutMs: number;
  /** Pause between a client's operations, uniform in [0, thinkMs). */
  readonly thinkMs: number;
}

export interface WorkloadStats {
  ops: number;
  ok: number;
  unknown: number;
  failed: number;
  attempts: number;
  latencies: number[];
}

export type KvOperation = Operation<KvInput, KvOutput>;

interface InFlight {
  readonly op: { id: number; input: KvInput; call: number };
  readonly seq: number;
  attempt: number;
  /** Every attempt was refused before proposing: the op certainly had no effect. */
  allDefinite: boolean;
  cancelAttempt: () => void;
  cancelOp: () => void;
}

export class Workload {
  readonly history: KvOperation[] = [];
  readonly stats: WorkloadStats = { ops: 0, ok: 0, unknown: 0, failed: 0, attempts: 0, latencies: [] };
  private readonly inFlight = new Map<string, InFlight>();
  private readonly lastSeen = new Map<string, string | null>();
  private readonly leaderHint = new Map<string, NodeId | null>();
  private nextOpId = 0;
  private seqs = new Map<string, number>();
  private stopped = false;

  constructor(
    private readonly queue: EventQueue,
    private readonly rng: Random,
    private readonly config: WorkloadConfig,
    /** Current node ids that clients may contact. */
    private readonly nodes: () => readonly NodeId[],
    private readonly send: (from: string, to: NodeId, request: ClientRequest) => void,
  ) {}

  clientIds(): string[] {
    return Array.from({ length: this.config.clients }, (_, i) => `client-${i}`);
  }

  start(): void {
    for (const c of this.clientIds())
      this.queue.schedule(this.rng.next() * this.config.thinkMs, 'client', () => this.begin(c));
  }

  /** No new operations; those in flight finish or time out. */
  stop(): void {
    this.stopped = true;
  }

  get outstanding(): number {
    return this.inFlight.size;
  }

  private begin(client: string): void {
    if (this.stopped) return;
    const seq = (this.seqs.get(client) ?? 0) + 1;
    this.seqs.set(client, seq);
    const input = this.nextInput(client, seq);
    const op = { id: this.nextOpId++, input, call: this.queue.now };
    this.stats.ops++;
    const f: InFlight = {
      op,
      seq,
      attempt: 0,
      allDefinite: true,
      cancelAttempt: () => {},
      cancelOp: () => {},
    };
    f.cancelOp = this.queue.schedule(this.config.opTimeoutMs, 'client-timeout', () => this.giveUp(client, f));
    this.inFlight.set(client, f);
    this.attempt(client, f);
  }

  private nextInput(client: string, seq: number): KvInput {
    const key = `k${this.rng.int(0, this.config.keys)}`;
    const value = `${client.slice('client-'.length)}.${seq}`;
    const r = this.rng.next();
    if (r < 0.3) return { kind: 'put', key, value };
    if (r < 0.6) return { kind: 'get', key };
    if (r < 0.9) {
      // Expect what this client last saw (often stale under contention, so both CAS results occur).
      const expected = this.rng.next() < 0.2 ? null : (this.lastSeen.get(key) ?? null);
      return { kind: 'cas', key, expected, value };
    }
    return { kind: 'delete', key };
  }

  private attempt(client: string, f: InFlight): void {
    f.attempt++;
    this.stats.attempts++;
    const nodes = this.nodes();
    const hint = this.leaderHint.get(client);
    const target =
      hint && nodes.includes(hint) && f.attempt % 3 !== 0 ? hint : nodes[this.rng.int(0, nodes.length)]!;
    const attempt = f.attempt;
    f.cancelAttempt = this.queue.schedule(this.config.attemptTimeoutMs, 'client-retry', () => {
      if (this.inFlight.get(client) !== f || f.attempt !== attempt) return;
      f.allDefinite = false;
      this.leaderHint.set(client, null);
      this.attempt(client, f);
    });
    this.send(client, target, { kind: 'request', clientId: client, seq: f.seq, input: f.op.input });
  }

  /** A node answered (maybe late, maybe twice: the network duplicates). */
  onResponse(client: string, from: NodeId, response: ClientResponse): void {
    const f = this.inFlight.get(client);
    if (!f || f.seq !== response.seq) return;
    if (response.ok) {
      this.leaderHint.set(client, from);
      this.finish(client, f, { outcome: 'ok', output: response.output });
      return;
    }
    if (!response.definite) f.allDefinite = false;
    this.leaderHint.set(client, response.leader);
    f.cancelAttempt();
    const attempt = f.attempt;
    // Back off a little so a leaderless cluster is not hammered.
    this.queue.schedule(5 + this.rng.next() * 20, 'client-retry', () => {
      if (this.inFlight.get(client) === f && f.attempt === attempt) this.attempt(client, f);
    });
  }

  private giveUp(client: string, f: InFlight): void {
    if (this.inFlight.get(client) !== f) return;
    this.finish(client, f, { outcome: f.allDefinite ? 'fail' : 'unknown' });
  }

  private finish(
    client: string,
    f: InFlight,
    result: { outcome: 'ok'; output: KvOutput } | { outcome: 'unknown' | 'fail' },
  ): void {
    f.cancelAttempt();
    f.cancelOp();
    this.inFlight.delete(client);
    const now = this.queue.now;
    const base = { id: f.op.id, client, input: f.op.input, call: f.op.call };
    if (result.outcome === 'ok') {
      this.stats.ok++;
      this.stats.latencies.push(now - f.op.call);
      this.history.push({ ...base, outcome: 'ok', return: now, output: result.output });
      if (result.output.kind === 'get') this.lastSeen.set(f.op.input.key, result.output.value);
      if (
        f.op.input.kind === 'put' ||
        (f.op.input.kind === 'cas' && result.output.kind === 'cas' && result.output.ok)
      ) {
        this.lastSeen.set(f.op.input.key, f.op.input.value);
      }
    } else if (result.outcome === 'fail') {
      this.stats.failed++;
      this.history.push({ ...base, outcome: 'fail' });
    } else if (f.op.input.kind === 'get') {
      // Unknown to the client, but a read that never answered had no effect: the checker can leave
      // it out rather than widen its search.
      this.stats.unknown++;
      this.history.push({ ...base, outcome: 'fail' });
    } else {
      this.stats.unknown++;
      this.history.push({ ...base, outcome: 'unknown' });
    }
    this.queue.schedule(this.rng.next() * this.config.thinkMs, 'client', () => this.begin(client));
  }
}

/**
 * Starts raft-kv members as separate processes on loopback and talks to them: the harness of the
 * multi-process Raft test and of `npm run bench:raft`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor } from '../../../src/common/index.js';
import { ChannelCredentials, createClient, type RpcClient } from '../../../src/rpc/index.js';
import { KvService, type NodeStatus } from './service.js';

const NODE_ENTRY = join(import.meta.dirname, 'node.ts');

export interface RaftKvOptions {
  dir: string;
  size: number;
  basePort: number;
  tickMs?: number;
  snapshotEvery?: number;
  keep?: number;
  /** gRPC channels per member for the client side (the benchmark opens several). @default 1 */
  channels?: number;
  /** Extra node flags for the member processes (e.g. --cpu-prof for profiling). */
  nodeArgs?: readonly string[];
  /** Extra environment variables for the member processes (A/B variants in benchmarks). */
  env?: Readonly<Record<string, string>>;
  /**
   * The member's entry file: node.ts of another checkout (an A/B), or a compiled bundle
   * (scripts/bench/member-bundle.ts). @default this directory's node.ts
   */
  entry?: string;
}

export interface Member {
  readonly id: string;
  readonly address: string;
  process: ChildProcess | null;
  clients: RpcClient<(typeof KvService)['methods']>[];
}

export class RaftKvCluster {
  readonly members: Member[];
  private rr = 0;

  constructor(private readonly o: RaftKvOptions) {
    this.members = Array.from({ length: o.size }, (_, i) => ({
      id: `n${i + 1}`,
      address: `127.0.0.1:${o.basePort + i}`,
      process: null,
      clients: [],
    }));
  }

  private peersArg(): string {
    return this.members.map((m) => `${m.id}=${m.address}`).join(',');
  }

  /** Starts (or restarts) one member and resolves once it serves. */
  async start(m: Member, bootstrap: boolean): Promise<void> {
    const dir = join(this.o.dir, m.id);
    mkdirSync(dir, { recursive: true });
    const log = openSync(join(this.o.dir, `${m.id}.log`), 'a');
    const entry = this.o.entry ?? NODE_ENTRY;
    const args = [
      ...(this.o.nodeArgs ?? []),
      // A compiled member (benchmarks) runs on plain node.
      ...(entry.endsWith('.ts') ? ['--import', 'tsx'] : []),
      entry,
      `--id=${m.id}`,
      `--dir=${dir}`,
      `--listen=${m.address}`,
      `--peers=${this.peersArg()}`,
      `--tick-ms=${this.o.tickMs ?? 100}`,
      `--snapshot-every=${this.o.snapshotEvery ?? 10_000}`,
      `--keep=${this.o.keep ?? 500}`,
      ...(bootstrap ? ['--bootstrap'] : []),
    ];
    const child = spawn(process.execPath, args, {
      stdio: ['pipe', 'pipe', log],
      ...(this.o.env ? { env: { ...process.env, ...this.o.env } } : {}),
    });
    m.process = child;
    await new Promise<void>((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('ready')) resolve();
      });
      child.once('exit', (code) =>
        reject(new Error(`${m.id} exited with ${code} before it was ready (log: ${this.o.dir}/${m.id}.log)`)),
      );
    });
    if (m.clients.length === 0) {
      m.clients = Array.from({ length: this.o.channels ?? 1 }, (_, k) =>
        createClient(KvService, m.address, ChannelCredentials.createInsecure(), { 'swarmctl.channel': k }),
      );
    }
  }

  async startAll(): Promise<void> {
    await Promise.all(this.members.map((m) => this.start(m, true)));
  }

  /** Kills a member's process with `signal` and waits for it to exit. */
  async kill(m: Member, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const p = m.process;
    m.process = null;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      p.once('exit', () => resolve());
      p.kill(signal);
    });
  }

  client(m: Member): RpcClient<(typeof KvService)['methods']>['call'] {
    return m.clients[this.rr++ % m.clients.length]!.call;
  }

  /**
   * A member's Raft status; with `digest` also a hash of its KV state. Leave that off where
   * a benchmark runs next: hashing the whole state stalls the member and leaves garbage.
   */
  async status(m: Member, digest = false): Promise<NodeStatus> {
    return this.client(m).Status(digest ? { digest } : {}, { timeoutMs: 1000 });
  }

  /** Waits until the live members agree on one leader; returns it. */
  async waitForLeader(timeoutMs = 10_000): Promise<Member> {
    return waitFor(
      async () => {
        const live = this.members.filter((m) => m.process);
        const statuses = await Promise.all(live.map((m) => this.status(m).catch(() => null)));
        const leaders = new Set(statuses.map((s) => s?.leader ?? null));
        const leader = statuses.find((s) => s?.role === 'leader');
        if (leader && leaders.size === 1)
          return { done: true, value: this.members.find((m) => m.id === leader.id)! };
        return {
          done: false,
          state: JSON.stringify(
            statuses.map((s) => s && { id: s.id, role: s.role, leader: s.leader, term: s.term }),
          ),
        };
      },
      { timeoutMs, intervalMs: 50, what: 'one agreed leader' },
    );
  }

  /** Hands leadership to `to` and waits until every live member follows it. */
  async transferLeader(to: Member, timeoutMs = 10_000): Promise<void> {
    await waitFor(
      async () => {
        const leader = await this.waitForLeader(timeoutMs);
        if (leader === to) return { done: true, value: 0 };
        await this.client(leader)
          .TransferLeader({ to: to.id }, { timeoutMs: 1000 })
          .catch(() => undefined);
        return { done: false, state: `leader ${leader.id}` };
      },
      { timeoutMs, intervalMs: 100, what: `leadership moved to ${to.id}` },
    );
  }

  async stop(): Promise<void> {
    for (const m of this.members) for (const c of m.clients) c.close();
    await Promise.all(this.members.map((m) => this.kill(m, 'SIGTERM')));
  }
}

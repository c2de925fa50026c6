import type { MeshState, NetworkId, NodeId, TaskId } from '../../api/index.js';
import type { Clock, Component, Logger, Random } from '../../common/index.js';
import { errorMessage, SerialReconciler } from '../../common/index.js';
import { DnsListener } from './dns-listener.js';
import {
  type DnsServerOptions,
  type ResolvedDnsServerOptions,
  resolveDnsServerOptions,
} from './dns-options.js';
import { buildDnsTable, type DnsTable, EMPTY_DNS_TABLE } from './dns-table.js';
import { Forwarder, type Transport } from './forwarder.js';
import { resolveQuestion } from './resolve.js';
import { resolvConfUpstreams, type Upstream, type UpstreamSource } from './upstreams.js';
import {
  type DnsMessage,
  encodeMessage,
  encodeRcodeOnly,
  OPCODE_QUERY,
  parseMessage,
  RCODE,
  readHeader,
  UDP_CLASSIC_LIMIT,
} from './wire.js';

/** One address the server answers on, for the containers of one network. */
export interface DnsBinding {
  readonly networkId: NetworkId;
  readonly host: string;
  /** @default the server's `port` option */
  readonly port?: number;
}

export interface DnsBindingStatus {
  readonly networkId: NetworkId;
  readonly host: string;
  /** The bound port (the real one for port 0), or the one asked for while not listening. */
  readonly port: number;
  readonly state: 'listening' | 'failed';
  readonly error?: string;
}

export interface DnsServerDeps {
  readonly logger: Logger;
  readonly clock: Clock;
  readonly random: Random;
  /** @default the node namespace's /etc/resolv.conf */
  readonly upstreams?: UpstreamSource;
}

interface BindingEntry {
  readonly binding: DnsBinding;
  readonly listener?: DnsListener;
  readonly error?: string;
}

/** This node's address on every non-ingress network of the mesh, where its containers ask. */
export function meshDnsBindings(mesh: MeshState, nodeId: NodeId, port?: number): DnsBinding[] {
  const ingress = new Set(mesh.networks.filter((n) => n.ingress).map((n) => n.id));
  const me = mesh.nodes.find((n) => n.nodeId === nodeId);
  return (me?.networkAddrs ?? [])
    .filter((a) => !ingress.has(a.networkId))
    .map((a) =>
      port === undefined
        ? { networkId: a.networkId, host: a.addr }
        : { networkId: a.networkId, host: a.addr, port },
    );
}

/**
 * The service resolver of the mesh: answers containers' queries from the latest MeshState and
 * forwards the rest to the node's resolvers. `updateState` swaps the table in one assignment, so
 * a query sees either the old view or the new one, never a mix.
 */
export class DnsServer implements Component {
  readonly name = 'routing-mesh/dns';
  private readonly options: ResolvedDnsServerOptions;
  private readonly forwarder: Forwarder;
  private table: DnsTable = EMPTY_DNS_TABLE;
  private latest: MeshState | undefined;
  private readonly withdrawn = new Set<TaskId>();
  private desired: readonly DnsBinding[] = [];
  private readonly entries = new Map<string, BindingEntry>();
  private readonly loop: SerialReconciler;

  constructor(
    private readonly deps: DnsServerDeps,
    options: DnsServerOptions = {},
  ) {
    this.options = resolveDnsServerOptions(options);
    this.loop = new SerialReconciler({
      clock: deps.clock,
      logger: deps.logger,
      reconcile: () => this.reconcile(),
      retryMs: this.options.bindRetryMs,
      failureMessage: 'dns bindings not reconciled',
    });
    this.forwarder = new Forwarder(
      {
        clock: deps.clock,
        random: deps.random,
        logger: deps.logger,
        upstreams: deps.upstreams ?? resolvConfUpstreams(deps.clock),
        isSelf: (u) => this.isSelf(u),
      },
      { timeoutMs: this.options.upstreamTimeoutMs, maxInFlight: this.options.maxForwarded },
    );
  }

  updateState(mesh: MeshState): void {
    this.latest = mesh;
    // Withdrawals are for tasks about to stop: forget those the leader no longer lists.
    const listed = new Set(mesh.services.flatMap((s) => s.backends.map((b) => b.taskId)));
    for (const t of this.withdrawn) if (!listed.has(t)) this.withdrawn.delete(t);
    this.rebuild();
    const { nodeId } = this.options;
    if (nodeId !== undefined) void this.setBindings(meshDnsBindings(mesh, nodeId));
  }

  /** Stops answering with a task's address now (it is about to be stopped). */
  withdraw(taskId: TaskId): void {
    this.withdrawn.add(taskId);
    this.rebuild();
  }

  private rebuild(): void {
    const mesh = this.latest;
    if (!mesh) return;
    const services =
      this.withdrawn.size === 0
        ? mesh.services
        : mesh.services.map((s) => ({
            ...s,
            backends: s.backends.filter((b) => !this.withdrawn.has(b.taskId)),
          }));
    this.table = buildDnsTable({ ...mesh, services });
  }

  /**
   * Listens on exactly these bindings (others are closed). Resolves once every binding was tried;
   * one that cannot bind is reported by `bindings()` and retried every `bindRetryMs`.
   */
  setBindings(bindings: readonly DnsBinding[]): Promise<void> {
    this.desired = [...bindings];
    return this.loop.schedule();
  }

  bindings(): DnsBindingStatus[] {
    return [...this.entries.values()].map(({ binding, listener, error }) => ({
      networkId: binding.networkId,
      host: binding.host,
      port: listener?.localPort ?? binding.port ?? this.options.port,
      state: listener ? 'listening' : 'failed',
      ...(error === undefined ? {} : { error }),
    }));
  }

  run(signal: AbortSignal): Promise<void> {
    return this.loop.run(signal, () => {
      for (const e of this.entries.values()) e.listener?.close();
      this.entries.clear();
      this.forwarder.dispose();
    });
  }

  /** One pass (serialised by the loop); true when a binding could not listen and must be retried. */
  private async reconcile(): Promise<boolean> {
    const want = new Map(this.desired.map((b) => [bindingKey(b, this.options.port), b]));
    for (const [key, entry] of this.entries) {
      if (want.get(key)?.networkId === entry.binding.networkId) continue;
      entry.listener?.close();
      this.entries.delete(key);
    }
    for (const [key, binding] of want) {
      if (this.entries.get(key)?.listener) continue;
      const port = binding.port ?? this.options.port;
      const { networkId } = binding;
      const listener = new DnsListener(
        binding.host,
        port,
        (query, transport) => this.handle(networkId, query, transport),
        this.deps.clock,
        { tcpIdleMs: this.options.tcpIdleMs, maxTcpConnections: this.options.maxTcpConnections },
      );
      try {
        await listener.listen();
        this.entries.set(key, { binding, listener });
        this.deps.logger.info('dns listening', {
          network: networkId,
          host: binding.host,
          port: listener.localPort,
        });
      } catch (e) {
        const had = this.entries.get(key)?.error;
        this.entries.set(key, { binding, error: errorMessage(e) });
        if (had === undefined) {
          this.deps.logger.warn('dns cannot listen', {
            network: networkId,
            host: binding.host,
            port,
            error: errorMessage(e),
          });
        }
      }
    }
    return [...this.entries.values()].some((e) => !e.listener);
  }

  private isSelf(u: Upstream): boolean {
    for (const { binding, listener } of this.entries.values()) {
      if (listener && binding.host === u.host && listener.localPort === u.port) return true;
    }
    return false;
  }

  /** The reply to one query's bytes, or undefined to drop it (not a query, or unparseable). */
  private async handle(
    networkId: NetworkId,
    query: Buffer,
    transport: Transport,
  ): Promise<Buffer | undefined> {
    let header: ReturnType<typeof readHeader>;
    try {
      header = readHeader(query);
    } catch {
      return undefined;
    }
    if (header.flags.qr) return undefined;
    let msg: DnsMessage;
    try {
      msg = parseMessage(query);
    } catch {
      const bare = {
        id: header.id,
        flags: header.flags,
        questions: [],
        answers: [],
        authorities: [],
        additionals: [],
      };
      return encodeRcodeOnly(bare, RCODE.FORMERR);
    }
    const edns = msg.udpPayloadSize === undefined ? undefined : this.options.maxUdpPayload;
    const limit =
      transport === 'tcp'
        ? 65_535
        : Math.min(
            Math.max(msg.udpPayloadSize ?? UDP_CLASSIC_LIMIT, UDP_CLASSIC_LIMIT),
            this.options.maxUdpPayload,
          );
    if (msg.flags.opcode !== OPCODE_QUERY) return encodeRcodeOnly(msg, RCODE.NOTIMP, edns);
    const q = msg.questions[0];
    if (!q || msg.questions.length !== 1) return encodeRcodeOnly(msg, RCODE.FORMERR, edns);
    const res = resolveQuestion(this.table, networkId, q, this.options.ttlSeconds, this.deps.random);
    if (res.kind === 'forward') {
      const reply = await this.forwarder.forward(query, q, transport);
      if (!reply) return encodeRcodeOnly(msg, RCODE.SERVFAIL, edns);
      return reply.length <= limit ? reply : this.truncated(msg, RCODE.NOERROR, edns);
    }
    const base = {
      id: msg.id,
      flags: {
        qr: true,
        opcode: OPCODE_QUERY,
        aa: true,
        tc: false,
        rd: msg.flags.rd,
        ra: true,
        rcode: res.rcode,
      },
      questions: [q],
      answers: res.answers,
      authorities: [],
      additionals: res.additionals,
    };
    const opts = edns === undefined ? {} : { udpPayloadSize: edns };
    const full = encodeMessage(base, opts);
    if (full.length <= limit) return full;
    // Additional records are optional (RFC 2181 §9): drop them before truncating answers.
    const lean = encodeMessage({ ...base, additionals: [] }, opts);
    return lean.length <= limit ? lean : this.truncated(msg, res.rcode, edns);
  }

  /** TC set and no records: the client asks again over TCP. */
  private truncated(msg: DnsMessage, rcode: number, edns: number | undefined): Buffer {
    return encodeMessage(
      {
        id: msg.id,
        flags: { qr: true, opcode: OPCODE_QUERY, aa: false, tc: true, rd: msg.flags.rd, ra: true, rcode },
        questions: msg.questions,
        answers: [],
        authorities: [],
        additionals: [],
      },
      edns === undefined ? {} : { udpPayloadSize: edns },
    );
  }
}

function bindingKey(b: DnsBinding, defaultPort: number): string {
  return `${b.host}|${b.port ?? defaultPort}`;
}

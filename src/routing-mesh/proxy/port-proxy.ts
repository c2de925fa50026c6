import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { connect, createServer, isIPv6, type Server, type Socket } from 'node:net';
import { pipeline } from 'node:stream';
import type { PortProtocol } from '../../api/index.js';
import type { Clock, Logger, Random } from '../../common/index.js';

/** Where a connection can be sent. */
export interface ProxyBackend {
  readonly host: string;
  readonly port: number;
  /**
   * A backend on this node. A connection from a peer node (see `isPeer`) only goes to local
   * backends, so a connection relayed by another node's proxy is never relayed again.
   */
  readonly local: boolean;
  /** Local address to connect from (a relay to a peer node uses its own node address). */
  readonly source?: string;
}

export interface PortProxyDeps {
  readonly logger: Logger;
  readonly clock: Clock;
  readonly random: Random;
  /** Whether a client address is another node of the cluster (its relayed traffic). */
  readonly isPeer?: (addr: string) => boolean;
}

export interface PortProxyLimits {
  /** A UDP flow with no datagram either way for this long is forgotten. */
  readonly udpIdleMs: number;
  /** UDP flows at once; datagrams of further new clients are dropped. */
  readonly maxUdpFlows: number;
  /** A backend that does not accept within this long is given up for another. */
  readonly connectTimeoutMs: number;
}

/** Backends tried for one TCP connection before it is reset. */
const MAX_CONNECT_ATTEMPTS = 3;

interface UdpFlow {
  readonly socket: UdpSocket;
  readonly backend: ProxyBackend;
  lastActive: number;
}

/**
 * One published port in user space: TCP connections spliced to a backend picked at random
 * (stream.pipeline, so back-pressure holds both ways and half-closes pass through), UDP relayed
 * per client flow. `setBackends` applies to the next connection or flow at once.
 */
export class PortProxy {
  private backends: readonly ProxyBackend[] = [];
  private server: Server | undefined;
  private udp: UdpSocket | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly flows = new Map<string, UdpFlow>();
  private cancelSweep: (() => void) | undefined;
  private boundPort = 0;
  private droppedCount = 0;

  constructor(
    readonly protocol: PortProtocol,
    readonly host: string,
    readonly port: number,
    private readonly deps: PortProxyDeps,
    private readonly limits: PortProxyLimits,
  ) {}

  get localPort(): number {
    return this.boundPort;
  }

  /** Open connections and UDP flows, for tests and `info`. */
  get activeCount(): number {
    return this.protocol === 'tcp' ? this.sockets.size : this.flows.size;
  }

  /** Datagrams dropped for want of a backend or of room for a new flow. */
  get dropped(): number {
    return this.droppedCount;
  }

  setBackends(backends: readonly ProxyBackend[]): void {
    this.backends = [...backends];
    // A UDP flow has no end to wait for: one to a backend that left is dropped now, and the
    // client's next datagram starts a flow to a current backend.
    for (const [key, flow] of this.flows) {
      if (!this.backends.some((b) => sameBackend(b, flow.backend))) this.closeFlow(key, flow);
    }
  }

  async listen(): Promise<void> {
    if (this.protocol === 'tcp') {
      const server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (c) => this.onConnection(c));
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ host: this.host, port: this.port, exclusive: true }, () => {
          server.off('error', reject);
          resolve();
        });
      });
      server.on('error', (e) =>
        this.deps.logger.warn('proxy listener error', { port: this.port, error: e.message }),
      );
      this.boundPort = portOf(server.address());
      this.server = server;
      return;
    }
    const udp = createSocket({ type: isIPv6(this.host) ? 'udp6' : 'udp4' });
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(this.port, this.host, () => {
        udp.off('error', reject);
        resolve();
      });
    });
    udp.on('error', () => {});
    udp.on('message', (msg, rinfo) => this.onDatagram(msg, rinfo.address, rinfo.port));
    this.boundPort = udp.address().port;
    this.udp = udp;
  }

  /** Stops listening and closes every connection and flow. */
  close(): void {
    this.server?.close();
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    this.udp?.close();
    this.udp = undefined;
    for (const [key, flow] of this.flows) this.closeFlow(key, flow);
    this.cancelSweep?.();
    this.cancelSweep = undefined;
  }

  private candidates(clientAddr: string): ProxyBackend[] {
    const peer = this.deps.isPeer?.(unmapped(clientAddr)) ?? false;
    return peer ? this.backends.filter((b) => b.local) : [...this.backends];
  }

  private pick(candidates: ProxyBackend[]): ProxyBackend | undefined {
    if (candidates.length === 0) return undefined;
    const i = this.deps.random.int(0, candidates.length);
    return candidates.splice(i, 1)[0];
  }

  private onConnection(client: Socket): void {
    this.track(client);
    client.on('error', () => {});
    this.connectUpstream(client, this.candidates(client.remoteAddress ?? ''), MAX_CONNECT_ATTEMPTS);
  }

  private connectUpstream(client: Socket, candidates: ProxyBackend[], attemptsLeft: number): void {
    const backend = attemptsLeft > 0 ? this.pick(candidates) : undefined;
    if (!backend || client.destroyed) {
      // No backend: an RST tells the client at once, as the kernel does for a closed port.
      if (!client.destroyed) client.resetAndDestroy();
      return;
    }
    const upstream = connect({
      host: backend.host,
      port: backend.port,
      allowHalfOpen: true,
      ...(backend.source === undefined ? {} : { localAddress: backend.source }),
    });
    this.track(upstream);
    upstream.on('error', () => {});
    let settled = false;
    const giveUp = (): void => {
      if (settled) return;
      settled = true;
      cancelTimer();
      client.off('close', onClientClose);
      upstream.destroy();
      this.connectUpstream(client, candidates, attemptsLeft - 1);
    };
    const cancelTimer = this.deps.clock.setTimer(this.limits.connectTimeoutMs, giveUp);
    const onClientClose = (): void => {
      if (settled) return;
      settled = true;
      cancelTimer();
      upstream.destroy();
    };
    client.once('close', onClientClose);
    upstream.once('error', giveUp);
    upstream.once('connect', () => {
      if (settled) return;
      settled = true;
      cancelTimer();
      upstream.off('error', giveUp);
      client.off('close', onClientClose);
      pipeline(client, upstream, client, () => {
        client.destroy();
        upstream.destroy();
      });
    });
  }

  private track(s: Socket): void {
    this.sockets.add(s);
    s.once('close', () => this.sockets.delete(s));
  }

  private onDatagram(msg: Buffer, addr: string, port: number): void {
    const key = `${addr}|${port}`;
    let flow = this.flows.get(key);
    if (!flow) {
      const backend =
        this.flows.size < this.limits.maxUdpFlows ? this.pick(this.candidates(addr)) : undefined;
      if (!backend) {
        this.droppedCount++;
        return;
      }
      flow = this.openFlow(key, backend, addr, port);
    }
    flow.lastActive = this.deps.clock.monotonic();
    flow.socket.send(msg, flow.backend.port, flow.backend.host);
  }

  private openFlow(key: string, backend: ProxyBackend, clientAddr: string, clientPort: number): UdpFlow {
    const socket = createSocket({ type: isIPv6(backend.host) ? 'udp6' : 'udp4' });
    const flow: UdpFlow = { socket, backend, lastActive: this.deps.clock.monotonic() };
    socket.on('error', () => this.closeFlow(key, flow));
    socket.on('message', (reply, rinfo) => {
      if (rinfo.port !== backend.port || unmapped(rinfo.address) !== backend.host) return;
      flow.lastActive = this.deps.clock.monotonic();
      this.udp?.send(reply, clientPort, clientAddr);
    });
    if (backend.source !== undefined) socket.bind({ address: backend.source, port: 0 });
    this.flows.set(key, flow);
    this.armSweep();
    return flow;
  }

  private closeFlow(key: string, flow: UdpFlow): void {
    if (this.flows.get(key) !== flow) return;
    this.flows.delete(key);
    flow.socket.close();
  }

  private armSweep(): void {
    if (this.cancelSweep) return;
    const every = Math.max(1, Math.floor(this.limits.udpIdleMs / 2));
    this.cancelSweep = this.deps.clock.setTimer(every, () => {
      this.cancelSweep = undefined;
      const now = this.deps.clock.monotonic();
      for (const [key, flow] of this.flows) {
        if (now - flow.lastActive >= this.limits.udpIdleMs) this.closeFlow(key, flow);
      }
      if (this.flows.size > 0) this.armSweep();
    });
  }
}

function sameBackend(a: ProxyBackend, b: ProxyBackend): boolean {
  return a.host === b.host && a.port === b.port;
}

/** `::ffff:10.0.0.1` (an IPv4 client of a dual-stack socket) → `10.0.0.1`. */
export function unmapped(addr: string): string {
  return addr.startsWith('::ffff:') && addr.includes('.') ? addr.slice('::ffff:'.length) : addr;
}

function portOf(address: ReturnType<Server['address']>): number {
  return typeof address === 'object' && address !== null ? address.port : 0;
}

import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, isIPv6, type Server, type Socket } from 'node:net';
import type { Clock } from '../../common/index.js';
import type { Transport } from './forwarder.js';

/** Answers one query's bytes; undefined means send nothing (the packet is dropped). */
export type QueryHandler = (query: Buffer, transport: Transport) => Promise<Buffer | undefined>;

export interface ListenerLimits {
  readonly tcpIdleMs: number;
  readonly maxTcpConnections: number;
}

/**
 * One address's UDP socket and TCP server (same port; TCP is for answers that did not fit in a
 * datagram, RFC 7766). `listen` rejects if either cannot bind, leaving nothing open.
 */
export class DnsListener {
  private udp: UdpSocket | undefined;
  private tcp: Server | undefined;
  private readonly conns = new Set<Socket>();
  private boundPort = 0;

  constructor(
    readonly host: string,
    readonly port: number,
    private readonly handler: QueryHandler,
    private readonly clock: Clock,
    private readonly limits: ListenerLimits,
  ) {}

  /** The bound port (the real one when asked for port 0). */
  get localPort(): number {
    return this.boundPort;
  }

  async listen(): Promise<void> {
    const udp = createSocket({ type: isIPv6(this.host) ? 'udp6' : 'udp4' });
    try {
      await new Promise<void>((resolve, reject) => {
        udp.once('error', reject);
        udp.bind(this.port, this.host, () => {
          udp.off('error', reject);
          resolve();
        });
      });
      this.boundPort = udp.address().port;
      const tcp = createServer({ pauseOnConnect: false }, (c) => this.onConnection(c));
      tcp.maxConnections = this.limits.maxTcpConnections;
      await new Promise<void>((resolve, reject) => {
        tcp.once('error', reject);
        tcp.listen({ host: this.host, port: this.boundPort, exclusive: true }, () => {
          tcp.off('error', reject);
          resolve();
        });
      });
      this.tcp = tcp;
    } catch (e) {
      udp.close();
      throw e;
    }
    udp.on('error', () => {});
    udp.on('message', (msg, rinfo) => {
      this.handler(msg, 'udp').then(
        (reply) => {
          if (reply && this.udp) this.udp.send(reply, rinfo.port, rinfo.address);
        },
        () => {},
      );
    });
    this.udp = udp;
  }

  close(): void {
    this.udp?.close();
    this.udp = undefined;
    this.tcp?.close();
    this.tcp = undefined;
    for (const c of this.conns) c.destroy();
    this.conns.clear();
  }

  private onConnection(c: Socket): void {
    this.conns.add(c);
    let buffered = Buffer.alloc(0);
    let cancelIdle = this.clock.setTimer(this.limits.tcpIdleMs, () => c.destroy());
    c.on('error', () => {});
    c.on('close', () => {
      cancelIdle();
      this.conns.delete(c);
    });
    c.on('data', (chunk: Buffer) => {
      cancelIdle();
      cancelIdle = this.clock.setTimer(this.limits.tcpIdleMs, () => c.destroy());
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length >= 2) {
        const len = buffered.readUInt16BE(0);
        if (buffered.length < len + 2) break;
        const query = Buffer.from(buffered.subarray(2, 2 + len));
        buffered = buffered.subarray(2 + len);
        this.handler(query, 'tcp').then(
          (reply) => {
            if (!reply || c.destroyed) return;
            const framed = Buffer.alloc(reply.length + 2);
            framed.writeUInt16BE(reply.length, 0);
            reply.copy(framed, 2);
            c.write(framed);
          },
          () => c.destroy(),
        );
      }
    });
  }
}

import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { deferred, withTimeout } from '../../common/index.js';

/** Test support for the proxy tests (not shipped: only test files import it). */

/** A TCP echo server that first says its name, then echoes; counts its connections. */
export class TcpEcho {
  connections = 0;
  readonly sockets = new Set<Socket>();
  private readonly server: Server;

  constructor(readonly name: string) {
    this.server = createServer({ allowHalfOpen: true }, (c) => {
      this.connections++;
      this.sockets.add(c);
      c.on('close', () => this.sockets.delete(c));
      c.on('error', () => {});
      c.write(`${name}|`);
      c.pipe(c);
    });
  }

  async listen(host = '127.0.0.1', port = 0): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen({ host, port }, resolve));
    const a = this.server.address();
    return typeof a === 'object' && a ? a.port : 0;
  }

  close(): void {
    this.server.close();
    for (const s of this.sockets) s.destroy();
  }
}

/** A UDP echo server answering `<name>|<datagram>`. */
export class UdpEcho {
  readonly peers: string[] = [];
  private readonly socket: UdpSocket = createSocket('udp4');

  constructor(readonly name: string) {
    this.socket.on('message', (msg, rinfo) => {
      this.peers.push(`${rinfo.address}:${rinfo.port}`);
      this.socket.send(Buffer.concat([Buffer.from(`${name}|`), msg]), rinfo.port, rinfo.address);
    });
  }

  async listen(host = '127.0.0.1'): Promise<number> {
    await new Promise<void>((resolve) => this.socket.bind(0, host, resolve));
    return this.socket.address().port;
  }

  close(): void {
    this.socket.close();
  }
}

export type TcpOutcome =
  | { readonly kind: 'data'; readonly text: string }
  | { readonly kind: 'closed' | 'reset' | 'refused'; readonly text: string };

/**
 * Connects, sends `payload` and half-closes, then reads until the server closes. The outcome says
 * what the client saw: every byte, an orderly close, a reset, or a refusal.
 */
export async function tcpExchange(
  host: string,
  port: number,
  payload: string | Buffer,
  localAddress?: string,
): Promise<TcpOutcome> {
  const d = deferred<TcpOutcome>();
  const chunks: Buffer[] = [];
  const s = connect({ host, port, allowHalfOpen: true, ...(localAddress ? { localAddress } : {}) });
  const text = (): string => Buffer.concat(chunks).toString();
  s.on('connect', () => s.end(payload));
  s.on('data', (c: Buffer) => chunks.push(c));
  s.on('end', () =>
    d.resolve(chunks.length > 0 ? { kind: 'data', text: text() } : { kind: 'closed', text: '' }),
  );
  s.on('error', (e: NodeJS.ErrnoException) =>
    d.resolve({ kind: e.code === 'ECONNREFUSED' ? 'refused' : 'reset', text: text() }),
  );
  try {
    return await withTimeout(d.promise, 5_000, `tcp exchange with ${host}:${port}`);
  } finally {
    s.destroy();
  }
}

/** A UDP client socket: `ask` sends one datagram and waits for the next reply. */
export class UdpClient {
  readonly socket: UdpSocket = createSocket('udp4');
  private waiter: ((m: string) => void) | undefined;

  constructor() {
    this.socket.on('message', (m) => this.waiter?.(m.toString()));
  }

  async bind(host = '127.0.0.1'): Promise<void> {
    await new Promise<void>((resolve) => this.socket.bind(0, host, resolve));
  }

  ask(host: string, port: number, text: string): Promise<string> {
    const d = deferred<string>();
    this.waiter = d.resolve;
    this.socket.send(text, port, host);
    return withTimeout(d.promise, 3_000, `udp reply from ${host}:${port}`);
  }

  close(): void {
    this.socket.close();
  }
}

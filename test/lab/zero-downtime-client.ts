import { request } from 'node:http';

/** The whole request's deadline: the acceptance point's, not to be loosened. */
export const REQUEST_TIMEOUT_MS = 2_000;
/** A connect slower than this waited for a retransmitted SYN (Linux's first SYN RTO is 1 s). */
export const SYN_RETRANSMIT_MS = 900;

/** One request as the client saw it: enough to find its connection in conntrack and in time. */
export interface Attempt {
  /** "v1 <hostname>", or "error <code>" */
  body: string;
  /** The client's source port (0: no socket was bound). */
  sport: number;
  /** ms from the request's start to the handshake's end (SYN-ACK in), if it ended. */
  connectMs: number | undefined;
  /** ms from the request's start to the response's headers, if they came. */
  firstByteMs: number | undefined;
}

/** GET / on a fresh connection (agent: false), with a deadline for the whole request. */
export function get(address: string, port: number, localPort?: number): Promise<Attempt> {
  const t0 = performance.now();
  let sport = 0;
  let connectMs: number | undefined;
  let firstByteMs: number | undefined;
  return new Promise((resolve) => {
    const done = (body: string): void => resolve({ body, sport, connectMs, firstByteMs });
    const req = request(
      {
        host: address,
        port,
        path: '/',
        agent: false,
        timeout: REQUEST_TIMEOUT_MS,
        ...(localPort !== undefined && { localPort }),
      },
      (res) => {
        firstByteMs = performance.now() - t0;
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          body += d;
        });
        res.on('end', () => done(res.statusCode === 200 ? body.trim() : `error status ${res.statusCode}`));
        res.on('error', (e: NodeJS.ErrnoException) => done(`error ${e.code ?? e.message}`));
      },
    );
    req.on('socket', (s) => {
      // The port is bound at connect(): known at 'lookup'-less connect start for an IP address.
      const note = (): void => {
        if (sport === 0) sport = s.localPort ?? 0;
      };
      s.once('connect', () => {
        connectMs = performance.now() - t0;
        note();
      });
      s.once('ready', note);
      s.once('close', note);
    });
    req.on('timeout', () => {
      if (sport === 0) sport = req.socket?.localPort ?? 0;
      req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' }));
    });
    // "socket hang up" is a FIN before any response, "read ECONNRESET" a reset: the message tells.
    req.on('error', (e: NodeJS.ErrnoException) =>
      done(e.code ? `error ${e.code} (${e.message})` : `error ${e.message}`),
    );
    req.end();
  });
}

export interface Reply extends Attempt {
  host: number;
  /** ms since the client started */
  at: number;
  /** Date.now() at the request's start: node logs are matched against it. */
  wall: number;
  ms: number;
}

/** `loops` loops calling the hosts round robin until `stop()`; `replies` grows as answers come. */
export class Client {
  readonly replies: Reply[] = [];
  private stopped = false;
  private readonly started = performance.now();
  readonly done: Promise<void>;

  constructor(addresses: readonly string[], port: number, loops: number) {
    this.done = Promise.all(Array.from({ length: loops }, (_, k) => this.loop(addresses, port, k))).then(
      () => {},
    );
  }

  private async loop(addresses: readonly string[], port: number, first: number): Promise<void> {
    for (let i = first; !this.stopped; i++) {
      const host = i % addresses.length;
      const wall = Date.now();
      const t0 = performance.now();
      const a = await get(addresses[host] as string, port);
      const t1 = performance.now();
      this.replies.push({ ...a, host: host + 1, at: t0 - this.started, wall, ms: t1 - t0 });
    }
  }

  now(): number {
    return performance.now() - this.started;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.done;
  }
}

import { createSocket } from 'node:dgram';
import { connect, isIPv6 } from 'node:net';
import type { Clock, Logger, Random } from '../../common/index.js';
import { errorMessage } from '../../common/index.js';
import { MAX_UPSTREAMS, type Upstream, type UpstreamSource } from './upstreams.js';
import { DnsFormatError, type DnsQuestion, parseMessage, readHeader, setMessageId } from './wire.js';

export interface ForwarderDeps {
  readonly clock: Clock;
  readonly random: Random;
  readonly logger: Logger;
  readonly upstreams: UpstreamSource;
  /** Upstreams that are really this server (never forwarded to: that would loop). */
  readonly isSelf: (u: Upstream) => boolean;
}

export interface ForwarderLimits {
  readonly timeoutMs: number;
  readonly maxInFlight: number;
}

export type Transport = 'udp' | 'tcp';

/** TCP answers can be 64 KiB; one message is all a forward waits for. */
const MAX_TCP_MESSAGE = 65_535;

/**
 * Sends queries the table does not answer to the node's resolvers, one at a time in order, each
 * with `timeoutMs`. Each UDP forward uses its own socket (a fresh source port) and a random ID,
 * and only a reply from the upstream asked, with that ID and the same question, is accepted.
 */
export class Forwarder {
  private inFlight = 0;
  private readonly open = new Set<() => void>();

  constructor(
    private readonly deps: ForwarderDeps,
    private readonly limits: ForwarderLimits,
  ) {}

  get pending(): number {
    return this.inFlight;
  }

  /** The upstream's reply with the client's ID restored, or undefined (answer SERVFAIL). */
  async forward(query: Uint8Array, question: DnsQuestion, transport: Transport): Promise<Buffer | undefined> {
    if (this.inFlight >= this.limits.maxInFlight) {
      this.deps.logger.debug('dns forward refused: too many in flight', { limit: this.limits.maxInFlight });
      return undefined;
    }
    this.inFlight++;
    try {
      const upstreams = (await this.deps.upstreams())
        .filter((u) => !this.deps.isSelf(u))
        .slice(0, MAX_UPSTREAMS);
      const clientId = readHeader(query).id;
      for (const upstream of upstreams) {
        const id = this.deps.random.int(0, 65_536);
        const copy = Buffer.from(query);
        setMessageId(copy, id);
        try {
          const reply =
            transport === 'udp'
              ? await this.viaUdp(copy, upstream, id, question)
              : await this.viaTcp(copy, upstream);
          if (reply && matches(reply, id, question)) {
            setMessageId(reply, clientId);
            return reply;
          }
        } catch (e) {
          this.deps.logger.debug('dns forward failed', { upstream: upstream.host, error: errorMessage(e) });
        }
      }
      return undefined;
    } finally {
      this.inFlight--;
    }
  }

  /** Closes every socket of a forward in progress (its caller gets undefined). */
  dispose(): void {
    for (const close of [...this.open]) close();
  }

  private viaUdp(query: Buffer, upstream: Upstream, id: number, q: DnsQuestion): Promise<Buffer | undefined> {
    return new Promise((resolve) => {
      const socket = createSocket(isIPv6(upstream.host) ? 'udp6' : 'udp4');
      const finish = (reply: Buffer | undefined): void => {
        cancelTimer();
        this.open.delete(close);
        socket.close();
        resolve(reply);
      };
      const close = (): void => finish(undefined);
      this.open.add(close);
      const cancelTimer = this.deps.clock.setTimer(this.limits.timeoutMs, close);
      socket.on('error', close);
      socket.on('message', (msg, rinfo) => {
        if (rinfo.address !== upstream.host || rinfo.port !== upstream.port) return;
        if (matches(msg, id, q)) finish(msg);
      });
      socket.send(query, upstream.port, upstream.host, (err) => {
        if (err) close();
      });
    });
  }

  private viaTcp(query: Buffer, upstream: Upstream): Promise<Buffer | undefined> {
    return new Promise((resolve) => {
      const socket = connect({ host: upstream.host, port: upstream.port });
      let buffered = Buffer.alloc(0);
      const finish = (reply: Buffer | undefined): void => {
        cancelTimer();
        this.open.delete(close);
        socket.destroy();
        resolve(reply);
      };
      const close = (): void => finish(undefined);
      this.open.add(close);
      const cancelTimer = this.deps.clock.setTimer(this.limits.timeoutMs, close);
      socket.on('error', close);
      socket.on('end', close);
      socket.on('data', (chunk: Buffer) => {
        buffered = Buffer.concat([buffered, chunk]);
        if (buffered.length > MAX_TCP_MESSAGE + 2) return close();
        if (buffered.length < 2) return;
        const len = buffered.readUInt16BE(0);
        if (buffered.length >= len + 2) finish(Buffer.from(buffered.subarray(2, 2 + len)));
      });
      const framed = Buffer.alloc(query.length + 2);
      framed.writeUInt16BE(query.length, 0);
      query.copy(framed, 2);
      socket.write(framed);
    });
  }
}

/** A reply to our query: the ID we chose and the same question (case-insensitively). */
function matches(reply: Uint8Array, id: number, q: DnsQuestion): boolean {
  try {
    const msg = parseMessage(reply);
    const rq = msg.questions[0];
    return (
      msg.id === id &&
      msg.flags.qr &&
      msg.questions.length === 1 &&
      rq !== undefined &&
      rq.type === q.type &&
      rq.class === q.class &&
      rq.name.toLowerCase() === q.name.toLowerCase()
    );
  } catch (e) {
    if (e instanceof DnsFormatError) return false;
    throw e;
  }
}

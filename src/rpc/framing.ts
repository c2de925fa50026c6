import type { Readable } from 'node:stream';
import { InvalidArgumentError, SwarmError } from '../common/index.js';
import type { Codec } from './codec.js';

/** gRPC's message prefix: a compressed flag and a big-endian length. */
const PREFIX = 5;

export function frameMessage(bytes: Buffer): Buffer {
  const frame = Buffer.allocUnsafe(PREFIX + bytes.length);
  frame[0] = 0;
  frame.writeUInt32BE(bytes.length, 1);
  bytes.copy(frame, PREFIX);
  return frame;
}

/** Splits a stream's DATA chunks into length-prefixed messages, refusing ones over `max` bytes. */
export class MessageReader {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** Bytes the message being assembled needs, prefix included; 0 while the prefix is incomplete. */
  private need = 0;

  constructor(private readonly max: number) {}

  push(chunk: Buffer, onMessage: (message: Buffer) => void): void {
    let buf = chunk;
    if (this.pendingBytes > 0) {
      this.pending.push(chunk);
      this.pendingBytes += chunk.length;
      if (this.pendingBytes < PREFIX || (this.need > 0 && this.pendingBytes < this.need)) return;
      buf = Buffer.concat(this.pending, this.pendingBytes);
      this.pending = [];
      this.pendingBytes = 0;
    }
    let at = 0;
    while (buf.length - at >= PREFIX) {
      if (buf[at] !== 0) {
        throw new InvalidArgumentError(
          'message',
          'compressed messages are not supported (grpc-encoding identity only)',
        );
      }
      const length = buf.readUInt32BE(at + 1);
      if (length > this.max) {
        throw new SwarmError(
          'RESOURCE_EXHAUSTED',
          `received message of ${length} bytes is larger than the limit of ${this.max}`,
        );
      }
      if (buf.length - at < PREFIX + length) {
        this.need = PREFIX + length;
        break;
      }
      onMessage(buf.subarray(at + PREFIX, at + PREFIX + length));
      at += PREFIX + length;
      this.need = 0;
    }
    if (at < buf.length) {
      const rest = buf.subarray(at);
      this.pending.push(rest);
      this.pendingBytes = rest.length;
    }
  }
}

/** Request messages buffered before the stream is paused (HTTP/2 flow control then holds the client). */
const HIGH_WATER = 16;

/**
 * A call's request stream as an async iterable with back-pressure. Leaving the loop early stops
 * delivery without ending the call: the handler may still respond.
 */
export class RequestQueue implements AsyncIterable<unknown> {
  /** Called once when a message cannot be read; the call then fails with it. */
  onError: (e: unknown) => void = () => {};
  private readonly queue: unknown[] = [];
  private ended = false;
  private failure: unknown;
  private wake: (() => void) | undefined;
  private paused = false;

  constructor(
    private readonly stream: Readable,
    codec: Codec<unknown>,
    max: number,
  ) {
    const reader = new MessageReader(max);
    const onData = (chunk: Buffer): void => {
      try {
        reader.push(chunk, (bytes) => this.queue.push(codec.decode(bytes)));
      } catch (e) {
        stream.off('data', onData);
        this.stop(e);
        this.onError(e);
        return;
      }
      if (this.queue.length >= HIGH_WATER && !this.paused) {
        this.paused = true;
        stream.pause();
      }
      this.notify();
    };
    stream.on('data', onData);
    stream.once('end', () => this.stop(undefined));
    stream.once('close', () => this.stop(undefined));
  }

  private stop(failure: unknown): void {
    if (this.ended) return;
    this.ended = true;
    this.failure = failure;
    this.notify();
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  private discard(): void {
    this.queue.length = 0;
    this.ended = true;
    this.stream.removeAllListeners('data');
    this.stream.resume();
  }

  [Symbol.asyncIterator](): AsyncIterator<unknown> {
    return {
      next: async (): Promise<IteratorResult<unknown>> => {
        for (;;) {
          if (this.queue.length > 0) {
            const value = this.queue.shift();
            if (this.paused && this.queue.length < HIGH_WATER / 2) {
              this.paused = false;
              this.stream.resume();
            }
            return { value, done: false };
          }
          if (this.ended) {
            if (this.failure !== undefined) throw this.failure;
            return { value: undefined, done: true };
          }
          await new Promise<void>((resolve) => {
            this.wake = resolve;
          });
        }
      },
      return: async (): Promise<IteratorResult<unknown>> => {
        this.discard();
        return { value: undefined, done: true };
      },
    };
  }
}

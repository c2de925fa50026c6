import type { LogLine } from '../executor.js';

const HEADER_BYTES = 8;

/**
 * Splits Docker's log output into lines. Without a TTY the engine frames the output: an 8-byte
 * header (stream: 1 stdout, 2 stderr; 3 zero bytes; big-endian payload length) before each
 * payload. With a TTY there is no framing and everything is stdout. Chunks may cut frames and
 * lines anywhere, so bytes are buffered until complete. Each line carries the engine's
 * timestamp prefix (we always ask for `timestamps`), which is parsed off here.
 */
export class LogDemuxer {
  private frame: Buffer = Buffer.alloc(0);
  private readonly partial: Record<LogLine['stream'], Buffer> = {
    stdout: Buffer.alloc(0),
    stderr: Buffer.alloc(0),
  };

  constructor(private readonly framed: boolean) {}

  /** The complete lines in `chunk` (plus what was buffered before it). */
  push(chunk: Buffer): LogLine[] {
    const out: LogLine[] = [];
    if (!this.framed) {
      this.appendPayload('stdout', chunk, out);
      return out;
    }
    this.frame = this.frame.length === 0 ? chunk : Buffer.concat([this.frame, chunk]);
    let offset = 0;
    while (this.frame.length - offset >= HEADER_BYTES) {
      const kind = this.frame[offset];
      const size = this.frame.readUInt32BE(offset + 4);
      if (this.frame.length - offset - HEADER_BYTES < size) break;
      const payload = this.frame.subarray(offset + HEADER_BYTES, offset + HEADER_BYTES + size);
      // stdin (0) never appears in logs; anything but stderr is shown as stdout.
      this.appendPayload(kind === 2 ? 'stderr' : 'stdout', payload, out);
      offset += HEADER_BYTES + size;
    }
    this.frame = Buffer.from(this.frame.subarray(offset));
    return out;
  }

  /** Whatever is left once the stream ended: a last line without its newline. */
  flush(): LogLine[] {
    const out: LogLine[] = [];
    for (const stream of ['stdout', 'stderr'] as const) {
      if (this.partial[stream].length > 0) out.push(toLogLine(stream, this.partial[stream].toString('utf8')));
      this.partial[stream] = Buffer.alloc(0);
    }
    return out;
  }

  private appendPayload(stream: LogLine['stream'], payload: Buffer, out: LogLine[]): void {
    let buf = this.partial[stream].length === 0 ? payload : Buffer.concat([this.partial[stream], payload]);
    let nl = buf.indexOf(0x0a);
    while (nl >= 0) {
      out.push(toLogLine(stream, buf.subarray(0, nl).toString('utf8')));
      buf = buf.subarray(nl + 1);
      nl = buf.indexOf(0x0a);
    }
    this.partial[stream] = Buffer.from(buf);
  }
}

/** `2024-05-01T10:00:00.123456789Z text` → { timestamp, line }; a line without a stamp keeps 0. */
function toLogLine(stream: LogLine['stream'], raw: string): LogLine {
  const text = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
  const space = text.indexOf(' ');
  if (space > 0) {
    const timestamp = parseTimestamp(text.slice(0, space));
    if (timestamp !== undefined) return { stream, line: text.slice(space + 1), timestamp };
  }
  return { stream, line: text, timestamp: 0 };
}

const RFC3339 = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

/** RFC 3339 with up to nanoseconds, as the engine writes it, to ms since the epoch. */
export function parseTimestamp(s: string): number | undefined {
  const m = RFC3339.exec(s);
  if (!m) return undefined;
  const ms = (m[2] ?? '.0').slice(1, 4).padEnd(3, '0');
  const t = Date.parse(`${m[1]}.${ms}${m[3]}`);
  return Number.isNaN(t) ? undefined : t;
}

/** Docker's `since` takes Unix seconds with an optional fraction. */
export function dockerSince(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  return `${seconds}.${String((ms - seconds * 1000) * 1_000_000).padStart(9, '0')}`;
}

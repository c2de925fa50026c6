import { describe, expect, it } from 'vitest';
import { dockerSince, LogDemuxer, parseTimestamp } from './log-stream.js';

function frame(stream: 1 | 2, text: string): Buffer {
  const payload = Buffer.from(text, 'utf8');
  const header = Buffer.alloc(8);
  header[0] = stream;
  header.writeUInt32BE(payload.length, 4);
  return Buffer.concat([header, payload]);
}

const T1 = '2026-01-02T03:04:05.123456789Z';
const T1_MS = Date.parse('2026-01-02T03:04:05.123Z');

describe('LogDemuxer', () => {
  it('splits framed output into lines per stream, whatever the chunk boundaries', () => {
    const bytes = Buffer.concat([
      frame(1, `${T1} out1\n${T1} out2\n`),
      frame(2, `${T1} err é1\n`),
      // A line cut across two frames of the same stream.
      frame(1, `${T1} long `),
      frame(1, 'line\n'),
    ]);
    const expected = [
      { stream: 'stdout', line: 'out1', timestamp: T1_MS },
      { stream: 'stdout', line: 'out2', timestamp: T1_MS },
      { stream: 'stderr', line: 'err é1', timestamp: T1_MS },
      { stream: 'stdout', line: 'long line', timestamp: T1_MS },
    ];
    for (const size of [1, 3, 7, 8, 9, 13, bytes.length]) {
      const d = new LogDemuxer(true);
      const out = [];
      for (let i = 0; i < bytes.length; i += size) out.push(...d.push(bytes.subarray(i, i + size)));
      out.push(...d.flush());
      expect(out, `chunks of ${size} bytes`).toEqual(expected);
    }
  });

  it('treats unframed (TTY) output as stdout and strips carriage returns', () => {
    const d = new LogDemuxer(false);
    expect(d.push(Buffer.from(`${T1} a\r\n${T1} b`))).toEqual([
      { stream: 'stdout', line: 'a', timestamp: T1_MS },
    ]);
    expect(d.flush()).toEqual([{ stream: 'stdout', line: 'b', timestamp: T1_MS }]);
    expect(d.flush()).toEqual([]);
  });

  it('keeps a line without a timestamp whole', () => {
    const d = new LogDemuxer(true);
    expect(d.push(frame(1, 'no stamp here\n'))).toEqual([
      { stream: 'stdout', line: 'no stamp here', timestamp: 0 },
    ]);
  });
});

describe('timestamps', () => {
  it('parses RFC 3339 with nanoseconds, offsets and no fraction', () => {
    expect(parseTimestamp(T1)).toBe(T1_MS);
    expect(parseTimestamp('2026-01-02T03:04:05Z')).toBe(Date.parse('2026-01-02T03:04:05Z'));
    expect(parseTimestamp('2026-01-02T03:04:05.5+01:00')).toBe(Date.parse('2026-01-02T02:04:05.500Z'));
    expect(parseTimestamp('yesterday')).toBeUndefined();
  });

  it('writes since as Unix seconds with nanoseconds', () => {
    expect(dockerSince(1_700_000_000_123)).toBe('1700000000.123000000');
    expect(dockerSince(5)).toBe('0.005000000');
  });
});

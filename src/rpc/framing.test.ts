import { describe, expect, it } from 'vitest';
import { isSwarmError } from '../common/index.js';
import { frameMessage, MessageReader } from './framing.js';
import { parseListenAddress, parseTimeout } from './server.js';

function readAll(reader: MessageReader, chunks: Buffer[]): string[] {
  const out: string[] = [];
  for (const c of chunks) reader.push(c, (m) => out.push(m.toString()));
  return out;
}

describe('gRPC message framing', () => {
  it('splits messages however the DATA chunks cut them', () => {
    const wire = Buffer.concat(
      ['a', '', 'hello', 'x'.repeat(70_000)].map((s) => frameMessage(Buffer.from(s))),
    );
    const expected = ['a', '', 'hello', 'x'.repeat(70_000)];
    // Whole, byte by byte, and in chunks that cut prefixes and bodies anywhere.
    expect(readAll(new MessageReader(1 << 20), [wire])).toEqual(expected);
    const bytes = [...wire].map((b) => Buffer.from([b]));
    expect(readAll(new MessageReader(1 << 20), bytes)).toEqual(expected);
    for (const size of [2, 3, 5, 7, 4096, 65_536]) {
      const chunks: Buffer[] = [];
      for (let at = 0; at < wire.length; at += size) chunks.push(wire.subarray(at, at + size));
      expect(readAll(new MessageReader(1 << 20), chunks)).toEqual(expected);
    }
  });

  it('refuses a message over the limit from its prefix, before its body arrives', () => {
    const prefix = frameMessage(Buffer.alloc(2000)).subarray(0, 5);
    const err = (() => {
      try {
        new MessageReader(1024).push(prefix, () => {});
      } catch (e) {
        return e;
      }
    })();
    expect(isSwarmError(err) && err.code).toBe('RESOURCE_EXHAUSTED');
    expect(String((err as Error).message)).toContain('2000');
  });

  it('refuses a compressed message', () => {
    const frame = frameMessage(Buffer.from('z'));
    frame[0] = 1;
    expect(() => new MessageReader(1024).push(frame, () => {})).toThrow(/compressed/);
  });
});

describe('server inputs', () => {
  it('reads grpc-timeout in every unit and refuses malformed ones', () => {
    expect(parseTimeout('2S')).toBe(2000);
    expect(parseTimeout('1500m')).toBe(1500);
    expect(parseTimeout('3M')).toBe(180_000);
    expect(parseTimeout('1H')).toBe(3_600_000);
    expect(parseTimeout('2500u')).toBe(2.5);
    expect(parseTimeout('1000000n')).toBe(1);
    for (const bad of ['', '5', 'm', '123456789m', '1.5S', '-1S', '10s'])
      expect(parseTimeout(bad)).toBeUndefined();
  });

  it('parses listen addresses and names the bad one', () => {
    expect(parseListenAddress('127.0.0.1:2377')).toEqual({ host: '127.0.0.1', port: 2377 });
    expect(parseListenAddress('[::1]:0')).toEqual({ host: '::1', port: 0 });
    expect(parseListenAddress(':4242')).toEqual({ host: '0.0.0.0', port: 4242 });
    expect(parseListenAddress('unix:///run/swarmctl.sock')).toEqual({ path: '/run/swarmctl.sock' });
    expect(parseListenAddress('unix:rel.sock')).toEqual({ path: 'rel.sock' });
    for (const bad of ['127.0.0.1', 'host:70000', 'host:port', 'unix://', '::1:80']) {
      let caught: unknown;
      try {
        parseListenAddress(bad);
      } catch (e) {
        caught = e;
      }
      expect(isSwarmError(caught) && caught.code).toBe('INVALID_ARGUMENT');
      expect((caught as Error).message).toContain(bad);
    }
  });
});

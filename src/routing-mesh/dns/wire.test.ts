import { describe, expect, it } from 'vitest';
import { reverseZonesOf } from './dns-table.js';
import { parseResolvConf } from './upstreams.js';
import { DnsFormatError, encodeMessage, parseMessage, RR_TYPE } from './wire.js';

describe('dns wire format', () => {
  it('compresses repeated names and reads them back', () => {
    const head = { name: '_http._tcp.web', class: 1, ttl: 0 };
    const bytes = encodeMessage({
      id: 9,
      flags: { qr: true, opcode: 0, aa: true, tc: false, rd: true, ra: true, rcode: 0 },
      questions: [{ name: '_http._tcp.web', type: RR_TYPE.SRV, class: 1 }],
      answers: [
        { ...head, type: 33, priority: 0, weight: 0, port: 80, target: 'web' },
        { ...head, type: 33, priority: 10, weight: 0, port: 80, target: 'web.1.abc' },
      ],
      authorities: [],
      additionals: [{ name: 'WEB.1.abc', class: 1, ttl: 0, type: 1, address: '10.0.0.9' }],
    });
    // Uncompressed, the five names would need well over 80 bytes on their own.
    expect(bytes.length).toBeLessThan(100);
    const back = parseMessage(bytes);
    expect(back.answers.map((a) => ('target' in a ? a.target : ''))).toEqual(['web', 'web.1.abc']);
    expect(back.additionals[0]).toMatchObject({ name: 'web.1.abc', address: '10.0.0.9' });
  });

  it('rejects a compression loop, a pointer past the end and a truncated header as format errors', () => {
    const header = [0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    expect(() => parseMessage(Uint8Array.from([...header, 0xc0, 12, 0, 1, 0, 1]))).toThrow(DnsFormatError);
    expect(() => parseMessage(Uint8Array.from([...header, 0xc0, 200, 0, 1, 0, 1]))).toThrow(DnsFormatError);
    expect(() => parseMessage(Uint8Array.from([0, 1, 0]))).toThrow(DnsFormatError);
    expect(() => parseMessage(Uint8Array.from([...header, 5, 97, 98]))).toThrow(DnsFormatError);
  });

  it('keeps odd bytes of a label escaped so they cannot alias a plain name', () => {
    const header = [0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    const msg = parseMessage(Uint8Array.from([...header, 4, 119, 46, 101, 98, 0, 0, 1, 0, 1]));
    expect(msg.questions[0]!.name).toBe('w\\046eb');
  });

  it('lists the reverse zones of a subnet on octet boundaries', () => {
    expect(reverseZonesOf('10.0.1.0/24')).toEqual(['1.0.10.in-addr.arpa']);
    expect(reverseZonesOf('10.0.0.0/16')).toEqual(['0.10.in-addr.arpa']);
    expect(reverseZonesOf('10.0.4.0/22')).toEqual([
      '4.0.10.in-addr.arpa',
      '5.0.10.in-addr.arpa',
      '6.0.10.in-addr.arpa',
      '7.0.10.in-addr.arpa',
    ]);
    expect(reverseZonesOf('nonsense')).toEqual([]);
  });

  it('reads at most three nameservers from resolv.conf, without scope ids or junk', () => {
    const text = [
      '# comment',
      'search example.org',
      'nameserver 192.0.2.53',
      'nameserver fe80::1%eth0',
      'nameserver not-an-ip',
      'nameserver 198.51.100.53',
      'nameserver 203.0.113.53',
      'options ndots:2',
    ].join('\n');
    expect(parseResolvConf(text)).toEqual([
      { host: '192.0.2.53', port: 53 },
      { host: 'fe80::1', port: 53 },
      { host: '198.51.100.53', port: 53 },
    ]);
  });
});

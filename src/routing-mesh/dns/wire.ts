/**
 * DNS wire format (RFC 1035 §4, RFC 2782 SRV, RFC 6891 EDNS0): just what the service resolver
 * needs. Parsing follows compression pointers with a hop bound; encoding compresses names
 * against every name already written. Malformed input raises DnsFormatError, never anything else.
 */

export const RR_TYPE = {
  A: 1,
  NS: 2,
  CNAME: 5,
  SOA: 6,
  PTR: 12,
  TXT: 16,
  AAAA: 28,
  SRV: 33,
  OPT: 41,
  ANY: 255,
} as const;
export const RR_CLASS_IN = 1;
export const RR_CLASS_ANY = 255;
export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;
export const OPCODE_QUERY = 0;

/** The classic UDP limit when the client sends no EDNS0 record. */
export const UDP_CLASSIC_LIMIT = 512;
const HEADER_BYTES = 12;
const MAX_NAME_BYTES = 255;
const MAX_LABEL_BYTES = 63;
const MAX_POINTER_HOPS = 32;

export class DnsFormatError extends Error {
  override readonly name = 'DnsFormatError';
}

export interface DnsFlags {
  readonly qr: boolean;
  readonly opcode: number;
  readonly aa: boolean;
  readonly tc: boolean;
  readonly rd: boolean;
  readonly ra: boolean;
  readonly rcode: number;
}

export interface DnsQuestion {
  /** As sent (case kept, no trailing dot); compare with `toLowerCase()`. */
  readonly name: string;
  readonly type: number;
  readonly class: number;
}

export type DnsRecordData =
  | { readonly type: 1; readonly address: string }
  | { readonly type: 12; readonly target: string }
  | {
      readonly type: 33;
      readonly priority: number;
      readonly weight: number;
      readonly port: number;
      readonly target: string;
    }
  | { readonly type: number; readonly raw: Uint8Array };

export type DnsRecord = DnsRecordData & {
  readonly name: string;
  readonly class: number;
  readonly ttl: number;
};

export interface DnsMessage {
  readonly id: number;
  readonly flags: DnsFlags;
  readonly questions: readonly DnsQuestion[];
  readonly answers: readonly DnsRecord[];
  readonly authorities: readonly DnsRecord[];
  /** Without the OPT pseudo-record, which is given as `udpPayloadSize`. */
  readonly additionals: readonly DnsRecord[];
  /** The requester's EDNS0 UDP payload size, when it sent an OPT record. */
  readonly udpPayloadSize?: number;
}

/** Reads only the fixed header, for deciding how to treat a packet before parsing it all. */
export function readHeader(buf: Uint8Array): { id: number; flags: DnsFlags; qdcount: number } {
  if (buf.length < HEADER_BYTES) throw new DnsFormatError('shorter than a DNS header');
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  return { id: view.getUint16(0), flags: decodeFlags(view.getUint16(2)), qdcount: view.getUint16(4) };
}

export function parseMessage(buf: Uint8Array): DnsMessage {
  const { id, flags } = readHeader(buf);
  const r = new Reader(buf);
  r.offset = 4;
  const counts = [r.u16(), r.u16(), r.u16(), r.u16()] as const;
  const questions: DnsQuestion[] = [];
  for (let i = 0; i < counts[0]; i++) questions.push({ name: r.name(), type: r.u16(), class: r.u16() });
  const answers = readRecords(r, counts[1]);
  const authorities = readRecords(r, counts[2]);
  const additionals: DnsRecord[] = [];
  let udpPayloadSize: number | undefined;
  for (const rec of readRecords(r, counts[3])) {
    if (rec.type === RR_TYPE.OPT) udpPayloadSize = rec.class;
    else additionals.push(rec);
  }
  const base = { id, flags, questions, answers, authorities, additionals };
  return udpPayloadSize === undefined ? base : { ...base, udpPayloadSize };
}

function readRecords(r: Reader, count: number): DnsRecord[] {
  const out: DnsRecord[] = [];
  for (let i = 0; i < count; i++) {
    const name = r.name();
    const type = r.u16();
    const cls = r.u16();
    const ttl = r.u32();
    const len = r.u16();
    const end = r.offset + len;
    if (end > r.buf.length) throw new DnsFormatError('record data past the end of the message');
    if (type === RR_TYPE.A && len === 4) {
      const address = Array.from(r.buf.subarray(r.offset, end)).join('.');
      out.push({ name, class: cls, ttl, type: 1, address });
    } else if (type === RR_TYPE.PTR) {
      out.push({ name, class: cls, ttl, type: 12, target: r.name() });
    } else if (type === RR_TYPE.SRV && len >= 7) {
      const priority = r.u16();
      const weight = r.u16();
      const port = r.u16();
      out.push({ name, class: cls, ttl, type: 33, priority, weight, port, target: r.name() });
    } else {
      out.push({ name, class: cls, ttl, type, raw: r.buf.slice(r.offset, end) });
    }
    r.offset = end;
  }
  return out;
}

class Reader {
  offset = 0;
  constructor(readonly buf: Uint8Array) {}

  private need(n: number): void {
    if (this.offset + n > this.buf.length) throw new DnsFormatError('truncated message');
  }
  u16(): number {
    this.need(2);
    const v = (this.buf[this.offset]! << 8) | this.buf[this.offset + 1]!;
    this.offset += 2;
    return v;
  }
  u32(): number {
    const hi = this.u16();
    return hi * 65536 + this.u16();
  }

  /** A possibly compressed name; the offset moves past its first occurrence only. */
  name(): string {
    const labels: string[] = [];
    let pos = this.offset;
    let hops = 0;
    let total = 0;
    let resume = -1;
    for (;;) {
      if (pos >= this.buf.length) throw new DnsFormatError('name runs past the end of the message');
      const len = this.buf[pos]!;
      if ((len & 0xc0) === 0xc0) {
        if (pos + 1 >= this.buf.length) throw new DnsFormatError('truncated compression pointer');
        if (++hops > MAX_POINTER_HOPS) throw new DnsFormatError('compression pointer loop');
        if (resume < 0) resume = pos + 2;
        pos = ((len & 0x3f) << 8) | this.buf[pos + 1]!;
        continue;
      }
      if ((len & 0xc0) !== 0) throw new DnsFormatError('reserved label type');
      if (len === 0) {
        pos += 1;
        break;
      }
      if (pos + 1 + len > this.buf.length) throw new DnsFormatError('label runs past the end of the message');
      total += len + 1;
      if (total > MAX_NAME_BYTES) throw new DnsFormatError('name longer than 255 bytes');
      labels.push(decodeLabel(this.buf.subarray(pos + 1, pos + 1 + len)));
      pos += 1 + len;
    }
    this.offset = resume >= 0 ? resume : pos;
    return labels.join('.');
  }
}

/** Names here are host-like; other bytes are kept as `\DDD` so they cannot alias a real name. */
function decodeLabel(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) {
    if (b > 0x20 && b < 0x7f && b !== 0x2e && b !== 0x5c) s += String.fromCharCode(b);
    else s += `\\${b.toString().padStart(3, '0')}`;
  }
  return s;
}

function decodeFlags(v: number): DnsFlags {
  return {
    qr: (v & 0x8000) !== 0,
    opcode: (v >> 11) & 0xf,
    aa: (v & 0x0400) !== 0,
    tc: (v & 0x0200) !== 0,
    rd: (v & 0x0100) !== 0,
    ra: (v & 0x0080) !== 0,
    rcode: v & 0xf,
  };
}

function encodeFlags(f: DnsFlags): number {
  return (
    (f.qr ? 0x8000 : 0) |
    ((f.opcode & 0xf) << 11) |
    (f.aa ? 0x0400 : 0) |
    (f.tc ? 0x0200 : 0) |
    (f.rd ? 0x0100 : 0) |
    (f.ra ? 0x0080 : 0) |
    (f.rcode & 0xf)
  );
}

/** Builds a message, compressing every name against the names written before it. */
class Writer {
  private buf = Buffer.allocUnsafe(512);
  private len = 0;
  private readonly suffixes = new Map<string, number>();

  get length(): number {
    return this.len;
  }
  private ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + n));
    this.buf.copy(grown, 0, 0, this.len);
    this.buf = grown;
  }
  u8(v: number): void {
    this.ensure(1);
    this.buf[this.len++] = v & 0xff;
  }
  u16(v: number): void {
    this.ensure(2);
    this.buf.writeUInt16BE(v & 0xffff, this.len);
    this.len += 2;
  }
  u32(v: number): void {
    this.ensure(4);
    this.buf.writeUInt32BE(v >>> 0, this.len);
    this.len += 4;
  }
  name(name: string): void {
    const labels = name === '' ? [] : name.split('.');
    for (let i = 0; i < labels.length; i++) {
      const key = (i === 0 ? name : labels.slice(i).join('.')).toLowerCase();
      const at = this.suffixes.get(key);
      if (at !== undefined) {
        this.u16(0xc000 | at);
        return;
      }
      if (this.len < 0x3fff) this.suffixes.set(key, this.len);
      const label = encodeLabel(labels[i]!);
      this.ensure(1 + label.length);
      this.buf[this.len++] = label.length;
      this.buf.set(label, this.len);
      this.len += label.length;
    }
    this.u8(0);
  }
  /** Writes a 16-bit length, then whatever `body` writes, then patches the length. */
  sized(body: () => void): void {
    const at = this.len;
    this.u16(0);
    body();
    this.buf.writeUInt16BE(this.len - at - 2, at);
  }
  raw(data: Uint8Array): void {
    this.ensure(data.length);
    this.buf.set(data, this.len);
    this.len += data.length;
  }
  toBuffer(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.len));
  }
}

function encodeLabel(label: string): Uint8Array {
  if (!label.includes('\\') && label.length > 0 && label.length <= MAX_LABEL_BYTES) {
    return Buffer.from(label, 'latin1');
  }
  const out: number[] = [];
  for (let i = 0; i < label.length; i++) {
    const c = label.charCodeAt(i);
    const escaped = label.slice(i + 1, i + 4);
    if (c === 0x5c && /^\d{3}$/.test(escaped)) {
      out.push(Number(escaped) & 0xff);
      i += 3;
    } else out.push(c & 0xff);
  }
  if (out.length === 0 || out.length > MAX_LABEL_BYTES) throw new DnsFormatError(`bad label "${label}"`);
  return Uint8Array.from(out);
}

export interface EncodeOptions {
  /** Adds an OPT record advertising this UDP payload size (answer to an EDNS0 query). */
  readonly udpPayloadSize?: number;
}

export function encodeMessage(msg: DnsMessage, options: EncodeOptions = {}): Buffer {
  const w = new Writer();
  const opt = options.udpPayloadSize ?? msg.udpPayloadSize;
  w.u16(msg.id);
  w.u16(encodeFlags(msg.flags));
  w.u16(msg.questions.length);
  w.u16(msg.answers.length);
  w.u16(msg.authorities.length);
  w.u16(msg.additionals.length + (opt === undefined ? 0 : 1));
  for (const q of msg.questions) {
    w.name(q.name);
    w.u16(q.type);
    w.u16(q.class);
  }
  for (const rec of [...msg.answers, ...msg.authorities, ...msg.additionals]) writeRecord(w, rec);
  if (opt !== undefined) {
    w.name('');
    w.u16(RR_TYPE.OPT);
    w.u16(opt);
    w.u32(0);
    w.u16(0);
  }
  return w.toBuffer();
}

function writeRecord(w: Writer, rec: DnsRecord): void {
  w.name(rec.name);
  w.u16(rec.type);
  w.u16(rec.class);
  w.u32(rec.ttl);
  w.sized(() => {
    if ('address' in rec) {
      for (const part of rec.address.split('.')) w.u8(Number(part));
    } else if ('priority' in rec) {
      w.u16(rec.priority);
      w.u16(rec.weight);
      w.u16(rec.port);
      w.name(rec.target);
    } else if ('target' in rec) {
      w.name(rec.target);
    } else {
      w.raw(rec.raw);
    }
  });
}

/** Rewrites the ID of an encoded message in place (forwarding keeps the upstream's bytes). */
export function setMessageId(buf: Uint8Array, id: number): void {
  buf[0] = (id >> 8) & 0xff;
  buf[1] = id & 0xff;
}

/** The bytes of a response to `query` that carries only a response code (and the question). */
export function encodeRcodeOnly(query: DnsMessage, rcode: number, udpPayloadSize?: number): Buffer {
  return encodeMessage(
    {
      id: query.id,
      flags: {
        qr: true,
        opcode: query.flags.opcode,
        aa: false,
        tc: false,
        rd: query.flags.rd,
        ra: true,
        rcode,
      },
      questions: query.questions,
      answers: [],
      authorities: [],
      additionals: [],
    },
    udpPayloadSize === undefined ? {} : { udpPayloadSize },
  );
}

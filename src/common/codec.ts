import { CorruptionError } from './errors.js';

/**
 * A compact binary encoding for hot paths (Raft messages, WAL records): unsigned LEB128 varints,
 * length-prefixed bytes and UTF-8 strings. Numbers must be safe integers.
 */
export class BinaryWriter {
  private buf: Buffer;
  private pos = 0;

  constructor(initialSize = 256) {
    this.buf = Buffer.allocUnsafe(initialSize);
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  uint(value: number): this {
    if (!Number.isSafeInteger(value) || value < 0)
      throw new RangeError(`not a non-negative safe integer: ${value}`);
    this.ensure(8);
    let v = value;
    while (v >= 0x80) {
      this.buf[this.pos++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[this.pos++] = v;
    return this;
  }

  bool(value: boolean): this {
    this.ensure(1);
    this.buf[this.pos++] = value ? 1 : 0;
    return this;
  }

  bytes(value: Uint8Array): this {
    return this.uint(value.length).raw(value);
  }

  /** Bytes as they are, without a length. */
  raw(value: Uint8Array): this {
    this.ensure(value.length);
    this.buf.set(value, this.pos);
    this.pos += value.length;
    return this;
  }

  string(value: string): this {
    const len = Buffer.byteLength(value);
    this.uint(len);
    this.ensure(len);
    this.pos += this.buf.write(value, this.pos);
    return this;
  }

  /** A string or null, with a one-byte presence flag. */
  optString(value: string | null | undefined): this {
    if (value === null || value === undefined) return this.bool(false);
    return this.bool(true).string(value);
  }

  finish(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}

export class BinaryReader {
  private pos = 0;

  constructor(private readonly buf: Uint8Array) {}

  private need(n: number): void {
    if (this.pos + n > this.buf.length)
      throw new CorruptionError(`truncated input: need ${n} bytes at offset ${this.pos}`);
  }

  uint(): number {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 8; i++) {
      this.need(1);
      const b = this.buf[this.pos++]!;
      result += (b & 0x7f) * scale;
      if (b < 0x80) return result;
      scale *= 0x80;
    }
    throw new CorruptionError(`varint too long at offset ${this.pos}`);
  }

  bool(): boolean {
    this.need(1);
    return this.buf[this.pos++] !== 0;
  }

  bytes(): Uint8Array {
    const len = this.uint();
    this.need(len);
    const out = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return out;
  }

  string(): string {
    const b = this.bytes();
    return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('utf8');
  }

  optString(): string | null {
    return this.bool() ? this.string() : null;
  }

  /** Bytes not read yet. */
  get remaining(): number {
    return this.buf.length - this.pos;
  }

  get done(): boolean {
    return this.pos >= this.buf.length;
  }
}

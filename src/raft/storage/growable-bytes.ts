/** A byte array that grows by doubling, for the simulated disk's file images. */
export class GrowableBytes {
  private buf: Uint8Array;
  private len = 0;

  constructor(capacity = 256) {
    this.buf = new Uint8Array(capacity);
  }

  get size(): number {
    return this.len;
  }

  /** Writes at `position`; a gap past the end reads as zeros, as in a sparse file. */
  write(position: number, data: Uint8Array): void {
    const end = position + data.length;
    this.reserve(end);
    if (position > this.len) this.buf.fill(0, this.len, position);
    this.buf.set(data, position);
    this.len = Math.max(this.len, end);
  }

  truncate(size: number): void {
    if (size > this.len) {
      this.reserve(size);
      this.buf.fill(0, this.len, size);
    }
    this.len = size;
  }

  view(): Uint8Array {
    return this.buf.subarray(0, this.len);
  }

  clone(): GrowableBytes {
    const copy = new GrowableBytes(Math.max(256, this.len));
    copy.write(0, this.view());
    return copy;
  }

  private reserve(size: number): void {
    if (size <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < size) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }
}

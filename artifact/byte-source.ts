// Pull-based reading of exact byte counts from a chunked async source. The tar reader is written
// against this so that backpressure is automatic: nothing is read from the source until asked for.
import { ArtifactError } from './errors.js';

export class ByteSource {
  private readonly it: AsyncIterator<Buffer | Uint8Array | string>;
  private pending: Buffer = Buffer.alloc(0);
  private ended = false;
  /** Bytes handed out so far (position in the stream). */
  position = 0;

  constructor(source: AsyncIterable<Buffer | Uint8Array | string>, private readonly what: string) {
    this.it = source[Symbol.asyncIterator]();
  }

  private async fill(): Promise<boolean> {
    if (this.ended) return false;
    for (;;) {
      const r = await this.it.next();
      if (r.done) {
        this.ended = true;
        return false;
      }
      const v = r.value;
      const b = typeof v === 'string' ? Buffer.from(v) : Buffer.isBuffer(v) ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength);
      if (b.length === 0) continue;
      this.pending = this.pending.length === 0 ? b : Buffer.concat([this.pending, b]);
      return true;
    }
  }

  /** Exactly n bytes; null when the source ended before the first byte; TRUNCATED when it ended midway. */
  async readExact(n: number): Promise<Buffer | null> {
    while (this.pending.length < n) {
      if (!(await this.fill())) {
        if (this.pending.length === 0) return null;
        throw new ArtifactError('TRUNCATED', `${this.what} ends after ${this.position + this.pending.length} bytes, inside a ${n}-byte read`);
      }
    }
    const out = this.pending.subarray(0, n);
    this.pending = this.pending.subarray(n);
    this.position += n;
    return out;
  }

  /** Yields exactly n bytes as they arrive (zero-copy slices), TRUNCATED if the source ends first. */
  async *take(n: number): AsyncGenerator<Buffer> {
    let left = n;
    while (left > 0) {
      if (this.pending.length === 0 && !(await this.fill())) {
        throw new ArtifactError('TRUNCATED', `${this.what} ends after ${this.position} bytes, ${left} bytes short of the member`);
      }
      const k = Math.min(left, this.pending.length);
      const out = this.pending.subarray(0, k);
      this.pending = this.pending.subarray(k);
      this.position += k;
      left -= k;
      yield out;
    }
  }

  async skip(n: number): Promise<void> {
    for await (const _ of this.take(n)) void _;
  }

  /** Reads and discards what is left, stopping once more than `limit` bytes went; returns the count. */
  async drain(limit = Infinity): Promise<number> {
    let n = this.pending.length;
    this.position += n;
    this.pending = Buffer.alloc(0);
    while (n <= limit && (await this.fill())) {
      n += this.pending.length;
      this.position += this.pending.length;
      this.pending = Buffer.alloc(0);
    }
    return n;
  }

  /** True when no byte is left (reads ahead at most one chunk). */
  async atEnd(): Promise<boolean> {
    if (this.pending.length > 0) return false;
    return !(await this.fill());
  }

  /** Releases the underlying iterator (stops a file read, kills a pipe). */
  async close(): Promise<void> {
    try {
      await this.it.return?.();
    } catch {
      /* the source's own failure is reported elsewhere */
    }
  }
}

// Pull-based reading of exact byte counts from a chunked async source. The tar reader is written
// against this so that backpressure is automatic: nothing is read from the source until asked for.
// Chunks are handed out as views (subarray), never copied; only a small read that straddles two
// chunks (a 512-byte tar header) is assembled into a buffer of its own.
import { ArtifactError } from './errors.js';

const EMPTY = Buffer.alloc(0);

function toBuffer(v: Buffer | Uint8Array | string): Buffer {
  return typeof v === 'string' ? Buffer.from(v) : Buffer.isBuffer(v) ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength);
}

export class ByteSource {
  private readonly it: AsyncIterator<Buffer | Uint8Array | string> | null;
  protected pending: Buffer = EMPTY;
  private ended = false;
  /** Bytes handed out so far (position in the stream). */
  position = 0;

  constructor(source: AsyncIterable<Buffer | Uint8Array | string> | null, protected readonly what: string) {
    this.it = source ? source[Symbol.asyncIterator]() : null;
  }

  /** The next non-empty chunk of the source, or null at its end. Subclasses may read otherwise. */
  protected async nextChunk(): Promise<Buffer | null> {
    for (;;) {
      const r = await this.it!.next();
      if (r.done) return null;
      const b = toBuffer(r.value);
      if (b.length > 0) return b;
    }
  }

  /** Makes `pending` non-empty; false at the end of the source. */
  private async fill(): Promise<boolean> {
    if (this.pending.length > 0) return true;
    if (this.ended) return false;
    const b = await this.nextChunk();
    if (!b) {
      this.ended = true;
      return false;
    }
    this.pending = b;
    return true;
  }

  protected truncated(inside: string): ArtifactError {
    return new ArtifactError('TRUNCATED', `${this.what} ends after ${this.position} bytes, ${inside}`);
  }

  /** Exactly n bytes; null when the source ended before the first byte; TRUNCATED when it ended midway. */
  async readExact(n: number): Promise<Buffer | null> {
    if (this.pending.length >= n) {
      const out = this.pending.subarray(0, n);
      this.pending = this.pending.subarray(n);
      this.position += n;
      return out;
    }
    const parts: Buffer[] = [];
    let have = 0;
    while (have < n) {
      if (!(await this.fill())) {
        if (have === 0) return null;
        this.position += have;
        throw this.truncated(`inside a ${n}-byte read`);
      }
      const k = Math.min(n - have, this.pending.length);
      parts.push(this.pending.subarray(0, k));
      this.pending = this.pending.subarray(k);
      have += k;
    }
    this.position += n;
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts, n);
  }

  /** Yields exactly n bytes as they arrive (zero-copy views), TRUNCATED if the source ends first. */
  async *take(n: number): AsyncGenerator<Buffer> {
    let left = n;
    while (left > 0) {
      if (!(await this.fill())) throw this.truncated(`${left} bytes short of the member`);
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
    let n = 0;
    while (n <= limit && (await this.fill())) {
      n += this.pending.length;
      this.position += this.pending.length;
      this.pending = EMPTY;
    }
    return n;
  }

  /** True when no byte is left (reads ahead at most one chunk). */
  async atEnd(): Promise<boolean> {
    return !(await this.fill());
  }

  /** Releases the underlying iterator (stops a file read, kills a pipe). */
  async close(): Promise<void> {
    try {
      await this.it?.return?.();
    } catch {
      /* the source's own failure is reported elsewhere */
    }
  }
}

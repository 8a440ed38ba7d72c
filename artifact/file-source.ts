// A ByteSource over a regular file: large positional reads into fresh buffers (handed out as
// views, never copied), one read always in flight ahead of the consumer so that the kernel copy
// on the thread pool overlaps the hashing on the main thread (with syncReads: blocking reads on
// demand, nothing to overlap with); skips seek instead of reading; and
// the file offset of the current position is known, so a compressed member can be handed to a
// decompressor subprocess straight from the file. Memory: two chunks, whatever the file size.
import { readSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { BufferRing } from './buffer-ring.js';
import { ByteSource } from './byte-source.js';

/** Read size: big enough that syscalls and event-loop turns are few, small enough to stay in cache. */
export const FILE_CHUNK = 1 << 20;

export class FileSource extends ByteSource {
  /** Offset of the next read to issue. */
  private readOffset = 0;
  /** Offset of the first byte the next nextChunk() returns (the read in flight, or readOffset). */
  private nextOffset = 0;
  private ahead: Promise<Buffer | null> | null = null;
  private closed = false;
  private shrunk = false;
  private readonly ring = new BufferRing(FILE_CHUNK);
  /**
   * Reuse read buffers (a ring of three) instead of allocating each chunk. Only for a consumer
   * that is done with a chunk by the time it asks for the one after it (hashing in place):
   * Node frees dead Buffers only when V8 collects them, so fresh 1 MiB chunks pile up to about
   * 64 MiB of garbage before that happens; the ring keeps the process at its base size.
   */
  recycle = false;
  /**
   * Blocking reads on the main thread instead of the thread pool: for a process that does nothing
   * else meanwhile (the CLI's validate and read). Each pooled read is a hand-off between threads;
   * on a loaded machine every hand-off waits for a time slice, and a 256 MiB validate spent most
   * of its wall time waiting (CPU 0.23 s, wall 2.3 s at load 20). Never for a server or daemon.
   */
  syncReads = false;

  private constructor(
    private readonly fh: FileHandle,
    readonly path: string,
    readonly size: number,
    what: string,
  ) {
    super(null, what);
  }

  static async open(path: string, what: string): Promise<FileSource> {
    const fh = await open(path, 'r');
    try {
      const st = await fh.stat();
      return new FileSource(fh, path, st.size, what);
    } catch (e) {
      await fh.close();
      throw e;
    }
  }

  private issue(): Promise<Buffer | null> {
    const pos = this.readOffset;
    const len = Math.min(FILE_CHUNK, this.size - pos);
    if (len <= 0 || this.closed || this.shrunk) return Promise.resolve(null);
    this.readOffset += len;
    if (this.syncReads) {
      const buf = this.recycle ? this.ring.next().subarray(0, len) : Buffer.allocUnsafeSlow(len);
      let got = 0;
      try {
        while (got < len) {
          const n = readSync(this.fh.fd, buf, got, len - got, pos + got);
          if (n === 0) {
            this.shrunk = true;
            break;
          }
          got += n;
        }
      } catch (e) {
        const failed = Promise.reject(e as Error);
        failed.catch(() => undefined);
        return failed;
      }
      return Promise.resolve(got === 0 ? null : got < len ? buf.subarray(0, got) : buf);
    }
    const p = (async () => {
      const buf = this.recycle ? this.ring.next().subarray(0, len) : Buffer.allocUnsafeSlow(len);
      let got = 0;
      while (got < len) {
        const { bytesRead } = await this.fh.read(buf, got, len - got, pos + got);
        if (bytesRead === 0) {
          this.shrunk = true; // the file shrank under us: the reader reports it truncated
          break;
        }
        got += bytesRead;
      }
      return got === 0 ? null : got < len ? buf.subarray(0, got) : buf;
    })();
    p.catch(() => undefined); // awaited by nextChunk, or dropped by close
    return p;
  }

  protected override async nextChunk(): Promise<Buffer | null> {
    const p = this.ahead ?? this.issue();
    const b = await p;
    this.ahead = null;
    if (!b) return null;
    this.nextOffset += b.length;
    // A blocking read ahead would overlap nothing, and a member the reader then seeks past (a
    // payload a decompressor reads from the file itself) would cost a wasted 1 MiB read and buffer.
    if (!this.syncReads) this.ahead = this.issue();
    return b;
  }

  /** File offset of the current position (the next byte a read returns). */
  fileOffset(): number {
    return this.nextOffset - this.pending.length;
  }

  /** Moves forward n bytes; beyond what is already read this is a seek, not a read. */
  override async skip(n: number): Promise<void> {
    if (n <= this.pending.length) {
      this.pending = this.pending.subarray(n);
      this.position += n;
      return;
    }
    const target = this.fileOffset() + n;
    if (target > this.size) {
      this.position += this.size - this.fileOffset();
      this.pending = Buffer.alloc(0);
      throw this.truncated(`${target - this.size} bytes short of the member`);
    }
    this.position += n;
    this.pending = Buffer.alloc(0);
    const inFlight = this.ahead;
    this.ahead = null;
    if (inFlight) await inFlight; // never leave a read running on a handle we may close
    this.readOffset = target;
    this.nextOffset = target;
  }

  override async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const inFlight = this.ahead;
    this.ahead = null;
    await inFlight?.catch(() => undefined);
    await this.fh.close().catch(() => undefined);
  }
}

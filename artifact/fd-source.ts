// A ByteSource over the FIFO a decompressing tool writes (compression.ts decompressFileRegionToFifo),
// read into a ring of reused buffers: no Buffer per chunk, no stream machinery between the tool
// and the tar reader. Two ways to read:
// - `onMainThread` (a process that waits on this read alone, like the CLI): blocking readSync.
// - otherwise (the library, the device daemon: the event loop must stay free): fs.read on the
//   thread pool, with the next chunk in flight while the consumer hashes the current one.
//   Through the child's stdout socket (the old way) every 64 KiB arrived as a fresh Buffer and went
//   through the stream machinery. A worker thread doing blocking reads was tried: it took
//   110-190 ms to start at load 6-8, longer than the rest of the set-up together.
//   The read in flight holds one of libuv's four pool threads while the tool produces (as a
//   file read does while the disk answers); close() kills the tool, which ends that read.
// Either way a chunk is a whole READ_SIZE (reads repeat until it is full; the pipe hands out 64 KiB
// at a time where the region shell cannot enlarge it, as on the device): every chunk costs the tar
// reader, the hash and the installer a round of promises, and in the qemu-aarch64 guest 64 KiB
// chunks cost the install 11.0 ms of CPU per MiB against 8.4 ms for 1 MiB ones (instructions
// counted, bench/guest.bench.ts). At end of file the tool's exit status is awaited, so a failing
// tool is an error, never a short clean end.
import { read, readSync } from 'node:fs';
import { BufferRing } from './buffer-ring.js';
import { ByteSource } from './byte-source.js';
import type { FifoRegion } from './compression.js';

const READ_SIZE = 1 << 20;

export interface FdSourceOptions {
  /** Blocking reads on the main thread: only for a process that does nothing else meanwhile. */
  onMainThread?: boolean;
}

export class FdSource extends ByteSource {
  private readonly ring = new BufferRing(READ_SIZE);
  private readonly onMainThread: boolean;
  private eof = false;
  private ahead: Promise<Buffer | null> | null = null;
  private closing: Promise<void> | null = null;
  /**
   * Hand out views of the read buffers (a ring of three) instead of copies: only for a consumer
   * that is done with a chunk by the time it asks for the one after next (hashing in place, as in
   * FileSource.recycle). The three: the chunk the consumer is on, the one before it (a tar header
   * may straddle the two), and the read in flight.
   */
  recycle = false;

  constructor(
    private readonly region: FifoRegion,
    what: string,
    opts: FdSourceOptions = {},
  ) {
    super(null, what);
    this.onMainThread = opts.onMainThread ?? false;
  }

  /** Reads on the thread pool until the buffer is full or the FIFO ends; null at end of file. */
  private issue(): Promise<Buffer | null> {
    const b = this.ring.next();
    const p = new Promise<Buffer | null>((resolve, reject) => {
      const more = (got: number): void => {
        read(this.region.fd, b, got, b.length - got, null, (err, n) => {
          if (err) return reject(err);
          if (n > 0 && got + n < b.length && !this.closing) return more(got + n);
          resolve(got + n > 0 ? b.subarray(0, got + n) : null);
        });
      };
      more(0);
    });
    p.catch(() => undefined); // awaited by nextChunk, or dropped by close
    return p;
  }

  /** Blocking reads until the buffer is full or the FIFO ends; null at end of file. */
  private readFull(): Buffer | null {
    const b = this.ring.next();
    let n = 0;
    while (n < b.length) {
      const k = readSync(this.region.fd, b, n, b.length - n, null);
      if (k === 0) break;
      n += k;
    }
    return n > 0 ? b.subarray(0, n) : null;
  }

  protected override async nextChunk(): Promise<Buffer | null> {
    if (this.eof || this.closing) return null;
    let chunk: Buffer | null;
    if (this.onMainThread) {
      chunk = this.readFull();
    } else {
      const p = this.ahead ?? this.issue();
      this.ahead = null;
      chunk = await p;
      // The next chunk is read on the thread pool while the consumer works on this one.
      if (chunk && !this.closing) this.ahead = this.issue();
    }
    // A consumer that keeps chunks gets a copy (the buffers are reused).
    if (chunk) return this.recycle ? chunk : Buffer.from(chunk);
    this.eof = true;
    await this.region.exited; // rejects with the tool's error
    return null;
  }

  override close(): Promise<void> {
    this.closing ??= (async () => {
      // A read may be blocked on the FIFO: killing the tool ends it; only then may the descriptor
      // close (never under a read in flight).
      this.region.kill();
      await this.ahead?.catch(() => undefined);
      this.ahead = null;
      this.region.close();
    })();
    return this.closing;
  }
}

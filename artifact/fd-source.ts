// A ByteSource over the FIFO a decompressing tool writes (compression.ts decompressFileRegionToFifo),
// read into a ring of reused buffers: no Buffer per chunk, no stream machinery between the tool
// and the tar reader. Two ways to read:
// - `onMainThread` (a process that waits on this read alone, like the CLI): blocking readSync.
// - otherwise (the library, the device daemon: the event loop must stay free): fs.read on the
//   thread pool, with the next read in flight while the consumer hashes the current chunk.
//   Through the child's stdout socket (the old way) every 64 KiB arrived as a fresh Buffer and went
//   through the stream machinery; here a read returns what the pipe holds, up to READ_SIZE (the
//   region shell enlarges the pipe to 1 MiB where it can). A worker thread doing blocking reads was
//   tried: it took 110-190 ms to start at load 6-8, longer than the rest of the set-up together.
//   The one read in flight holds one of libuv's four pool threads while the tool produces (as a
//   file read does while the disk answers); close() kills the tool, which ends that read.
// Each read returns what the pipe holds (64 KiB at most by default); at end of file the tool's exit
// status is awaited, so a failing tool is an error, never a short clean end.
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

  /** One read on the thread pool; null at end of file. */
  private issue(): Promise<Buffer | null> {
    const b = this.ring.next();
    const p = new Promise<Buffer | null>((resolve, reject) => {
      read(this.region.fd, b, 0, b.length, null, (err, n) => (err ? reject(err) : resolve(n > 0 ? b.subarray(0, n) : null)));
    });
    p.catch(() => undefined); // awaited by nextChunk, or dropped by close
    return p;
  }

  protected override async nextChunk(): Promise<Buffer | null> {
    if (this.eof || this.closing) return null;
    let chunk: Buffer | null;
    if (this.onMainThread) {
      const b = this.ring.next();
      const n = readSync(this.region.fd, b, 0, b.length, null);
      chunk = n > 0 ? b.subarray(0, n) : null;
    } else {
      const p = this.ahead ?? this.issue();
      this.ahead = null;
      chunk = await p;
      // The next read runs on the thread pool while the consumer works on this chunk.
      if (chunk && !this.closing) this.ahead = this.issue();
    }
    // A consumer that keeps chunks gets a copy of just the bytes read (a read is often far
    // smaller than the buffer: a fresh 1 MiB buffer each would pile up until V8 collects).
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

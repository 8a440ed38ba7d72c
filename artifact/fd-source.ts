// A ByteSource over a descriptor read with blocking reads (the FIFO a decompressing tool writes,
// compression.ts decompressFileRegionToFifo): for a process that waits on this read alone, like
// the CLI. Each read returns what the pipe holds (64 KiB at most by default); at end of file the
// tool's exit status is awaited, so a failing tool is an error, never a short clean end.
import { readSync } from 'node:fs';
import { BufferRing } from './buffer-ring.js';
import { ByteSource } from './byte-source.js';
import type { FifoRegion } from './compression.js';

const READ_SIZE = 128 * 1024;

export class FdSource extends ByteSource {
  private readonly ring = new BufferRing(READ_SIZE);
  private eof = false;
  /**
   * Read into a BufferRing instead of a fresh buffer per read: only for a consumer that is done
   * with a chunk by the time it asks for the one after next (hashing in place, as in
   * FileSource.recycle).
   */
  recycle = false;

  constructor(private readonly region: FifoRegion, what: string) {
    super(null, what);
  }

  private buffer(): Buffer {
    return this.recycle ? this.ring.next() : Buffer.allocUnsafeSlow(READ_SIZE);
  }

  protected override async nextChunk(): Promise<Buffer | null> {
    if (this.eof) return null;
    const b = this.buffer();
    const n = readSync(this.region.fd, b, 0, b.length, null);
    if (n > 0) return b.subarray(0, n);
    this.eof = true;
    await this.region.exited; // rejects with the tool's error
    return null;
  }

  override async close(): Promise<void> {
    this.region.close();
  }
}

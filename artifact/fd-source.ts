// A ByteSource over a descriptor read with blocking reads (the FIFO a decompressing tool writes,
// compression.ts decompressFileRegionToFifo): for a process that waits on this read alone, like
// the CLI. A chunk is a whole 1 MiB (blocking reads until it is full; the pipe hands out 64 KiB at
// a time): every chunk costs the reader, the tar reader, the hash and the installer a round of
// promises, and in the qemu-aarch64 guest 64 KiB chunks cost the install 11.0 ms of CPU per MiB
// against 8.4 ms for 1 MiB ones (instructions counted, bench/guest.bench.ts). At end of file the
// tool's exit status is awaited, so a failing tool is an error, never a short clean end.
import { readSync } from 'node:fs';
import { BufferRing } from './buffer-ring.js';
import { ByteSource } from './byte-source.js';
import type { FifoRegion } from './compression.js';

const READ_SIZE = 1 << 20;

export class FdSource extends ByteSource {
  // Two buffers: the reads are synchronous, so none is in flight while the consumer holds one.
  private readonly ring = new BufferRing(READ_SIZE, 2);
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
    let n = 0;
    for (;;) {
      const k = n < b.length ? readSync(this.region.fd, b, n, b.length - n, null) : 0;
      if (k === 0) break;
      n += k;
    }
    // A short chunk is the last one: end of file follows.
    if (n > 0) return b.subarray(0, n);
    this.eof = true;
    await this.region.exited; // rejects with the tool's error
    return null;
  }

  override async close(): Promise<void> {
    this.region.close();
  }
}

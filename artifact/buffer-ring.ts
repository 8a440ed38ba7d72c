// Read buffers handed out in turn, for a source whose consumer is done with a chunk by the time
// it asks for the one after next (hashing in place). Node frees a dead Buffer only when V8 next
// collects it, so a fresh buffer per read piles up tens of MiB before that happens; a ring keeps
// the process at its base size.
export class BufferRing {
  private readonly bufs: Buffer[] = [];
  private slot = 0;

  /** Three by default: the chunk the consumer is on, the read in flight, and one spare. */
  constructor(
    private readonly size: number,
    private readonly count = 3,
  ) {}

  next(): Buffer {
    if (this.bufs.length < this.count) {
      const b = Buffer.allocUnsafeSlow(this.size);
      this.bufs.push(b);
      return b;
    }
    const b = this.bufs[this.slot]!;
    this.slot = (this.slot + 1) % this.bufs.length;
    return b;
  }
}

// A content key for a disk image that a cursor changes in place: two crash images with the same
// key have the same bytes, so one boot proves both. The disk is cut into chunks; a chunk's hash is
// taken from the base (before its first write) and again, lazily, after writes dirtied it. The key
// hashes the chunks that differ from the base, so it costs the bytes written since the last key,
// not the disk's size, and a chunk written back to its base bytes counts as unchanged.
import { createHash } from 'node:crypto';
import { readSync } from 'node:fs';

export const KEY_CHUNK = 64 * 1024;

export class DiskKey {
  /** Chunk index → hash of the base bytes (recorded before the chunk's first write). */
  private readonly base = new Map<number, string>();
  /** Chunk index → hash of the current bytes, for chunks written since their base was taken. */
  private readonly now = new Map<number, string>();
  private readonly dirty = new Set<number>();
  private readonly buf: Buffer;

  constructor(
    private readonly fd: number,
    private readonly chunk = KEY_CHUNK,
  ) {
    this.buf = Buffer.alloc(chunk);
  }

  /** Call before bytes [offset, offset+length) of the image change. */
  beforeWrite(offset: number, length: number): void {
    if (length <= 0) return;
    for (let c = Math.floor(offset / this.chunk); c * this.chunk < offset + length; c++) {
      if (!this.base.has(c)) this.base.set(c, this.hashChunk(c));
      this.dirty.add(c);
    }
  }

  /** The key of the image as it is now (hex). Equal keys: equal bytes (up to a SHA-256 collision). */
  key(): string {
    for (const c of this.dirty) this.now.set(c, this.hashChunk(c));
    this.dirty.clear();
    const h = createHash('sha256');
    for (const c of [...this.now.keys()].sort((a, b) => a - b)) {
      const v = this.now.get(c)!;
      if (v !== this.base.get(c)) h.update(`${c}:${v}\n`);
    }
    return h.digest('hex');
  }

  private hashChunk(c: number): string {
    let got = 0;
    for (; got < this.chunk; ) {
      const n = readSync(this.fd, this.buf, got, this.chunk - got, c * this.chunk + got);
      if (n === 0) break;
      got += n;
    }
    // Past the file's end reads as zeros, as the VM sees a sparse tail.
    this.buf.fill(0, got);
    return createHash('sha256').update(this.buf).digest('hex');
  }
}

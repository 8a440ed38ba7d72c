// Reads of stored blobs (artifact downloads) through one open descriptor per blob, shared by every
// download of it, instead of an open/read/close per request. Each of those calls is a hand-off to
// libuv's thread pool, and on a busy box each hand-off can hold the event loop for milliseconds
// (waking a pool thread costs the main thread its core): in the 2,000-device fleet profile the
// downloads' open/read/close were 9.8 s of main-thread time, and a phase's burst of 1,800
// downloads made the longest stall. Now a download is its positional reads only.
//
// A descriptor is closed once no download reads it and none started for `idleMs` (so a blob that
// was deleted, by this process or another one sharing the data dir, does not keep its disk
// space for long), when the blob is removed or replaced here, or when more than `maxOpen` are open
// (the least recently used idle one). It is never closed under a read in flight: a descriptor
// number closed mid-read could be reused by another open file and the read would return its bytes.
import { open as openCb, close as closeCb, read as readCb } from 'node:fs';
import { Readable } from 'node:stream';

interface Entry {
  fd: Promise<number>;
  /** Streams reading it (open, or with a read in flight). */
  users: number;
  idleTimer: NodeJS.Timeout | null;
  /** Removed or evicted while in use: close when the last user goes. */
  retired: boolean;
}

const CHUNK = 64 * 1024;

export class BlobReader {
  private readonly open = new Map<string, Entry>();

  constructor(
    private readonly pathOf: (id: string) => string,
    private readonly opts: { idleMs?: number; maxOpen?: number } = {},
  ) {}

  /** Descriptors open now (for tests and the curious). */
  get openCount(): number {
    return this.open.size;
  }

  /**
   * Bytes [start, end] (inclusive; end defaults to the last byte the file has when read) of a
   * stored blob. A missing blob fails the stream with the open's error (ENOENT).
   */
  stream(id: string, start = 0, end = Infinity): Readable {
    const entry = this.acquire(id);
    let position = start;
    let reading = false;
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      this.release(id, entry);
    };
    return new Readable({
      highWaterMark: CHUNK,
      read(this: Readable) {
        const want = Math.min(CHUNK, end - position + 1);
        if (want <= 0) {
          this.push(null);
          return;
        }
        reading = true;
        entry.fd.then(
          (fd) => {
            readCb(fd, Buffer.allocUnsafe(want), 0, want, position, (err, n, buf) => {
              reading = false;
              if (this.destroyed) return void this.emit('io done');
              if (err) return void this.destroy(err);
              if (n === 0) return void this.push(null); // the file ends before `end`
              position += n;
              this.push(n === want ? buf : buf.subarray(0, n));
            });
          },
          (err: Error) => {
            reading = false;
            if (this.destroyed) return void this.emit('io done');
            this.destroy(err);
          },
        );
      },
      destroy(this: Readable, err, cb) {
        // A read in flight still uses the descriptor: give it back when that read has returned.
        if (reading) this.once('io done', () => (release(), cb(err)));
        else {
          release();
          cb(err);
        }
      },
    });
  }

  /** The blob was removed or replaced: new reads open it afresh; the old descriptor closes when idle. */
  forget(id: string): void {
    const entry = this.open.get(id);
    if (!entry) return;
    this.open.delete(id);
    entry.retired = true;
    if (entry.users === 0) this.closeEntry(entry);
  }

  /** Closes every idle descriptor and retires the rest (the server is stopping). */
  closeAll(): void {
    for (const id of [...this.open.keys()]) this.forget(id);
  }

  private acquire(id: string): Entry {
    let entry = this.open.get(id);
    if (entry) {
      // Most recently used last: Map keeps insertion order.
      this.open.delete(id);
      this.open.set(id, entry);
    } else {
      let path: string;
      try {
        path = this.pathOf(id);
      } catch (e) {
        path = '';
        entry = { fd: Promise.reject(e as Error), users: 0, idleTimer: null, retired: true };
      }
      if (!entry) {
        const fd = new Promise<number>((resolve, reject) => openCb(path, 'r', (err, n) => (err ? reject(err) : resolve(n))));
        entry = { fd, users: 0, idleTimer: null, retired: false };
        // A failed open is not kept: the next download tries again.
        fd.catch(() => {
          if (this.open.get(id) === entry) this.open.delete(id);
        });
        this.open.set(id, entry);
        this.evict();
      }
      entry.fd.catch(() => {}); // failures reach the stream that reads
    }
    entry.users++;
    if (entry.idleTimer) {
      clearTimeout(entry.idleTimer);
      entry.idleTimer = null;
    }
    return entry;
  }

  private release(id: string, entry: Entry): void {
    entry.users--;
    if (entry.users > 0) return;
    if (entry.retired) return this.closeEntry(entry);
    entry.idleTimer = setTimeout(() => {
      entry.idleTimer = null;
      if (entry.users === 0 && this.open.get(id) === entry) this.forget(id);
    }, this.opts.idleMs ?? 30_000);
    entry.idleTimer.unref();
  }

  /** Over maxOpen: retire the least recently used (closed now if idle, else after its reads). */
  private evict(): void {
    const max = this.opts.maxOpen ?? 64;
    for (const id of this.open.keys()) {
      if (this.open.size <= max) return;
      this.forget(id);
    }
  }

  private closeEntry(entry: Entry): void {
    if (entry.idleTimer) clearTimeout(entry.idleTimer);
    entry.idleTimer = null;
    entry.fd.then((fd) => closeCb(fd, () => {}), () => {});
  }
}
